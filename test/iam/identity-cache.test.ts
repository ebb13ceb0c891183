// The server caches each principal's identity policies and prepared access keys while the
// IAM store is unchanged. Any change must still take effect on the next request: writes
// through this server, and commits by another process on the same database (the
// `coffer user` CLI opens iam.sqlite itself while the server runs).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SqliteIamStore } from '../../src/iam/store/sqlite-iam-store.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { policyDoc, refusal, s3On, userFactory } from '../helpers/sse-principals.js';

describe('identity policy and credential caches', () => {
  let srv: TestServer;
  let users: ReturnType<typeof userFactory>;

  before(async () => {
    srv = await startTestServer();
    users = userFactory(srv);
    await srv.s3.send(new CreateBucketCommand({ Bucket: 'cache-bucket' }));
  });
  after(async () => {
    users.destroy();
    await srv.stop();
  });

  it('a policy removed by this server is gone on the next request', async () => {
    const dana = await users.create('dana', { s3: [s3On('cache-bucket')] });
    for (let i = 0; i < 3; i++) await dana.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' }));
    await dana.remove('s3');
    const e = await refusal(dana.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' })));
    assert.equal(e.name, 'AccessDenied');
    await dana.put('s3', s3On('cache-bucket'));
    await dana.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' }));
  });

  it('a policy removed by another process (as the CLI does) is gone on the next request; so is a deleted key', async () => {
    const eli = await users.create('eli', { s3: [s3On('cache-bucket')] });
    for (let i = 0; i < 3; i++) await eli.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' }));
    const other = SqliteIamStore.open(join(srv.dataDir, 'iam.sqlite'));
    try {
      assert.ok(await other.deleteUserPolicy('eli', 's3'));
      assert.equal((await refusal(eli.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' })))).name, 'AccessDenied');
      await other.putUserPolicy('eli', 's3', policyDoc(s3On('cache-bucket')));
      await eli.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' }));
      assert.ok(await other.deleteAccessKey('eli', eli.credentials.accessKeyId));
      assert.equal((await refusal(eli.s3.send(new ListObjectsV2Command({ Bucket: 'cache-bucket' })))).name, 'InvalidAccessKeyId');
    } finally {
      await other.close();
    }
  });
});
