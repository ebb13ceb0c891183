// ListObjectVersions over a versioned bucket with the JS SDK and raw requests: <Version>
// and <DeleteMarker> entries interleaved by key then newest first, IsLatest, key-marker and
// version-id-marker paging (NextKeyMarker / NextVersionIdMarker) that stays exact while
// writes go on, prefix, delimiter with CommonPrefixes, max-keys, encoding-type=url; and
// ListObjects / ListObjectsV2 listing only current versions that are not delete markers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteObjectCommand, ListObjectsCommand, ListObjectsV2Command, ListObjectVersionsCommand,
  PutBucketVersioningCommand, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawRequest } from '../interop/support.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('vlist');
/** key -> version ids, newest first; markers prefixed "dm:" */
const history = new Map<string, string[]>();

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const put = async (key: string) => {
    const v = (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }))).VersionId!;
    history.set(key, [v, ...(history.get(key) ?? [])]);
  };
  const del = async (key: string) => {
    const v = (await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))).VersionId!;
    history.set(key, [`dm:${v}`, ...(history.get(key) ?? [])]);
  };
  await put('a');
  await put('dir/x');
  await put('a');
  await put('b c');
  await del('dir/x');
  await put('dir/y');
  await put('a');
  await del('b c');
  await put('dir/x');
});
after(async () => srv?.stop());

const expected = (keys = [...history.keys()].sort()) => keys.flatMap((k) => history.get(k)!.map((v, i) => `${k}|${v}|${i === 0}`));

async function listAll(maxKeys: number, extra: Record<string, string> = {}): Promise<{ entries: string[]; pages: number }> {
  const entries: string[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  let pages = 0;
  for (;;) {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: maxKeys, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker, ...extra }));
    pages++;
    const page = [
      ...(r.Versions ?? []).map((v) => ({ key: v.Key!, id: v.VersionId!, latest: v.IsLatest!, t: 'v' })),
      ...(r.DeleteMarkers ?? []).map((m) => ({ key: m.Key!, id: `dm:${m.VersionId!}`, latest: m.IsLatest!, t: 'm' })),
    ];
    // The SDK splits the two kinds; the document order is what the raw test below pins.
    page.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0) || history.get(x.key)!.indexOf(x.id) - history.get(y.key)!.indexOf(y.id));
    entries.push(...page.map((e) => `${e.key}|${e.id}|${e.latest}`));
    if (!r.IsTruncated) return { entries, pages };
    keyMarker = r.NextKeyMarker;
    versionIdMarker = r.NextVersionIdMarker;
    assert.ok(keyMarker !== undefined && pages < 50);
  }
}

test('lists every version and delete marker by key, newest first, IsLatest on the current one', async () => {
  const { entries } = await listAll(1000);
  assert.deepEqual(entries, expected());
});

test('the document interleaves <Version> and <DeleteMarker> in listing order', async () => {
  const r = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}`, query: { versions: '', prefix: 'dir/x' } });
  assert.equal(r.status, 200);
  const order = [...r.body.matchAll(/<(Version|DeleteMarker)><Key>[^<]*<\/Key><VersionId>([^<]*)<\/VersionId><IsLatest>(true|false)<\/IsLatest>/g)]
    .map((m) => `${m[1] === 'DeleteMarker' ? 'dm:' : ''}${m[2]}|${m[3]}`);
  assert.deepEqual(order, history.get('dir/x')!.map((v, i) => `${v}|${i === 0}`));
  assert.match(r.body, /<DeleteMarker><Key>dir\/x<\/Key><VersionId>[0-9A-Za-z]{32}<\/VersionId><IsLatest>false<\/IsLatest><LastModified>[^<]+<\/LastModified><Owner><ID>/);
});

test('pages of every size join up to the whole listing, with NextKeyMarker and NextVersionIdMarker', async () => {
  for (const size of [1, 2, 3, 5]) {
    const { entries, pages } = await listAll(size);
    assert.deepEqual(entries, expected(), `max-keys ${size}`);
    assert.equal(pages, Math.ceil(expected().length / size), `pages at max-keys ${size}: the last full page is not truncated`);
  }
  const first = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 2 }));
  assert.equal(first.NextKeyMarker, 'a');
  assert.equal(first.NextVersionIdMarker, history.get('a')![1]);
});

test('paging stays exact while new versions are written between pages', async () => {
  const b = uniqueBucket('vpage');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.unshift((await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: String(i) }))).VersionId!);
  const p1 = await s3.send(new ListObjectVersionsCommand({ Bucket: b, MaxKeys: 2 }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'newer' }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'a-before', Body: 'earlier key' }));
  const p2 = await s3.send(new ListObjectVersionsCommand({ Bucket: b, MaxKeys: 2, KeyMarker: p1.NextKeyMarker, VersionIdMarker: p1.NextVersionIdMarker }));
  assert.deepEqual([...p1.Versions!, ...p2.Versions!].map((v) => v.VersionId), ids);
  assert.equal(p2.IsTruncated, false);
});

test('prefix and delimiter: CommonPrefixes once, counted against max-keys; encoding-type=url encodes keys', async () => {
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/' }));
  assert.deepEqual(r.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
  assert.deepEqual([...new Set(r.Versions?.map((v) => v.Key))], ['a', 'b c']);
  assert.deepEqual(r.DeleteMarkers?.map((m) => m.Key), ['b c']);
  // a ×3 and "b c" ×2 fill five entries; the common prefix is the sixth.
  const paged = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/', MaxKeys: 5 }));
  assert.equal(paged.IsTruncated, true);
  assert.equal(paged.NextKeyMarker, 'b c');
  assert.equal(paged.NextVersionIdMarker, history.get('b c')![1]);
  assert.equal(paged.CommonPrefixes, undefined);
  const rest = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/', KeyMarker: paged.NextKeyMarker, VersionIdMarker: paged.NextVersionIdMarker }));
  assert.deepEqual(rest.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
  assert.deepEqual([rest.Versions, rest.DeleteMarkers, rest.IsTruncated], [undefined, undefined, false]);
  const past = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/', KeyMarker: 'dir/' }));
  assert.deepEqual([past.CommonPrefixes, past.Versions], [undefined, undefined], 'a key marker inside a common prefix skips it');
  const under = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'dir/' }));
  assert.deepEqual([...new Set([...(under.Versions ?? []), ...(under.DeleteMarkers ?? [])].map((v) => v.Key))].sort(), ['dir/x', 'dir/y']);
  const raw = await rawRequest({ method: 'GET', url: srv.url, path: `/${bucket}`, query: { versions: '', prefix: 'b', 'encoding-type': 'url' } });
  assert.match(raw.body, /<DeleteMarker><Key>b%20c<\/Key>/);
});

test('ListObjects and ListObjectsV2 list only current versions that are not delete markers', async () => {
  const v2 = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  assert.deepEqual(v2.Contents?.map((c) => c.Key), ['a', 'dir/x', 'dir/y']);
  const v1 = await s3.send(new ListObjectsCommand({ Bucket: bucket, MaxKeys: 2 }));
  assert.deepEqual(v1.Contents?.map((c) => c.Key), ['a', 'dir/x']);
  assert.equal(v1.IsTruncated, true);
});
