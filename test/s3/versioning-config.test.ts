// PutBucketVersioning and GetBucketVersioning with the JS SDK (and raw requests where the
// SDK would fix the request up): Enabled, Suspended, the never-versioned empty answer,
// MFA delete refused as S3 refuses a request without valid MFA, the integrity header S3
// requires, and invalid configurations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetBucketVersioningCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { rawRequest } from '../interop/support.js';

let srv: TestServer;
let s3: S3Client;

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
});
after(async () => srv?.stop());

async function newBucket(): Promise<string> {
  const b = uniqueBucket('vcfg');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

const xml = (inner: string) => Buffer.from(`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</VersioningConfiguration>`);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');

test('a never-versioned bucket answers an empty configuration; Enabled and Suspended are stored and answered', async () => {
  const b = await newBucket();
  const raw = await rawRequest({ method: 'GET', url: srv.url, path: `/${b}`, query: { versioning: '' } });
  assert.equal(raw.status, 200);
  assert.match(raw.body, /<VersioningConfiguration xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"\/?>(<\/VersioningConfiguration>)?$/);
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
  const got = await s3.send(new GetBucketVersioningCommand({ Bucket: b }));
  assert.equal(got.Status, 'Suspended');
  assert.equal(got.MFADelete, undefined, 'MfaDelete is answered only once it was configured');
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Disabled' } }));
  const again = await s3.send(new GetBucketVersioningCommand({ Bucket: b }));
  assert.deepEqual([again.Status, again.MFADelete], ['Enabled', 'Disabled']);
});

test('MFA delete cannot be enabled: AccessDenied "Mfa Authentication must be used for this request", with or without x-amz-mfa', async () => {
  const b = await newBucket();
  await assertFails(
    s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' } })),
    403, 'AccessDenied', 'Mfa Authentication must be used for this request',
  );
  await assertFails(
    s3.send(new PutBucketVersioningCommand({ Bucket: b, MFA: 'arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456', VersioningConfiguration: { Status: 'Enabled' } })),
    403, 'AccessDenied', 'Mfa Authentication must be used for this request',
  );
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, undefined, 'nothing changed');
});

test('PutBucketVersioning needs Content-MD5 or a flexible checksum, and checks it', async () => {
  const b = await newBucket();
  const body = xml('<Status>Enabled</Status>');
  const bare = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { versioning: '' }, body });
  assert.equal(bare.status, 400);
  assert.match(bare.body, /<Code>InvalidRequest<\/Code><Message>Missing required header for this request: Content-MD5<\/Message>/);
  const wrong = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { versioning: '' }, body, headers: { 'content-md5': md5(Buffer.from('other')) } });
  assert.equal(wrong.status, 400);
  assert.match(wrong.body, /<Code>BadDigest<\/Code>/);
  const ok = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { versioning: '' }, body, headers: { 'content-md5': md5(body) } });
  assert.equal(ok.status, 200);
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
});

test('a Status other than Enabled or Suspended is IllegalVersioningConfigurationException; bad XML is MalformedXML', async () => {
  const b = await newBucket();
  for (const status of ['Disabled', 'enabled', '']) {
    const body = xml(`<Status>${status}</Status>`);
    const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { versioning: '' }, body, headers: { 'content-md5': md5(body) } });
    assert.equal(r.status, 400, status);
    assert.match(r.body, /<Code>IllegalVersioningConfigurationException<\/Code>/);
  }
  const bad = Buffer.from('<VersioningConfiguration><Status>Enabled');
  const r = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { versioning: '' }, body: bad, headers: { 'content-md5': md5(bad) } });
  assert.equal(r.status, 400);
  assert.match(r.body, /<Code>MalformedXML<\/Code>/);
  await assertFails(s3.send(new PutBucketVersioningCommand({ Bucket: uniqueBucket('none'), VersioningConfiguration: { Status: 'Enabled' } })), 404, 'NoSuchBucket');
});
