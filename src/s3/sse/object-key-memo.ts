// What a GET of an encrypted object would otherwise work out again on every read of the
// same object version: its envelope decoded from the stored base64, and for SSE-S3 its
// object key unwrapped under the root key. Both are keyed by the stored envelope string
// itself (`sys.sse.env`: the object id, the kind, the KMS key id and context, and the
// wrapped key bytes with their root-key header), so an overwrite, a copy, a re-wrap or a
// re-seal, each of which stores a new envelope, can never be answered from here, and a
// changed (tampered) envelope is a miss that fails as it did.
//
// Only SSE-S3 keys are remembered: they depend on nothing but the root key. An SSE-KMS or
// DSSE-KMS data key goes through KMS on every GET (the authorization, the key-state check
// and the audit record are per request; the KMS saves its own cryptography,
// kms/opened-ciphertexts.ts), SSE-C keys come with the request, and bucket keys have
// their own cache (bucket-keys.ts).
//
// SSE-S3 keys are held per root-key provider object, and only while it seals under the
// same key and no root-key rotation is in progress (no previous or standby key held): an
// item that opened only under a previous key is never remembered, and everything
// remembered before a rotation is a miss after it (its key id changed). Keys are remembered
// by the GET that unwrapped them, not by the PUT that sealed them: in interleaved A/B runs
// remembering at the PUT cost 4 KiB SSE-S3 PUTs 1-15% more server CPU (noisy; the work
// itself is about 1 µs), for a saving of about 6 µs on the first GET.
//
// Bounded (MAX_ENTRIES each, first in first out); a key leaving is zeroed; callers get
// copies, since a GET zeroes its keys when it ends.

import { asObjectKey, decodeEnvelope, type ObjectEnvelope, type ObjectId, type ObjectKey } from '../../crypto/index.js';
import { RootKeyRing } from '../../custody/root-key-ring.js';
import type { RootKeyProvider } from '../../custody/root-key.js';

export const MAX_ENTRIES = 4096;

/**
 * A map of at most MAX_ENTRIES that lets its oldest entry go first, through a ring of its
 * keys (map.keys().next() would walk the holes earlier deletions leave at the front of V8's
 * table: microseconds per call at a few thousand entries).
 */
class FifoMap<T> {
  readonly map = new Map<string, T>();
  readonly #order: string[] = [];
  #next = 0;

  constructor(private readonly onLeave?: (value: T) => void) {}

  get(k: string): T | undefined {
    return this.map.get(k);
  }

  /** Sets `k`; a new key may push the oldest out. An existing key keeps its place. */
  set(k: string, value: T): void {
    const old = this.map.get(k);
    if (old !== undefined) {
      this.onLeave?.(old);
      this.map.set(k, value);
      return;
    }
    const leaving = this.#order[this.#next];
    if (leaving !== undefined) {
      const gone = this.map.get(leaving);
      if (gone !== undefined) this.onLeave?.(gone);
      this.map.delete(leaving);
    }
    this.#order[this.#next] = k;
    this.#next = (this.#next + 1) % MAX_ENTRIES;
    this.map.set(k, value);
  }
}

const envelopes = new FifoMap<ObjectEnvelope>();

/** The decoded envelope of a stored `env` (base64); throws what decodeEnvelope throws. */
export function decodeStoredEnvelope(env: string): ObjectEnvelope {
  const known = envelopes.get(env);
  if (known !== undefined) return known;
  const d = decodeEnvelope(Buffer.from(env, 'base64'));
  // Its buffers are copies out of Node's shared pool: kept here, they get memory of their own.
  const decoded = Object.freeze({ ...d, objectId: ownCopy(d.objectId) as ObjectId, wrappedKey: ownCopy(d.wrappedKey) });
  envelopes.set(env, decoded);
  return decoded;
}

interface KeyEntry {
  rootKeyId: string;
  key: ObjectKey;
}

const sseS3Keys = new WeakMap<RootKeyProvider, FifoMap<KeyEntry>>();

/** Whether `rootKey` seals and opens under one key alone (no rotation in progress). */
function steady(rootKey: RootKeyProvider): boolean {
  return !(rootKey instanceof RootKeyRing) || (rootKey.previous === undefined && rootKey.standby === undefined);
}

/** A copy of the SSE-S3 object key of stored envelope `env`, if remembered under this root key. */
export function rememberedSseS3Key(rootKey: RootKeyProvider, env: string): ObjectKey | undefined {
  const hit = sseS3Keys.get(rootKey)?.get(env);
  if (hit === undefined || hit.rootKeyId !== rootKey.id || !steady(rootKey)) return undefined;
  return asObjectKey(Buffer.from(hit.key));
}

/** Remembers (a copy of) the SSE-S3 object key of stored envelope `env`, opened or sealed under `rootKey`. */
export function rememberSseS3Key(rootKey: RootKeyProvider, env: string, key: ObjectKey): void {
  if (!steady(rootKey)) return;
  let keys = sseS3Keys.get(rootKey);
  if (keys === undefined) sseS3Keys.set(rootKey, (keys = new FifoMap<KeyEntry>((gone) => gone.key.fill(0))));
  keys.set(env, { rootKeyId: rootKey.id, key: asObjectKey(ownCopy(key)) });
}

/**
 * A copy in memory of its own: Buffer.from() of a few bytes slices Node's shared 8 KiB pool,
 * and an entry kept for long would hold that whole slab (and whatever else is in it).
 */
function ownCopy(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

/** For tests: how many SSE-S3 keys are held for `rootKey`. */
export function sseS3KeysHeld(rootKey: RootKeyProvider): number {
  return sseS3Keys.get(rootKey)?.map.size ?? 0;
}
