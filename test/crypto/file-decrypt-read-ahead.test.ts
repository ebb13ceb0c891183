// The decrypt worker's file job keeps two reads in flight (crypto/decrypt-worker.ts,
// READS_AHEAD): whatever order they land in, the plaintext comes back in file order; a file
// that ends inside the first, the second or a later read fails the job with the short read's
// error (never wrong bytes, and only a prefix of the plaintext before it); a reader that goes
// away at any moment — right after the job started, between its reads — leaves no descriptor
// and no worker job behind; and so does a job whose direct reads are refused (the direct
// descriptor, kept while the other read may still be on it, closes with the job). Read
// direct and buffered, on the disk the tests run on; the refused reads on a loop device with
// 64 KiB logical blocks (test/helpers/loop-device.ts; needs root).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { asPartKey, createEncryptStream, createFileDecryptStream, lentRelease, segmentRange } from '../../src/crypto/index.js';
import { SEALED_SEGMENT_SIZE } from '../../src/crypto/layout.js';
import { LOOP_BLOCK as BLOCK, LoopDevices, loopDeviceSkipReason } from '../helpers/loop-device.js';
import { decryptSettled, run } from './helpers.js';

const MiB = 1024 * 1024;
/** The worker's read (crypto/file-decrypt.ts READ_BYTES): 16 sealed segments. */
const READ = 16 * SEALED_SEGMENT_SIZE;
const key = asPartKey(randomBytes(32));
const size = 7 * MiB + 4321;
const plaintext = randomBytes(size);
let dir: string;
let sealed: string;
let ct: Buffer;
const skipLoop = loopDeviceSkipReason('losetup');
const devices = new LoopDevices();

before(async () => {
  // On the disk the tests run on (not a tmpfs): it takes O_DIRECT, so the direct reads are real.
  dir = await mkdtemp(join(process.cwd(), '.file-decrypt-read-ahead-test-'));
  ct = await run(createEncryptStream(key), [plaintext]);
  sealed = join(dir, 'sealed');
  await writeFile(sealed, ct);
});

after(async () => {
  devices.detachAll();
  await rm(dir, { recursive: true, force: true });
});

/** Reads bytes [start, end] of `path`; `lend`: as the GET path (views of the ring, released after use). */
async function read(path: string, direct: boolean, opts: { lend?: boolean; start?: number; end?: number; range?: [number, number]; onRefused?: () => void } = {}): Promise<{ out: Buffer; err?: Error }> {
  const r = opts.range ? segmentRange(opts.range[0], opts.range[1], size) : undefined;
  const dopts = r ? { plaintextSize: size, firstSegment: r.firstSegment, skipBytes: r.skipBytes, length: r.length } : { plaintextSize: size };
  const file = { path, start: r ? r.cipherStart : (opts.start ?? 0), end: r ? r.cipherEnd - 1 : (opts.end ?? ct.length - 1), direct, onDirectRefused: opts.onRefused };
  const out: Buffer[] = [];
  try {
    await pipeline(createFileDecryptStream(key, dopts, file, { lend: opts.lend }), async function* (src) {
      for await (const c of src as AsyncIterable<Buffer>) {
        out.push(Buffer.from(c));
        lentRelease(c)?.();
      }
    });
    return { out: Buffer.concat(out) };
  } catch (e) {
    return { out: Buffer.concat(out), err: e as Error };
  }
}

for (const direct of [true, false]) {
  describe(`a file job with two reads in flight (${direct ? 'direct' : 'buffered'})`, () => {
    it('many ranges come back byte for byte, in file order, whichever read lands first', async () => {
      const ranges: [number, number][] = [[0, size], [1, size - 1], [READ - 5000, 3 * READ], [2 * MiB + 3, 2 * MiB + 4], [size - 2 * MiB - 7, size], [70000, 70000 + MiB]];
      for (let round = 0; round < 3; round++) {
        const got = await Promise.all(ranges.map((range, i) => read(sealed, direct, { range, lend: i % 2 === 0 })));
        for (const [i, [a, b]] of ranges.entries()) {
          assert.equal(got[i]!.err, undefined, `range ${a}-${b}`);
          assert.ok(got[i]!.out.equals(plaintext.subarray(a, b)), `range ${a}-${b}: the plaintext in file order`);
        }
      }
      await decryptSettled(sealed);
    });

    it('a file that ends inside the first, the second or a later read fails with the short read, after a prefix of the plaintext only', async () => {
      for (const cut of [READ / 2, READ + 100, READ + READ / 2, 2 * READ + 3, 4 * READ + 17]) {
        const short = join(dir, `short-${direct}-${cut}`);
        await writeFile(short, ct.subarray(0, Math.floor(cut)));
        for (const lend of [false, true]) {
          const { out, err } = await read(short, direct, { lend });
          assert.match(String(err?.message), /the file ended before the range read/, `cut at ${cut}`);
          assert.ok(out.length <= cut, `cut at ${cut}: no more plaintext than ciphertext read`);
          assert.ok(out.equals(plaintext.subarray(0, out.length)), `cut at ${cut}: a prefix of the plaintext`);
        }
        await decryptSettled(short);
      }
    });

    it('a file cut while the job reads it fails with the short read (or comes back whole, read before the cut), never wrong bytes', async () => {
      for (let round = 0; round < 6; round++) {
        const cutting = join(dir, `cutting-${direct}-${round}`);
        await writeFile(cutting, ct);
        const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: cutting, start: 0, end: ct.length - 1, direct });
        const out: Buffer[] = [];
        let first = true;
        const done = (async () => {
          for await (const c of dec as AsyncIterable<Buffer>) {
            out.push(Buffer.from(c));
            if (first) {
              first = false;
              await truncate(cutting, (2 + round) * READ + 1000);
            }
          }
        })().then(
          () => undefined,
          (e: Error) => e,
        );
        const err = await done;
        const got = Buffer.concat(out);
        if (err) assert.match(err.message, /the file ended before the range read/);
        else assert.equal(got.length, size);
        assert.ok(got.equals(plaintext.subarray(0, got.length)), 'a prefix of the plaintext');
        await decryptSettled(cutting);
      }
    });

    it('a reader that goes away right after the job started, or between its reads, leaves no descriptor and no job', async () => {
      for (let round = 0; round < 40; round++) {
        const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: sealed, start: 0, end: ct.length - 1, direct }, { lend: round % 2 === 0 });
        dec.on('error', () => undefined);
        dec.on('data', (c: Buffer) => lentRelease(c)?.());
        // 0–9 turns of the event loop: the cancel arrives before, between or after the reads land.
        for (let t = 0; t < round % 10; t++) await turn();
        if (round % 5 === 4) await sleep(1);
        dec.destroy();
      }
      await decryptSettled(sealed);
    });
  });
}

