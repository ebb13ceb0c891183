// Names a client chooses that are special in JavaScript (__proto__, constructor,
// toString ...) are ordinary names to S3: user metadata keys (x-amz-meta-*) on every
// write path, PostObject's form fields and its policy's conditions, and object tags.
// AWS stores and returns an x-amz-meta-__proto__ like any other key; a form field named
// __proto__ that the policy does not name is an extra input field; a condition on a field
// the form lacks reads an empty value, never a member of Object.prototype.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresignedPost, type PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import { signRequest } from '../../src/auth/sign.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('special');

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

// Keys an object literal cannot simply hold: built as own properties.
const SPECIAL: Record<string, string> = JSON.parse('{"__proto__":"proto-value","constructor":"constructor-value","tostring":"tostring-value"}') as Record<string, string>;

/** The x-amz-meta-* headers of a HEAD, read from the wire (the SDK's own Metadata map would drop a __proto__ key itself). */
async function wireMetadata(key: string): Promise<Record<string, string>> {
  const url = await getSignedUrl(s3, new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const r = await fetch(url, { method: 'HEAD' });
  assert.equal(r.status, 200);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of r.headers) if (name.startsWith('x-amz-meta-')) out[name.slice('x-amz-meta-'.length)] = value;
  return { ...out };
}

function assertSpecialMetadata(got: Record<string, string>): void {
  for (const [k, v] of Object.entries(SPECIAL)) assert.equal(Object.hasOwn(got, k) ? got[k] : undefined, v, `x-amz-meta-${k}`);
  assert.equal(Object.keys(got).length, Object.keys(SPECIAL).length, JSON.stringify(got));
}

test('PutObject: user metadata keys __proto__, constructor and tostring are stored and returned like any other', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'meta/put', Body: 'x', Metadata: { ...SPECIAL } }));
  assertSpecialMetadata(await wireMetadata('meta/put'));
});

test('CopyObject with MetadataDirective REPLACE keeps a __proto__ metadata key; COPY copies it', async () => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'meta/copy-src', Body: 'x' }));
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'meta/copy-replaced', CopySource: `${bucket}/meta/copy-src`, MetadataDirective: 'REPLACE', Metadata: { ...SPECIAL } }));
  assertSpecialMetadata(await wireMetadata('meta/copy-replaced'));
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'meta/copy-copied', CopySource: `${bucket}/meta/copy-replaced` }));
  assertSpecialMetadata(await wireMetadata('meta/copy-copied'));
});

test('CreateMultipartUpload: a __proto__ metadata key reaches the completed object', async () => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'meta/multipart', Metadata: { ...SPECIAL } }));
  const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'meta/multipart', UploadId, PartNumber: 1, Body: 'part' }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'meta/multipart', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] } }));
  assertSpecialMetadata(await wireMetadata('meta/multipart'));
});

test('object tags keyed __proto__ and constructor are stored and returned in order', async () => {
  const TagSet = [{ Key: '__proto__', Value: 'p' }, { Key: 'constructor', Value: 'c' }, { Key: 'hasOwnProperty', Value: 'h' }];
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tags/header', Body: 'x', Tagging: '__proto__=p&constructor=c&hasOwnProperty=h' }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tags/header' }))).TagSet, TagSet);
  await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'tags/header', Tagging: { TagSet: [...TagSet].reverse() } }));
  assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tags/header' }))).TagSet, [...TagSet].reverse());
});

// ---- PostObject ----

function form(fields: Record<string, string>, extra: [string, string][], body: string): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  for (const [k, v] of extra) fd.append(k, v);
  fd.append('file', new Blob([body]), 'f.txt');
  return fd;
}

async function post(opts: Omit<PresignedPostOptions, 'Bucket'>, extra: [string, string][] = []): Promise<{ status: number; text: string }> {
  const { url, fields } = await createPresignedPost(s3, { Bucket: bucket, ...opts });
  const r = await fetch(url, { method: 'POST', body: form(fields, extra, 'posted') });
  return { status: r.status, text: await r.text() };
}

