// `Expect: 100-continue`: Coffer answers `100 Continue` only to a request it has
// authenticated (and authorized, as far as the headers tell); a bad signature or a caller
// without permission gets its 403 while the client still holds the body back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand as S3CreateBucket, GetObjectCommand as S3GetObject } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { openRequest, ROOT_KEY_ID, type RawRequest } from '../interop/support.js';
import { within } from './raw-socket.js';

let srv: TestServer;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  bucket = uniqueBucket('continue');
  await srv.s3.send(new S3CreateBucket({ Bucket: bucket }));
});
after(async () => srv?.stop());

interface Outcome {
  status: number;
  body: string;
  /** Whether the server said 100 Continue (and so the client sent the body). */
  continued: boolean;
}

/** Opens the request with Expect: 100-continue and sends `body` only if the server says 100 Continue. */
async function expectContinue(r: Omit<RawRequest, 'url'>, body: Buffer): Promise<Outcome> {
  const req = await openRequest({ ...r, url: srv.url, headers: { ...(r.headers ?? {}), expect: '100-continue', 'content-length': String(body.length) } });
  let continued = false;
  req.on('continue', () => {
    continued = true;
    req.end(body);
  });
  const res = await within(15_000, 'the response', new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  }));
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  req.destroy();
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), continued };
}

const payload = Buffer.from('the body the client holds back');

test('a PUT with a wrong signature gets 403 SignatureDoesNotMatch before any 100 Continue: the body is never sent', async () => {
  const r = await expectContinue({ method: 'PUT', path: `/${bucket}/refused`, body: payload, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: 'wrong-secret-0123456789' } }, payload);
  assert.equal(r.status, 403, r.body);
  assert.match(r.body, /<Code>SignatureDoesNotMatch<\/Code>/);
  assert.equal(r.continued, false);
  await assert.rejects(srv.s3.send(new S3GetObject({ Bucket: bucket, Key: 'refused' })), { name: 'NoSuchKey' });
});

test('an anonymous PUT to a private bucket gets 403 AccessDenied without 100 Continue', async () => {
  const r = await expectContinue({ method: 'PUT', path: `/${bucket}/anon`, anonymous: true }, payload);
  assert.equal(r.status, 403, r.body);
  assert.match(r.body, /<Code>AccessDenied<\/Code>/);
  assert.equal(r.continued, false);
});

test('an unknown access key gets 403 InvalidAccessKeyId without 100 Continue', async () => {
  const r = await expectContinue({ method: 'PUT', path: `/${bucket}/unknown`, body: payload, credentials: { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'x' } }, payload);
  assert.equal(r.status, 403, r.body);
  assert.match(r.body, /<Code>InvalidAccessKeyId<\/Code>/);
  assert.equal(r.continued, false);
});

test('a correctly signed PUT gets 100 Continue, sends its body and is stored', async () => {
  const r = await expectContinue({ method: 'PUT', path: `/${bucket}/stored`, body: payload }, payload);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.continued, true);
  const got = await srv.s3.send(new S3GetObject({ Bucket: bucket, Key: 'stored' }));
  assert.equal(await got.Body!.transformToString(), payload.toString());
});

test('KMS, which signs over the body, still works with Expect: 100-continue (the SDK request goes through)', async () => {
  const kms = srv.kmsClient();
  kms.middlewareStack.add((next) => async (args) => {
    (args.request as { headers: Record<string, string> }).headers['expect'] = '100-continue';
    return next(args);
  }, { step: 'build' });
  const k = await kms.send(new CreateKeyCommand({}));
  assert.ok(k.KeyMetadata?.KeyId);
  kms.destroy();
});
