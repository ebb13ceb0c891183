// Garbage and readers on other nodes (docs/CLUSTER.md): a GET streaming an object on node A
// while node B overwrites and then deletes it must finish with the bytes it began with,
// though the sweeper runs meanwhile. The blob tier is S3 (a second, embedded Coffer), where
// a GET of a multipart object opens each part's blob by its own request when it reaches it:
// before the grace period, B's after-commit collection (or the leader's sweep) deleted the
// later parts' blobs at once and A's response was cut off after its first part. Once the
// grace has passed the sweeper does delete them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  ListObjectsV2Command, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';

const TIER_BUCKET = 'blob-tier';
const PREFIX = 'gc/';
const MiB = 1024 * 1024;
/** The sweeper runs every lease (2 s). */
const LEASE_SECONDS = 2;
const GRACE_SECONDS = 20;

describePostgres('garbage on a cluster waits out the grace period for GETs on other nodes', () => {
  let backend: TestServer;
  let cluster: TestCluster;

  before(async () => {
    backend = await startTestServer();
    await backend.s3.send(new CreateBucketCommand({ Bucket: TIER_BUCKET }));
    cluster = await startCluster({
      nodes: 2,
      blobs: `s3://${TIER_BUCKET}/${PREFIX}?endpoint=${encodeURIComponent(backend.url)}&forcePathStyle=true&partSizeMiB=5`,
      env: {
        COFFER_BLOB_S3_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_BLOB_S3_SECRET_ACCESS_KEY: ROOT_SECRET,
        COFFER_CLUSTER_LEASE_SECONDS: String(LEASE_SECONDS), COFFER_BLOB_GC_GRACE_SECONDS: String(GRACE_SECONDS),
      },
    });
    await cluster.nodes[0]!.s3().send(new CreateBucketCommand({ Bucket: 'data' }));
  });
  after(async () => {
    await cluster?.stop();
    await backend?.stop();
  });

  /** The blobs stored at the backend. */
  async function backendKeys(): Promise<string[]> {
    const page = await backend.s3.send(new ListObjectsV2Command({ Bucket: TIER_BUCKET, Prefix: PREFIX }));
    return (page.Contents ?? []).map((c) => c.Key!).sort();
  }

  it('a slow GET on node A of an object that node B overwrites and deletes completes with the original bytes', async () => {
    const [a, b] = cluster.nodes.map((n) => n.s3());
    // Three parts, three blobs: the first large enough that A's response is still inside it
    // when the client stops reading (the socket buffers hold a few MiB at most).
    const parts = [randomBytes(16 * MiB), randomBytes(5 * MiB), randomBytes(1 * MiB)];
    const original = Buffer.concat(parts);
    const { UploadId } = await a!.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key: 'big' }));
    const etags: string[] = [];
    for (const [i, Body] of parts.entries()) {
      etags.push((await a!.send(new UploadPartCommand({ Bucket: 'data', Key: 'big', UploadId, PartNumber: i + 1, Body }))).ETag!);
    }
    await a!.send(new CompleteMultipartUploadCommand({ Bucket: 'data', Key: 'big', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    const blobsOfOriginal = await backendKeys();
    assert.ok(blobsOfOriginal.length >= 3, `one blob per part at the backend (${blobsOfOriginal.length})`);

    // The GET on A: read the first chunk, then stop reading (TCP pushes back on A).
    const res = await a!.send(new GetObjectCommand({ Bucket: 'data', Key: 'big' }));
    const body = res.Body as Readable;
    const received: Buffer[] = [];
    const reading = body[Symbol.asyncIterator]();
    const head = await reading.next();
    received.push(head.value as Buffer);

    // Meanwhile B overwrites the object, then deletes it; the sweeper runs at least twice.
    await b!.send(new PutObjectCommand({ Bucket: 'data', Key: 'big', Body: Buffer.from('small and new') }));
    await b!.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'big' }));
    await sleep(3 * LEASE_SECONDS * 1000);

    // A's GET goes on, through the later parts' blobs.
    let cut: unknown;
    try {
      for (;;) {
        const r = await reading.next();
        if (r.done) break;
        received.push(r.value as Buffer);
      }
    } catch (e) {
      cut = e;
    }
    const got = Buffer.concat(received);
    assert.equal(cut, undefined, `the GET on A was cut off after ${got.length} of ${original.length} bytes`);
    assert.equal(got.length, original.length);
    assert.ok(got.equals(original), 'the GET on A delivered the original bytes');
    assert.deepEqual(await backendKeys(), blobsOfOriginal, 'within the grace every blob of the original is kept');

    // Past the grace, the sweeper deletes the original's blobs.
    const deadline = Date.now() + (GRACE_SECONDS + 6 * LEASE_SECONDS) * 1000;
    let left = await backendKeys();
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(500);
      left = await backendKeys();
    }
    assert.deepEqual(left, [], 'the blobs are deleted after the grace');
  });
});
