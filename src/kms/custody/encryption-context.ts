// The canonical byte encoding of a KMS encryption context, used as AES-GCM AAD. Pair
// order never matters (sorted by the key's UTF-8 bytes) and every key and value is
// length-prefixed, so no two different contexts encode alike: {"ab":"c"} and {"a":"bc"}
// differ, which bare concatenation would not. Spec: docs/spec/kms-ciphertext.md.
//
//   u32be(pair count) || for each pair: u32be(len key) || key || u32be(len value) || value

export type EncryptionContext = Readonly<Record<string, string>>;

/** The context is not a map of well-formed strings (a lone UTF-16 surrogate has no UTF-8 form). */
export class EncryptionContextError extends Error {
  override readonly name = 'EncryptionContextError';
}

function utf8(s: unknown, what: 'key' | 'value'): Buffer {
  if (typeof s !== 'string') throw new EncryptionContextError(`encryption context ${what}s must be strings`);
  const b = Buffer.from(s, 'utf8');
  // Lone surrogates become U+FFFD, so two different strings could encode alike; refuse them.
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
  const parts: Buffer[] = [u32(pairs.length)];
  for (const [k, v] of pairs) parts.push(u32(k.length), k, u32(v.length), v);
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
