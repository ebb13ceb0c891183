// JSON request bodies parsed under bounds: nesting depth and string length are checked
// before and after JSON.parse, so a body nested thousands of levels deep or carrying a
// huge string is refused before any operation runs. Without this, such a body parses
// fine, changes state, and then overflows whatever walks it next (the audit serializer
// did, after the change had committed). The KMS and the admin API read their bodies here
// and turn the two failures into their own wire errors.

/** Objects and arrays nested deeper than this are refused; the body's top level is level 1. */
export const MAX_JSON_DEPTH = 64;
/** Strings (member names included) longer than this, in UTF-16 units, are refused. Above KMS's longest member (a 32 KiB policy). */
export const MAX_JSON_STRING = 64 * 1024;

export type JsonBoundFailure = { kind: 'syntax' } | { kind: 'depth' } | { kind: 'string'; path: string };

/** Parses `text` as JSON, or says which bound (or the syntax) it fails. */
export function parseBoundedJson(text: string): { ok: true; value: unknown } | { ok: false; failure: JsonBoundFailure } {
  // The depth is counted on the text first: JSON.parse itself copes with deep nesting,
  // but everything that walks the result afterwards may not.
  if (mayNestDeeper(text) && depthOf(text) > MAX_JSON_DEPTH) return { ok: false, failure: { kind: 'depth' } };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, failure: { kind: 'syntax' } };
  }
  // A parsed string is never longer than the text that holds it: a short body skips the walk.
  const path = text.length <= MAX_JSON_STRING ? undefined : longString(value, '');
  return path === undefined ? { ok: true, value } : { ok: false, failure: { kind: 'string', path } };
}

/** Whether `text` has more than MAX_JSON_DEPTH opening brackets (a cheap bound on its depth; small bodies have a few). */
function mayNestDeeper(text: string): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i >= 0 && n <= MAX_JSON_DEPTH; i = text.indexOf('{', i + 1)) n++;
  for (let i = text.indexOf('['); i >= 0 && n <= MAX_JSON_DEPTH; i = text.indexOf('[', i + 1)) n++;
  return n > MAX_JSON_DEPTH;
}

/** The deepest nesting of objects and arrays in `text`, brackets inside strings not counted. */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** The path of the first string (or member name) longer than MAX_JSON_STRING, if any. Depth is already bounded. */
function longString(v: unknown, path: string): string | undefined {
  if (typeof v === 'string') return v.length > MAX_JSON_STRING ? path || '(body)' : undefined;
  if (typeof v !== 'object' || v === null) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = longString(v[i], `${path}[${i}]`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    const at = path ? `${path}.${k.slice(0, 64)}` : k.slice(0, 64);
    if (k.length > MAX_JSON_STRING) return at;
    const p = longString(x, at);
    if (p !== undefined) return p;
  }
  return undefined;
}
