// A bucket's lifecycle configuration (PutBucketLifecycleConfiguration's <LifecycleConfiguration>):
// the rules, parsed and validated as AWS validates them, stored as one JSON document in the
// bucket's config (LIFECYCLE_ITEM), written back as GetBucketLifecycleConfiguration's XML, and
// matched against objects (which rule applies to a key, its size and tags).
//
// What Coffer does with a rule (worker.ts applies them): Expiration (Days, Date,
// ExpiredObjectDeleteMarker), NoncurrentVersionExpiration (NoncurrentDays,
// NewerNoncurrentVersions), AbortIncompleteMultipartUpload. Transition and
// NoncurrentVersionTransition move objects to another storage class; Coffer has one
// (STANDARD), so a transition to one of AWS's other classes is InvalidStorageClass and is
// never stored — nothing would carry it out.
//
// AWS's answers to invalid documents (the codes and messages tests pin):
//   MalformedXML      no rule or more than 1,000; Status not Enabled/Disabled; a rule with
//                     neither Filter nor Prefix, or both; a Filter with more than one member;
//                     an And with fewer than two predicates; Expiration with Days and Date,
//                     neither, or ExpiredObjectDeleteMarker beside either; a number that is not one
//   InvalidArgument   ID over 255 characters; duplicate IDs; Days, NoncurrentDays,
//                     DaysAfterInitiation not positive; NewerNoncurrentVersions outside 1..100;
//                     Date not at midnight GMT; a transition to STANDARD or REDUCED_REDUNDANCY
//   InvalidRequest    no action in a rule; ExpiredObjectDeleteMarker or
//                     AbortIncompleteMultipartUpload with a tag or size filter; duplicate tag
//                     keys; sizes out of range or crossed; legacy Prefix rules mixed with
//                     Filter rules; NewerNoncurrentVersions in a legacy rule

import { randomUUID } from 'node:crypto';
import type { BucketRecord, ObjectTags } from '../../storage/types.js';
import { invalidArgument, s3Error } from '../errors.js';
import { childArray, childObject, childText, el, parseXmlRoot, text, xmlDocument, type XmlObject } from '../xml.js';

/** The bucket config item holding the lifecycle configuration (JSON LifecycleConfig). */
export const LIFECYCLE_ITEM = 'lifecycle';

export const MAX_RULES = 1000;
const MAX_SIZE = 1_099_511_627_776_000;
const DAY_MS = 86_400_000;

export interface LifecycleFilter {
  /** 'legacy': the rule-level <Prefix> of the original API; 'filter': a <Filter> (possibly empty). */
  kind: 'legacy' | 'filter';
  /** Which <Filter> member carried the predicates, for writing the document back. */
  shape?: 'empty' | 'prefix' | 'tag' | 'gt' | 'lt' | 'and';
  prefix?: string;
  tags?: [string, string][];
  sizeGreaterThan?: number;
  sizeLessThan?: number;
}

export interface LifecycleRule {
  id: string;
  enabled: boolean;
  filter: LifecycleFilter;
  expiration?: { days?: number; date?: string; expiredObjectDeleteMarker?: boolean };
  noncurrentExpiration?: { noncurrentDays: number; newerNoncurrentVersions?: number };
  abortIncompleteDays?: number;
}

export interface LifecycleConfig {
  v: 1;
  rules: LifecycleRule[];
  /** x-amz-transition-default-minimum-object-size as put (echoed; no transition is ever stored). */
  transitionMinimumSize: string;
}

export const TRANSITION_SIZES = new Set(['all_storage_classes_128K', 'varies_by_storage_class']);

/**
 * Parsed configurations by their stored text: GET, HEAD and PUT consult the rules of their
 * bucket (x-amz-expiration), and a configuration of 1,000 rules is half a megabyte of JSON.
 * Bounded; what it returns is shared and must not be changed.
 */
const parsedConfigs = new Map<string, LifecycleConfig>();
const PARSED_CONFIGS_KEPT = 64;

