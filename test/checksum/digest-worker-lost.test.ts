// A digest worker that dies (an out-of-memory error, a crash, a terminate) must fail the
// digests it was running — an update waiting for its batch to come back, a finish waiting
// for the result — instead of leaving them waiting forever; the next digest gets a new
// worker. Through the server, a PUT whose digest worker dies mid-body is answered 500
// InternalError (our failure, not the client's IncompleteBody) and leaves no object and no job.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BodyDigest, createDigest, pooledDigestJobs, stopDigestWorkers } from '../../src/checksum/index.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';

const MiB = 1024 * 1024;

/** The promise's outcome, or 'pending' if it has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ ok: T } | { err: Error } | 'pending'> {
  return Promise.race([p.then((ok) => ({ ok }), (err: Error) => ({ err })), sleep(ms).then(() => 'pending' as const)]);
}

test('digests on workers that die fail — an update waiting for its batch, a finish — and the next digest works', async () => {
  const chunk = randomBytes(MiB);
  const digests = Array.from({ length: 4 }, () => createDigest({ md5: true, checksum: 'CRC64NVME' }, 8 * MiB));
  for (const d of digests) for (let i = 0; i < 3; i++) await d.update(chunk);
  await stopDigestWorkers();
  for (const [i, d] of digests.entries()) {
    // Enough batches to wait for the worker's acknowledgements, then the result.
    const fed = (async () => {
      for (let k = 0; k < 6; k++) await d.update(chunk);
      return d.finish();
    })();
    const r = await within(fed, 5000);
    if (r === 'pending') assert.fail(`digest ${i} still waits for a dead worker after 5 s`);
    assert.ok('err' in r, `digest ${i} finished on a dead worker`);
    assert.match(r.err.message, /digest worker|digest job is gone/);
  }
  assert.equal(pooledDigestJobs(), 0, 'the dead workers\' jobs are gone from the pool');

  const body = randomBytes(2 * MiB + 5);
  const d = createDigest({ md5: true, checksum: 'CRC32' }, body.length);
  await d.update(body);
  const r = await within(d.finish(), 5000);
  if (r === 'pending') assert.fail('a new digest waits for a dead worker');
  assert.ok('ok' in r);
  const inline = new BodyDigest({ md5: true, checksum: 'CRC32' });
  inline.update(body);
  const expected = inline.finish();
  assert.deepEqual(r.ok.md5, expected.md5);
  assert.deepEqual(r.ok.checksum, expected.checksum);
  assert.equal(pooledDigestJobs(), 0);
});

let srv: TestServer;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  bucket = uniqueBucket('digest-lost');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  await srv.stop();
});

test('a PUT whose digest worker dies mid-body is answered 500 InternalError, stores nothing, and leaves no job', async () => {
  const head = randomBytes(MiB + 4096);
  const tail = randomBytes(MiB);
  let stopped = false;
  const body = new Readable({
    read() {
      if (!stopped) {
        stopped = true;
        this.push(head);
        // The server has the first batch on a worker by now; the worker dies, then the rest arrives.
        void sleep(300).then(() => stopDigestWorkers()).then(() => {
          this.push(tail);
          this.push(null);
        });
      }
    },
  });
  await assertFails(
    srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'lost', Body: body, ContentLength: head.length + tail.length })),
    500,
    'InternalError',
  );
  await assertFails(srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'lost' })), 404, 'NoSuchKey');
  assert.equal(pooledDigestJobs(), 0);

  // The next PUT of the same size gets a new worker.
  const again = randomBytes(2 * MiB);
  await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'again', Body: again }));
  const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'again' }));
  assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(again));
});
