// What a GET of an SSE-S3 object would otherwise work out again on every read of the same
// object version: its object key unwrapped under the root key. Keyed by the stored envelope
// string itself (`sys.sse.env`: the object id, the kind, the KMS key id and context, and the
// wrapped key bytes with their root-key header), so an overwrite, a copy, a re-wrap or a
// re-seal, each of which stores a new envelope, can never be answered from here, and a
// changed (tampered) envelope is a miss that fails as it did.
//
// Only SSE-S3 keys are remembered: they depend on nothing but the root key. An SSE-KMS or
// DSSE-KMS data key goes through KMS on every GET (the authorization, the key-state check
// and the audit record are per request; the KMS saves its own cryptography,
// kms/opened-ciphertexts.ts, and S3 only the envelope's decode, kms-envelope-memo.ts),
// SSE-C keys come with the request, and bucket keys have their own cache (bucket-keys.ts).
//
// SSE-S3 keys are held per root-key provider object, and only while it seals under the
// same key and no root-key rotation is in progress (no previous or standby key held): an
// item that opened only under a previous key is never remembered, and everything
// remembered before a rotation is a miss after it (its key id changed). Keys are remembered
// by the GET that unwrapped them and by the PUT that sealed them (object-keys.ts sealObject).
// An earlier attempt at the PUT, with a Buffer of its own per key, cost 4 KiB SSE-S3 PUTs
// 1-15% more server CPU; into the slab, interleaved A/B runs put the PUT at 0.95-1.05× and
// the first GET at 0.68-0.78× of the build without it (docs/PERFORMANCE.md, small encrypted GETs).
//
// With each key its object id (not secret) is kept, so a GET that finds its envelope string
// needs neither the envelope decoded nor the key unwrapped: the same string decoded to
// exactly these when it was remembered, and any other string (a changed byte) is a miss
// that decodes and fails as before.
//
// Bounded (MAX_ENTRIES, first in first out); a key leaving is zeroed; callers get copies,
// since a GET zeroes its keys when it ends.
//
// The keys live in one preallocated slab per root key (MAX_ENTRIES × 32 bytes), an entry
// being a slot number: a Buffer of its own per key (three ArrayBuffers per first GET, with
// the envelope's objectId and wrapped key) cost a 4 KiB SSE-S3 first GET about 30 µs of
// server CPU in interleaved A/B runs, far more than the unwrap it saves. The envelope is no
// longer remembered either: decoding it is a few µs, once per request (object-keys.ts).

import { asObjectId, asObjectKey, decodeEnvelope, decodeEnvelopeWithAad, OBJECT_ID_LENGTH, type EnvelopeWithAad, type ObjectEnvelope, type ObjectId, type ObjectKey } from '../../crypto/index.js';
import { RootKeyRing } from '../../custody/root-key-ring.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import { RingSlots } from './ring-slots.js';

export const MAX_ENTRIES = 4096;
const KEY_LENGTH = 32;

/**
 * At most MAX_ENTRIES object keys of one root key, in one slab; the oldest leaves first
 * through a ring of slots (map.keys().next() would walk the holes earlier deletions leave
 * at the front of V8's table: microseconds per call at a few thousand entries).
 */
class KeySlab {
  /** Envelope string → slot. */
  readonly slots = new RingSlots(MAX_ENTRIES);
  readonly #rootKeyIds: string[] = new Array<string>(MAX_ENTRIES).fill('');
  /** The aws:s3:arn of each envelope's context (its place), if it has one: a hit is checked against it. */
  readonly #places: (string | undefined)[] = new Array<string | undefined>(MAX_ENTRIES).fill(undefined);
  readonly #slab = Buffer.alloc(MAX_ENTRIES * KEY_LENGTH);
  /** The object ids (not secret), beside the keys: a GET that finds its key needs no envelope decode. */
  readonly #ids = Buffer.alloc(MAX_ENTRIES * OBJECT_ID_LENGTH);