export function lifecycleOf(b: Pick<BucketRecord, 'config'>): Readonly<LifecycleConfig> | undefined {
  const raw = b.config[LIFECYCLE_ITEM];
  if (raw === undefined) return undefined;
  const known = parsedConfigs.get(raw);
  if (known) return known;
  const parsed = JSON.parse(raw) as LifecycleConfig;
  if (parsed.v !== 1) throw new Error(`unknown lifecycle configuration version ${String(parsed.v)}`);
  if (parsedConfigs.size >= PARSED_CONFIGS_KEPT) parsedConfigs.delete(parsedConfigs.keys().next().value!);
  parsedConfigs.set(raw, parsed);
  return parsed;
}

// ---- parsing ----

export function parseLifecycleConfiguration(body: Buffer, transitionMinimumSize: string): LifecycleConfig {
  const doc = parseXmlRoot(body, 'LifecycleConfiguration');
  only(doc, ['Rule']);
  const rules = childArray(doc, 'Rule');
  if (rules.length === 0 || rules.length > MAX_RULES) throw s3Error('MalformedXML');
  const ids = new Set<string>();
  let legacy = false;
  let modern = false;
  const out = rules.map((r) => {
    const rule = parseRule(r);
    if (rule.filter.kind === 'legacy') legacy = true;
    else modern = true;
    if (legacy && modern) throw s3Error('InvalidRequest', {}, 'Filter element can only be used in Lifecycle V2.');
    if (ids.has(rule.id)) throw invalidArgument('Rule ID must be unique. Found same ID for more than one rule', 'ID', rule.id);
    ids.add(rule.id);
    return rule;
  });
  return { v: 1, rules: out, transitionMinimumSize };
}

