// Key tags: TagResource, UntagResource, ListResourceTags, and the tag checks CreateKey
// shares. Tags keep the order their keys were first added (as AWS lists them);
// re-tagging a key replaces its value in place. At most 50 tags per key; keys 1-128
// and values 0-256 characters; "aws:" (any case) is reserved.

import type { KmsInput, KmsOperation } from '../operation.js';
import type { KmsService } from '../service.js';
import type { KmsKeyRecord, Tag } from '../store/types.js';
import { KmsStoreConflict } from '../store/types.js';
import { kmsError } from '../errors.js';
import { checkLength, decodeMarker, encodeMarker, listLimit, nullError, refuseAwsManaged } from './common.js';

export const MAX_TAGS_PER_KEY = 50;
const LIST_TAGS_MAX = 50;

const reserved = (tagKey: string) => tagKey.toLowerCase().startsWith('aws:');

/** Checks a request's Tags member (CreateKey, TagResource): model constraints first, then KMS's own rules. */
export function parseTags(raw: unknown): Tag[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw kmsError('SerializationException', 'Tags must be a list');
  const tags: Tag[] = raw.map((t: unknown, i) => {
    const field = `tags.${i + 1}.member`;
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw kmsError('SerializationException', 'Each tag must be a structure');
    const { TagKey: k, TagValue: v } = t as Record<string, unknown>;
    if (k === undefined || k === null) throw nullError(`${field}.tagKey`);
    if (v === undefined || v === null) throw nullError(`${field}.tagValue`);
    if (typeof k !== 'string' || typeof v !== 'string') throw kmsError('SerializationException', 'TagKey and TagValue must be strings');
    checkLength(k, `${field}.tagKey`, { min: 1, max: 128 });
    checkLength(v, `${field}.tagValue`, { max: 256 });
    return { TagKey: k, TagValue: v };
  });
  if (tags.some((t) => reserved(t.TagKey))) throw kmsError('TagException', 'Tags beginning with aws: are reserved');
  if (new Set(tags.map((t) => t.TagKey)).size !== tags.length) throw kmsError('TagException', 'Duplicate tag keys');
  if (tags.length > MAX_TAGS_PER_KEY) throw kmsError('TagException', 'Too many tags');
  return tags;
}

/** aws:RequestTag/<key> and aws:TagKeys, for tag-based conditions in policies. */
export function tagConditions(tags: Tag[]): Record<string, string | string[]> {
  const c: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((t) => t.TagKey) };
  for (const t of tags) c[`aws:RequestTag/${t.TagKey}`] = t.TagValue;
  return c;
}

async function taggableKey(svc: KmsService, input: KmsInput): Promise<KmsKeyRecord> {
  return svc.resolveKey(input.KeyId, { allowAlias: false });
}

function notFoundFromStore(e: unknown, key: KmsKeyRecord): never {
  if (e instanceof KmsStoreConflict && e.kind === 'NotFound') throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
  throw e;
}

export const tagResource: KmsOperation = async (svc, caller, input, note) => {
  if (input.Tags === undefined || input.Tags === null) throw nullError('tags');
  const tags = parseTags(input.Tags);
  const key = await taggableKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:TagResource', tagConditions(tags));
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  const existing = new Set((await svc.store.getTags(key.keyId)).map((t) => t.TagKey));
  for (const t of tags) existing.add(t.TagKey);
  if (existing.size > MAX_TAGS_PER_KEY) throw kmsError('TagException', 'Too many tags');
  await svc.store.setTags(key.keyId, tags).catch((e) => notFoundFromStore(e, key));
  return {};
};

export const untagResource: KmsOperation = async (svc, caller, input, note) => {
  const raw = input.TagKeys;
  if (raw === undefined || raw === null) throw nullError('tagKeys');
  if (!Array.isArray(raw)) throw kmsError('SerializationException', 'TagKeys must be a list');
  const tagKeys = raw.map((k: unknown, i) => {
    if (typeof k !== 'string') throw kmsError('SerializationException', 'TagKeys must be strings');
    checkLength(k, `tagKeys.${i + 1}.member`, { min: 1, max: 128 });
    return k;
  });
  if (tagKeys.some(reserved)) throw kmsError('TagException', 'Tags beginning with aws: are reserved');
  const key = await taggableKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:UntagResource', { 'aws:TagKeys': tagKeys });
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  await svc.store.removeTags(key.keyId, tagKeys).catch((e) => notFoundFromStore(e, key));
  return {};
};

export const listResourceTags: KmsOperation = async (svc, caller, input, note) => {
  const limit = listLimit(input, LIST_TAGS_MAX, LIST_TAGS_MAX);
  const position = decodeMarker(input, (p) => /^t:[1-9]\d{0,2}$/.test(p));
  const key = await taggableKey(svc, input);
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:ListResourceTags');
  svc.checkState(key, 'read');
  const tags = await svc.store.getTags(key.keyId);
  const start = position === undefined ? 0 : Number(position.slice(2));
  const page = tags.slice(start, start + limit);
  const next = start + page.length;
  const out: Record<string, unknown> = { Tags: page.map((t) => ({ TagKey: t.TagKey, TagValue: t.TagValue })) };
  if (next < tags.length) {
    out.NextMarker = encodeMarker(`t:${next}`);
    out.Truncated = true;
  } else {
    out.Truncated = false;
  }
  return out;
};
