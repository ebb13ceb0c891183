// Review of the direct-read GET path (io/direct-read.ts, io/aligned-slots.ts, io/lent.ts,
// storage/file-range-reader.ts, the decrypt worker's direct file jobs): the read slots are
// lent to socket writes and reused afterwards, so many concurrent GETs of distinct objects
// (plain and SSE-S3; whole, odd ranges, read whole and streamed; some cut mid-body, some
// HEADs) must each get exactly their own object's bytes. Also: a blob file cut short in
// its middle ends the GET (an error, never a hang or other bytes), and blobs written
// buffered (before fsync was on) read back right through O_DIRECT.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { openFilesUnder } from '../helpers/cut-get.js';
import { makeTestCertificate, type TestCertificate } from '../helpers/tls.js';

/** Whether the server's blob store took O_DIRECT (it keeps its probe open: storage/direct-io.ts). */
async function readsDirect(srv: TestServer): Promise<boolean> {
  return (await openFilesUnder(srv.dataDir)).some((f) => f.includes('/direct-probe-'));
}

const MiB = 1024 * 1024;
const bucket = uniqueBucket('direct-iso');

let plain: TestServer;
let encrypted: TestServer;
// HTTPS: the lent slots go to a TLS socket's writes (encrypted from them) instead of a TCP socket's.
let tls: TestServer;
let cert: TestCertificate;

before(async () => {
  plain = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off' }, { fsync: true });
  encrypted = await startTestServer({}, { fsync: true });
  cert = makeTestCertificate();
  tls = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off', COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath }, { fsync: true });
  for (const srv of [plain, encrypted, tls]) await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  await plain?.stop();
  await encrypted?.stop();
  await tls?.stop();
  if (cert) await rm(cert.dir, { recursive: true, force: true });
});

interface Got { status: number; body: Buffer; complete: boolean; length: number }

/** One GET (or HEAD) on a connection of its own; `cutAt`: destroy once more than that many body bytes came. */
async function fetch(srv: TestServer, key: string, opts: { range?: string; head?: boolean; cutAt?: number } = {}): Promise<Got> {
  const url = await getSignedUrl(srv.s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
  return new Promise((resolve, reject) => {
    // A presigned GET URL is not valid for HEAD: HEAD sends the same signed GET and drops the body client-side.
    const options = { method: 'GET', headers: opts.range ? { range: opts.range } : {}, agent: false, ...(url.startsWith('https:') ? { ca: cert.cert } : {}) };
    const req = (url.startsWith('https:') ? httpsRequest : request)(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let n = 0;
      let done = false;
      const finish = (complete: boolean): void => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks), complete, length: Number(res.headers['content-length'] ?? -1) });
      };
      if (opts.head) {
        res.destroy();
        return finish(false);
      }
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        n += c.length;
        if (opts.cutAt !== undefined && n > opts.cutAt) {
          res.destroy();
          finish(false);
        }
      });
      res.on('end', () => finish(true));
      res.on('error', () => finish(false));
      res.on('close', () => finish(false));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sizes around the path's boundaries: copied out (< 256 KiB), lent whole reads (256 KiB to 1 MiB), streamed (> 1 MiB), none a multiple of 4096 but one. */
const SIZES = [5_001, 300_001, MiB - 1, MiB + 64 * 1024 + 7, 3 * MiB + 123, 4096 * 700, 2 * MiB + 4097, 6 * MiB + 11];

