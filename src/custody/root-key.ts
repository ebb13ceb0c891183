// The root key: the one secret that every piece of KMS key material at rest is wrapped
// under. Providers differ only in where the root key comes from (a file, COFFER_ROOT_KEY,
// a passphrase, later a PKCS#11 token); all of them implement this interface, and
// test/custody/root-key.contract.ts holds each one to the same behaviour.
// The wrapped-key format is specified in docs/spec/kms-key-material.md.

/**
 * Wraps and unwraps short secrets (KMS key material) under a root key.
 *
 * `unwrap` fails with SealedKeyParseError (not a wrapped key), WrongRootKeyError (wrapped
 * under another root key) or SealedKeyAuthError (tampered, or wrong `aad`).
 */
export interface RootKeyProvider {
  /**
   * Stable identifier of the provider kind and the key, e.g. `key:3f1c0a9e7d2b4c55`.
   * Stored beside wrapped material so a changed root key is detected before any unwrap.
   * Never reveals the key: the hex part is a 64-bit HMAC fingerprint.
   */
  readonly id: string;
  /** Where the key lives, for messages only (e.g. a PKCS#11 token and key label); never secret. */
  readonly where?: string;
  wrap(plaintextKey: Buffer, aad: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  /** Stops background work (an external KMS's health check) and releases sessions; called once when the server closes. */
  close?(): void;
}