function parseRule(r: XmlObject): LifecycleRule {
  only(r, ['ID', 'Status', 'Prefix', 'Filter', 'Expiration', 'Transition', 'NoncurrentVersionTransition', 'NoncurrentVersionExpiration', 'AbortIncompleteMultipartUpload']);
  const status = childText(r, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled') throw s3Error('MalformedXML');
  let id = childText(r, 'ID');
  if (id !== undefined && id.length > 255) throw invalidArgument('ID length should not exceed allowed limit of 255', 'ID', id);
  // AWS names a rule sent without an ID (or an empty one) itself.
  if (id === undefined || id === '') id = Buffer.from(randomUUID()).toString('base64').replace(/=+$/, '');
  const filter = parseFilter(r);
  const rule: LifecycleRule = { id, enabled: status === 'Enabled', filter };
  const expiration = childObject(r, 'Expiration');
  const transitions = childArray(r, 'Transition');
  const noncurrentTransitions = childArray(r, 'NoncurrentVersionTransition');
  const noncurrent = childObject(r, 'NoncurrentVersionExpiration');
  const abort = childObject(r, 'AbortIncompleteMultipartUpload');
  if (!expiration && !noncurrent && !abort && transitions.length === 0 && noncurrentTransitions.length === 0) {
    throw s3Error('InvalidRequest', {}, 'At least one action needs to be specified in a rule');
  }
  if (expiration) rule.expiration = parseExpiration(expiration, filter);
  for (const t of transitions) checkTransition(t, 'Transition');
  for (const t of noncurrentTransitions) checkTransition(t, 'NoncurrentVersionTransition');
  if (noncurrent) rule.noncurrentExpiration = parseNoncurrent(noncurrent, filter);
  if (abort) {
    only(abort, ['DaysAfterInitiation']);
    const days = childText(abort, 'DaysAfterInitiation');
    if (days === undefined) throw s3Error('MalformedXML');
    const n = integer(days);
    if (n <= 0) throw positive('DaysAfterInitiation', 'AbortIncompleteMultipartUpload', days);
    unfilteredOnly(filter, 'AbortIncompleteMultipartUpload');
    rule.abortIncompleteDays = n;
  }
  return rule;
}

function parseFilter(r: XmlObject): LifecycleFilter {
  const legacyPrefix = childText(r, 'Prefix');
  const f = childObject(r, 'Filter');
  if (f === undefined) {
    if (legacyPrefix === undefined) throw s3Error('MalformedXML');
    return { kind: 'legacy', prefix: legacyPrefix };
  }
  if (legacyPrefix !== undefined) throw s3Error('MalformedXML');
  only(f, FILTER_MEMBERS);
  const members = FILTER_MEMBERS.filter((m) => f[m] !== undefined);
  if (members.length > 1) throw s3Error('MalformedXML');
  const out: LifecycleFilter = { kind: 'filter', shape: 'empty' };
  switch (members[0]) {
    case 'Prefix': out.shape = 'prefix'; out.prefix = childText(f, 'Prefix'); break;
    case 'Tag': out.shape = 'tag'; out.tags = [tagOf(childObject(f, 'Tag')!)]; break;
    case 'ObjectSizeGreaterThan': out.shape = 'gt'; out.sizeGreaterThan = integer(childText(f, 'ObjectSizeGreaterThan')); break;
    case 'ObjectSizeLessThan': out.shape = 'lt'; out.sizeLessThan = integer(childText(f, 'ObjectSizeLessThan')); break;
    case 'And': {
      const and = childObject(f, 'And')!;
      only(and, ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan']);
      out.shape = 'and';
      const prefix = childText(and, 'Prefix');
      const tags = childArray(and, 'Tag').map(tagOf);
      const gt = childText(and, 'ObjectSizeGreaterThan');
      const lt = childText(and, 'ObjectSizeLessThan');
      if (tags.length + (prefix !== undefined ? 1 : 0) + (gt !== undefined ? 1 : 0) + (lt !== undefined ? 1 : 0) < 2) throw s3Error('MalformedXML');
      if (prefix !== undefined) out.prefix = prefix;
      if (tags.length) out.tags = tags;
      if (gt !== undefined) out.sizeGreaterThan = integer(gt);
      if (lt !== undefined) out.sizeLessThan = integer(lt);
      break;
    }
    default:
  }
  if (out.tags) {
    const keys = new Set<string>();
    for (const [k] of out.tags) {
      if (keys.has(k)) throw s3Error('InvalidRequest', {}, 'Duplicate Tag Keys are not allowed.');
      keys.add(k);
    }
  }
  const gt = out.sizeGreaterThan;
  const lt = out.sizeLessThan;
  if (gt !== undefined && (gt < 0 || gt > MAX_SIZE)) throw s3Error('InvalidRequest', {}, `'ObjectSizeGreaterThan' should be between 0 and ${MAX_SIZE}.`);
  if (lt !== undefined && (lt < 1 || lt > MAX_SIZE)) throw s3Error('InvalidRequest', {}, `'ObjectSizeLessThan' should be between 1 and ${MAX_SIZE}.`);
  if (gt !== undefined && lt !== undefined && gt >= lt) throw s3Error('InvalidRequest', {}, "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.");
  return out;
}

function tagOf(t: XmlObject): [string, string] {
  only(t, ['Key', 'Value']);
  const k = childText(t, 'Key');
  const v = childText(t, 'Value');
  if (k === undefined || v === undefined) throw s3Error('MalformedXML');
  if (k.length === 0 || [...k].length > 128) throw s3Error('InvalidRequest', {}, "A Tag's Key must be a length between 1 and 128.");
  if ([...v].length > 256) throw s3Error('InvalidRequest', {}, "A Tag's Value must be a length between 0 and 256.");
  return [k, v];
}

function parseExpiration(e: XmlObject, filter: LifecycleFilter): NonNullable<LifecycleRule['expiration']> {
  only(e, ['Days', 'Date', 'ExpiredObjectDeleteMarker']);
  const days = childText(e, 'Days');
  const date = childText(e, 'Date');
  const marker = childText(e, 'ExpiredObjectDeleteMarker');
  if (marker !== undefined) {
    if (days !== undefined || date !== undefined) throw s3Error('MalformedXML');
    if (marker !== 'true' && marker !== 'false') throw s3Error('MalformedXML');
    unfilteredOnly(filter, 'ExpiredObjectDeleteMarker');
    return { expiredObjectDeleteMarker: marker === 'true' };
  }
  if ((days === undefined) === (date === undefined)) throw s3Error('MalformedXML');
  if (days !== undefined) {
    const n = integer(days);
    if (n <= 0) throw positive('Days', 'Expiration', days);
    return { days: n };
  }
  return { date: parseMidnight(date!) };
}

function parseMidnight(v: string): string {
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}(T|$)/.test(v.trim()) || Number.isNaN(t)) throw s3Error('MalformedXML');
  if (t % DAY_MS !== 0) throw invalidArgument("'Date' must be at midnight GMT", 'Date', v);
  return new Date(t).toISOString();
}