  get(env: string, rootKeyId: string): ObjectKey | undefined {
    const slot = this.slots.get(env);
    if (slot === undefined || this.#rootKeyIds[slot] !== rootKeyId) return undefined;
    const at = slot * KEY_LENGTH;
    return asObjectKey(Buffer.from(this.#slab.subarray(at, at + KEY_LENGTH)));
  }

  getObject(env: string, rootKeyId: string): RememberedObject | undefined {
    const slot = this.slots.get(env);
    if (slot === undefined || this.#rootKeyIds[slot] !== rootKeyId) return undefined;
    const at = slot * KEY_LENGTH;
    const idAt = slot * OBJECT_ID_LENGTH;
    return {
      objectId: asObjectId(Buffer.from(this.#ids.subarray(idAt, idAt + OBJECT_ID_LENGTH))),
      inner: asObjectKey(Buffer.from(this.#slab.subarray(at, at + KEY_LENGTH))),
      place: this.#places[slot],
    };
  }

  /** Sets `env`; a new one pushes the oldest out (its key zeroed). An existing one keeps its slot. */
  set(env: string, rootKeyId: string, key: ObjectKey, objectId: ObjectId, place: string | undefined): void {
    const slot = this.slots.take(env);
    this.#rootKeyIds[slot] = rootKeyId;
    this.#places[slot] = place;
    key.copy(this.#slab, slot * KEY_LENGTH);
    objectId.copy(this.#ids, slot * OBJECT_ID_LENGTH);
  }
}

/** The decoded envelope of a stored `env` (base64); throws what decodeEnvelope throws. */
export function decodeStoredEnvelope(env: string): ObjectEnvelope {
  return decodeEnvelope(Buffer.from(env, 'base64'));
}

/** decodeStoredEnvelope() with the AAD of its sealed key taken from the stored bytes (decodeEnvelopeWithAad). */
export function decodeStoredEnvelopeWithAad(env: string): EnvelopeWithAad {
  return decodeEnvelopeWithAad(Buffer.from(env, 'base64'));
}

/** A remembered SSE-S3 object: what opening its envelope would give, and the place its context names. */
export interface RememberedObject {
  objectId: ObjectId;
  inner: ObjectKey;
  /** The envelope context's aws:s3:arn, if it has one (the reader checks it against the object read). */
  place: string | undefined;
}

const sseS3Keys = new WeakMap<RootKeyProvider, KeySlab>();

/** Whether `rootKey` seals and opens under one key alone (no rotation in progress). */
function steady(rootKey: RootKeyProvider): boolean {
  return !(rootKey instanceof RootKeyRing) || (rootKey.previous === undefined && rootKey.standby === undefined);
}

/** A copy of the SSE-S3 object key of stored envelope `env`, if remembered under this root key. */
export function rememberedSseS3Key(rootKey: RootKeyProvider, env: string): ObjectKey | undefined {
  if (!steady(rootKey)) return undefined;
  return sseS3Keys.get(rootKey)?.get(env, rootKey.id);
}

/**
 * The object id and (a copy of) the SSE-S3 object key of stored envelope `env`, if remembered
 * under this root key: what opening the envelope would give, without decoding it (the same
 * string decoded to these when it was remembered).
 */
export function rememberedSseS3Object(rootKey: RootKeyProvider, env: string): RememberedObject | undefined {
  if (!steady(rootKey)) return undefined;
  return sseS3Keys.get(rootKey)?.getObject(env, rootKey.id);
}

/**
 * The id of the one key `rootKey` seals and opens under, or undefined during a rotation. Read
 * it just before the wrap or unwrap whose key is to be remembered, and pass it to
 * rememberSseS3Key: a rotation that began and finished while the wrap or unwrap was
 * awaited leaves a steady provider under another key, which must not be credited with it.
 */
export function steadyRootKeyId(rootKey: RootKeyProvider): string | undefined {
  return steady(rootKey) ? rootKey.id : undefined;
}

/**
 * Remembers (a copy of) the SSE-S3 object key of stored envelope `env` and its object id,
 * opened or sealed under `rootKey` while it was steady under key `under` (steadyRootKeyId,
 * read before the wrap or unwrap): nothing when it is no longer steady under that key.
 * `place`: the aws:s3:arn of the envelope's context, if it has one (a hit returns it, so the
 * reader checks the place as it would after decoding).
 */
export function rememberSseS3Key(rootKey: RootKeyProvider, env: string, key: ObjectKey, objectId: ObjectId, under: string | undefined, place: string | undefined): void {
  if (under === undefined || !steady(rootKey) || rootKey.id !== under || key.length !== KEY_LENGTH || objectId.length !== OBJECT_ID_LENGTH) return;
  let keys = sseS3Keys.get(rootKey);
  if (keys === undefined) sseS3Keys.set(rootKey, (keys = new KeySlab()));
  keys.set(env, rootKey.id, key, objectId, place);
}

/** For tests: how many SSE-S3 keys are held for `rootKey`. */
export function sseS3KeysHeld(rootKey: RootKeyProvider): number {
  return sseS3Keys.get(rootKey)?.slots.map.size ?? 0;
}