test('PostObject: a form field named __proto__ that the policy does not name is an extra input field (403), as any other', async () => {
  const r = await post({ Key: 'form/extra-proto' }, [['__proto__', 'sneaked']]);
  assert.equal(r.status, 403, r.text);
  assert.match(r.text, /<Code>AccessDenied<\/Code>/);
  assert.match(r.text, /Extra input fields: __proto__/);
  const c = await post({ Key: 'form/extra-constructor' }, [['constructor', 'sneaked']]);
  assert.equal(c.status, 403, c.text);
  assert.match(c.text, /Extra input fields: constructor/);
});

test('PostObject: a condition on a field named __proto__ reads that field', async () => {
  const ok = await post({ Key: 'form/eq-proto', Conditions: [['eq', '$__proto__', 'v']] }, [['__proto__', 'v']]);
  assert.equal(ok.status, 204, ok.text);
  const wrong = await post({ Key: 'form/eq-proto-wrong', Conditions: [['eq', '$__proto__', 'v']] }, [['__proto__', 'w']]);
  assert.equal(wrong.status, 403, wrong.text);
  assert.match(wrong.text, /Policy Condition failed: \[&quot;eq&quot;, &quot;\$__proto__&quot;, &quot;v&quot;\]/);
});

test('PostObject: a condition on a field the form lacks (constructor, __proto__) reads an empty value, not an inherited member', async () => {
  // starts-with "" holds for the empty value; it used to call startsWith on Object.prototype.constructor (500).
  for (const name of ['constructor', '__proto__']) {
    const r = await post({ Key: `form/absent-${name}`, Conditions: [['starts-with', `$${name}`, '']] });
    assert.equal(r.status, 204, `${name}: ${r.text}`);
    const eq = await post({ Key: `form/absent-eq-${name}`, Conditions: [['eq', `$${name}`, '']] });
    assert.equal(eq.status, 204, `${name}: ${eq.text}`);
  }
});

test('PostObject: an x-amz-meta-__proto__ field becomes user metadata', async () => {
  const r = await post({ Key: 'form/meta', Fields: { 'x-amz-meta-__proto__': 'from-form', 'x-amz-meta-constructor': 'c' } });
  assert.equal(r.status, 204, r.text);
  const got = await wireMetadata('form/meta');
  assert.equal(Object.hasOwn(got, '__proto__') ? got['__proto__'] : undefined, 'from-form');
  assert.equal(Object.hasOwn(got, 'constructor') ? got['constructor'] : undefined, 'c');
});

// ---- aws-chunked trailers ----

test('CompleteMultipartUpload: an announced trailer named constructor or __proto__ is answered as one named otherwise', async () => {
  const complete = async (trailer: string): Promise<{ status: number; text: string }> => {
    const key = `trailer/${trailer}`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: 'part' }));
    const xml = Buffer.from(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${part.ETag!}</ETag></Part></CompleteMultipartUpload>`);
    const body = Buffer.concat([Buffer.from(`${xml.length.toString(16)}\r\n`), xml, Buffer.from(`\r\n0\r\n${trailer}:value\r\n\r\n`)]);
    const url = new URL(srv.url);
    const rawUrl = `/${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}?uploadId=${encodeURIComponent(UploadId!)}`;
    const signed = signRequest({
      method: 'POST', rawUrl, accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET, region: 'us-east-1', service: 's3', now: new Date(),
      payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      headers: { host: url.host, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(xml.length), 'x-amz-trailer': trailer },
    });
    const r = await fetch(srv.url + rawUrl, { method: 'POST', headers: signed.headers, body });
    return { status: r.status, text: await r.text() };
  };
  const code = (text: string) => /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const ordinary = await complete('x-ordinary-name');
  for (const name of ['constructor', '__proto__']) {
    const r = await complete(name);
    assert.equal(r.status, ordinary.status, `${name}: ${r.text}`);
    assert.equal(code(r.text), code(ordinary.text), name);
  }
});
