// A Hadoop configuration file (core-site.xml) read the way Hadoop's Configuration reads
// it, for the properties S3A uses. What Hadoop does, checked against hadoop-common 3.5
// with the real classes (interop/hadoop-s3a/README.md):
//   - properties apply in file order; a later definition replaces an earlier one unless
//     the earlier one is <final>true</final>;
//   - a property whose value is empty (or missing) is ignored, it does not unset anything;
//   - a deprecated name is stored under its replacement: setting
//     fs.s3a.server-side-encryption-algorithm sets fs.s3a.encryption.algorithm, so the two
//     names are one property and the later definition of either wins;
//   - values are trimmed when read.
// <xi:include> is not followed (reported), and variables (${...}) are not expanded.

import { XMLParser } from 'fast-xml-parser';

/** Hadoop's deprecation table for the S3A properties this module knows (S3AFileSystem.addDeprecatedKeys). */
export const DEPRECATED_NAMES: Readonly<Record<string, string>> = {
  'fs.s3a.server-side-encryption-algorithm': 'fs.s3a.encryption.algorithm',
  'fs.s3a.server-side-encryption.key': 'fs.s3a.encryption.key',
};

/** One <property> element as written. */
export interface RawProperty {
  name: string;
  value: string;
  final: boolean;
  /** 1-based position among the file's <property> elements. */
  index: number;
}

/** A property's effective value and the definition it came from. */
export interface Setting {
  value: string;
  /** The property name as written in the file (an old name when the file used one). */
  from: string;
  index: number;
  final: boolean;
}

export interface CoreSite {
  properties: RawProperty[];
  /** Effective values by canonical name (deprecated names folded into their replacements). */
  values: Map<string, Setting>;
  /** What Coffer could not follow: XIncludes, definitions ignored because an earlier one was final. */
  notes: string[];
}

export class CoreSiteError extends Error {}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: false,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  isArray: (name) => name === 'property',
});

/** The canonical name Hadoop stores a property under. */
export function canonicalName(name: string): string {
  return DEPRECATED_NAMES[name] ?? name;
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && '#text' in (v as Record<string, unknown>)) return text((v as Record<string, unknown>)['#text']);
  return '';
}

export function parseCoreSite(xml: string): CoreSite {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(xml, true) as Record<string, unknown>;
  } catch (e) {
    throw new CoreSiteError(`not well-formed XML: ${(e as Error).message.split('\n')[0]}`);
  }
  const root = doc.configuration;
  if (root === undefined) throw new CoreSiteError('no <configuration> element: not a Hadoop configuration file');
  const notes: string[] = [];
  const conf = (typeof root === 'object' && root !== null ? root : {}) as Record<string, unknown>;
  if (Object.keys(conf).some((k) => k.endsWith(':include') || k === 'include')) {
    notes.push('the file has <xi:include> elements; Coffer does not follow them, so included properties are not checked');
  }
  const properties: RawProperty[] = [];
  const list = (conf.property ?? []) as Record<string, unknown>[];
  list.forEach((p, i) => {
    const name = text(p.name)?.trim();
    if (!name) return;
    properties.push({ name, value: text(p.value) ?? '', final: text(p.final)?.trim() === 'true', index: i + 1 });
  });
  const values = new Map<string, Setting>();
  for (const p of properties) {
    if (p.value === '') continue;
    const key = canonicalName(p.name);
    const prev = values.get(key);
    if (prev?.final) {
      if (prev.value !== p.value) notes.push(`${p.name} (property #${p.index}) is ignored: ${prev.from} (property #${prev.index}) is final`);
      continue;
    }
    values.set(key, { value: p.value, from: p.name, index: p.index, final: p.final });
  }
  return { properties, values, notes };
}

/** The effective value of a property (by any of its names), trimmed; undefined when unset. */
export function lookup(site: CoreSite, name: string): Setting | undefined {
  const s = site.values.get(canonicalName(name));
  return s ? { ...s, value: s.value.trim() } : undefined;
}

/** Buckets named by per-bucket properties (fs.s3a.bucket.NAME.*), in file order. */
export function bucketsWithOverrides(site: CoreSite): string[] {
  const out: string[] = [];
  for (const p of site.properties) {
    if (!p.name.startsWith('fs.s3a.bucket.')) continue;
    const bucket = bucketOf(p.name);
    if (bucket && !out.includes(bucket)) out.push(bucket);
  }
  return out;
}

// Bucket names may contain dots; S3A matches fs.s3a.bucket.<bucket>.<option> for a known
// bucket, so to list buckets take the shortest prefix whose rest looks like an S3A option.
/** Options S3A reads per bucket, to split fs.s3a.bucket.<bucket>.<option> when the bucket has dots. */
const OPTION_HEADS = ['encryption.', 'server-side-encryption', 'access.key', 'secret.key', 'session.token', 'endpoint', 'path.style.access', 'connection.', 'aws.', 'fs.s3a.', 'security.', 'multipart.', 'retry.', 'attempts.', 'input.', 'create.', 'change.', 'list.', 'bucket.probe', 'impl', 'signing-algorithm', 'assumed.role.'];

function bucketOf(name: string): string | undefined {
  const rest = name.slice('fs.s3a.bucket.'.length);
  const parts = rest.split('.');
  for (let i = 1; i < parts.length; i++) {
    const option = parts.slice(i).join('.');
    if (OPTION_HEADS.some((h) => option.startsWith(h))) return parts.slice(0, i).join('.');
  }
  return parts.length > 1 ? parts[0] : undefined;
}
