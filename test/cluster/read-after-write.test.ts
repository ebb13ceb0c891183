// Three stateless nodes on one PostgreSQL and one shared blob directory
// (test/helpers/cluster.ts): a write acknowledged by one node is what every other node
// serves on its next request — PUT (inline and blob-tier sizes), overwrite and delete —
// and a client going through the round-robin proxy sees one consistent store.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

const KiB = 1024;

describePostgres('a three-node cluster: read-after-write across nodes', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  const body = async (c: S3Client, Key: string): Promise<Buffer> =>
    Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: 'raw', Key }))).Body!.transformToByteArray());

  it('PUT on one node, GET on every other; overwrite and delete likewise', async () => {
    const [a, b, c] = cluster.nodes.map((n) => n.s3());
    await a!.send(new CreateBucketCommand({ Bucket: 'raw' }));
    for (const size of [1 * KiB, 300 * KiB]) {
      const Key = `k-${size}`;
      const first = Buffer.alloc(size, 'a');
      await a!.send(new PutObjectCommand({ Bucket: 'raw', Key, Body: first }));
      assert.ok((await body(b!, Key)).equals(first), `node 1 sees node 0's ${size}-byte PUT`);
      assert.ok((await body(c!, Key)).equals(first), `node 2 sees node 0's ${size}-byte PUT`);
      const second = Buffer.alloc(size + 7, 'b');
      await c!.send(new PutObjectCommand({ Bucket: 'raw', Key, Body: second }));
      assert.ok((await body(a!, Key)).equals(second), 'node 0 sees node 2 overwrite');
      await b!.send(new DeleteObjectCommand({ Bucket: 'raw', Key }));
      await assert.rejects(a!.send(new HeadObjectCommand({ Bucket: 'raw', Key })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404);
    }
  });

  it('a client through the round-robin proxy reads every write it made', async () => {
    const endpoint = await cluster.proxy();
    for (let i = 0; i < 6; i++) {
      // A new client each time: a new connection, so the next node.
      const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      try {
        await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: `rr-${i}`, Body: `v${i}` }));
      } finally {
        s3.destroy();
      }
      const reader = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      try {
        assert.equal((await body(reader, `rr-${i}`)).toString(), `v${i}`);
      } finally {
        reader.destroy();
      }
    }
  });
});
