// Remembered KMS decisions (kms/decision-memo.ts) never expire by time: only a decision that
// read nothing of the request is remembered. So a key policy that allows a principal until
// a time (aws:CurrentTime) must refuse the first request after it, however warm the caches
// (a GET read twice before: the decision, the opened data key, the envelope, the bucket key).
// Through @aws-sdk/client-s3 against the real server; the window is two seconds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertKmsDenied, keyPolicyWith, s3On, userFactory } from '../helpers/sse-principals.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
const bucket = uniqueBucket('decision-time');

before(async () => {
  srv = await startTestServer();
  users = userFactory(srv);
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  users?.destroy();
  await srv?.stop();
});

test('a key policy allowing kms:Decrypt until a time refuses the first GET after it, own data key and bucket key alike, however warm', async () => {
  const u = await users.create(`until-${Date.now()}`, { s3: [s3On(bucket)] });
  const until = Date.now() + 2000;
  const key = (await srv.kms.send(new CreateKeyCommand({
    Policy: keyPolicyWith(srv.coffer.root.accountId, {
      Sid: 'UntilThen', Effect: 'Allow', Principal: { AWS: u.arn }, Action: 'kms:Decrypt', Resource: '*',
      Condition: { DateLessThan: { 'aws:CurrentTime': new Date(until).toISOString() } },
    }),
  }))).KeyMetadata!.Arn!;
  for (const bk of [false, true]) {
    await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `o-${bk}`, Body: `body ${bk}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key, BucketKeyEnabled: bk }));
    for (let i = 0; i < 3; i++) {
      const r = await u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: `o-${bk}` }));
      assert.equal(await r.Body!.transformToString(), `body ${bk}`);
    }
  }
  assert.ok(Date.now() < until, 'the warm reads ran inside the window (a slow machine would make this test prove nothing)');
  await sleep(until - Date.now() + 50);
  for (const bk of [false, true]) {
    await assertKmsDenied(u.s3.send(new GetObjectCommand({ Bucket: bucket, Key: `o-${bk}` })), u.arn, 'kms:Decrypt', key, 'because no identity-based policy allows the kms:Decrypt action');
  }
});
