// PostObject (browser form uploads) against the real server: forms signed by
// @aws-sdk/s3-presigned-post's createPresignedPost and sent with Node's fetch and
// FormData, as a browser would. Covers the three success answers, ${filename}, fields
// that become headers, metadata and tags, and the refusals: content-length-range,
// expired and tampered policies, missing file and key fields.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost, type PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('post');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

const md5hex = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

function form(fields: Record<string, string>, file?: { body: Buffer | string; name: string }): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  if (file) fd.append('file', new Blob([file.body]), file.name);
  return fd;
}

async function presign(opts: Omit<PresignedPostOptions, 'Bucket'>): Promise<{ url: string; fields: Record<string, string> }> {
  return createPresignedPost(s3, { Bucket: bucket, ...opts });
}

async function exists(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

function errorCode(xml: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
}

test('a signed form upload answers 204 with ETag and Location, and the object is stored', async () => {
  const body = randomBytes(20_000);
  const { url, fields } = await presign({ Key: 'form/plain.bin' });
  const r = await fetch(url, { method: 'POST', body: form(fields, { body, name: 'plain.bin' }) });
  assert.equal(r.status, 204, await r.clone().text());
  assert.equal(r.headers.get('etag'), `"${md5hex(body)}"`);
  assert.equal(r.headers.get('location'), `${srv.url}/${bucket}/form/plain.bin`);
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'form/plain.bin' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body));
  assert.equal(got.ContentType, 'binary/octet-stream');
});

test('success_action_status 201 answers a PostResponse document; 200 an empty body', async () => {
  const { url, fields } = await presign({ Key: 'form/created.txt', Fields: { success_action_status: '201' } });
  const r = await fetch(url, { method: 'POST', body: form(fields, { body: 'created', name: 'c.txt' }) });
  assert.equal(r.status, 201);
  const xml = await r.text();
  const etag = `"${md5hex('created')}"`;
  assert.equal(
    xml,
    `<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>${srv.url}/${bucket}/form/created.txt</Location><Bucket>${bucket}</Bucket><Key>form/created.txt</Key><ETag>&quot;${md5hex('created')}&quot;</ETag></PostResponse>`,
  );
  assert.equal(r.headers.get('etag'), etag);
  const ok = await presign({ Key: 'form/ok.txt', Fields: { success_action_status: '200' } });
  const r200 = await fetch(ok.url, { method: 'POST', body: form(ok.fields, { body: 'ok', name: 'ok.txt' }) });
  assert.equal(r200.status, 200);
  assert.equal(await r200.text(), '');
});

test('success_action_redirect answers 303 to the URL with bucket, key and etag', async () => {
  const { url, fields } = await presign({ Key: 'form/redirected.txt', Fields: { success_action_redirect: 'https://app.example/done?from=form' } });
  const r = await fetch(url, { method: 'POST', body: form(fields, { body: 'redirect me', name: 'r.txt' }), redirect: 'manual' });
  assert.equal(r.status, 303);
  const loc = new URL(r.headers.get('location')!);
  assert.equal(loc.origin + loc.pathname, 'https://app.example/done');
  assert.equal(loc.searchParams.get('from'), 'form');
  assert.equal(loc.searchParams.get('bucket'), bucket);
  assert.equal(loc.searchParams.get('key'), 'form/redirected.txt');
  assert.equal(loc.searchParams.get('etag'), `"${md5hex('redirect me')}"`);
  assert.ok(await exists('form/redirected.txt'));
});

test('${filename} in the key is replaced; content-type, metadata and tagging fields are stored', async () => {
  const tagging = '<Tagging><TagSet><Tag><Key>src</Key><Value>form</Value></Tag></TagSet></Tagging>';
  const { url, fields } = await presign({
    Key: 'uploads/${filename}',
    Fields: { 'Content-Type': 'text/plain', 'x-amz-meta-color': 'blue', 'Cache-Control': 'max-age=5', tagging },
  });
  const r = await fetch(url, { method: 'POST', body: form(fields, { body: 'hello form', name: 'greeting.txt' }) });
  assert.equal(r.status, 204, await r.clone().text());
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'uploads/greeting.txt' }));
  assert.equal(head.ContentType, 'text/plain');
  assert.equal(head.CacheControl, 'max-age=5');
  assert.deepEqual(head.Metadata, { color: 'blue' });
  const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'uploads/greeting.txt' }));
  assert.deepEqual(tags.TagSet, [{ Key: 'src', Value: 'form' }]);
});

