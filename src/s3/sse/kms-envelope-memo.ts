// The decoded envelopes of SSE-KMS and DSSE-KMS objects, by stored envelope string
// (`sys.sse.env`), so that a GET of an object written or read a moment ago needs no
// envelope decode (base64, the fields, the context's strict UTF-8 checks). Nothing in it
// is secret: the object id, the key ARN, the encryption context and the KMS ciphertext
// blob of the data key. The data key itself is never here: every GET still calls KMS
// Decrypt as the caller, which resolves the key, authorizes, checks the key state and the
// material version, writes its audit record, and saves only its own cryptography
// (kms/opened-ciphertexts.ts).
//
// Keyed by the envelope string itself, as the SSE-S3 memo is (object-key-memo.ts): an
// overwrite, copy, re-wrap or re-seal stores a new string, and a changed (tampered) byte is
// a miss that decodes and fails as before. An entry holds what that very string decodes
// to: remembered by the PUT that encoded it (sealObject) or by the GET that decoded it. The
// place (the context's aws:s3:arn) comes back with the rest and is checked by the reader as
// after a decode (openObject). Bucket-key envelopes are not remembered (their own cache,
// bucket-keys.ts), nor SSE-S3 or SSE-C ones.
//
// Bounded like the other memos: MAX_ENTRIES, first in first out through a ring of slots;
// object ids and blobs in two preallocated slabs, as the other memos keep theirs (no Buffer
// of its own per entry, nothing for the collector per entry but the strings). A context of the place alone (what Coffer writes without
// x-amz-server-side-encryption-context) is kept as its place string; any other context as
// the decoded object, and only from a decode, so its pairs come back in the decoder's order.

import { ALGORITHM_NAME, ENVELOPE_VERSION, OBJECT_ID_LENGTH, SEGMENT_SIZE, asObjectId, type EncryptionContext, type ObjectEnvelope, type ObjectId } from '../../crypto/index.js';
import { RingSlots } from './ring-slots.js';

export const MAX_ENTRIES = 4096;
/**
 * The longest envelope string kept (and so the largest context): every envelope of the place
 * alone fits (a 1,024-byte object key, DSSE's blob: about 1,840 characters); a client's large
 * encryption context does not, so 4,096 entries hold at most a few MB (about 180 MB with
 * 10 KB contexts, which a request header allows, without this bound).
 */
export const MAX_ENVELOPE_CHARS = 2048;
/** The longest KMS blob kept: a 64-byte data key's (DSSE) is 153 bytes (73 header, 64, 16 tag). */
const MAX_BLOB = 160;
const PLACE = 'aws:s3:arn';

const KIND_SSE_KMS = 1;
const KIND_DSSE_KMS = 2;

class EnvelopeSlab {
  /** Envelope string → slot. */
  readonly slots = new RingSlots(MAX_ENTRIES);
  readonly #kinds = new Uint8Array(MAX_ENTRIES);
  readonly #keyIds: string[] = new Array<string>(MAX_ENTRIES).fill('');
  /** The context's aws:s3:arn, or undefined when it has none. */
  readonly #places: (string | undefined)[] = new Array<string | undefined>(MAX_ENTRIES).fill(undefined);
  /** The decoded context when it is not the place alone (or nothing). */
  readonly #contexts: (EncryptionContext | undefined)[] = new Array<EncryptionContext | undefined>(MAX_ENTRIES).fill(undefined);
  readonly #ids = Buffer.alloc(MAX_ENTRIES * OBJECT_ID_LENGTH);
  readonly #blobs = Buffer.alloc(MAX_ENTRIES * MAX_BLOB);
  readonly #blobLengths = new Uint8Array(MAX_ENTRIES);

  get(env: string): ObjectEnvelope | undefined {
    const slot = this.slots.get(env);
    if (slot === undefined) return undefined;
    const place = this.#places[slot];
    // A fresh object each time, as a decode gives (spread, so a "__proto__" pair stays a pair).
    const kept = this.#contexts[slot];
    const context: EncryptionContext = kept !== undefined ? { ...kept } : place !== undefined ? { [PLACE]: place } : {};
    const idAt = slot * OBJECT_ID_LENGTH;
    const blobAt = slot * MAX_BLOB;
    return {
      version: ENVELOPE_VERSION,
      algorithm: ALGORITHM_NAME,
      segmentSize: SEGMENT_SIZE,
      objectId: asObjectId(Buffer.from(this.#ids.subarray(idAt, idAt + OBJECT_ID_LENGTH))),
      kind: this.#kinds[slot] === KIND_DSSE_KMS ? 'dsse-kms' : 'sse-kms',
      keyId: this.#keyIds[slot]!,
      context,
      wrappedKey: Buffer.from(this.#blobs.subarray(blobAt, blobAt + this.#blobLengths[slot]!)),
    };
  }

  set(env: string, kind: number, keyId: string, objectId: ObjectId, place: string | undefined, context: EncryptionContext | undefined, blob: Buffer): void {
    const slot = this.slots.take(env);
    this.#kinds[slot] = kind;
    this.#keyIds[slot] = keyId;
    this.#places[slot] = place;
    this.#contexts[slot] = context;
    objectId.copy(this.#ids, slot * OBJECT_ID_LENGTH);
    blob.copy(this.#blobs, slot * MAX_BLOB);
    this.#blobLengths[slot] = blob.length;
  }
}

let slab: EnvelopeSlab | undefined;

/** The envelope stored string `env` decodes to, if remembered (a fresh object; its Buffers are copies). */
export function rememberedKmsEnvelope(env: string): ObjectEnvelope | undefined {
  return slab?.get(env);
}

/** The place `context` names when it holds nothing else; undefined when it holds other pairs. */
function placeOnly(context: EncryptionContext): { place: string | undefined } | undefined {
  let place: string | undefined;
  for (const k in context) {
    if (k !== PLACE) return undefined;
    place = context[k];
  }
  return { place };
}

/**
 * Remembers what stored string `env` decodes to. `decoded`: true when `fields` came from
 * decoding `env` (any context is kept, in the decoder's order); false when they are what a
 * write encoded into `env` (only a context of the place alone is kept, which has one order).
 * Other kinds, strings over MAX_ENVELOPE_CHARS and blobs over MAX_BLOB bytes are not remembered.
 */
export function rememberKmsEnvelope(env: string, fields: Pick<ObjectEnvelope, 'kind' | 'keyId' | 'objectId' | 'context' | 'wrappedKey'>, decoded: boolean): void {
  const kind = fields.kind === 'sse-kms' ? KIND_SSE_KMS : fields.kind === 'dsse-kms' ? KIND_DSSE_KMS : 0;
  if (kind === 0 || env.length > MAX_ENVELOPE_CHARS || fields.wrappedKey.length > MAX_BLOB || fields.objectId.length !== OBJECT_ID_LENGTH) return;
  const only = placeOnly(fields.context);
  if (only === undefined && !decoded) return;
  (slab ??= new EnvelopeSlab()).set(env, kind, fields.keyId, fields.objectId, only?.place, only === undefined ? fields.context : undefined, fields.wrappedKey);
}

/** For tests: how many envelopes are remembered. */
export function kmsEnvelopesHeld(): number {
  return slab?.slots.map.size ?? 0;
}

/** For tests: forgets every envelope (a GET that must decode). */
export function forgetKmsEnvelopes(): void {
  slab = undefined;
}
