// SigV4 over the header lines and bytes a client really sent: a header repeated on
// several lines is signed as the lines' values joined by ',' (not Node's ', '), and
// non-ASCII x-amz-meta-* values are signed as their bytes. Metadata round-trips as AWS
// returns it: a value with non-ASCII text comes back RFC 2047-encoded (=?UTF-8?B?...?=).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { signRequest } from '../../src/auth/sign.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawConnection, statusOf, within } from '../http/raw-socket.js';

let srv: TestServer;
let port: number;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  port = Number(new URL(srv.url).port);
  bucket = uniqueBucket('hdrs');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'obj', Body: 'hello' }));
});
after(async () => srv?.stop());

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * Signs `signed` (the header values as AWS canonicalizes them), then sends `lines` (the
 * header lines as they go on the wire, in order) instead; answers the raw response text.
 */
async function send(method: string, path: string, signed: Record<string, string>, lines: [string, string][]): Promise<string> {
  const host = `127.0.0.1:${port}`;
  const s = signRequest({
    method, rawUrl: path, headers: { host, ...signed }, accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET,
    region: 'us-east-1', service: 's3', now: new Date(), payloadHash: 'UNSIGNED-PAYLOAD',
  }).headers;
  const fixed = Object.entries(s).filter(([k]) => !(k in signed));
  const head = `${method} ${path} HTTP/1.1\r\n${[...fixed, ...lines, ['connection', 'close']].map(([k, v]) => `${k}: ${v}\r\n`).join('')}${method === 'PUT' ? 'content-length: 1\r\n' : ''}\r\n`;
  const conn = await rawConnection(port, Buffer.concat([Buffer.from(head, 'utf8'), Buffer.from(method === 'PUT' ? 'x' : '')]));
  return (await within(10_000, 'the answer', conn.closed)).text;
}

test('a header repeated on two lines is signed as the values joined by "," (GetObjectAttributes)', async () => {
  const text = await send('GET', `/${bucket}/obj?attributes`, { 'x-amz-object-attributes': 'ETag,ObjectSize' }, [
    ['X-Amz-Object-Attributes', 'ETag'],
    ['X-Amz-Object-Attributes', 'ObjectSize'],
  ]);
  assert.equal(statusOf(text), 200, text);
  assert.match(text, /<ETag>[0-9a-f]{32}<\/ETag>/);
  assert.match(text, /<ObjectSize>5<\/ObjectSize>/);
});

test('repeated lines with padding and inner runs of spaces: each trimmed and collapsed, then joined', async () => {
  const text = await send('PUT', `/${bucket}/spaced`, { 'x-amz-meta-note': 'a b,c d' }, [
    ['x-amz-meta-note', '  a    b '],
    ['X-Amz-Meta-Note', 'c  d'],
  ]);
  assert.equal(statusOf(text), 200, text);
});

test('a repeated line whose order differs from what was signed is SignatureDoesNotMatch (the order counts)', async () => {
  const text = await send('GET', `/${bucket}/obj?attributes`, { 'x-amz-object-attributes': 'ObjectSize,ETag' }, [
    ['X-Amz-Object-Attributes', 'ETag'],
    ['X-Amz-Object-Attributes', 'ObjectSize'],
  ]);
  assert.equal(statusOf(text), 403, text);
  assert.match(text, /<Code>SignatureDoesNotMatch<\/Code>/);
});

test('UTF-8 metadata bytes (as curl and Go send them) are signed as sent and come back RFC 2047-encoded', async () => {
  const text = await send('PUT', `/${bucket}/nihon`, { 'x-amz-meta-place': '日本' }, [['x-amz-meta-place', '日本']]);
  assert.equal(statusOf(text), 200, text);
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'nihon' }));
  assert.equal(head.Metadata?.['place'], `=?UTF-8?B?${b64('日本')}?=`);
});

test('the JS SDK v3 puts metadata "café"; HeadObject returns it RFC 2047-encoded, as AWS does', async () => {
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cafe', Body: 'x', Metadata: { drink: 'café', plain: 'tea' } }));
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'cafe' }));
  assert.equal(head.Metadata?.['drink'], '=?UTF-8?B?Y2Fmw6k=?=');
  assert.equal(head.Metadata?.['plain'], 'tea');
});

test('metadata sent RFC 2047-encoded (B and Q) is stored decoded and returned encoded', async () => {
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'encoded', Body: 'x', Metadata: { b: `=?UTF-8?B?${b64('日本')}?=`, q: '=?utf-8?Q?caf=C3=A9_au_lait?=' } }));
  const head = await srv.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'encoded' }));
  assert.equal(head.Metadata?.['b'], `=?UTF-8?B?${b64('日本')}?=`);
  assert.equal(head.Metadata?.['q'], `=?UTF-8?B?${b64('café au lait')}?=`);
});

test('boto3: non-ASCII metadata (sent as latin1 once its client-side check is off) and RFC 2047 metadata round-trip', async () => {
  const py = `
import boto3, botocore.handlers, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
s3.meta.events.unregister('before-parameter-build.s3.PutObject', botocore.handlers.validate_ascii_metadata)
s3.put_object(Bucket=sys.argv[4], Key='py-cafe', Body=b'x', Metadata={'drink': 'café'})
print(s3.head_object(Bucket=sys.argv[4], Key='py-cafe')['Metadata']['drink'])
s3.put_object(Bucket=sys.argv[4], Key='py-nihon', Body=b'x', Metadata={'place': '=?UTF-8?B?5pel5pys?='})
print(s3.head_object(Bucket=sys.argv[4], Key='py-nihon')['Metadata']['place'])
`;
  const { stdout: out } = await promisify(execFile)('python3', ['-c', py, srv.url, ROOT_KEY_ID, ROOT_SECRET, bucket], { encoding: 'utf8', timeout: 60_000 });
  assert.deepEqual(out.trim().split('\n'), ['=?UTF-8?B?Y2Fmw6k=?=', '=?UTF-8?B?5pel5pys?=']);
});
