// The S3 blob tier (backend/s3-blob-store.ts) against a real S3 service: a second Coffer
// server started here. The BlobStore contract, then what is its own: one object per blob
// under the prefix, multipart above the part size, no object before commit, aborted
// uploads leaving nothing, cleanTemporary's grace period, and 503-class errors when the
// backend is gone.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { S3BackendClient } from '../../src/backend/s3-client.js';
import { MIN_PART_BYTES, S3BlobStore, type S3BlobStoreOptions } from '../../src/backend/s3-blob-store.js';
import { isBlobTierUnavailable } from '../../src/storage/blob-unavailable.js';
import { readAll, runBlobStoreContract, writeBlob } from '../storage/blob-store.contract.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';

const BUCKET = 'coffer-blobs';
let backend: TestServer;
let n = 0;

before(async () => {
  backend = await startTestServer();
  await backend.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
after(async () => {
  await backend.stop();
});

function storeAt(url: string, opts: Partial<S3BlobStoreOptions> = {}, clientOpts: ConstructorParameters<typeof S3BackendClient>[1] = {}): S3BlobStore {
  const client = new S3BackendClient(
    { endpoint: new URL(url), bucket: BUCKET, region: 'us-east-1', forcePathStyle: true, accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    { backoffMs: 10, ...clientOpts },
  );
  return new S3BlobStore(client, { prefix: `store-${++n}/`, ...opts });
}

async function keysUnder(s3: S3Client, prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key!).sort();
}

runBlobStoreContract('S3BlobStore (a Coffer server as the backend)', async () => storeAt(backend.url, { partBytes: MIN_PART_BYTES }));

describe('S3BlobStore', () => {
  it('stores each blob as one object <prefix><id>, and only once committed', async () => {
    const s = storeAt(backend.url);
    const w = await s.create();
    await w.write(randomBytes(100_000));
    const prefix = s.keyOf('');
    assert.deepEqual(await keysUnder(backend.s3, prefix), []);
    await w.commit();
    assert.deepEqual(await keysUnder(backend.s3, prefix), [prefix + w.blobId]);
    await s.delete(w.blobId);
    assert.deepEqual(await keysUnder(backend.s3, prefix), []);
    await s.close();
  });

  it('sends a blob over the part size as a multipart upload, readable in ranges across parts', async () => {
    const s = storeAt(backend.url, { partBytes: MIN_PART_BYTES });
    const data = randomBytes(2 * MIN_PART_BYTES + 12_345);
    const w = await s.create();
    // Before commit: an upload in progress at the backend, no object.
    await w.write(data.subarray(0, MIN_PART_BYTES + 1));
    const uploads = await backend.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: s.keyOf('') }));
    assert.deepEqual(uploads.Uploads?.map((u) => u.Key), [s.keyOf(w.blobId)]);
    assert.deepEqual(await keysUnder(backend.s3, s.keyOf('')), []);
    await w.write(data.subarray(MIN_PART_BYTES + 1));
    assert.equal(await w.commit(), data.length);
    assert.ok((await readAll(s.read(w.blobId), 20_000)).equals(data));
    const start = MIN_PART_BYTES - 10;
    const end = 2 * MIN_PART_BYTES + 10;
    assert.ok((await readAll(s.read(w.blobId, { start, end }))).equals(data.subarray(start, end + 1)));
    const after = await backend.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: s.keyOf('') }));
    assert.equal(after.Uploads?.length ?? 0, 0);
    await s.close();
  });

  it('abort of a multipart blob aborts the upload at the backend and leaves no object', async () => {
    const s = storeAt(backend.url, { partBytes: MIN_PART_BYTES });
    const w = await s.create();
    await w.write(randomBytes(MIN_PART_BYTES + 10));
    await w.abort();
    const uploads = await backend.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: s.keyOf('') }));
    assert.equal(uploads.Uploads?.length ?? 0, 0);
    assert.deepEqual(await keysUnder(backend.s3, s.keyOf('')), []);
    await s.close();
  });

  it('cleanTemporary aborts only uploads under its prefix begun before the grace period', async () => {
    let now = Date.now();
    const s = storeAt(backend.url, { now: () => now, graceMs: 60_000 });
    const prefix = s.keyOf('');
    const stale = await backend.s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${prefix}${'a'.repeat(32)}` }));
    const elsewhere = await backend.s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `other-prefix/${'b'.repeat(32)}` }));
    const list = async (p: string) => ((await backend.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: p }))).Uploads ?? []).map((u) => u.UploadId);
    await s.cleanTemporary();
    assert.deepEqual(await list(prefix), [stale.UploadId], 'kept within the grace period');
    now += 120_000;
    await s.cleanTemporary();
    assert.deepEqual(await list(prefix), []);
    assert.deepEqual(await list('other-prefix/'), [elsewhere.UploadId]);
    await s.close();
  });

  it('a backend that is not there is BlobTierUnavailable for ping, read, write and delete', async () => {
    const gone = await startTestServer();
    const url = gone.url;
    await gone.stop();
    const s = storeAt(url, {}, { retries: 1 });
    const unavailable = (e: unknown) => isBlobTierUnavailable(e);
    await assert.rejects(s.ping(), unavailable);
    await assert.rejects(readAll(s.read('c'.repeat(32))), unavailable);
    await assert.rejects(s.delete('c'.repeat(32)), unavailable);
    await assert.rejects(writeBlob(s, Buffer.from('x')), unavailable);
    await s.close();
  });

  it('wrong credentials are BlobTierUnavailable too (503 to clients), and name no secret', async () => {
    const client = new S3BackendClient({ endpoint: new URL(backend.url), bucket: BUCKET, region: 'us-east-1', forcePathStyle: true, accessKeyId: ROOT_KEY_ID, secretAccessKey: 'not-the-secret-0123456789' }, { retries: 0 });
    const s = new S3BlobStore(client, { prefix: 'x/' });
    await assert.rejects(s.ping(), (e: Error) => isBlobTierUnavailable(e) && !e.message.includes('not-the-secret'));
    await assert.rejects(writeBlob(s, Buffer.from('x')), (e: Error) => isBlobTierUnavailable(e) && /SignatureDoesNotMatch|403/.test(e.message));
    await s.close();
  });
});

describe('a backend that answers a ranged read with other bytes', () => {
  it('ignoring Range (200 with the whole blob) or answering another range fails the read instead of passing wrong bytes on', async () => {
    const whole = Buffer.from('0123456789abcdef');
    let answer: 'ignore-range' | 'other-range' = 'ignore-range';
    // A peer that misbehaves on purpose (no real S3 service does this knowingly).
    const peer = http.createServer((req, res) => {
      req.resume();
      if (answer === 'ignore-range') res.writeHead(200, { 'content-length': whole.length }).end(whole);
      else res.writeHead(206, { 'content-range': `bytes 0-3/${whole.length}`, 'content-length': 4 }).end(whole.subarray(0, 4));
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    try {
      const store = storeAt(`http://127.0.0.1:${(peer.address() as AddressInfo).port}`, {}, { retries: 0 });
      const id = 'a'.repeat(32);
      for (const kind of ['ignore-range', 'other-range'] as const) {
        answer = kind;
        await assert.rejects(readAll(store.read(id, { start: 2, end: 5 })), (e: unknown) => {
          assert.ok(isBlobTierUnavailable(e), `${kind}: ${String(e)}`);
          return true;
        });
      }
    } finally {
      peer.close();
    }
  });
});