describe('a file job whose direct reads are refused (loop device, 64 KiB blocks)', { skip: skipLoop }, () => {
  let dev: string;
  let cutDev: string;

  const device = (name: string, bytes: Buffer): Promise<string> => devices.attach(join(dir, `${name}.img`), bytes);

  before(async () => {
    dev = await device('sealed', ct);
    // Cut inside the third read: the first two (both in flight, both refused) succeed buffered.
    cutDev = await device('cut', ct.subarray(0, 2 * READ + 3 * BLOCK));
  });

  it('both reads in flight are refused, read buffered, in file order; the job tells once and closes both descriptors', async () => {
    for (const lend of [false, true]) {
      let refused = 0;
      const { out, err } = await read(dev, true, { lend, onRefused: () => refused++ });
      assert.equal(err, undefined);
      assert.ok(out.equals(plaintext));
      assert.equal(refused, 1, 'told once');
      await decryptSettled(dev);
    }
  });

  it('a mixed pair — the first read refused, the second (64 KiB-aligned once widened) taken on the direct descriptor — comes back in file order; both descriptors close', async () => {
    // 17 segments whose ciphertext ends on a device block: the second read, [READ, 17 blocks),
    // widens to [1 MiB, 17 blocks) and the device takes it direct; the first is refused.
    const n = 17 * BLOCK - 17 * 16;
    const pt = randomBytes(n);
    const mixedCt = await run(createEncryptStream(key), [pt]);
    assert.equal(mixedCt.length, 17 * BLOCK);
    const mixed = await device('mixed', mixedCt);
    for (let round = 0; round < 8; round++) {
      let refused = 0;
      const out: Buffer[] = [];
      await pipeline(
        createFileDecryptStream(key, { plaintextSize: n }, { path: mixed, start: 0, end: mixedCt.length - 1, direct: true, onDirectRefused: () => refused++ }, { lend: round % 2 === 0 }),
        async function* (src) {
          for await (const c of src as AsyncIterable<Buffer>) {
            out.push(Buffer.from(c));
            lentRelease(c)?.();
          }
        },
      );
      assert.ok(Buffer.concat(out).equals(pt), `round ${round}: the plaintext in file order`);
      assert.equal(refused, 1, 'told once');
      // Cancelled while the pair is in flight.
      const dec = createFileDecryptStream(key, { plaintextSize: n }, { path: mixed, start: 0, end: mixedCt.length - 1, direct: true });
      dec.on('error', () => undefined);
      for (let t = 0; t < round; t++) await turn();
      dec.destroy();
    }
    await decryptSettled(mixed);
  });

  it('refused jobs cancelled at any moment, and refused jobs on a device that ends early, leave no descriptor and no job', async () => {
    for (let round = 0; round < 30; round++) {
      const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: dev, start: 0, end: ct.length - 1, direct: true }, { lend: round % 2 === 0 });
      dec.on('error', () => undefined);
      dec.on('data', (c: Buffer) => lentRelease(c)?.());
      for (let t = 0; t < round % 10; t++) await turn();
      if (round % 3 === 2) await sleep(2);
      dec.destroy();
    }
    await decryptSettled(dev);
    for (let round = 0; round < 6; round++) {
      const { out, err } = await read(cutDev, true, { lend: round % 2 === 0 });
      assert.match(String(err?.message), /the file ended before the range read/);
      assert.ok(out.equals(plaintext.subarray(0, out.length)), 'a prefix of the plaintext');
    }
    await decryptSettled(cutDev);
  });
});
