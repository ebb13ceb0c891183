// DeleteObjects authorizes each key as a DeleteObject of that key: an Allow on one prefix
// deletes the keys under it and reports the others, and a Deny on a prefix (identity,
// bucket or session policy) keeps those keys, each refused in an <Error> entry with
// AccessDenied while the request itself answers 200, as AWS does.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command, PutBucketPolicyCommand, PutObjectCommand,
  type DeleteObjectsCommandOutput, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { policyDoc, userFactory } from '../helpers/sse-principals.js';
import { iamClient, stsClient } from '../iam/iam-helpers.js';

const deleteAllow = (resource: string) => ({ Effect: 'Allow', Action: 's3:DeleteObject', Resource: resource });
const deleteDeny = (bucket: string) => ({ Effect: 'Deny', Action: 's3:DeleteObject', Resource: `arn:aws:s3:::${bucket}/ro/*` });

describe('DeleteObjects authorization per key', () => {
  let srv: TestServer;
  let users: ReturnType<typeof userFactory>;

  before(async () => {
    srv = await startTestServer();
    users = userFactory(srv);
  });
  after(async () => {
    users.destroy();
    await srv.stop();
  });

  async function bucketWith(prefix: string, keys: string[]): Promise<string> {
    const bucket = uniqueBucket(prefix);
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const Key of keys) await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
    return bucket;
  }

  const remaining = async (bucket: string) =>
    ((await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key).sort();

  async function deleteAs(s3: S3Client, bucket: string, keys: string[]): Promise<DeleteObjectsCommandOutput> {
    const out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
    assert.equal(out.$metadata.httpStatusCode, 200);
    return out;
  }

  /** The keys deleted, and each refused key with its code and message. */
  function outcome(out: DeleteObjectsCommandOutput) {
    return {
      deleted: (out.Deleted ?? []).map((d) => d.Key).sort(),
      refused: (out.Errors ?? []).map((e) => `${e.Key} ${e.Code} ${e.Message}`).sort(),
    };
  }

  it('an Allow on rw/* only deletes the rw/ keys and refuses each other key', async () => {
    const bucket = await bucketWith('dobj-allow', ['rw/a', 'ro/a', 'other/a']);
    const user = await users.create('rw-only', { deletes: [deleteAllow(`arn:aws:s3:::${bucket}/rw/*`)] });
    const out = await deleteAs(user.s3, bucket, ['rw/a', 'ro/a', 'other/a']);
    assert.deepEqual(outcome(out), { deleted: ['rw/a'], refused: ['other/a AccessDenied Access Denied', 'ro/a AccessDenied Access Denied'] });
    assert.deepEqual(await remaining(bucket), ['other/a', 'ro/a']);
  });

  it('a Deny on ro/* in an identity policy keeps the ro/ keys, as it does for DeleteObject', async () => {
    const bucket = await bucketWith('dobj-iddeny', ['rw/b', 'ro/b']);
    const user = await users.create('id-deny', { deletes: [deleteAllow('*'), deleteDeny(bucket)] });
    await assertFails(user.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'ro/b' })), 403, 'AccessDenied');
    const out = await deleteAs(user.s3, bucket, ['rw/b', 'ro/b']);
    assert.deepEqual(outcome(out), { deleted: ['rw/b'], refused: ['ro/b AccessDenied Access Denied'] });
    assert.deepEqual(await remaining(bucket), ['ro/b']);
  });

  it('a Deny on ro/* in the bucket policy keeps the ro/ keys, even for the account root', async () => {
    const bucket = await bucketWith('dobj-bpdeny', ['rw/c', 'ro/c']);
    await srv.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policyDoc({ ...deleteDeny(bucket), Principal: '*' }) }));
    const out = await deleteAs(srv.s3, bucket, ['rw/c', 'ro/c']);
    assert.deepEqual(outcome(out), { deleted: ['rw/c'], refused: ['ro/c AccessDenied Access Denied'] });
    assert.deepEqual(await remaining(bucket), ['ro/c']);
  });

  it('a Deny on ro/* in the session policy keeps the ro/ keys', async () => {
    const bucket = await bucketWith('dobj-sessdeny', ['rw/d', 'ro/d']);
    const assumer = await users.create('assumer');
    const iam = iamClient(srv);
    const sts = stsClient(srv, assumer.credentials);
    try {
      const trust = policyDoc({ Effect: 'Allow', Principal: { AWS: assumer.arn }, Action: 'sts:AssumeRole' });
      const role = (await iam.send(new CreateRoleCommand({ RoleName: 'Deleter', AssumeRolePolicyDocument: trust }))).Role!;
      await iam.send(new PutRolePolicyCommand({ RoleName: 'Deleter', PolicyName: 'all', PolicyDocument: policyDoc({ Effect: 'Allow', Action: 's3:*', Resource: '*' }) }));
      const session = (await sts.send(new AssumeRoleCommand({
        RoleArn: role.Arn, RoleSessionName: 'narrow', Policy: policyDoc({ Effect: 'Allow', Action: 's3:*', Resource: '*' }, deleteDeny(bucket)),
      }))).Credentials!;
      const s3 = srv.client({ credentials: { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! }, maxAttempts: 1 });
      try {
        const out = await deleteAs(s3, bucket, ['rw/d', 'ro/d']);
        assert.deepEqual(outcome(out), { deleted: ['rw/d'], refused: ['ro/d AccessDenied Access Denied'] });
      } finally {
        s3.destroy();
      }
      assert.deepEqual(await remaining(bucket), ['ro/d']);
    } finally {
      iam.destroy();
      sts.destroy();
    }
  });

  it('quiet mode reports the refused keys and nothing else', async () => {
    const bucket = await bucketWith('dobj-quiet', ['rw/e', 'ro/e']);
    const user = await users.create('quiet', { deletes: [deleteAllow(`arn:aws:s3:::${bucket}/rw/*`)] });
    const out = await user.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: [{ Key: 'rw/e' }, { Key: 'ro/e' }] } }));
    assert.deepEqual(outcome(out), { deleted: [], refused: ['ro/e AccessDenied Access Denied'] });
    assert.deepEqual(await remaining(bucket), ['ro/e']);
  });
});
