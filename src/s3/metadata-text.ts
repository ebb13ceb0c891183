// User metadata values (x-amz-meta-*) as S3 stores and returns them. HTTP header bytes
// are not text; AWS reads them as the client's bytes (UTF-8 from every SDK), decodes a
// value written as RFC 2047 encoded words (`=?UTF-8?B?Y2Fmw6k=?=`) before storing it,
// and returns a value holding anything but printable US-ASCII RFC 2047-encoded
// (`=?UTF-8?B?...?=`), so a response header never carries raw non-ASCII bytes.

import { wireHeaderText } from '../auth/canonical.js';

// One encoded word: =?charset?encoding?text?= (RFC 2047 §2); bounded by the header itself.
const ENCODED_WORD = /=\?([A-Za-z0-9_.:-]{1,40})\?([BbQq])\?([^?\s]*)\?=/g;
const ONLY_ENCODED_WORDS = /^\s*(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=\s*)+$/;

/** A metadata value as received (Node's latin1 reading of the header bytes) → the text stored. */
export function metadataFromWire(latin1: string): string {
  const text = wireHeaderText(latin1);
  return ONLY_ENCODED_WORDS.test(text) ? decodeEncodedWords(text) ?? text : text;
}

/** A stored metadata value → the header value returned on GET and HEAD. */
export function metadataToWire(value: string): string {
  if (/^[\x20-\x7e\t]*$/.test(value)) return value;
  return `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The text of a value made only of encoded words (whitespace between them dropped, RFC 2047 §6.2); undefined if one cannot be read. */
function decodeEncodedWords(value: string): string | undefined {
  let out = '';
  for (const m of value.matchAll(ENCODED_WORD)) {
    const charset = m[1]!.toLowerCase().replace(/\*.*$/, '');
    const encoding: BufferEncoding | undefined = charset === 'utf-8' || charset === 'utf8' ? 'utf8' : charset === 'iso-8859-1' || charset === 'us-ascii' ? 'latin1' : undefined;
    if (encoding === undefined) return undefined;
    const bytes = m[2]!.toUpperCase() === 'B' ? base64Bytes(m[3]!) : qBytes(m[3]!);
    if (bytes === undefined) return undefined;
    const text = bytes.toString(encoding);
    if (encoding === 'utf8' && !Buffer.from(text, 'utf8').equals(bytes)) return undefined;
    out += text;
  }
  return out;
}

function base64Bytes(s: string): Buffer | undefined {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 ? Buffer.from(s, 'base64') : undefined;
}

function qBytes(s: string): Buffer | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '_') bytes.push(0x20);
    else if (c === '=') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}
