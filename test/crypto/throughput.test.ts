// Throughput of the encrypt and decrypt streams over 256 MiB on one core, next to a plain
// pass-through in the same run (STYLE rule 17: ratios, not absolute times). Skipped
// unless COFFER_BENCH=1:
//   npx tsc -p tsconfig.json && COFFER_BENCH=1 node --test dist/test/crypto/throughput.test.js
// Target: comfortably above 400 MiB/s each, so SSE-KMS PUT (200 MiB/s) and GET
// (400 MiB/s) stay within 20% of unencrypted once hashing and disk share the core.

import assert from 'node:assert/strict';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { it } from 'node:test';
import { ciphertextSize, createDecryptStream, createEncryptStream, derivePartKey, newObjectId, newObjectKey, segmentRange } from '../../src/crypto/index.js';

const TOTAL = 256 * 2 ** 20;
const CHUNK = 64 * 1024;

async function measure(make: () => Transform, source: () => Iterable<Buffer>): Promise<{ mibs: number; bytes: number }> {
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  await pipeline(
    Readable.from(source()),
    make(),
    new Writable({
      highWaterMark: 1 << 20,
      write(c: Buffer, _e, cb) {
        bytes += c.length;
        cb();
      },
    }),
  );
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mibs: TOTAL / 2 ** 20 / s, bytes };
}

it('throughput of 256 MiB, encrypt and decrypt (COFFER_BENCH=1)', { skip: process.env.COFFER_BENCH !== '1' }, async () => {
  const key = derivePartKey(newObjectKey(), newObjectId(), 0);
  const plain = Buffer.alloc(CHUNK, 0x5a);
  const plainChunks = function* () {
    for (let o = 0; o < TOTAL; o += CHUNK) yield plain;
  };
  // One ciphertext in memory (decrypt's input), fed back in the 64 KiB chunks a blob
  // store reads, which do not line up with the 65552-byte sealed segments.
  const parts: Buffer[] = [];
  await pipeline(Readable.from(plainChunks()), createEncryptStream(key), new Writable({ write: (c: Buffer, _e, cb) => (parts.push(c), cb()) }));
  const ct = Buffer.concat(parts);
  parts.length = 0;
  assert.equal(ct.length, ciphertextSize(TOTAL));
  const cipherChunks = function* () {
    for (let o = 0; o < ct.length; o += CHUNK) yield ct.subarray(o, o + CHUNK);
  };

  const passThrough = await measure(() => new Transform({ transform: (c, _e, cb) => cb(null, c) }), plainChunks);
  const enc = await measure(() => createEncryptStream(key), plainChunks);
  const dec = await measure(() => createDecryptStream(key, { plaintextSize: TOTAL }), cipherChunks);
  assert.equal(dec.bytes, TOTAL);
  let opened = 0;
  const r = segmentRange(TOTAL / 2, TOTAL / 2 + 1, TOTAL);
  await pipeline(Readable.from([ct.subarray(r.cipherStart, r.cipherEnd)]), createDecryptStream(key, { plaintextSize: TOTAL, ...r, onSegment: () => opened++ }), new Writable({ write: (_c, _e, cb) => cb() }));
  const row = (name: string, mibs: number) => `${name.padEnd(22)} ${mibs.toFixed(0).padStart(6)} MiB/s  ${(mibs / passThrough.mibs).toFixed(3)}× pass-through`;
  console.log(['', `object encryption, ${TOTAL / 2 ** 20} MiB, ${CHUNK / 1024} KiB chunks, node ${process.version}`, row('pass-through', passThrough.mibs), row('encrypt', enc.mibs), row('decrypt', dec.mibs), `1-byte range from the middle: ${opened} segment(s) opened`].join('\n'));
  assert.equal(opened, 1);
});
