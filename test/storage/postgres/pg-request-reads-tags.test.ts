// A GET's object row read early (storage/request-reads.ts) against what authorization reads
// of the object itself when it decides, after the request's first reads: its tags for a
// policy on them (s3:ExistingObjectTag), its ACL when no policy allowed. If the object was overwritten in between, the decision is about
// the new object; the bytes sent must not be the old one's, which that policy denies. At
// 948a251 the operation read the row after the decision, so it could only serve the
// object the decision saw or a later one.
//
// The window is made certain, not raced: the IAM version moves (a policy put), so the
// caller's identity policies are read again on the request; a test session holds an ACCESS
// EXCLUSIVE lock on iam_user_policies, so that read waits, after the request's first reads
// have come back. Meanwhile the root overwrites the object; then the lock goes.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CreateBucketCommand, DeletePublicAccessBlockCommand, GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describePostgres, postgresServer } from '../../helpers/postgres.js';
import { startTestServer } from '../../helpers/server.js';
import { refusal, s3On, userFactory } from '../../helpers/sse-principals.js';

/** Holds an ACCESS EXCLUSIVE lock on iam_user_policies while `during` runs, once `get` waits on it. */
async function whileHeld<T>(session: pg.Client, start: () => Promise<T>, during: () => Promise<unknown>): Promise<T> {
  await session.query('BEGIN');
  await session.query('LOCK TABLE iam_user_policies IN ACCESS EXCLUSIVE MODE');
  const result = start();
  const deadline = Date.now() + 10_000;
  const waiting = async (): Promise<boolean> =>
    (await session.query(`SELECT 1 FROM pg_locks WHERE relation = 'iam_user_policies'::regclass AND NOT granted`)).rowCount! > 0;
  while (!(await waiting()) && Date.now() < deadline) await sleep(10);
  assert.ok(await waiting(), "the request's policy read waits on the lock");
  await during();
  await session.query('COMMIT');
  return result;
}

describePostgres('request reads on PostgreSQL and decisions on the object itself (its tags, its ACL)', () => {
  it('an object overwritten between the first reads and the decision: never the old bytes the policy denies', async () => {
    const databaseUrl = await (await postgresServer()).freshDatabase();
    const srv = await startTestServer({ COFFER_METADATA: databaseUrl });
    const factory = userFactory(srv);
    const session = new pg.Client({ connectionString: databaseUrl });
    await session.connect();
    try {
      const bucket = 'tagged';
      await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      await srv.s3.send(new PutBucketPolicyCommand({
        Bucket: bucket,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{
            Sid: 'NoSecrets', Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*`,
            Condition: { StringEquals: { 's3:ExistingObjectTag/secret': 'true' } },
          }],
        }),
      }));
      const user = await factory.create('reader', { s3: [s3On(bucket)] });
      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'SECRET-v1', Tagging: 'secret=true' }));
      assert.equal((await refusal(user.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc' })))).name, 'AccessDenied');

      // The caller's identity policies are read again on the next request (the store moved on) ...
      await user.put('other', { Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' });
      // ... and that read waits on this lock.
      await session.query('BEGIN');
      await session.query('LOCK TABLE iam_user_policies IN ACCESS EXCLUSIVE MODE');
      const get = user.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc' })).then(
        async (r) => ({ body: await r.Body!.transformToString() }),
        (e: Error) => ({ error: e.name }),
      );
      const deadline = Date.now() + 10_000;
      const waiting = async (): Promise<boolean> =>
        (await session.query(`SELECT 1 FROM pg_locks WHERE relation = 'iam_user_policies'::regclass AND NOT granted`)).rowCount! > 0;
      while (!(await waiting()) && Date.now() < deadline) await sleep(10);
      assert.ok(await waiting(), "the GET's policy read waits on the lock");

      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'PUBLIC-v2', Tagging: 'secret=false' }));
      await session.query('COMMIT');
      const got = await get;
      assert.notDeepEqual(got, { body: 'SECRET-v1' }, 'the bytes of the object the policy denies were sent');
      assert.deepEqual(got, { body: 'PUBLIC-v2' });
    } finally {
      await session.query('ROLLBACK').catch(() => undefined);
      await session.end();
      factory.destroy();
      await srv.stop();
    }
  });

  it('an object overwritten between the first reads and the decision: never the old bytes of a private object an ACL of the new one allows', async () => {
    const databaseUrl = await (await postgresServer()).freshDatabase();
    const srv = await startTestServer({ COFFER_METADATA: databaseUrl });
    const factory = userFactory(srv);
    const session = new pg.Client({ connectionString: databaseUrl });
    await session.connect();
    try {
      const bucket = 'acls';
      await srv.s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectOwnership: 'BucketOwnerPreferred' }));
      await srv.s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
      // A user of the account with no S3 permission: only an object's ACL can let it read.
      const user = await factory.create('acl-reader', { other: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] });
      await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'PRIVATE-v1' }));
      assert.equal((await refusal(user.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc' })))).name, 'AccessDenied');

      await user.put('another', { Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' });
      const got = await whileHeld(
        session,
        () => user.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc' })).then(
          async (r) => ({ body: await r.Body!.transformToString() }),
          (e: Error) => ({ error: e.name }),
        ),
        () => srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: 'SHARED-v2', ACL: 'authenticated-read' })),
      );
      assert.notDeepEqual(got, { body: 'PRIVATE-v1' }, 'the bytes of the private object were sent');
      assert.deepEqual(got, { body: 'SHARED-v2' });
    } finally {
      await session.query('ROLLBACK').catch(() => undefined);
      await session.end();
      factory.destroy();
      await srv.stop();
    }
  });
});
