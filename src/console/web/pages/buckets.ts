// Buckets: the list (with each bucket's default encryption, object count and size) and bucket creation, plus
// the default-encryption helpers the bucket page shares. Through S3's REST API.

import { ApiError, admin, child, children, s3, s3Path, s3Xml, textOf } from '../api.js';
import type { Route } from '../route.js';
import { type KeyRow, keyNamer, loadKeys } from './keys.js';
import { badge, button, dialog, errorBanner, field, formatBytes, formatTime, h, input, mapLimit, pageHeader, table, clear } from '../ui.js';

export interface DefaultEncryption {
  algorithm: string;
  keyId?: string;
  bucketKey: boolean;
}

export async function getEncryption(bucket: string): Promise<DefaultEncryption> {
  const doc = await s3Xml('GET', s3Path(bucket), { query: [['encryption', '']] });
  const rule = child(doc, 'Rule');
  const keyId = textOf(rule, 'KMSMasterKeyID');
  return { algorithm: textOf(rule, 'SSEAlgorithm') ?? 'AES256', ...(keyId ? { keyId } : {}), bucketKey: textOf(rule, 'BucketKeyEnabled') === 'true' };
}

export async function putEncryption(bucket: string, e: DefaultEncryption): Promise<void> {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body =
    '<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault>' +
    `<SSEAlgorithm>${esc(e.algorithm)}</SSEAlgorithm>${e.keyId ? `<KMSMasterKeyID>${esc(e.keyId)}</KMSMasterKeyID>` : ''}` +
    `</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>${e.bucketKey}</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`;
  await s3('PUT', s3Path(bucket), { query: [['encryption', '']], body, headers: { 'content-type': 'application/xml' } });
}

export function encryptionBadge(e: DefaultEncryption | ApiError | undefined, keyName?: (id: string) => string): HTMLElement {
  if (!e) return h('span', { class: 'muted' }, '\u2026');
  if (e instanceof ApiError) return h('span', { class: 'muted', title: e.message }, e.code);
  if (e.algorithm === 'AES256') return badge('SSE-S3', 'info');
  return h('span', {}, badge(e.algorithm === 'aws:kms:dsse' ? 'DSSE-KMS' : 'SSE-KMS', 'ok'), ' ', h('span', { class: 'mono small' }, e.keyId ? (keyName?.(e.keyId) ?? e.keyId) : 'aws/s3'), e.bucketKey ? badge('bucket key', 'muted') : null);
}

interface BucketUsage {
  bucket: string;
  objects: number;
  bytes: number;
}

export async function renderBuckets(main: HTMLElement, _route: Route): Promise<void> {
  const body = h('div', {});
  const refresh = async (): Promise<void> => {
    let buckets: Array<{ name: string; created: string }>;
    try {
      const doc = await s3Xml('GET', '/');
      buckets = children(child(doc, 'Buckets'), 'Bucket').map((b) => ({ name: textOf(b, 'Name') ?? '', created: textOf(b, 'CreationDate') ?? '' }));
    } catch (e) {
      return clear(body, errorBanner(e));
    }
    const [enc, keys, usage] = await Promise.all([
      mapLimit(buckets, 6, (b) => getEncryption(b.name).catch((e: unknown) => (e instanceof ApiError ? e : undefined))),
      loadKeys().catch(() => [] as KeyRow[]),
      // Object counts and sizes (the administration API's buckets/usage); an older server or a refusal leaves them blank.
      admin<{ buckets: BucketUsage[] }>('GET', 'buckets/usage').then((r) => new Map(r.buckets.map((u) => [u.bucket, u] as const))).catch(() => undefined),
    ]);
    const named = keyNamer(keys);
    // A bucket with no row yet has never held an object.
    const usageOf = (name: string): BucketUsage | undefined => (usage ? usage.get(name) ?? { bucket: name, objects: 0, bytes: 0 } : undefined);
    clear(
      body,
      table(
        buckets.map((b, i) => ({ ...b, enc: enc[i], usage: usageOf(b.name) })),
        [
          { title: 'Bucket', cell: (b) => h('a', { href: `#/buckets/${encodeURIComponent(b.name)}`, class: 'link strong' }, b.name) },
          { title: 'Default encryption', cell: (b) => encryptionBadge(b.enc, named) },
          { title: 'Objects', class: 'num', cell: (b) => (b.usage ? h('span', { 'data-testid': 'bucket-objects' }, b.usage.objects.toLocaleString('en-US')) : h('span', { class: 'muted' }, '\u2014')) },
          { title: 'Size', class: 'num', cell: (b) => (b.usage ? h('span', { class: 'nowrap', 'data-testid': 'bucket-size', title: `${b.usage.bytes.toLocaleString('en-US')} bytes` }, formatBytes(b.usage.bytes)) : h('span', { class: 'muted' }, '\u2014')) },
          { title: 'Created', cell: (b) => h('span', { class: 'nowrap' }, formatTime(b.created)) },
        ],
        'No buckets yet.',
        'buckets-table',
      ),
    );
  };
  const create = (): Promise<boolean> =>
    dialog({
      title: 'Create bucket',
      submit: 'Create bucket',
      fields: [field('Bucket name', input('name', { required: true, pattern: '[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]', placeholder: 'my-bucket' }), '3\u201363 characters: lowercase letters, digits, dots and hyphens.')],
      run: (v) => s3('PUT', s3Path(String(v.get('name')).trim())),
      success: 'Bucket created',
    });
  clear(main, pageHeader('Buckets', 'Buckets, their default encryption, policies and objects.', button('Create bucket', () => void create().then((ok): unknown => ok && refresh()), 'primary')), body);
  await refresh();
}
