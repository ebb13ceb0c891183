// Errors of key custody. Opening anything sealed fails in one of three kinds, kept apart
// so tests (and logs) can tell them apart (STYLE rule 8): the bytes are not a record we
// can read ('parse'), they are but do not authenticate ('auth'), or they name a root
// key other than the configured one ('wrong-key'). The API layer maps every kind to
// InvalidCiphertextException (or AccessDenied) without passing this text on.
//
// No error here ever carries key material, plaintext or a passphrase: messages are
// fixed strings plus lengths, versions and public identifiers, and no `cause` holds
// buffers.

export type OpenFailure = 'parse' | 'auth' | 'wrong-key';

/** Base class of every failure to open sealed bytes (ciphertext blobs, wrapped keys). */
export abstract class CustodyError extends Error {
  abstract readonly kind: OpenFailure;
}

/** The blob is not a KMS ciphertext this version of Coffer can read (length, version, header fields). */
export class CiphertextParseError extends CustodyError {
  override readonly name = 'CiphertextParseError';
  readonly kind = 'parse';
}

/** The blob parsed, but AES-GCM did not authenticate it: tampered, wrong key material, or wrong encryption context. */
export class CiphertextAuthError extends CustodyError {
  override readonly name = 'CiphertextAuthError';
  readonly kind = 'auth';
}

/** A wrapped key or sealed key-material record is malformed (length, version, fields). */
export class SealedKeyParseError extends CustodyError {
  override readonly name = 'SealedKeyParseError';
  readonly kind = 'parse';
}

/** A wrapped key or sealed key-material record did not authenticate (tampered, or bound to another key/version). */
export class SealedKeyAuthError extends CustodyError {
  override readonly name = 'SealedKeyAuthError';
  readonly kind = 'auth';
}

/** A wrapped key names a root key (by kind and fingerprint) other than the configured one. */
export class WrongRootKeyError extends CustodyError {
  override readonly name = 'WrongRootKeyError';
  readonly kind = 'wrong-key';
}

/**
 * The root key cannot be set up: missing or malformed COFFER_ROOT_KEY, an unsafe or
 * damaged root.key, a wrong passphrase. `hint` says how to fix it (printed as `hint:`).
 */
export class RootKeyConfigError extends Error {
  override readonly name = 'RootKeyConfigError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * The root key's holder (a PKCS#11 token) cannot be reached right now. Not a CustodyError:
 * the sealed bytes may be fine. The KMS answers KMSInternalException (S3: 500); the
 * provider reconnects on the next call.
 */
export class RootKeyUnavailableError extends Error {
  override readonly name = 'RootKeyUnavailableError';
}
