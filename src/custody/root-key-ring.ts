// The root key a running server holds: one provider that seals, and during an online
// root-key rotation (backend/reseal/online-rotation.ts) the previous one beside it, so
// items sealed under either key open while the rotation re-seals them.
//
//   wrap(k)      -> the sealing key (the new one, from the moment a rotation begins)
//   unwrap(w)    -> the sealing key; if it answers WrongRootKeyError and a previous key
//                   is held, the previous key
//
// No guess: every wrapped key names its root key (kind and fingerprint) in a header that is
// part of the authenticated data (docs/spec/kms-key-material.md, "Wrapped key"), and
// WrongRootKeyError is raised from that header alone. Whichever key then opens the item has
// also authenticated it; a tampered item fails as SealedKeyAuthError under either key.
//
// Services are given this one object at start, so a rotation changes the key they use
// without reassembling anything.

import { WrongRootKeyError } from './errors.js';
import type { RootKeyProvider } from './root-key.js';

export class RootKeyRing implements RootKeyProvider {
  #sealing: RootKeyProvider;
  #previous: RootKeyProvider | undefined;

  constructor(sealing: RootKeyProvider, previous?: RootKeyProvider) {
    this.#sealing = sealing;
    this.#previous = previous;
  }

  /** The sealing key's id: the new key's from the moment a rotation begins. */
  get id(): string {
    return this.#sealing.id;
  }

  get where(): string | undefined {
    return this.#sealing.where;
  }

  /** The key that seals new items. */
  get sealing(): RootKeyProvider {
    return this.#sealing;
  }

  /** The key a rotation in progress moves items away from, if one is in progress. */
  get previous(): RootKeyProvider | undefined {
    return this.#previous;
  }

  wrap(plaintextKey: Buffer, aad: Buffer): Promise<Buffer> {
    return this.#sealing.wrap(plaintextKey, aad);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const previous = this.#previous;
    try {
      return await this.#sealing.unwrap(wrapped, aad);
    } catch (e) {
      if (!previous || !(e instanceof WrongRootKeyError)) throw e;
    }
    return previous.unwrap(wrapped, aad);
  }

  /** From now on new items are sealed under `next`; items under the current key still open. */
  beginRotation(next: RootKeyProvider): void {
    if (this.#previous) throw new Error('a root-key rotation is already in progress');
    this.#previous = this.#sealing;
    this.#sealing = next;
  }

  /** The rotation is complete: the previous key is released and no longer opens anything. */
  finishRotation(): void {
    const previous = this.#previous;
    this.#previous = undefined;
    previous?.close?.();
  }

  close(): void {
    this.#previous?.close?.();
    this.#sealing.close?.();
  }
}