function parseNoncurrent(n: XmlObject, filter: LifecycleFilter): NonNullable<LifecycleRule['noncurrentExpiration']> {
  only(n, ['NoncurrentDays', 'NewerNoncurrentVersions']);
  const days = childText(n, 'NoncurrentDays');
  if (days === undefined) throw s3Error('MalformedXML');
  const d = integer(days);
  if (d <= 0) throw positive('NoncurrentDays', 'NoncurrentVersionExpiration', days);
  const out: NonNullable<LifecycleRule['noncurrentExpiration']> = { noncurrentDays: d };
  const newer = childText(n, 'NewerNoncurrentVersions');
  if (newer !== undefined) {
    if (filter.kind === 'legacy') throw s3Error('InvalidRequest', {}, 'NewerNoncurrentVersions element can only be used in Lifecycle V2.');
    const k = integer(newer);
    if (k <= 0) throw positive('NewerNoncurrentVersions', 'NoncurrentVersionExpiration', newer);
    if (k > 100) throw invalidArgument("'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be an integer between 1 and 100", 'NewerNoncurrentVersions', newer);
    out.newerNoncurrentVersions = k;
  }
  return out;
}

/** AWS's storage classes a transition may name; Coffer stores every object as STANDARD and has none of them. */
const TRANSITION_CLASSES = new Set(['STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER', 'GLACIER_IR', 'DEEP_ARCHIVE']);

function checkTransition(t: XmlObject, action: 'Transition' | 'NoncurrentVersionTransition'): never {
  const cls = childText(t, 'StorageClass');
  if (cls === 'STANDARD' || cls === 'REDUCED_REDUNDANCY') throw invalidArgument(`Invalid target Storage class for ${action} action`, 'StorageClass', cls);
  if (cls === undefined || !TRANSITION_CLASSES.has(cls)) throw s3Error('MalformedXML');
  throw s3Error('InvalidStorageClass', { StorageClassRequested: cls });
}

const FILTER_MEMBERS = ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan', 'And'];

/**
 * MalformedXML for an element the schema does not have (AWS validates against it): an element
 * Coffer does not know would otherwise be a setting accepted and never applied.
 */
function only(o: XmlObject, allowed: readonly string[]): void {
  for (const [name, v] of Object.entries(o)) {
    if (name === '#text' && typeof v === 'string' && v.trim() === '') continue;
    if (!allowed.includes(name)) throw s3Error('MalformedXML');
  }
}

function unfilteredOnly(filter: LifecycleFilter, action: string): void {
  if (filter.tags?.length) throw s3Error('InvalidRequest', {}, `${action} cannot be specified with Tags.`);
  if (filter.sizeGreaterThan !== undefined || filter.sizeLessThan !== undefined) throw s3Error('InvalidRequest', {}, `${action} cannot be specified with Object Size.`);
}

function positive(field: string, action: string, value: string) {
  return invalidArgument(`'${field}' for ${action} action must be a positive integer`, field, value);
}

