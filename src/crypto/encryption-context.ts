// The canonical byte encoding of an encryption context: the AES-GCM AAD of the KMS
// ciphertext (docs/spec/kms-ciphertext.md, "Canonical encryption context") and the
// context stored in an object's envelope, so the pairs the S3 layer sends to KMS are
// stored exactly as KMS binds them. One encoder for both, in the lower layer. Pair order
// never matters and every key and value is length-prefixed, so no two different contexts
// encode alike: {"ab":"c"} and {"a":"bc"} differ, which bare concatenation would not.
//
//   canon(context) = u32be(count) || for each pair, by ascending UTF-8 key bytes:
//                    u32be(len key) || key || u32be(len value) || value
//
// The decoder accepts only the canonical form (keys strictly ascending, so no duplicates;
// well-formed UTF-8), so each context has exactly one encoding.

import { isUtf8 } from 'node:buffer';
import { EnvelopeParseError } from './errors.js';

export type EncryptionContext = Readonly<Record<string, string>>;

/** The context is not a map of well-formed strings (a lone UTF-16 surrogate has no UTF-8 form). */
export class EncryptionContextError extends RangeError {
  override readonly name = 'EncryptionContextError';
}

function utf8(s: unknown, what: 'key' | 'value'): Buffer {
  if (typeof s !== 'string') throw new EncryptionContextError(`encryption context ${what}s must be strings`);
  const b = Buffer.from(s, 'utf8');
  // A lone surrogate becomes U+FFFD, so two different strings could encode alike; refuse.
  if (b.toString('utf8') !== s) throw new EncryptionContextError(`encryption context ${what}s must be well-formed Unicode`);
  return b;
}

export function encodeEncryptionContext(context: EncryptionContext): Buffer {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) {
    throw new EncryptionContextError('encryption context must be an object of string keys and values');
  }
  const pairs = Object.entries(context).map(([k, v]) => [utf8(k, 'key'), utf8(v, 'value')] as const);
  // UTF-8 byte order, not JavaScript's UTF-16 order: they differ for U+E000..U+FFFF
  // against characters beyond U+FFFF, and other implementations sort bytes.
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  let size = 4;
  for (const [k, v] of pairs) size += 8 + k.length + v.length;
  const out = Buffer.alloc(size);
  let off = out.writeUInt32BE(pairs.length, 0);
  for (const [k, v] of pairs) {
    off = out.writeUInt32BE(k.length, off);
    off += k.copy(out, off);
    off = out.writeUInt32BE(v.length, off);
    off += v.copy(out, off);
  }
  return out;
}


/** Reads canon(context) at `offset`; returns the context and the offset just past it. */
export function decodeEncryptionContext(bytes: Buffer, offset: number): { context: EncryptionContext; end: number } {
  let off = offset;
  const u32 = (what: string): number => {
    if (off + 4 > bytes.length) throw new EnvelopeParseError(`envelope ends inside the encryption context (${what})`);
    const n = bytes.readUInt32BE(off);
    off += 4;
    return n;
  };
  const field = (what: string): Buffer => {
    const n = u32(`${what} length`);
    if (n > bytes.length - off) throw new EnvelopeParseError(`encryption context ${what} runs past the end of the envelope`);
    const b = bytes.subarray(off, off + n);
    off += n;
    return b;
  };
  const text = (b: Buffer, what: string): string => {
    // isUtf8 is the native well-formedness check (no BOM handling: bytes are kept as given).
    if (!isUtf8(b)) throw new EnvelopeParseError(`encryption context ${what} is not well-formed UTF-8`);
    return b.toString('utf8');
  };
  const count = u32('pair count');
  // Each pair takes at least 8 bytes: refuse a count the bytes cannot hold before looping.
  if (count > (bytes.length - off) / 8) throw new EnvelopeParseError('encryption context pair count runs past the end of the envelope');
  const context: Record<string, string> = Object.create(null) as Record<string, string>;
  let previous: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    const k = field('key');
    const v = field('value');
    if (previous && Buffer.compare(previous, k) >= 0) throw new EnvelopeParseError('encryption context keys are not strictly ascending');
    previous = k;
    context[text(k, 'key')] = text(v, 'value');
  }
  return { context: { ...context }, end: off };
}
