// Condition keys in bucket policies, through @aws-sdk/client-s3 against the real server:
// the SSE headers as sent (a policy requiring aws:kms with one key refuses a PUT without
// it with 403, even when the bucket default would use that key — policies are evaluated
// before the default applies), s3:prefix and s3:max-keys on listings, s3:ExistingObjectTag
// and s3:RequestObjectTag, aws:SecureTransport (HTTP vs TLS), aws:SourceIp,
// aws:PrincipalArn, aws:username as a policy variable, aws:userid and aws:CurrentTime.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListObjectsV2Command, PutBucketEncryptionCommand, PutBucketPolicyCommand,
  PutObjectCommand, PutObjectTaggingCommand, GetObjectTaggingCommand, S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { makeTestCertificate } from '../helpers/tls.js';
import { policyDoc, refusal, userFactory } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let acct: string;

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

async function newBucket(prefix: string, s3: S3Client = srv.s3): Promise<string> {
  const b = uniqueBucket(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

const putPolicy = (bucket: string, ...statements: object[]) => srv.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policyDoc(...statements) }));

async function assertDenied(p: Promise<unknown>, message?: string | RegExp): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.$metadata.httpStatusCode, 403, `${e.name}: ${e.message}`);
  assert.equal(e.name, 'AccessDenied', e.message);
  if (typeof message === 'string') assert.equal(e.message, message);
  else if (message) assert.match(e.message, message);
}

const read = async (s3: S3Client, b: string, key: string) => (await s3.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body!.transformToString();

test('a policy requiring SSE-KMS with one key: PUTs without the header, with AES256 or another key are 403; with that key they work', async () => {
  const b = await newBucket('bpc-kms');
  const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const other = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await putPolicy(
    b,
    { Sid: 'RequireKms', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
    { Sid: 'RequireKey', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': key } } },
  );
  const rootArn = `arn:aws:iam::${acct}:root`;
  const put = (extra: object) => srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'obj', Body: 'secret', ...extra }));
  await assertDenied(put({}), `User: ${rootArn} is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::${b}/obj" with an explicit deny in a resource-based policy`);
  await assertDenied(put({ ServerSideEncryption: 'AES256' }));
  await assertDenied(put({ ServerSideEncryption: 'aws:kms' }), undefined);
  await assertDenied(put({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: other }));
  await assertDenied(srv.s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mp' })));
  const ok = await put({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key });
  assert.equal(ok.SSEKMSKeyId, key);
  // The bucket default is applied after the policy: it does not satisfy it.
  await srv.s3.send(new PutBucketEncryptionCommand({
    Bucket: b, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key } }] },
  }));
  await assertDenied(put({}));
  assert.equal(await read(srv.s3, b, 'obj'), 'secret');
});

test('s3:prefix and s3:max-keys: a user may list only under home/<its name>/ and at most 10 keys at a time', async () => {
  const b = await newBucket('bpc-prefix');
  const u = await users.create('bpc-lister');
  for (const k of ['home/bpc-lister/a', 'home/bpc-lister/b', 'home/other/c']) await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }));
  await putPolicy(b, {
    Effect: 'Allow', Principal: { AWS: u.arn }, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${b}`,
    Condition: { StringLike: { 's3:prefix': 'home/${aws:username}/*' }, NumericLessThanEquals: { 's3:max-keys': '10' } },
  });
  const list = (Prefix?: string, MaxKeys?: number) => u.s3.send(new ListObjectsV2Command({ Bucket: b, Prefix, MaxKeys }));
  const got = await list('home/bpc-lister/', 10);
  assert.deepEqual(got.Contents?.map((o) => o.Key), ['home/bpc-lister/a', 'home/bpc-lister/b']);
  await assertDenied(list('home/bpc-lister/'), /because no identity-based policy allows the s3:ListBucket action$/);
  await assertDenied(list('home/other/', 10));
  await assertDenied(list(undefined, 10));
  await assertDenied(list('home/bpc-lister/', 1000));
});

test('s3:ExistingObjectTag: a user reads only objects tagged classification=public, and the tag is read on each request', async () => {
  const b = await newBucket('bpc-tags');
  const u = await users.create('bpc-tagreader');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'pub', Body: 'open', Tagging: 'classification=public' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'priv', Body: 'closed', Tagging: 'classification=secret' }));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'untagged', Body: 'none' }));
  await putPolicy(b, {
    Effect: 'Allow', Principal: { AWS: u.arn }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`,
    Condition: { StringEquals: { 's3:ExistingObjectTag/classification': 'public' } },
  });
  assert.equal(await read(u.s3, b, 'pub'), 'open');
  await assertDenied(read(u.s3, b, 'priv'));
  await assertDenied(read(u.s3, b, 'untagged'));
  await srv.s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'pub', Tagging: { TagSet: [{ Key: 'classification', Value: 'secret' }] } }));
  await assertDenied(read(u.s3, b, 'pub'));
});

