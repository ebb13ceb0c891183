// The offloaded decryptor keeps createDecryptStream's contract: same plaintext, same
// segments opened, same error kinds — with the work on a worker thread for large reads.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  OFFLOAD_DECRYPT_MIN_BYTES, SegmentAuthError, TruncatedCiphertextError, asPartKey, createEncryptStream, createReadDecryptStream,
  segmentRange, type DecryptStreamOptions,
} from '../../src/crypto/index.js';

const key = asPartKey(randomBytes(32));
const size = OFFLOAD_DECRYPT_MIN_BYTES * 2 + 12345;
const plaintext = randomBytes(size);

async function seal(): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([plaintext]), createEncryptStream(key), async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

/** Feeds `ct` in 256 KiB chunks, each with its own memory as the file reader's are. */
async function open(ct: Buffer, opts: DecryptStreamOptions): Promise<{ out: Buffer; segments: number[] }> {
  const segments: number[] = [];
  const chunks: Buffer[] = [];
  for (let off = 0; off < ct.length; off += 256 * 1024) chunks.push(Buffer.from(ct.subarray(off, off + 256 * 1024)));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), createReadDecryptStream(key, { ...opts, onSegment: (i) => segments.push(i) }), async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return { out: Buffer.concat(out), segments };
}

describe('offloaded decryption', () => {
  it('a whole large part comes back byte for byte, every segment counted once, in order', async () => {
    const ct = await seal();
    const { out, segments } = await open(ct, { plaintextSize: size });
    assert.ok(out.equals(plaintext));
    assert.deepEqual(segments, Array.from({ length: Math.ceil(size / 65536) }, (_, i) => i));
  });

  it('a large range opens only its segments', async () => {
    const ct = await seal();
    const a = 70000;
    const b = a + OFFLOAD_DECRYPT_MIN_BYTES + 99;
    const r = segmentRange(a, b, size);
    const { out, segments } = await open(ct.subarray(r.cipherStart, r.cipherEnd), { plaintextSize: size, firstSegment: r.firstSegment, skipBytes: r.skipBytes, length: r.length });
    assert.ok(out.equals(plaintext.subarray(a, b)));
    assert.equal(segments.length, r.lastSegment - r.firstSegment + 1);
  });

  it('a slow reader holds the worker back: plaintext waiting stays bounded, and nothing stalls', async () => {
    const ct = await seal();
    const dec = createReadDecryptStream(key, { plaintextSize: size });
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
    const chunks: Buffer[] = [];
    for (let off = 0; off < ct.length; off += 256 * 1024) chunks.push(Buffer.from(ct.subarray(off, off + 256 * 1024)));
    await pipeline(Readable.from(chunks), dec, sink);
    assert.equal(got, size);
    assert.ok(most <= 4 * 1024 * 1024, `at most a few MiB wait for the reader (saw ${most})`);
  });

  it('a flipped bit is an authentication failure, a cut a truncation — never wrong bytes', async () => {
    const ct = await seal();
    const flipped = Buffer.from(ct);
    flipped[5 * 65552 + 100]! ^= 1;
    await assert.rejects(open(flipped, { plaintextSize: size }), (e: Error) => e instanceof SegmentAuthError);
    await assert.rejects(open(ct.subarray(0, ct.length - 10), { plaintextSize: size }), (e: Error) => e instanceof TruncatedCiphertextError);
  });
});
