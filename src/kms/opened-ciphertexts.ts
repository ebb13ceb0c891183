// The plaintexts of the data-key-sized ciphertexts this KMS sealed or opened last for S3 (a
// caller with kms:ViaService), so that an SSE-KMS GET of an object written or read a moment
// ago skips HKDF and AES-GCM in its Decrypt. Filled by S3's GenerateDataKey for an object's
// data key (SEAL_FOR_S3_READ, kms/ops/crypto.ts: so the first GET after a PUT hits) and by
// S3's Decrypts (a bucket key's too, when its cache misses). Decrypt and GenerateDataKey on
// the wire do not use it, nor does a bucket key's GenerateDataKey (a blob seen before is rare
// there). Remembering costs the PUT about 2 µs in-process (the memo
// key built from the blob and context, a slot of the slab); an earlier version of the
// seeding measured +50 µs per PUT once (load 9–10), which interleaved runs since have not
// reproduced, with this slab or with the Buffer per entry of then (the performance record,
// "Small encrypted GETs: the first SSE-KMS GET").
//
// Only the cryptography is saved. The lookup comes after everything a Decrypt decides: the
// key resolved from the blob's header, the caller authorized, the key state checked, and the
// material the header names found through the service's material cache — whose objects are
// new after any change to the key (its revision). An entry answers only for the very same
// material object, the very same blob bytes and the very same encryption context, which is
// exactly when AES-GCM would have authenticated and returned these bytes. The audit event
// and the answer are the operation's as before.
//
// Bounded: plaintexts of at most 64 bytes (AES-256 data keys and DSSE's pairs), contexts of
// at most MAX_CONTEXT_CHARS as JSON, at most MAX_ENTRIES, first in first out, in one
// preallocated slab; an entry leaving is overwritten by the next. Callers get copies, so a caller zeroing its key (S3 does after
// each GET) leaves the entry intact.

import type { EncryptionContext } from '../crypto/encryption-context.js';
import type { KeyMaterial } from './format/key-material.js';
import { CIPHERTEXT_HEADER_LENGTH } from './format/ciphertext.js';

const MAX_PLAINTEXT = 64;
/**
 * The longest encryption context kept, as the memo key's JSON: S3's context of the place
 * alone always fits (a 1,024-byte object key); a client's large one (a request header
 * allows ~10 KB) is not remembered, so the memo keys of 4,096 entries stay a few MB.
 */
export const MAX_CONTEXT_CHARS = 2048;
const TAG_LENGTH = 16;
const MAX_BLOB = CIPHERTEXT_HEADER_LENGTH + MAX_PLAINTEXT + TAG_LENGTH;
export const MAX_ENTRIES = 4096;

/** One server's remembered ciphertexts (one per KmsService). */
export class OpenedCiphertexts {
  /** Memo key → slot. */
  readonly #entries = new Map<string, number>();
  /**
   * Per slot, in the order they came, as a ring (the next to leave is at #next): its memo
   * key, its material and its plaintext's length; the plaintexts themselves in one slab of
   * MAX_ENTRIES × MAX_PLAINTEXT bytes. (Evicting through map.keys().next() would walk the
   * holes earlier deletions leave at the front of V8's table; a Buffer of its own per
   * plaintext cost more at each miss than the memo saved, see object-key-memo.ts.)
   */
  readonly #keys: (string | undefined)[] = new Array<string | undefined>(MAX_ENTRIES).fill(undefined);
  readonly #materials: (KeyMaterial | undefined)[] = new Array<KeyMaterial | undefined>(MAX_ENTRIES).fill(undefined);
  readonly #lengths = new Uint8Array(MAX_ENTRIES);
  readonly #slab = Buffer.alloc(MAX_ENTRIES * MAX_PLAINTEXT);
  #next = 0;
  /** The memo key of the last lookup, so that remembering its miss does not build it again. */
  #lastMiss: { blob: Buffer; context: EncryptionContext; k: string } | undefined;
  /** For tests: hits and misses of lookups that could have been answered. */
  readonly stats = { hits: 0, misses: 0 };

  /** A copy of the plaintext `blob` opened to under `material` and `context`, if remembered. */
  lookup(material: KeyMaterial, blob: Buffer, context: EncryptionContext): Buffer | undefined {
    if (blob.length > MAX_BLOB) return undefined;
    const k = memoKey(blob, context);
    if (k === undefined) {
      this.#lastMiss = undefined;
      return undefined;
    }
    // A miss is remembered next (kms/ops/crypto.ts openWith), with the same blob and context objects.
    this.#lastMiss = { blob, context, k };
    const slot = this.#entries.get(k);
    if (slot === undefined || this.#materials[slot] !== material) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    this.#lastMiss = undefined;
    const at = slot * MAX_PLAINTEXT;
    return Buffer.from(this.#slab.subarray(at, at + this.#lengths[slot]!));
  }

  /** Remembers (a copy of) the plaintext of `blob`, authenticated under `material` and `context`. */
  remember(material: KeyMaterial, blob: Buffer, context: EncryptionContext, plaintext: Buffer): void {
    if (blob.length > MAX_BLOB || plaintext.length > MAX_PLAINTEXT) return;
    const last = this.#lastMiss;
    this.#lastMiss = undefined;
    const k = last !== undefined && last.blob === blob && last.context === context ? last.k : memoKey(blob, context);
    if (k === undefined) return;
    let slot = this.#entries.get(k);
    if (slot === undefined) {
      slot = this.#next;
      this.#next = (slot + 1) % MAX_ENTRIES;
      const leaving = this.#keys[slot];
      if (leaving !== undefined) this.#entries.delete(leaving);
      this.#keys[slot] = k;
      this.#entries.set(k, slot);
    }
    const at = slot * MAX_PLAINTEXT;
    // What was there before (the leaving entry's plaintext) is zeroed past the new one's end.
    this.#slab.fill(0, at + plaintext.length, at + MAX_PLAINTEXT);
    plaintext.copy(this.#slab, at);
    this.#lengths[slot] = plaintext.length;
    this.#materials[slot] = material;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every entry, zeroing the slab (tests: a Decrypt that must take the cryptography's path). */
  clear(): void {
    this.#entries.clear();
    this.#keys.fill(undefined);
    this.#materials.fill(undefined);
    this.#lengths.fill(0);
    this.#slab.fill(0);
    this.#next = 0;
    this.#lastMiss = undefined;
  }
}

/**
 * The blob's bytes (length first, so blob and context cannot trade bytes) and the context
 * as JSON of its pairs sorted by key: distinct contexts give distinct strings (JSON escapes
 * lone surrogates), and the order of the members as sent does not matter. Undefined (not
 * remembered) when the context's JSON is over MAX_CONTEXT_CHARS.
 */
function memoKey(blob: Buffer, context: EncryptionContext): string | undefined {
  const keys = Object.keys(context);
  let ctx: string;
  if (keys.length === 0) ctx = '';
  else if (keys.length === 1) ctx = JSON.stringify([keys[0], context[keys[0]!]]);
  else ctx = JSON.stringify(keys.sort().map((k) => [k, context[k]]));
  if (ctx.length > MAX_CONTEXT_CHARS) return undefined;
  return `${blob.length}:${blob.toString('latin1')}${ctx}`;
}
