// The file-reading decryptor (crypto/file-decrypt.ts) keeps createDecryptStream's contract —
// same plaintext, same segments opened, same error kinds — while a worker reads the file
// itself; a missing or short file fails like a file read; a reader that stops early leaves
// neither the file open nor a worker job behind; a slow reader holds the worker back. A
// lending reader (the GET path) gets views of the worker's ring: a slot is never rewritten
// while lent, never lent before all its segments authenticated, and a ring goes back into
// use only when every slot came back cleanly.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SegmentAuthError, TruncatedCiphertextError, asPartKey, ciphertextSize, createEncryptStream, createFileDecryptStream, decryptPool,
  lentRelease, segmentRange, type DecryptStreamOptions,
} from '../../src/crypto/index.js';
import { decryptSettled } from './helpers.js';

const MiB = 1024 * 1024;
const key = asPartKey(randomBytes(32));
const size = 9 * MiB + 12345;
const plaintext = randomBytes(size);
let dir: string;
let sealed: string;
let ct: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-file-decrypt-'));
  const out: Buffer[] = [];
  await pipeline(Readable.from([plaintext]), createEncryptStream(key), async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  ct = Buffer.concat(out);
  assert.equal(ct.length, ciphertextSize(size));
  sealed = join(dir, 'sealed');
  await writeFile(sealed, ct);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(path: string, opts: DecryptStreamOptions, start = 0, end = ct.length - 1): Promise<{ out: Buffer; segments: number[] }> {
  const segments: number[] = [];
  const out: Buffer[] = [];
  await pipeline(createFileDecryptStream(key, { ...opts, onSegment: (i) => segments.push(i) }, { path, start, end }), async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return { out: Buffer.concat(out), segments };
}


describe('file-reading decryption on a worker', () => {
  it('a whole part comes back byte for byte, every segment counted once, in order; the file is closed after', async () => {
    const { out, segments } = await read(sealed, { plaintextSize: size });
    assert.ok(out.equals(plaintext));
    assert.deepEqual(segments, Array.from({ length: Math.ceil(size / 65536) }, (_, i) => i));
    await decryptSettled(sealed);
  });

  it('a range reads and opens only its segments', async () => {
    for (const [a, b] of [[70000, 70000 + 3 * MiB + 99], [0, 1], [size - 5, size], [65536, 2 * 65536]] as const) {
      const r = segmentRange(a, b, size);
      const { out, segments } = await read(sealed, { plaintextSize: size, firstSegment: r.firstSegment, skipBytes: r.skipBytes, length: r.length }, r.cipherStart, r.cipherEnd - 1);
      assert.ok(out.equals(plaintext.subarray(a, b)), `range ${a}-${b}`);
      assert.equal(segments.length, r.lastSegment - r.firstSegment + 1);
    }
  });

  it('a slow reader holds the worker back: plaintext waiting stays bounded, and nothing stalls', async () => {
    const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: sealed, start: 0, end: ct.length - 1 });
    let most = 0;
    let got = 0;
    const sink = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _e, cb) {
        got += chunk.length;
        most = Math.max(most, dec.readableLength);
        setTimeout(cb, 1);
      },
    });
    await pipeline(dec, sink);
    assert.equal(got, size);
    assert.ok(most <= 6 * MiB, `at most a few MiB wait for the reader (saw ${most})`);
  });

  it('a flipped bit is an authentication failure, a cut file a short read, a cut range a truncation — never wrong bytes', async () => {
    const flipped = Buffer.from(ct);
    flipped[5 * 65552 + 100]! ^= 1;
    const bad = join(dir, 'flipped');
    await writeFile(bad, flipped);
    await assert.rejects(read(bad, { plaintextSize: size }), (e: Error) => e instanceof SegmentAuthError);
    await decryptSettled(bad);

    const short = join(dir, 'short');
    await writeFile(short, ct.subarray(0, ct.length - 10));
    await assert.rejects(read(short, { plaintextSize: size }), /the file ended before the range read/);
    await decryptSettled(short);

    // The file is whole but the range handed in stops short of the last segment it needs.
    await assert.rejects(read(sealed, { plaintextSize: size }, 0, ct.length - 11), (e: Error) => e instanceof TruncatedCiphertextError);
  });

  it('a missing file fails with its file error (ENOENT), not a crypto one', async () => {
    await assert.rejects(read(join(dir, 'missing'), { plaintextSize: size }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && !(e instanceof SegmentAuthError));
    assert.equal(decryptPool().openJobs, 0);
  });

  it('a reader that goes away at once leaves the file closed (the cancel arrives right after the job, while its first read is in flight)', async () => {
    for (let round = 0; round < 20; round++) {
      const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: sealed, start: 0, end: ct.length - 1 });
      dec.on('error', () => undefined);
      dec.destroy();
    }
    await decryptSettled(sealed);
  });

  it('a reader that stops early closes the file and the worker job', async () => {
    for (let round = 0; round < 3; round++) {
      const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: sealed, start: 0, end: ct.length - 1 });
      let seen = 0;
      await new Promise<void>((resolve) => {
        dec.on('data', (c: Buffer) => {
          seen += c.length;
          if (seen > 2 * MiB) {
            dec.destroy();
            resolve();
          }
        });
      });
      await decryptSettled(sealed);
    }
  });

  it('a lending reader holds at most the ring (4 MiB): lent bytes are not overwritten until released, and the read then completes', async () => {
    const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: sealed, start: 0, end: ct.length - 1 }, { lend: true });
    const held: Buffer[] = [];
    dec.on('data', (c: Buffer) => held.push(c));
    const ended = new Promise<void>((resolve, reject) => {
      dec.once('end', resolve);
      dec.once('error', reject);
    });
    await sleep(300);
    const lentBytes = held.reduce((n, c) => n + c.length, 0);
    assert.equal(lentBytes, 4 * MiB, 'the worker stops when every slot is lent');
    assert.ok(Buffer.concat(held).equals(plaintext.subarray(0, lentBytes)), 'nothing lent was overwritten');
    const releases = held.map((c) => lentRelease(c));
    assert.ok(releases.every((r) => typeof r === 'function'), 'each lent chunk has its release');
    assert.equal(lentRelease(held[0]!), undefined, 'a release is handed out once');
    // From here on, copy each chunk and release it at once: the read runs to the end.
    const copies = held.map((c) => Buffer.from(c));
    dec.removeAllListeners('data');
    dec.on('data', (c: Buffer) => {
      copies.push(Buffer.from(c));
      lentRelease(c)!();
    });
    for (const r of releases) r!();
    await ended;
    assert.ok(Buffer.concat(copies).equals(plaintext));
    await decryptSettled(sealed);
  });

  it('a lending reader never sees a byte of a slot whose segments did not all authenticate', async () => {
    const flipped = Buffer.from(ct);
    flipped[20 * 65552 + 100]! ^= 1; // segment 20: the second slot (16 segments a slot)
    const bad = join(dir, 'flipped-lend');
    await writeFile(bad, flipped);
    const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: bad, start: 0, end: flipped.length - 1 }, { lend: true });
    const got: Buffer[] = [];
    dec.on('data', (c: Buffer) => {
      got.push(Buffer.from(c));
      lentRelease(c)!();
    });
    await assert.rejects(new Promise((resolve, reject) => {
      dec.once('end', resolve);
      dec.once('error', reject);
    }), (e: Error) => e instanceof SegmentAuthError);
    const out = Buffer.concat(got);
    assert.equal(out.length, 16 * 65536, 'only the first slot, whose 16 segments authenticated');
    assert.ok(out.equals(plaintext.subarray(0, out.length)));
    await decryptSettled(bad);
  });

  it('slots are used again only after a read that ended with every slot released; a read cut short drops its slots; a 1 MiB read takes one', async () => {
    // Holds up to four lent chunks before releasing them, so every slot of the ring is used.
    const lendRead = async (stopAfter?: number): Promise<Set<ArrayBufferLike>> => {
      const dec = createFileDecryptStream(key, { plaintextSize: size }, { path: sealed, start: 0, end: ct.length - 1 }, { lend: true });
      const rings = new Set<ArrayBufferLike>();
      const held: Buffer[] = [];
      const releaseHeld = (): void => {
        for (const c of held.splice(0)) lentRelease(c)!();
      };
      let seen = 0;
      await new Promise<void>((resolve, reject) => {
        dec.on('data', (c: Buffer) => {
          rings.add(c.buffer);
          held.push(c);
          seen += c.length;
          if (stopAfter !== undefined && seen >= stopAfter) {
            dec.destroy();
            releaseHeld();
            resolve();
            return;
          }
          if (held.length === 4) releaseHeld();
        });
        dec.once('end', () => {
          releaseHeld();
          resolve();
        });
        dec.once('error', reject);
      });
      return rings;
    };
    const first = await lendRead();
    assert.equal(first.size, 4, 'four slots');
    for (const b of first) assert.ok(b instanceof SharedArrayBuffer);
    const second = await lendRead();
    assert.deepEqual(second, first, 'a clean read gives its slots back');
    const cut = await lendRead(2 * MiB);
    const later = await lendRead();
    for (const b of later) assert.ok(!cut.has(b), 'no slot of a cut read, which the worker may still write, is used again');
    const small = await new Promise<Set<ArrayBufferLike>>((resolve, reject) => {
      const r = segmentRange(0, MiB, size);
      const dec = createFileDecryptStream(key, { plaintextSize: size, ...r }, { path: sealed, start: r.cipherStart, end: r.cipherEnd - 1 }, { lend: true });
      const used = new Set<ArrayBufferLike>();
      dec.on('data', (c: Buffer) => {
        used.add(c.buffer);
        lentRelease(c)!();
      });
      dec.once('end', () => resolve(used));
      dec.once('error', reject);
    });
    assert.equal(small.size, 1, 'a 1 MiB read takes one slot');
    await decryptSettled(sealed);
  });
});