test('a file outside content-length-range is refused and nothing is stored', async () => {
  const big = await presign({ Key: 'form/too-big', Conditions: [['content-length-range', 0, 100]] });
  const r = await fetch(big.url, { method: 'POST', body: form(big.fields, { body: randomBytes(5000), name: 'big' }) });
  assert.equal(r.status, 400);
  assert.equal(errorCode(await r.text()), 'EntityTooLarge');
  assert.equal(await exists('form/too-big'), false);
  const small = await presign({ Key: 'form/too-small', Conditions: [['content-length-range', 10, 100]] });
  const r2 = await fetch(small.url, { method: 'POST', body: form(small.fields, { body: 'tiny', name: 'small' }) });
  assert.equal(r2.status, 400);
  assert.equal(errorCode(await r2.text()), 'EntityTooSmall');
  assert.equal(await exists('form/too-small'), false);
  const fits = await presign({ Key: 'form/fits', Conditions: [['content-length-range', 1, 100]] });
  const r3 = await fetch(fits.url, { method: 'POST', body: form(fits.fields, { body: 'just right', name: 'fits' }) });
  assert.equal(r3.status, 204);
});

test('an expired policy is AccessDenied', async () => {
  const { url, fields } = await presign({ Key: 'form/expired', Expires: -60 });
  const r = await fetch(url, { method: 'POST', body: form(fields, { body: 'late', name: 'late' }) });
  assert.equal(r.status, 403);
  const xml = await r.text();
  assert.equal(errorCode(xml), 'AccessDenied');
  assert.match(xml, /Policy expired/);
  assert.equal(await exists('form/expired'), false);
});

test('a tampered policy fails signature verification with 403', async () => {
  const { url, fields } = await presign({ Key: 'form/tampered', Conditions: [['content-length-range', 0, 10]] });
  const doc = JSON.parse(Buffer.from(fields['Policy']!, 'base64').toString('utf8')) as { conditions: unknown[] };
  doc.conditions = doc.conditions.map((c) => (Array.isArray(c) && c[0] === 'content-length-range' ? ['content-length-range', 0, 1e9] : c));
  const tampered = { ...fields, Policy: Buffer.from(JSON.stringify(doc)).toString('base64') };
  const r = await fetch(url, { method: 'POST', body: form(tampered, { body: randomBytes(100), name: 't' }) });
  assert.equal(r.status, 403);
  assert.ok(['SignatureDoesNotMatch', 'AccessDenied'].includes(errorCode(await r.text())!));
  assert.equal(await exists('form/tampered'), false);
});

test('a field that breaks a policy condition is AccessDenied', async () => {
  const { url, fields } = await presign({ Key: 'form/cond', Fields: { 'Content-Type': 'image/png' } });
  const r = await fetch(url, { method: 'POST', body: form({ ...fields, 'Content-Type': 'text/html' }, { body: 'x', name: 'x' }) });
  assert.equal(r.status, 403);
  assert.equal(errorCode(await r.text()), 'AccessDenied');
  assert.equal(await exists('form/cond'), false);
});

test('a form without a file field is InvalidArgument', async () => {
  const { url, fields } = await presign({ Key: 'form/nofile' });
  const r = await fetch(url, { method: 'POST', body: form(fields) });
  assert.equal(r.status, 400);
  const xml = await r.text();
  assert.equal(errorCode(xml), 'InvalidArgument');
  assert.match(xml, /<Message>POST requires exactly one file upload per request.<\/Message>/);
});

test('a form without a key field is InvalidArgument with the AWS message', async () => {
  const { url, fields } = await presign({ Key: 'form/nokey' });
  const { key: _key, ...rest } = fields;
  const r = await fetch(url, { method: 'POST', body: form(rest, { body: 'x', name: 'x' }) });
  assert.equal(r.status, 400);
  const xml = await r.text();
  assert.equal(errorCode(xml), 'InvalidArgument');
  assert.match(xml, /<Message>Bucket POST must contain a field named &apos;key&apos;\.  If it is specified, please check the order of the fields\.<\/Message>/);
});

test('a POST that is not multipart/form-data is refused', async () => {
  const r = await fetch(`${srv.url}/${bucket}`, { method: 'POST', body: 'key=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(r.status, 412);
  assert.equal(errorCode(await r.text()), 'PreconditionFailed');
});
