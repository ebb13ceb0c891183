// Issue 17, capacity metrics: /metrics shows objects and bytes per bucket, kept by the
// metadata store as objects are written and deleted (PUT, copy, multipart, DELETE), the
// data volume's free and total bytes, and Node's process metrics.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, DeleteObjectsCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.stop());

async function scrape(): Promise<string> {
  const r = await fetch(`${t.url}/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('capacity metrics', () => {
  it('objects and bytes per bucket follow PUT, overwrite, copy, multipart and DELETE', async () => {
    await t.s3.send(new CreateBucketCommand({ Bucket: 'cap-a' }));
    await t.s3.send(new CreateBucketCommand({ Bucket: 'cap-b' }));
    let m = await scrape();
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-a"}'), 0);
    assert.equal(sample(m, 'coffer_bucket_bytes', '{bucket="cap-a"}'), 0);

    await t.s3.send(new PutObjectCommand({ Bucket: 'cap-a', Key: 'one', Body: Buffer.alloc(1000) }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'cap-a', Key: 'two', Body: Buffer.alloc(200_000) }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'cap-a', Key: 'one', Body: Buffer.alloc(10) }));
    await t.s3.send(new CopyObjectCommand({ Bucket: 'cap-b', Key: 'copied', CopySource: 'cap-a/two' }));
    m = await scrape();
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-a"}'), 2);
    assert.equal(sample(m, 'coffer_bucket_bytes', '{bucket="cap-a"}'), 200_010);
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-b"}'), 1);
    assert.equal(sample(m, 'coffer_bucket_bytes', '{bucket="cap-b"}'), 200_000);

    const up = await t.s3.send(new CreateMultipartUploadCommand({ Bucket: 'cap-b', Key: 'multi' }));
    const p1 = await t.s3.send(new UploadPartCommand({ Bucket: 'cap-b', Key: 'multi', UploadId: up.UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024) }));
    const p2 = await t.s3.send(new UploadPartCommand({ Bucket: 'cap-b', Key: 'multi', UploadId: up.UploadId, PartNumber: 2, Body: Buffer.alloc(3) }));
    m = await scrape();
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-b"}'), 1, 'parts are not objects yet');
    await t.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'cap-b', Key: 'multi', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] } }));
    m = await scrape();
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-b"}'), 2);
    assert.equal(sample(m, 'coffer_bucket_bytes', '{bucket="cap-b"}'), 200_000 + 5 * 1024 * 1024 + 3);

    await t.s3.send(new DeleteObjectCommand({ Bucket: 'cap-a', Key: 'one' }));
    await t.s3.send(new DeleteObjectsCommand({ Bucket: 'cap-b', Delete: { Objects: [{ Key: 'copied' }, { Key: 'multi' }] } }));
    m = await scrape();
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-a"}'), 1);
    assert.equal(sample(m, 'coffer_bucket_bytes', '{bucket="cap-a"}'), 200_000);
    assert.equal(sample(m, 'coffer_bucket_objects', '{bucket="cap-b"}'), 0);
    assert.equal(sample(m, 'coffer_bucket_bytes', '{bucket="cap-b"}'), 0);
  });

  it("the data volume's free and total bytes, from statfs at scrape time", async () => {
    const m = await scrape();
    const free = sample(m, 'coffer_data_volume_free_bytes')!;
    const total = sample(m, 'coffer_data_volume_total_bytes')!;
    assert.ok(total > 0, m);
    assert.ok(free > 0 && free <= total);
  });

  it("Node's process and runtime metrics are collected", async () => {
    const m = await scrape();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.match(m, new RegExp(`^${name} `, 'm'), name);
    }
  });
});
