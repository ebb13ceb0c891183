// Entity and character references in XML request bodies, sent raw as Go's encoder
// (rclone, aws-sdk-go) writes them: `"` as `&#34;`, keys with `'` `"` `&` `<` escaped.
// They must decode exactly as XML 1.0 says, and a malformed reference is MalformedXML.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand, CreateMultipartUploadCommand, GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawRequest, xmlText } from '../interop/support.js';

let srv: TestServer;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  bucket = uniqueBucket('xmlref');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

const md5b64 = (b: Buffer) => createHash('md5').update(b).digest('base64');
const enc = (key: string) => key.split('/').map(encodeURIComponent).join('/');

async function uploadOnePart(key: string): Promise<{ uploadId: string; etagHex: string }> {
  const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const p = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: UploadId!, PartNumber: 1, Body: 'part one' }));
  return { uploadId: UploadId!, etagHex: p.ETag!.replace(/"/g, '') };
}

async function complete(key: string, uploadId: string, xml: string) {
  return rawRequest({ method: 'POST', url: srv.url, path: `/${bucket}/${enc(key)}`, query: { uploadId }, body: Buffer.from(xml) });
}

const completeXml = (etag: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>${etag}</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`;

for (const [name, quote] of [['decimal &#34;', '&#34;'], ['hex &#x22;', '&#x22;'], ['named &quot;', '&quot;']] as const) {
  test(`CompleteMultipartUpload with the ETag quoted by ${name} (as Go's encoder writes it) completes`, async () => {
    const key = `go-${quote.replace(/\W/g, '')}`;
    const { uploadId, etagHex } = await uploadOnePart(key);
    const r = await complete(key, uploadId, completeXml(`${quote}${etagHex}${quote}`));
    assert.equal(r.status, 200, r.body);
    assert.equal(xmlText(r.body, 'Key'), key);
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(head.ContentLength, 8);
  });
}

async function deleteObjects(xml: string) {
  const body = Buffer.from(xml);
  return rawRequest({ method: 'POST', url: srv.url, path: `/${bucket}`, query: { delete: '' }, headers: { 'content-md5': md5b64(body) }, body });
}

test('DeleteObjects with keys holding \' " & < (escaped every way XML allows) really deletes them', async () => {
  const keys = [`it's`, 'say "hi"', 'a&b', 'x<y>z', 'tab\there'];
  for (const Key of keys) await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x' }));
  const written = ['it&apos;s', 'say &#34;hi&#x22;', 'a&amp;b', 'x&lt;y&gt;z', 'tab&#9;here'];
  const xml = `<Delete><Object><Key>${written.join('</Key></Object><Object><Key>')}</Key></Object></Delete>`;
  const r = await deleteObjects(xml);
  assert.equal(r.status, 200, r.body);
  assert.doesNotMatch(r.body, /<Error>/);
  for (const Key of keys) {
    await assert.rejects(srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key })), (e: Error) => e.name === 'NotFound', `${Key} is gone`);
  }
});

test('a tag value written with character references round-trips decoded', async () => {
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tagged', Body: 'x' }));
  const body = Buffer.from('<Tagging><TagSet><Tag><Key>k&#x26;1</Key><Value>&#233;t&#xE9; &#x1F600; &lt;&#62;</Value></Tag></TagSet></Tagging>');
  const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${bucket}/tagged`, query: { tagging: '' }, headers: { 'content-md5': md5b64(body) }, body });
  assert.equal(r.status, 200, r.body);
  const t = await srv.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged' }));
  assert.deepEqual(t.TagSet, [{ Key: 'k&1', Value: 'été 😀 <>' }]);
});

const MALFORMED: [string, string][] = [
  ['an unknown named entity', '&nbsp;'],
  ['an empty reference', '&;'],
  ['a decimal reference with a non-digit', '&#3a;'],
  ['a hex reference with no digits', '&#x;'],
  ['a reference to U+0000', '&#0;'],
  ['a reference to a control character', '&#x1;'],
  ['a reference to a surrogate', '&#xD800;'],
  ['a reference past U+10FFFF', '&#x110000;'],
  ['a huge decimal reference', '&#99999999999999;'],
  ['an unterminated reference', '&#34 and more'],
  ['a bare ampersand', 'a & b'],
];

for (const [what, ref] of MALFORMED) {
  test(`${what} in a DeleteObjects key is 400 MalformedXML and deletes nothing`, async () => {
    await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'keep', Body: 'x' }));
    const r = await deleteObjects(`<Delete><Object><Key>keep</Key></Object><Object><Key>k${ref}</Key></Object></Delete>`);
    assert.equal(r.status, 400, r.body);
    assert.equal(xmlText(r.body, 'Code'), 'MalformedXML');
    await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'keep' }));
  });
}

test('a malformed reference in CompleteMultipartUpload is 400 MalformedXML', async () => {
  const { uploadId, etagHex } = await uploadOnePart('bad-ref');
  const r = await complete('bad-ref', uploadId, completeXml(`&#x22${etagHex}&#x22;`));
  assert.equal(r.status, 400, r.body);
  assert.equal(xmlText(r.body, 'Code'), 'MalformedXML');
});

test('a DOCTYPE with an entity declaration is 400 MalformedXML (no entity expansion)', async () => {
  const r = await deleteObjects('<!DOCTYPE Delete [<!ENTITY a "keep"><!ENTITY b "&a;&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>');
  assert.equal(r.status, 400, r.body);
  assert.equal(xmlText(r.body, 'Code'), 'MalformedXML');
});

test('CDATA is taken literally: references in it are not decoded', async () => {
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a&amp;b', Body: 'x' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a&b', Body: 'x' }));
  const r = await deleteObjects('<Delete><Object><Key><![CDATA[a&amp;b]]></Key></Object></Delete>');
  assert.equal(r.status, 200, r.body);
  await assert.rejects(srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a&amp;b' })));
  await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a&b' }));
});
