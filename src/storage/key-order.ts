// Helpers for S3's key order: keys compare as UTF-8 bytes. UTF-8 preserves code point
// order, so comparing code points is the same as comparing the encoded bytes (JS's own
// string comparison is by UTF-16 unit, which orders U+E000..U+FFFF before astral
// characters and is therefore wrong for S3).

/** Negative, zero or positive as a sorts before, equal to or after b in UTF-8 byte order. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The smallest string that is greater (in UTF-8 byte order) than every string starting
 * with `prefix`, so `key >= prefix AND key < bound` selects exactly the keys with that
 * prefix; undefined when there is no such bound (empty prefix, or only U+10FFFF).
 * Works on code points rather than bytes so the bound is always valid UTF-8 and can be
 * bound as TEXT (incrementing the last byte could produce invalid UTF-8).
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    let cp = cps.pop()!.codePointAt(0)! + 1;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000; // surrogates are not characters
    if (cp <= 0x10ffff) return cps.join('') + String.fromCodePoint(cp);
  }
  return undefined;
}
