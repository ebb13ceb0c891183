// Direct reads the kernel refuses with EINVAL (io/direct-read.ts): each reader of blob files —
// the whole read (readFileRange), the read-ahead stream (FileRangeReader, several reads in
// flight) and the decrypt worker's file job — reads the same range buffered and tells its
// caller once; a file that ends before the range fails as a buffered read of the same bytes
// does (same error), and no descriptor is left open. The file: a loop block device with
// 64 KiB logical blocks, which opens with O_DIRECT and refuses our 4 KiB-aligned reads.
// Needs root (losetup).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FileRangeReader, ReadBufferPool, readFileRange } from '../../src/storage/file-range-reader.js';
import { asPartKey, ciphertextSize, createEncryptStream, createFileDecryptStream } from '../../src/crypto/index.js';
import { lentRelease } from '../../src/io/lent.js';
import { LOOP_BLOCK as BLOCK, LoopDevices, loopDeviceSkipReason } from '../helpers/loop-device.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { run } from '../crypto/helpers.js';

const KiB = 1024;

const skip = loopDeviceSkipReason('losetup');

let dir: string;
const devices = new LoopDevices();
/** Plain bytes, a whole number of device blocks: the device is exactly this long. */
const body = randomBytes(20 * BLOCK);
let plainDev: string;
let plainFile: string;
const key = asPartKey(randomBytes(32));
const plaintext = randomBytes(3 * 1024 * KiB + 777);
let ct: Buffer;
let sealedDev: string;
/** The ciphertext cut to a whole number of blocks (inside a segment), as a device and as a file. */
let cutDev: string;
let cutFile: string;

function device(name: string, bytes: Buffer): Promise<string> {
  return devices.attach(join(dir, `${name}.img`), bytes);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(process.cwd(), '.direct-refused-io-test-'));
  plainDev = await device('plain', body);
  plainFile = join(dir, 'plain');
  await writeFile(plainFile, body);
  ct = await run(createEncryptStream(key), [plaintext]);
  assert.equal(ct.length, ciphertextSize(plaintext.length));
  sealedDev = await device('sealed', ct);
  const cut = ct.subarray(0, ct.length - (ct.length % BLOCK) - BLOCK);
  cutDev = await device('cut', cut);
  cutFile = join(dir, 'cut');
  await writeFile(cutFile, cut);
});

after(async () => {
  devices.detachAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function openOn(path: string): Promise<number> {
  for (let i = 0; ; i++) {
    const n = await descriptorsOn(path);
    if (n === 0 || i === 50) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => assert.fail('the read succeeded'),
    (e: unknown) => e as Error,
  );
}

test('a whole read whose direct read is refused reads the range buffered, and tells once', { skip }, async () => {
  const pool = new ReadBufferPool(1024 * KiB + 64 * KiB, 2);
  for (const [at, len] of [[0, 1000], [4097, 300 * KiB], [0, body.length - 5000], [BLOCK - 3, 5]] as const) {
    const refused: string[] = [];
    const r = await readFileRange(plainDev, at, len, pool, true, (f) => refused.push(f));
    assert.ok(r.data.equals(body.subarray(at, at + len)), `${at}+${len}`);
    r.release();
    assert.deepEqual(refused, [plainDev], `${at}+${len}`);
  }
  // Past the end: the error a buffered read of the same bytes gives.
  const want = await errorOf(readFileRange(plainFile, body.length - 100, 200, pool, false));
  const got = await errorOf(readFileRange(plainDev, body.length - 100, 200, pool, true));
  assert.equal(got.message, want.message);
  assert.equal((got as NodeJS.ErrnoException).code, undefined, 'not EINVAL');
  assert.equal(await openOn(plainDev), 0, 'no descriptor left open');
});

async function stream(file: string, opts: { start: number; end: number; direct: boolean; lend?: boolean; onRefused?: (f: string) => void }): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(new FileRangeReader(file, { ...opts, chunk: 48 * KiB + 16, depth: 4 }), async function* (src) {
    for await (const c of src as AsyncIterable<Buffer>) {
      out.push(Buffer.from(c));
      lentRelease(c)?.();
    }
  });
  return Buffer.concat(out);
}

test('the read-ahead stream whose direct reads are refused (several in flight) reads the rest buffered, and tells once', { skip }, async () => {
  for (const lend of [false, true]) {
    for (const [start, end] of [[0, body.length - 1], [5, 700 * KiB], [BLOCK + 1, BLOCK + 2]] as const) {
      const refused: string[] = [];
      const got = await stream(plainDev, { start, end, direct: true, lend, onRefused: (f) => refused.push(f) });
      assert.ok(got.equals(body.subarray(start, end + 1)), `${start}-${end}${lend ? ' lent' : ''}`);
      assert.deepEqual(refused, [plainDev]);
    }
  }
  const want = await errorOf(stream(plainFile, { start: 100, end: body.length + 5 * KiB, direct: false }));
  const got = await errorOf(stream(plainDev, { start: 100, end: body.length + 5 * KiB, direct: true }));
  assert.equal(got.message, want.message);
  assert.equal(await openOn(plainDev), 0, 'no descriptor left open');
});

async function decrypt(file: string, direct: boolean, onDirectRefused?: (f: string) => void): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(createFileDecryptStream(key, { plaintextSize: plaintext.length }, { path: file, start: 0, end: ct.length - 1, direct, onDirectRefused }), async function* (src) {
    for await (const c of src as AsyncIterable<Buffer>) out.push(Buffer.from(c));
  });
  return Buffer.concat(out);
}

test("the decrypt worker's file job whose direct reads are refused decrypts the file read buffered, and tells", { skip }, async () => {
  const refused: string[] = [];
  assert.ok((await decrypt(sealedDev, true, (f) => refused.push(f))).equals(plaintext));
  assert.deepEqual(refused, [sealedDev]);
  // A file cut short (in a segment): the error a buffered read of the same bytes gives.
  const want = await errorOf(decrypt(cutFile, false));
  const got = await errorOf(decrypt(cutDev, true));
  assert.equal(got.name, want.name);
  assert.equal(got.message, want.message);
  assert.equal(await openOn(sealedDev), 0, 'no descriptor left open');
  assert.equal(await openOn(cutDev), 0, 'no descriptor left open');
});
