// Entity and character references in the text of XML request bodies, decoded strictly as
// XML 1.0 defines them: the five predefined entities and numeric character references
// (decimal `&#34;`, hex `&#x22;`) whose code point is an XML Char. Go's encoder (rclone,
// aws-sdk-go) writes `"` as `&#34;`, so ETags and keys depend on it. Anything else — an
// unknown name, a bad number, a code point XML forbids, a `&` with no `;` — is an error
// (MalformedXML). There is no DTD and no custom entity, so nothing expands beyond the
// reference itself.

/** Thrown for a malformed reference; the caller turns it into MalformedXML. */
export class XmlReferenceError extends Error {}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

// The longest reference that can be valid: `&#x` + 10FFFF with leading zeros allowed, but
// bounded so a run of digits cannot make the scan quadratic.
const MAX_REFERENCE = 16;

/** XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

function decodeReference(name: string): string {
  if (name.startsWith('#x')) {
    const digits = name.slice(2);
    if (!/^[0-9a-fA-F]{1,8}$/.test(digits)) throw new XmlReferenceError('bad hexadecimal character reference');
    return codePoint(parseInt(digits, 16));
  }
  if (name.startsWith('#')) {
    const digits = name.slice(1);
    if (!/^[0-9]{1,10}$/.test(digits)) throw new XmlReferenceError('bad decimal character reference');
    return codePoint(parseInt(digits, 10));
  }
  const v = PREDEFINED[name];
  if (v === undefined) throw new XmlReferenceError('undefined entity');
  return v;
}

function codePoint(cp: number): string {
  if (!isXmlChar(cp)) throw new XmlReferenceError('character reference to a character XML does not allow');
  return String.fromCodePoint(cp);
}

/** The text with every reference replaced; XmlReferenceError for a malformed one. */
export function decodeXmlText(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp - 1 > MAX_REFERENCE) throw new XmlReferenceError('unterminated reference');
    out += s.slice(from, amp) + decodeReference(s.slice(amp + 1, semi));
    from = semi + 1;
    amp = s.indexOf('&', from);
  }
  return out + s.slice(from);
}

/**
 * The shape fast-xml-parser asks of an `entityDecoder`: text goes through decodeXmlText,
 * and a DOCTYPE (the only way to declare entities) is refused outright.
 */
export const strictXmlEntities = {
  decode: decodeXmlText,
  addInputEntities(entities: Record<string, string>): void {
    if (Object.keys(entities).length > 0) throw new XmlReferenceError('entity declarations are not allowed');
  },
  setExternalEntities(): void {},
  reset(): void {},
  setXmlVersion(): void {},
};
