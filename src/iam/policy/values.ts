// Parsing of the typed values condition operators compare: numbers and dates. A value
// that does not parse is NaN, which every comparison treats as "does not match".

/** Integers and decimals, as IAM's Numeric operators accept them. */
export function parseNumber(s: string): number {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(s.trim())) return NaN;
  return Number(s);
}

/**
 * Milliseconds since the epoch. IAM dates are ISO 8601 (W3C profile) or, as for
 * aws:EpochTime, whole seconds since the epoch.
 */
export function parseDate(s: string): number {
  const t = s.trim();
  if (/^-?\d+$/.test(t)) return Number(t) * 1000;
  if (!/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/.test(t)) return NaN;
  return Date.parse(t);
}