/** A whole number as XML Schema's int/long reads it; MalformedXML otherwise. */
function integer(v: string | undefined): number {
  if (v === undefined || !/^\s*[-+]?\d{1,16}\s*$/.test(v)) throw s3Error('MalformedXML');
  return Number(v);
}

// ---- the document GetBucketLifecycleConfiguration answers ----

export function lifecycleConfigurationXml(c: LifecycleConfig): string {
  return xmlDocument('LifecycleConfiguration', c.rules.map(ruleXml).join(''));
}

function ruleXml(r: LifecycleRule): string {
  const e = r.expiration;
  const n = r.noncurrentExpiration;
  return el('Rule',
    e ? el('Expiration', e.date !== undefined ? text('Date', e.date) : '', text('Days', e.days), text('ExpiredObjectDeleteMarker', e.expiredObjectDeleteMarker)) : '',
    text('ID', r.id),
    filterXml(r.filter),
    text('Status', r.enabled ? 'Enabled' : 'Disabled'),
    n ? el('NoncurrentVersionExpiration', text('NoncurrentDays', n.noncurrentDays), text('NewerNoncurrentVersions', n.newerNoncurrentVersions)) : '',
    r.abortIncompleteDays !== undefined ? el('AbortIncompleteMultipartUpload', text('DaysAfterInitiation', r.abortIncompleteDays)) : '');
}

function filterXml(f: LifecycleFilter): string {
  if (f.kind === 'legacy') return text('Prefix', f.prefix ?? '');
  const tag = ([k, v]: [string, string]) => el('Tag', text('Key', k), text('Value', v));
  switch (f.shape) {
    case 'prefix': return el('Filter', text('Prefix', f.prefix ?? ''));
    case 'tag': return el('Filter', tag(f.tags![0]!));
    case 'gt': return el('Filter', text('ObjectSizeGreaterThan', f.sizeGreaterThan));
    case 'lt': return el('Filter', text('ObjectSizeLessThan', f.sizeLessThan));
    case 'and': return el('Filter', el('And', text('Prefix', f.prefix), ...(f.tags ?? []).map(tag),
      text('ObjectSizeGreaterThan', f.sizeGreaterThan), text('ObjectSizeLessThan', f.sizeLessThan)));
    default: return '<Filter></Filter>';
  }
}

// ---- matching ----

/** What a rule's filter looks at: the key, the size and the tags of a version. */
export interface Candidate {
  key: string;
  size: number;
  tags: ObjectTags;
}

export function filterMatches(f: LifecycleFilter, c: Candidate): boolean {
  if (f.prefix !== undefined && !c.key.startsWith(f.prefix)) return false;
  if (f.sizeGreaterThan !== undefined && !(c.size > f.sizeGreaterThan)) return false;
  if (f.sizeLessThan !== undefined && !(c.size < f.sizeLessThan)) return false;
  if (f.tags) {
    for (const [k, v] of f.tags) {
      if (!c.tags.some(([tk, tv]) => tk === k && tv === v)) return false;
    }
  }
  return true;
}

/** The prefix every key a rule can match starts with ('' for any), for listing only what it may touch. */
export function rulePrefix(r: LifecycleRule): string {
  return r.filter.prefix ?? '';
}

/**
 * The midnight UTC at or after `ms` + `days` days: AWS counts an object's age in whole days,
 * rounding the moment it reaches `days` up to the next midnight UTC.
 */
export function dueAt(ms: number, days: number): number {
  return Math.ceil((ms + days * DAY_MS) / DAY_MS) * DAY_MS;
}

/** When a current version expires under rule `r` (its Days or Date), or undefined when r has no such expiration. */
export function expiryOf(r: LifecycleRule, lastModified: string): number | undefined {
  const e = r.expiration;
  if (!e) return undefined;
  if (e.days !== undefined) return dueAt(Date.parse(lastModified), e.days);
  if (e.date !== undefined) return Date.parse(e.date);
  return undefined;
}
