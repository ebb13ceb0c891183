// Wildcard patterns and policy variables. A policy string becomes a list of parts:
// literal text and the wildcards * and ?. Policy variables (${aws:username},
// ${aws:PrincipalTag/team, 'default'}) and the escapes ${*} ${?} ${$} expand to
// literal text, so a user name containing "*" never acts as a wildcard. The parts then
// compile to an anchored RegExp in one of three matching modes.

export type Part = { lit: string } | { wild: '*' | '?' };

/** Returns the value of a single-valued condition key (lower-cased name), if present. */
export type VariableLookup = (keyLower: string) => string | undefined;

const ESCAPES: Record<string, string> = { '*': '*', '?': '?', $: '$' };

/**
 * Splits a policy string into parts. With `lookup` undefined, "${" has no special
 * meaning (2008-10-17 documents, and elements that take no variables). Returns undefined
 * when a variable cannot be resolved and has no default: AWS then treats the string as
 * matching nothing.
 */
export function toParts(raw: string, lookup: VariableLookup | undefined): Part[] | undefined {
  const parts: Part[] = [];
  let lit = '';
  const flush = (): void => {
    if (lit) parts.push({ lit });
    lit = '';
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '*' || c === '?') {
      flush();
      parts.push({ wild: c });
      continue;
    }
    if (c === '$' && raw[i + 1] === '{' && lookup) {
      const v = readVariable(raw, i + 2);
      if (v) {
        const value = v.escape ?? lookup(v.keyLower) ?? v.fallback;
        if (value === undefined) return undefined;
        lit += value;
        i = v.end;
        continue;
      }
    }
    lit += c;
  }
  flush();
  return parts;
}

interface Variable {
  keyLower: string;
  escape?: string;
  fallback?: string;
  /** Index of the closing brace. */
  end: number;
}

/** Reads "key}" or "key, 'default'}" starting at `start`; undefined if malformed. */
function readVariable(raw: string, start: number): Variable | undefined {
  let i = start;
  let inQuote = false;
  let body = '';
  for (; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === "'") inQuote = !inQuote;
    else if (c === '}' && !inQuote) break;
    body += c;
  }
  if (i >= raw.length) return undefined;
  const trimmed = body.trim();
  if (Object.hasOwn(ESCAPES, trimmed)) return { keyLower: '', escape: ESCAPES[trimmed], end: i };
  const comma = body.indexOf(',');
  if (comma < 0) {
    if (!trimmed) return undefined;
    return { keyLower: trimmed.toLowerCase(), end: i };
  }
  const key = body.slice(0, comma).trim();
  const def = body.slice(comma + 1).trim();
  if (!key || !/^'.*'$/s.test(def)) return undefined;
  return { keyLower: key.toLowerCase(), fallback: def.slice(1, -1).replace(/''/g, "'"), end: i };
}

/** The literal string a value denotes when wildcards mean nothing (StringEquals, Bool). */
export function partsToString(parts: Part[]): string {
  return parts.map((p) => ('lit' in p ? p.lit : p.wild)).join('');
}

/**
 * 'plain': * matches any run of characters, ? any one (Action, StringLike).
 * 'resource': ARN segments are the colon-separated parts; a * or ? stays inside its
 *   segment, except that a * ending a segment may run past colons (AWS's Resource rule).
 * 'arn': ArnLike; the six colon-delimited ARN components are matched one by one, the
 *   last (the resource) may itself contain colons. A pattern with fewer than six
 *   components matches no ARN (the bare pattern "*" matches everything).
 */
export type MatchMode = 'plain' | 'resource' | 'arn';

const cache = new Map<string, RegExp>();
const plainCache = new Map<string, RegExp>();
const CACHE_LIMIT = 4096;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function compile(parts: Part[], mode: MatchMode, ignoreCase: boolean): RegExp {
  const key = `${mode}|${ignoreCase ? 'i' : ''}|${JSON.stringify(parts)}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let src = '';
  let colonsSeen = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if ('lit' in p) {
      src += escapeRe(p.lit);
      colonsSeen += p.lit.split(':').length - 1;
      continue;
    }
    let bounded: boolean;
    if (mode === 'plain') bounded = false;
    else if (mode === 'arn') bounded = colonsSeen < 5;
    else {
      const next = parts[i + 1];
      const endsSegment = next === undefined || ('lit' in next && next.lit.startsWith(':'));
      bounded = !(p.wild === '*' && endsSegment);
    }
    if (p.wild === '*') src += bounded ? '[^:]*' : '.*';
    else src += bounded ? '[^:]' : '.';
  }
  const re = new RegExp(`^${src}$`, ignoreCase ? 'is' : 's');
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, re);
  return re;
}

/** Matches `value` against a policy pattern string; undefined variables never match. */
export function matchPattern(
  pattern: string,
  value: string,
  mode: MatchMode,
  ignoreCase: boolean,
  lookup: VariableLookup | undefined,
): boolean {
  if (pattern === '*') return true;
  // Most patterns have no policy variables: their RegExp is cached by the pattern text
  // itself (building compile()'s key from the parts cost more than the match).
  if (!pattern.includes('${')) {
    const key = `${mode}${ignoreCase ? 'i' : '-'}${pattern}`;
    let re = plainCache.get(key);
    if (re === undefined) {
      const parts = toParts(pattern, undefined);
      if (!parts) return false;
      re = compile(parts, mode, ignoreCase);
      if (plainCache.size >= CACHE_LIMIT) plainCache.clear();
      plainCache.set(key, re);
    }
    return re.test(value);
  }
  const parts = toParts(pattern, lookup);
  if (!parts) return false;
  return compile(parts, mode, ignoreCase).test(value);
}
