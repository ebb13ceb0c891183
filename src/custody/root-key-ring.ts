// The root key a running server holds: one provider that seals, and during an online
// root-key rotation (backend/reseal/online-rotation.ts) the previous one beside it, so
// items sealed under either key open while the rotation re-seals them.
//
//   wrap(k)      -> the sealing key (the new one, from the moment a rotation begins)
//   unwrap(w)    -> the sealing key; if it answers WrongRootKeyError and a previous key
//                   is held, the previous key; then a standby key, if one is held
//
// On a cluster (backend/reseal/cluster-rotation.ts) a node first holds the new key as a
// *standby* — it opens what other nodes seal under it, but still seals under the old key —
// until every live node holds both and the cluster switches (beginRotation()).
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
  #standby: RootKeyProvider | undefined;

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

  /** The key a cluster's rotation will switch to, held before the switch (opens, never seals). */
  get standby(): RootKeyProvider | undefined {
    return this.#standby;
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const others = [this.#previous, this.#standby].filter((p): p is RootKeyProvider => p !== undefined);
    try {
      return await this.#sealing.unwrap(wrapped, aad);
    } catch (e) {
      if (others.length === 0 || !(e instanceof WrongRootKeyError)) throw e;
    }
    for (let i = 0; ; i++) {
      try {
        return await others[i]!.unwrap(wrapped, aad);
      } catch (e) {
        if (i === others.length - 1 || !(e instanceof WrongRootKeyError)) throw e;
      }
    }
  }

  /** Holds `next` beside the sealing key: items under it open, nothing is sealed under it yet. */
  standBy(next: RootKeyProvider): void {
    if (this.#previous || this.#standby) throw new Error('a root-key rotation is already in progress');
    this.#standby = next;
  }

  /** A cluster's rotation cancelled before its switch: the standby key is let go (nothing was sealed under it). */
  dropStandby(): void {
    const standby = this.#standby;
    this.#standby = undefined;
    standby?.close?.();
  }

  /** Back from sealing under the new key to holding it as the standby (a node restarted before its cluster switched). */
  backToStandby(): void {
    if (!this.#previous) return;
    this.#standby = this.#sealing;
    this.#sealing = this.#previous;
    this.#previous = undefined;
  }

  /** From now on new items are sealed under `next` (default: the standby); items under the current key still open. */
  beginRotation(next?: RootKeyProvider): void {
    if (this.#previous) throw new Error('a root-key rotation is already in progress');
    const to = next ?? this.#standby;
    if (!to) throw new Error('no new root key is held');
    if (next && this.#standby && next !== this.#standby) throw new Error('another new root key is held');
    this.#standby = undefined;
    this.#previous = this.#sealing;
    this.#sealing = to;
  }

  /** The rotation is complete: the previous key is released and no longer opens anything. */
  finishRotation(): void {
    const previous = this.#previous;
    this.#previous = undefined;
    previous?.close?.();
  }

  close(): void {
    this.#standby?.close?.();
    this.#previous?.close?.();
    this.#sealing.close?.();
  }
}
