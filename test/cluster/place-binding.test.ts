// In cluster mode the metadata lives in PostgreSQL, where a database operator can move an
// object's record onto another key without the root key or the KMS keys. Every node refuses
// to open an envelope whose aws:s3:arn names another place (docs/spec/object-encryption.md,
// "The place"), whether or not it remembered the key: written through node 0, moved in
// PostgreSQL, read through both nodes. Real nodes, a real PostgreSQL (test/helpers/cluster.ts).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

describePostgres('a record moved onto another key in PostgreSQL', () => {
  let cluster: TestCluster;
  let pool: pg.Pool;
  let kmsKey: string;
  const bucket = `place-${randomBytes(4).toString('hex')}`;
  const other = `place-other-${randomBytes(4).toString('hex')}`;
  const COLS = ['size', 'etag', 'checksum', 'parts', 'sys'];

  before(async () => {
    cluster = await startCluster({ nodes: 2 });
    pool = new pg.Pool({ connectionString: cluster.databaseUrl, max: 1 });
    const s3 = cluster.nodes[0]!.s3();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new CreateBucketCommand({ Bucket: other }));
    kmsKey = (await cluster.nodes[0]!.kms().send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  });
  after(async () => {
    await pool?.end();
    await cluster?.stop();
  });

  const readRow = async (b: string, key: string) =>
    (await pool.query(`SELECT ${COLS.join(', ')} FROM meta_objects WHERE bucket = $1 AND key = $2`, [b, key])).rows[0] as Record<string, unknown>;
  async function writeRow(b: string, key: string, row: Record<string, unknown>): Promise<void> {
    const r = await pool.query(`UPDATE meta_objects SET ${COLS.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE bucket = $${COLS.length + 1} AND key = $${COLS.length + 2}`,
      [...COLS.map((c) => row[c]), b, key]);
    assert.equal(r.rowCount, 1);
  }
  const read = async (s3: S3Client, Bucket: string, Key: string) =>
    Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());

  const kinds: [string, Partial<PutObjectCommandInput>][] = [
    ['SSE-S3', { ServerSideEncryption: 'AES256' }],
    ['SSE-KMS', { ServerSideEncryption: 'aws:kms' }],
    ['SSE-KMS with a bucket key', { ServerSideEncryption: 'aws:kms', BucketKeyEnabled: true }],
  ];
  for (const [name, sse] of kinds) {
    it(`${name}: no node opens it there; restored, it reads`, async () => {
      const s3 = cluster.nodes[0]!.s3();
      const input = sse.ServerSideEncryption === 'aws:kms' ? { ...sse, SSEKMSKeyId: kmsKey } : sse;
      const a = randomBytes(3000);
      const b = randomBytes(3000);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `a-${name}`, Body: a, ...input }));
      await s3.send(new PutObjectCommand({ Bucket: other, Key: `b-${name}`, Body: b, ...input }));
      assert.ok((await read(s3, bucket, `a-${name}`)).equals(a));
      const saved = await readRow(other, `b-${name}`);
      await writeRow(other, `b-${name}`, await readRow(bucket, `a-${name}`));
      try {
        for (const node of cluster.nodes) {
          await assert.rejects(read(node.s3(), other, `b-${name}`), (e: { name?: string; $metadata?: { httpStatusCode?: number } }) =>
            e.name === 'InternalError' && e.$metadata?.httpStatusCode === 500, `node ${node.index}`);
        }
      } finally {
        await writeRow(other, `b-${name}`, saved);
      }
      for (const node of cluster.nodes) assert.ok((await read(node.s3(), other, `b-${name}`)).equals(b), `node ${node.index}, restored`);
    });
  }
});
