// Copies are isolated from concurrent writers as GETs are (storage/blob-readers.ts): a
// CopyObject or UploadPartCopy of a large multipart source that is deleted or overwritten
// while the copy runs still produces a complete, correct copy — never a truncated object or
// a failure. The copy opens each source part only when it reaches it, so without a claim a
// delete committed meanwhile lets garbage collection remove the parts first.
//
// The window is made certain, not raced (on PostgreSQL, as test/storage/postgres/
// pg-request-reads-tags.test.ts does): the source is SSE-KMS, so the copy, once it has read
// the source's record, asks the KMS to decrypt its key, and that Decrypt answers only once
// its audit event is in audit_events. A test session holds audit_events locked against
// writes, so the copy waits there, before it reads a byte. Meanwhile the source is deleted
// (or overwritten) and a garbage collection runs to its end (a later delete's blob collected
// shows one ran after the source's blobs became garbage); then the lock goes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, CopyObjectCommand, DeleteObjectCommand,
  GetObjectCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const PARTS = 3;
const PART_SIZE = 5 * MiB;
const BUCKET = 'copy-isolation';

describePostgres('copies keep their source blobs while they read them', () => {
  let srv: TestServer;
  let s3: S3Client;
  let db: pg.Pool;
  let kmsKey: string;

  before(async () => {
    const databaseUrl = await (await postgresServer()).freshDatabase();
    // Garbage is collected at once (no grace period), so only the copy's claim keeps the source's blobs.
    srv = await startTestServer({ COFFER_METADATA: databaseUrl, COFFER_BLOB_GC_GRACE_SECONDS: '0' });
    // One attempt: an SDK retry would hide a failed copy behind a second one.
    s3 = srv.client({ maxAttempts: 1 });
    db = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    kmsKey = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  });
  after(async () => {
    await db?.end();
    await srv?.stop();
  });

  async function putMultipart(key: string): Promise<{ body: Buffer; blobs: string[] }> {
    const parts = Array.from({ length: PARTS }, () => randomBytes(PART_SIZE));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey }));
    const done = [];
    for (let i = 0; i < PARTS; i++) {
      const r = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body: parts[i] }));
      done.push({ PartNumber: i + 1, ETag: r.ETag });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: done } }));
    return { body: Buffer.concat(parts), blobs: await blobsOf(key) };
  }
  const blobsOf = async (key: string): Promise<string[]> => {
    const { rows } = await db.query<{ parts: string }>('SELECT parts FROM meta_objects WHERE bucket = $1 AND key = $2', [BUCKET, key]);
    return (JSON.parse(rows[0]!.parts) as { blobId: string }[]).map((p) => p.blobId);
  };
  const garbage = async (): Promise<string[]> => (await db.query<{ blob_id: string }>('SELECT blob_id FROM meta_garbage_blobs')).rows.map((r) => r.blob_id);
  const getBytes = async (key: string): Promise<Buffer> =>
    Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());

  /**
   * Starts `copy` and holds it at its Decrypt of the source's key (audit_events locked against
   * writes), then runs `write` on the source and waits until a garbage collection that began
   * after it has ended; then lets the copy go. Answers the copy's result and the source's
   * blobs still listed as garbage when the copy went on (those a claim kept).
   */
  async function heldCopy<T>(name: string, sourceBlobs: string[], copy: () => Promise<T>, write: () => Promise<unknown>): Promise<{ result: T; keptGarbage: string[] }> {
    const session = await db.connect();
    let copying: Promise<T> | undefined;
    let keptGarbage: string[] = [];
    try {
      await session.query('BEGIN');
      await session.query('LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE');
      copying = copy();
      copying.catch(() => undefined); // observed below
      const deadline = Date.now() + 10_000;
      const waits = async () => (await session.query(`SELECT 1 FROM pg_locks WHERE relation = 'audit_events'::regclass AND NOT granted`)).rowCount! > 0;
      while (!(await waits()) && Date.now() < deadline) await sleep(10);
      assert.ok(await waits(), `${name}: the copy waits at its Decrypt of the source's key, before reading a byte`);
      await write();
      // A later delete's blob collected: a collection ran after the source's blobs became garbage, and ended.
      const sentinel = `sentinel-${name}`;
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: sentinel, Body: randomBytes(256 * 1024) }));
      const [sentinelBlob] = await blobsOf(sentinel);
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: sentinel }));
      const until = Date.now() + 10_000;
      while ((await garbage()).includes(sentinelBlob!) && Date.now() < until) await sleep(20);
      assert.ok(!(await garbage()).includes(sentinelBlob!), `${name}: a garbage collection ran after the write`);
      keptGarbage = (await garbage()).filter((id) => sourceBlobs.includes(id));
    } finally {
      await session.query('COMMIT').catch(() => undefined);
      session.release();
    }
    return { result: await copying!, keptGarbage };
  }

  it('CopyObject of a 3 × 5 MiB source deleted mid-copy: the copy equals the original', async () => {
    const original = await putMultipart('src-delete');
    const { keptGarbage } = await heldCopy('delete', original.blobs,
      () => s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'dst-delete', CopySource: `${BUCKET}/src-delete` })),
      () => s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'src-delete' })));
    assert.deepEqual(keptGarbage.sort(), [...original.blobs].sort(), 'the collection left the source\'s blobs to the copy');
    const copy = await getBytes('dst-delete');
    assert.equal(copy.length, original.body.length, 'the copy has every byte');
    assert.ok(copy.equals(original.body), 'the copy equals the original');
    // Once the copy has let go, the source's blobs are collected after all.
    const until = Date.now() + 10_000;
    while ((await garbage()).some((id) => original.blobs.includes(id)) && Date.now() < until) await sleep(20);
    assert.deepEqual((await garbage()).filter((id) => original.blobs.includes(id)), [], 'collected once the copy ended');
  });

  it('CopyObject of a 3 × 5 MiB source overwritten mid-copy: the copy equals the original', async () => {
    const original = await putMultipart('src-over');
    const { keptGarbage } = await heldCopy('overwrite', original.blobs,
      () => s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'dst-over', CopySource: `${BUCKET}/src-over` })),
      () => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'src-over', Body: Buffer.from('replaced') })));
    assert.deepEqual(keptGarbage.sort(), [...original.blobs].sort());
    const copy = await getBytes('dst-over');
    assert.ok(copy.equals(original.body), 'the copy equals the original, not the overwrite');
    assert.equal((await getBytes('src-over')).toString(), 'replaced');
  });

  it('UploadPartCopy of a 3 × 5 MiB source deleted mid-copy: the part equals the original', async () => {
    const original = await putMultipart('psrc');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'pdst' }));
    const { result, keptGarbage } = await heldCopy('part', original.blobs,
      () => s3.send(new UploadPartCopyCommand({ Bucket: BUCKET, Key: 'pdst', UploadId, PartNumber: 1, CopySource: `${BUCKET}/psrc` })),
      () => s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'psrc' })));
    assert.deepEqual(keptGarbage.sort(), [...original.blobs].sort());
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'pdst', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: result.CopyPartResult?.ETag }] } }));
    const copied = await getBytes('pdst');
    assert.equal(copied.length, original.body.length, 'the part has every byte');
    assert.ok(copied.equals(original.body), 'the part equals the original');
  });
});
