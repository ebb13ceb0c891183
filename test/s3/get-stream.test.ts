// The large-GET body path (storage/file-range-reader.ts reading ahead, get-object.ts
// writing each batch of chunks at once): a client that goes away mid-GET leaves no blob
// file open, with and without encryption at rest; a plain object whose blob file came up
// short answers 500 up front instead of headers promising bytes that never come; and
// bodies come back byte for byte across the reader's chunk boundaries.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { get, type IncomingMessage } from 'node:http';
import { readdir, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { blobFilesOpen, cutAfter } from '../helpers/cut-get.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { slotsOut } from '../../src/io/aligned-slots.js';

// A chunk still in a cut GET's stream buffer is never released; its slot comes back once the
// chunk is collected (file-range-reader.ts, FinalizationRegistry): the test collects garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

let plain: TestServer;
let encrypted: TestServer;
// fsync on: blobs are written with O_DIRECT and large GETs read them with O_DIRECT (io/direct-read.ts).
let plainDirect: TestServer;
let encryptedDirect: TestServer;
const bucket = uniqueBucket('get-stream');

before(async () => {
  plain = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off' });
  encrypted = await startTestServer();
  plainDirect = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off' }, { fsync: true });
  encryptedDirect = await startTestServer({}, { fsync: true });
  for (const srv of [plain, encrypted, plainDirect, encryptedDirect]) await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  await plain?.stop();
  await encrypted?.stop();
  await plainDirect?.stop();
  await encryptedDirect?.stop();
});

async function signedGet(srv: TestServer, key: string, range?: string): Promise<IncomingMessage> {
  const url = await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: range ? { range } : {}, agent: false }, resolve);
    req.on('error', reject);
  });
}

const blobsOpen = (srv: TestServer): Promise<string[]> => blobFilesOpen(srv.dataDir);

for (const [name, srv] of [['plain', () => plain], ['SSE-S3', () => encrypted], ['plain, fsync (direct reads)', () => plainDirect], ['SSE-S3, fsync (direct reads)', () => encryptedDirect]] as const) {
  test(`${name}: a client that disconnects mid-GET leaves no blob file open, and the next GET is whole`, async () => {
    const body = randomBytes(24 * MiB);
    await srv().s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cut', Body: body }));
    for (let round = 0; round < 3; round++) {
      const res = await signedGet(srv(), 'cut');
      assert.equal(res.statusCode, 200);
      // Past the first read chunk: the reader has reads in flight (and a worker job, encrypted).
      await cutAfter(res, 2 * MiB);
    }
    const deadline = Date.now() + 10_000;
    while (((await blobsOpen(srv())).length > 0 || slotsOut() > 0) && Date.now() < deadline) {
      gc();
      await sleep(50);
    }
    assert.deepEqual(await blobsOpen(srv()), [], 'every blob file the cut GETs opened is closed');
    // The aligned read slots (io/aligned-slots.ts) the cut GETs' direct reads took came back.
    assert.equal(slotsOut(), 0, `every read slot the cut GETs took is back (${slotsOut()} out)`);

    const res = await signedGet(srv(), 'cut');
    const hash = createHash('sha256');
    for await (const c of res) hash.update(c as Buffer);
    assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
  });

  test(`${name}: 1 MiB GETs whose clients leave before, during and after the body leave no blob file open`, async () => {
    const body = randomBytes(MiB);
    await srv().s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'mid-cut', Body: body }));
    const url = await getSignedUrl(srv().s3, new GetObjectCommand({ Bucket: bucket, Key: 'mid-cut' }), { expiresIn: 60 });
    await Promise.all(Array.from({ length: 24 }, (_, i) => new Promise<void>((resolve) => {
      const req = get(url, { agent: false }, (res) => {
        res.on('error', () => undefined);
        if (i % 3 === 1) return void res.once('data', () => (res.destroy(), resolve()));
        res.resume();
        res.on('end', resolve);
        res.on('close', resolve);
      });
      req.on('error', () => resolve());
      // Gone before the answer: the server reads the body into a response nobody takes.
      if (i % 3 === 0) setImmediate(() => (req.destroy(), resolve()));
    })));
    const deadline = Date.now() + 10_000;
    while (((await blobsOpen(srv())).length > 0 || slotsOut() > 0) && Date.now() < deadline) {
      gc();
      await sleep(50);
    }
    assert.deepEqual(await blobsOpen(srv()), [], 'every blob file the GETs opened is closed');
    // A cut response never releases its whole read: its read slot comes back all the same.
    assert.equal(slotsOut(), 0, `every read slot the GETs took is back (${slotsOut()} out)`);
    const res = await signedGet(srv(), 'mid-cut');
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(body));
  });

  test(`${name}: concurrent 1 MiB GETs of different objects, some cut short, each get their own object's bytes`, async () => {
    const bodies = [0, 1, 2, 3].map(() => randomBytes(MiB - 4096));
    await Promise.all(bodies.map((Body, i) => srv().s3.send(new PutObjectCommand({ Bucket: bucket, Key: `own-${i}`, Body }))));
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        const res = await signedGet(srv(), `own-${i % 4}`);
        assert.equal(res.statusCode, 200);
        if (i % 5 === 4) {
          // Gone after the first bytes: its buffer must not come back into use under another GET.
          await new Promise<void>((resolve) => res.once('data', () => (res.destroy(), resolve())));
          return;
        }
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        assert.ok(Buffer.concat(chunks).equals(bodies[i % 4]!), `round ${round}, GET ${i}: the bytes of own-${i % 4}`);
      }));
    }
  });

  test(`${name}: large bodies and ranges come back byte for byte across read chunks`, async () => {
    const body = randomBytes(5 * MiB + 12345);
    await srv().s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ranges', Body: body }));
    const last = body.length - 1;
    // Up to 1 MiB is read whole (storage/file-range-reader.ts readFileRange), larger ranges stream.
    for (const [start, end] of [[0, last], [1, last], [MiB - 7, 4 * MiB + 3], [2 * MiB + 100, last], [0, 2 * MiB + 1], [100, MiB + 99], [last - MiB, last], [70_000, 70_000]] as const) {
      const res = await signedGet(srv(), 'ranges', `bytes=${start}-${end}`);
      assert.equal(res.statusCode, 206);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(body.subarray(start, end + 1)), `range ${start}-${end}`);
    }
  });
}

for (const size of [3 * MiB, MiB]) test(`plain: an object (${size / MiB} MiB: ${size > MiB ? 'streamed' : 'read whole'}) whose blob file came up short answers 500 before any header, not a short body`, async () => {
  const body = randomBytes(size);
  await plain.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'short', Body: body }));
  const root = join(plain.dataDir, 'blobs');
  let file: string | undefined;
  for (const dir of await readdir(root)) {
    if (dir === 'tmp') continue;
    for (const f of await readdir(join(root, dir))) {
      // Its size is not enough: other objects of the same size are in the store.
      const p = join(root, dir, f);
      if ((await stat(p)).size === body.length && (await readFile(p)).equals(body)) file = p;
    }
  }
  assert.ok(file !== undefined, 'the object has a blob file');
  await truncate(file, 1000);
  const res = await signedGet(plain, 'short');
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  assert.equal(res.statusCode, 500, 'a 500 status line, not 200 and headers promising 3 MiB');
  assert.match(Buffer.concat(chunks).toString(), /<Code>InternalError<\/Code>/);
});
