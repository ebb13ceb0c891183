// Structure-aware mutations for the targets whose inputs are JSON or XML: byte edits
// mostly break the syntax and stop at the parser, these keep the document well formed
// and change what it says, so the checks behind the parser see odd values.

import type { Rng } from './engine.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ODD_STRINGS = ['', ' ', '*', '?', '${aws:username}', '${', 'a'.repeat(300), '\u0000', '\ud800', 'é', '__proto__', 'constructor', 'toString', 'null', '-1', '1e400', 'arn:', 'arn:aws:kms:us-east-1:123456789012:key/', 'alias/', 'alias/aws/s3', '::/0', '10.0.0.0/33'];
const ODD_VALUES: Json[] = [null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 53 + 2, {}, [], [[]], [null], { '': '' }, { __proto__: 'x' } as unknown as Json];

function values(words: readonly string[]): Json[] {
  return [...ODD_VALUES, ...ODD_STRINGS, ...words];
}

/** Every container in the document with its keys (objects) or indexes (arrays). */
function containers(doc: Json, out: (Json[] | { [k: string]: Json })[] = []): (Json[] | { [k: string]: Json })[] {
  if (doc !== null && typeof doc === 'object') {
    out.push(doc);
    for (const v of Array.isArray(doc) ? doc : Object.values(doc)) containers(v, out);
  }
  return out;
}

/** One edit of a JSON document's tree, or undefined when the text is not JSON. */
export function mutateJson(rng: Rng, text: string, words: readonly string[]): string | undefined {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
  const all = containers(doc);
  if (all.length === 0) return JSON.stringify(rng.pick(values(words)));
  const c = rng.pick(all);
  const pool = values(words);
  if (Array.isArray(c)) {
    const i = c.length === 0 ? 0 : rng.below(c.length);
    switch (rng.below(4)) {
      case 0: c[i] = rng.pick(pool); break;
      case 1: c.splice(i, 1); break;
      case 2: if (c.length > 0) c.push(...Array<Json>(1 + rng.below(40)).fill(c[i]!)); break;
      default: c.splice(i, 0, rng.pick(pool));
    }
  } else {
    const keys = Object.keys(c);
    const key = keys.length === 0 ? String(rng.pick(words)) : rng.pick(keys);
    switch (rng.below(5)) {
      case 0: c[key] = rng.pick(pool); break;
      case 1: delete c[key]; break;
      case 2: c[String(rng.pick(words))] = rng.pick(pool); break;
      case 3: c[key] = [c[key] ?? null, rng.pick(pool)]; break;
      default: c[key] = { [String(rng.pick(words))]: c[key] ?? null };
    }
  }
  return JSON.stringify(doc);
}

const ELEMENT = /<([A-Za-z][\w.-]*)>[\s\S]*?<\/\1>/g;
const TEXT = />([^<]*)</g;

/** One edit of an XML document: a text node's value, or an element duplicated, dropped or renamed. */
export function mutateXml(rng: Rng, text: string, words: readonly string[]): string | undefined {
  const pick = (re: RegExp) => {
    const found = [...text.matchAll(re)];
    return found.length === 0 ? undefined : rng.pick(found);
  };
  switch (rng.below(4)) {
    case 0: {
      const m = pick(TEXT);
      if (!m) return undefined;
      const v = rng.pick([...ODD_STRINGS, ...words, String(rng.below(20_000) - 5)]);
      return text.slice(0, m.index + 1) + v + text.slice(m.index + m[0].length - 1);
    }
    case 1: {
      const m = pick(ELEMENT);
      if (!m) return undefined;
      return text.slice(0, m.index) + m[0].repeat(2 + rng.below(rng.below(2) ? 3 : 1200)) + text.slice(m.index + m[0].length);
    }
    case 2: {
      const m = pick(ELEMENT);
      if (!m) return undefined;
      return text.slice(0, m.index) + text.slice(m.index + m[0].length);
    }
    default: {
      const m = pick(ELEMENT);
      if (!m) return undefined;
      const name = rng.pick(words.filter((w) => /^[A-Za-z]+$/.test(w)).concat(m[1]!));
      return text.slice(0, m.index) + `<${name}>` + m[0].slice(m[1]!.length + 2, -(m[1]!.length + 3)) + `</${name}>` + text.slice(m.index + m[0].length);
    }
  }
}