test('s3:RequestObjectTag: PUTs must carry x-amz-tagging project=apollo', async () => {
  const b = await newBucket('bpc-reqtag');
  await putPolicy(b, {
    Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`,
    Condition: { StringNotEquals: { 's3:RequestObjectTag/project': 'apollo' } },
  });
  const put = (Tagging?: string) => srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', Tagging }));
  await assertDenied(put());
  await assertDenied(put('project=gemini'));
  await put('project=apollo&team=a');
});

test('s3:RequestObjectTag on PutObjectTagging: the tag set in the body is what the policy sees; a denied one changes nothing', async () => {
  const b = await newBucket('bpc-reqtag-put');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x', Tagging: 'project=apollo' }));
  await putPolicy(b, {
    Effect: 'Deny', Principal: '*', Action: 's3:PutObjectTagging', Resource: `arn:aws:s3:::${b}/*`,
    Condition: { StringNotEquals: { 's3:RequestObjectTag/project': 'apollo' } },
  });
  const tag = (TagSet: { Key: string; Value: string }[]) => srv.s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet } }));
  await assertDenied(tag([{ Key: 'project', Value: 'gemini' }]), /s3:PutObjectTagging on resource: .* with an explicit deny in a resource-based policy$/);
  await assertDenied(tag([]));
  const kept = await srv.s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'k' }));
  assert.deepEqual(kept.TagSet?.map((t) => `${t.Key}=${t.Value}`), ['project=apollo'], 'a refused PutObjectTagging changes nothing');
  await tag([{ Key: 'project', Value: 'apollo' }, { Key: 'stage', Value: 'two' }]);
  const got = await srv.s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'k' }));
  assert.deepEqual(got.TagSet?.map((t) => `${t.Key}=${t.Value}`).sort(), ['project=apollo', 'stage=two']);
});

test('PutObjectTagging is still authorized by identity policies: a user without s3:PutObjectTagging is refused', async () => {
  const b = await newBucket('bpc-tag-user');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const u = await users.create('bpc-tagger');
  await assertDenied(
    u.s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 'k', Tagging: { TagSet: [{ Key: 'a', Value: 'b' }] } })),
    /because no identity-based policy allows the s3:PutObjectTagging action$/,
  );
  const got = await srv.s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'k' }));
  assert.deepEqual(got.TagSet, []);
});

test('aws:SecureTransport: a deny of plain HTTP refuses requests over HTTP and lets the same ones through over TLS', async () => {
  const cert = makeTestCertificate();
  const tls = await startTestServer({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
  try {
    assert.match(tls.url, /^https:/);
    const b = await newBucket('bpc-tls', tls.s3);
    await tls.s3.send(new PutBucketPolicyCommand({
      Bucket: b,
      Policy: policyDoc({ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    }));
    await tls.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'over tls' }));
    assert.equal(await read(tls.s3, b, 'k'), 'over tls');

    const plain = await newBucket('bpc-http');
    await putPolicy(plain, { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${plain}/*`, Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    await srv.s3.send(new PutObjectCommand({ Bucket: plain, Key: 'k', Body: 'x' }));
    await assertDenied(read(srv.s3, plain, 'k'), /with an explicit deny in a resource-based policy$/);
  } finally {
    await tls.stop();
  }
});

test('aws:SourceIp: an allow for 10.0.0.0/8 does not reach a loopback client; a deny outside 127.0.0.0/8 does not bind it', async () => {
  const b = await newBucket('bpc-ip');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'ip' }));
  const u = await users.create('bpc-ip-user');
  await putPolicy(
    b,
    { Effect: 'Allow', Principal: { AWS: u.arn }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } },
    { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { NotIpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } },
  );
  await assertDenied(read(u.s3, b, 'k'));
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k2', Body: 'from loopback' }));
  await putPolicy(b, { Effect: 'Allow', Principal: { AWS: u.arn }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { IpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '::1/128'] } } });
  assert.equal(await read(u.s3, b, 'k'), 'ip');
});

test('aws:PrincipalArn, aws:userid and aws:CurrentTime: a deny for everyone but the root and one user; a time window', async () => {
  const b = await newBucket('bpc-principal');
  await srv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'p' }));
  const alice = await users.create('bpc-alice', { s3: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] });
  const bob = await users.create('bpc-bob', { s3: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*` }] });
  const rootArn = `arn:aws:iam::${acct}:root`;
  await putPolicy(b, {
    Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`,
    Condition: { ArnNotEquals: { 'aws:PrincipalArn': [rootArn, alice.arn] } },
  });
  assert.equal(await read(alice.s3, b, 'k'), 'p');
  assert.equal(await read(srv.s3, b, 'k'), 'p');
  await assertDenied(read(bob.s3, b, 'k'), `User: ${bob.arn} is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::${b}/k" with an explicit deny in a resource-based policy`);

  // aws:userid: the root's is the account id; an IAM user's is its AIDA... unique id.
  await putPolicy(b, { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotLike: { 'aws:userid': [acct, 'AIDA*'] } } });
  assert.equal(await read(srv.s3, b, 'k'), 'p');
  assert.equal(await read(alice.s3, b, 'k'), 'p');

  await putPolicy(b, { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { DateGreaterThan: { 'aws:CurrentTime': '2000-01-01T00:00:00Z' } } });
  await assertDenied(read(alice.s3, b, 'k'));
  await putPolicy(b, { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { DateLessThan: { 'aws:CurrentTime': '2000-01-01T00:00:00Z' } } });
  assert.equal(await read(alice.s3, b, 'k'), 'p');
});