for (const [name, srv] of [['plain', () => plain], ['SSE-S3', () => encrypted], ['plain over HTTPS', () => tls]] as const) {
  test(`${name}, fsync (direct reads): concurrent GETs of distinct objects, ranges at odd offsets, some cut or HEAD, each get their own bytes`, async () => {
    assert.equal(await readsDirect(srv()), true, 'the store reads with O_DIRECT here (else this test checks nothing)');
    const bodies = SIZES.map((n) => randomBytes(n));
    await Promise.all(bodies.map((Body, i) => srv().s3.send(new PutObjectCommand({ Bucket: bucket, Key: `obj-${i}`, Body }))));
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 40 }, async (_, j) => {
        const i = (j * 3 + round) % bodies.length;
        const body = bodies[i]!;
        const kind = j % 8;
        // Odd starts and ends: 4096-unaligned both sides, and one aligned, across read chunks.
        const start = kind === 1 ? 4095 : kind === 2 ? Math.floor(body.length / 3) + 1 : kind === 3 ? 4096 : 0;
        const end = kind === 1 ? body.length - 2 : kind === 2 ? Math.min(body.length - 1, start + 700_001) : kind === 3 ? body.length - 1 : body.length - 1;
        const range = kind >= 1 && kind <= 3 ? `bytes=${start}-${end}` : undefined;
        if (kind === 4) {
          await fetch(srv(), `obj-${i}`, { head: true });
          return;
        }
        if (kind === 5) {
          const got = await fetch(srv(), `obj-${i}`, { cutAt: 1 });
          // What came before the cut is a prefix of this object's bytes.
          assert.ok(got.body.equals(body.subarray(0, got.body.length)), `round ${round}, GET ${j}: a cut GET's bytes are obj-${i}'s`);
          return;
        }
        const got = await fetch(srv(), `obj-${i}`, { range });
        assert.equal(got.status, range ? 206 : 200);
        assert.ok(got.complete, `round ${round}, GET ${j} of obj-${i} completed`);
        const want = body.subarray(start, end + 1);
        assert.equal(got.body.length, want.length, `round ${round}, GET ${j} of obj-${i} ${range ?? 'whole'}: length`);
        assert.ok(got.body.equals(want), `round ${round}, GET ${j} of obj-${i} ${range ?? 'whole'}: its own bytes`);
      }));
    }
  });
}

/** The blob file (under blobs/xx/) of size between `min` and `max` bytes written last. */
async function newestBlob(srv: TestServer, min: number, max: number): Promise<string> {
  const root = join(srv.dataDir, 'blobs');
  let best: { p: string; t: number } | undefined;
  for (const dir of await readdir(root)) {
    if (!/^[0-9a-f]{2}$/.test(dir)) continue;
    for (const f of await readdir(join(root, dir))) {
      const p = join(root, dir, f);
      const s = await stat(p);
      if (s.size >= min && s.size <= max && (best === undefined || s.mtimeMs > best.t)) best = { p, t: s.mtimeMs };
    }
  }
  assert.ok(best, 'found the blob file');
  return best.p;
}

for (const [name, srv] of [['plain', () => plain], ['SSE-S3', () => encrypted]] as const) {
  test(`${name}, fsync (direct reads): a blob file cut short in its middle ends the GET with fewer bytes, never other bytes or a hang`, async () => {
    const size = 6 * MiB + 3;
    const body = randomBytes(size);
    const key = `truncated-${name}`;
    await srv().s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const file = await newestBlob(srv(), size, size + Math.ceil(size / 50));
    // Not at a block boundary, past the first read chunk: the stream fails after the headers.
    await truncate(file, 3 * MiB + 777);
    const got = await Promise.race([
      fetch(srv(), key),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the GET of a truncated blob hung')), 20_000)),
    ]);
    if (got.status === 200) {
      assert.equal(got.complete && got.body.length === size, false, 'not a whole body');
      assert.ok(got.body.length < size, 'fewer bytes than promised');
      assert.ok(got.body.equals(body.subarray(0, got.body.length)), 'what came is a prefix of the object');
    } else assert.equal(got.status, 500);
    // A range wholly past the cut (read whole, direct, at an odd offset) is an error, not zeros.
    const past = await fetch(srv(), key, { range: `bytes=${4 * MiB + 5}-${4 * MiB + 300_000}` });
    assert.equal(past.status, 500, 'a range past the end of the file is an error');
  });
}

test('blobs written buffered (fsync off) read back byte for byte after a restart with fsync on (direct reads)', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-direct-iso-'));
  try {
    const bodies = SIZES.map((n) => randomBytes(n));
    let srv = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off' }, { dataDir, fsync: false });
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await Promise.all(bodies.map((Body, i) => srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `old-${i}`, Body }))));
    await srv.stop();
    srv = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off' }, { dataDir, fsync: true });
    try {
      assert.equal(await readsDirect(srv), true);
      await Promise.all(bodies.map(async (body, i) => {
        const whole = await fetch(srv, `old-${i}`);
        assert.ok(whole.complete && whole.body.equals(body), `old-${i} whole`);
        const start = Math.min(body.length - 1, 4097);
        const r = await fetch(srv, `old-${i}`, { range: `bytes=${start}-${body.length - 3}` });
        assert.ok(r.body.equals(body.subarray(start, body.length - 2)), `old-${i} range`);
      }));
    } finally {
      await srv.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
