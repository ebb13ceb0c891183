// A part uploaded again while CompleteMultipartUpload of its upload runs. Complete reads
// the parts, works (for SSE-KMS: a KMS Decrypt to tag the part list), then commits; a
// re-upload of a chosen part meanwhile moves the part's old blob to garbage, which is
// then deleted. The completed object must never name a deleted blob: either Complete
// answers an error, or the object reads back whole (one part's bytes or the other's).

import { test, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { randomBytes } from 'node:crypto';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { StorageConflictError, type MetadataStore } from '../../src/storage/types.js';
import { PgMetadataStore } from '../../src/storage/postgres/pg-metadata-store.js';
import { describePostgres, pgStores } from '../helpers/postgres.js';
import { storeFiles } from '../helpers/store-files.js';
import { bucketRec, objectRec, partRec, uploadRec } from '../storage/metadata-store.contract.js';

const files = storeFiles('coffer-mp-race-', '.db', (file) => SqliteMetadataStore.open(file));
let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv.stop();
});

/** completeUpload after a re-upload of the part it names: refused (InvalidPart), nothing written, the upload kept. */
async function replacedPartRefused(s: MetadataStore): Promise<void> {
  try {
    await s.createBucket(bucketRec('b1'));
    const u = uploadRec('b1', 'k');
    await s.createUpload(u);
    const first = partRec(u.uploadId, 1);
    await s.putPart(first);
    // Complete read part 1 (first.blobId); then the client uploads part 1 again.
    await s.putPart(partRec(u.uploadId, 1));
    assert.ok((await s.takeGarbage(false)).includes(first.blobId), 'the replaced blob is garbage');
    await assert.rejects(s.completeUpload(u.uploadId, objectRec('b1', 'k', [first.blobId])), (e: unknown) => e instanceof StorageConflictError && e.kind === 'InvalidPart');
    assert.equal(await s.getObject('b1', 'k'), undefined, 'no object names the garbage blob');
    assert.ok(await s.getUpload('b1', 'k', u.uploadId), 'the upload stays for a new Complete');
  } finally {
    await s.close();
  }
}

test('storage (SQLite): completeUpload naming a part blob that a re-upload replaced is refused (InvalidPart); nothing is written', async () => {
  await replacedPartRefused(await files.make());
});

const pgs = pgStores<MetadataStore>((pool) => PgMetadataStore.open(pool, { closePool: true }));
describePostgres('storage (PostgreSQL)', () => {
  it('completeUpload naming a part blob that a re-upload replaced is refused (InvalidPart); nothing is written', async () => {
    await replacedPartRefused(await pgs.make());
  });
});

test('SSE-KMS: UploadPart of a chosen part racing its CompleteMultipartUpload never leaves an object whose bytes are gone', async () => {
  // No SDK retries: a Complete refused at its commit answers InvalidPart itself (its parts chosen again), not a 500 the SDK repeats.
  const s3 = srv.client({ maxAttempts: 1 });
  const bucket = uniqueBucket('mp-race');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const a = randomBytes(2_000);
  const b = randomBytes(2_000);
  let completed = 0;
  for (let i = 0; i < 48; i++) {
    const Key = `race-${i}`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, ServerSideEncryption: 'aws:kms' }));
    const first = await s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: a }));
    // One request starts, the other a few milliseconds later, each way round, to sweep the window.
    const lead = (i % 16) - 8;
    const sendComplete = () => s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.ETag! }] } }));
    const sendPart = () => s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: b }));
    const early = lead < 0 ? sendComplete() : sendPart();
    await new Promise((r) => setTimeout(r, Math.abs(lead)));
    const late = lead < 0 ? sendPart() : sendComplete();
    const [done, again] = await Promise.allSettled(lead < 0 ? [early, late] : [late, early]);
    if (again.status === 'rejected') assert.equal((again.reason as { name?: string }).name, 'NoSuchUpload');
    if (done.status === 'rejected') {
      assert.equal((done.reason as { name?: string }).name, 'InvalidPart', String(done.reason));
      continue;
    }
    completed++;
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    assert.ok(body.equals(a), `round ${i}: the completed object reads back as the part Complete named`);
  }
  assert.ok(completed > 0, 'some completions went through');
  s3.destroy();
});
