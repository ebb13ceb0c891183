// The encrypt and decrypt streams: round trips and ranged reads over random sizes,
// chunkings and ranges (property-style, seeded), segment counts, and each failure kind
// (docs/spec/object-encryption.md, "Encryption", "Decryption", "Ranges").

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ciphertextSize,
  createDecryptStream,
  createEncryptStream,
  derivePartKey,
  newObjectId,
  newObjectKey,
  SEALED_SEGMENT_SIZE,
  SEGMENT_SIZE,
  SegmentAuthError,
  segmentRange,
  TruncatedCiphertextError,
  type DecryptStreamOptions,
  type PartKey,
} from '../../src/crypto/index.js';
import { chunk, deterministicRandom, prng, run } from './helpers.js';

const S = SEGMENT_SIZE;
const rnd = deterministicRandom('streams.test');
const objectKey = newObjectKey(rnd);
const objectId = newObjectId(rnd);
const key = derivePartKey(objectKey, objectId, 0);

const encrypt = (pt: Buffer, k: PartKey = key, how: Parameters<typeof chunk>[1] = 'whole') => run(createEncryptStream(k), chunk(pt, how));

async function decrypt(ct: Buffer, opts: DecryptStreamOptions, k: PartKey = key, how: Parameters<typeof chunk>[1] = 'whole') {
  const opened: number[] = [];
  const out = await run(createDecryptStream(k, { ...opts, onSegment: (i) => opened.push(i) }), chunk(ct, how));
  return { out, opened };
}

describe('encrypt and decrypt streams', () => {
  it('an empty part is one empty final segment of 16 bytes, and decrypts to nothing', async () => {
    const ct = await encrypt(Buffer.alloc(0));
    assert.equal(ct.length, 16);
    const { out, opened } = await decrypt(ct, { plaintextSize: 0 });
    assert.equal(out.length, 0);
    assert.deepEqual(opened, [0]);
  });

  it('a part of exactly 65536 bytes is one full final segment, not a full one and an empty one', async () => {
    const pt = rnd(S);
    const ct = await encrypt(pt, key, 1000);
    assert.equal(ct.length, S + 16);
    assert.deepEqual((await decrypt(ct, { plaintextSize: S })).out, pt);
  });

  it('output does not depend on the chunking of the input', async () => {
    const pt = rnd(3 * S + 7);
    const whole = await encrypt(pt);
    for (const how of [1, 4096, S, S + 1, 2 * S + 3] as const) assert.deepEqual(await encrypt(pt, key, how), whole, `chunks of ${how}`);
  });

  it('property: random sizes 0..300 KiB, random chunkings in and out, round trip', async () => {
    const r = prng(0xc0ffee);
    for (let i = 0; i < 60; i++) {
      const size = i < 6 ? [0, 1, S - 1, S, S + 1, 2 * S][i]! : r(300 * 1024 + 1);
      const pt = rnd(size);
      const ct = await encrypt(pt, key, r);
      assert.equal(ct.length, ciphertextSize(size), `ciphertext size for ${size}`);
      const { out, opened } = await decrypt(ct, { plaintextSize: size }, key, r);
      assert.ok(out.equals(pt), `round trip of ${size} bytes (iteration ${i})`);
      assert.equal(opened.length, Math.max(1, Math.ceil(size / S)));
    }
  });

  it('property: a ranged read equals the plaintext slice and opens only the segments the range touches', async () => {
    const r = prng(0xbeef);
    for (let i = 0; i < 80; i++) {
      const size = 1 + r(300 * 1024);
      const pt = rnd(size);
      const ct = await encrypt(pt, key, r);
      const start = r(size);
      const end = i % 3 === 0 ? start + 1 : start + 1 + r(size - start);
      const range = segmentRange(start, end, size);
      const { out, opened } = await decrypt(ct.subarray(range.cipherStart, range.cipherEnd), { plaintextSize: size, ...range }, key, r);
      assert.ok(out.equals(pt.subarray(start, end)), `range [${start}, ${end}) of ${size}`);
      const minimal = Math.floor((end - 1) / S) - Math.floor(start / S) + 1;
      assert.equal(opened.length, minimal, `segments for [${start}, ${end})`);
      assert.deepEqual(opened, Array.from({ length: minimal }, (_, j) => range.firstSegment + j));
    }
  });

  it('a 1-byte range opens exactly 1 segment; a 2-byte range over a boundary exactly 2', async () => {
    const size = 5 * S + 100;
    const pt = rnd(size);
    const ct = await encrypt(pt);
    const one = segmentRange(2 * S + 500, 2 * S + 501, size);
    const a = await decrypt(ct.subarray(one.cipherStart, one.cipherEnd), { plaintextSize: size, ...one });
    assert.deepEqual(a.opened, [2]);
    assert.deepEqual(a.out, pt.subarray(2 * S + 500, 2 * S + 501));
    const two = segmentRange(3 * S - 1, 3 * S + 1, size);
    const b = await decrypt(ct.subarray(two.cipherStart, two.cipherEnd), { plaintextSize: size, ...two });
    assert.deepEqual(b.opened, [2, 3]);
    assert.deepEqual(b.out, pt.subarray(3 * S - 1, 3 * S + 1));
  });

  it('refuses a range outside the part and a key of the wrong length', () => {
    assert.throws(() => createDecryptStream(key, { plaintextSize: 10, firstSegment: 1 }), RangeError);
    assert.throws(() => createDecryptStream(key, { plaintextSize: 10, skipBytes: 10 }), RangeError);
    assert.throws(() => createDecryptStream(key, { plaintextSize: 10, length: 11 }), RangeError);
    assert.throws(() => createEncryptStream(Buffer.alloc(16) as PartKey), RangeError);
  });
});

describe('failures', () => {
  const size = 3 * S + 10;
  const pt = rnd(size);
  let ct: Buffer;
  const ready = encrypt(pt).then((c) => (ct = c));
  const seg = (i: number) => ct.subarray(i * SEALED_SEGMENT_SIZE, Math.min((i + 1) * SEALED_SEGMENT_SIZE, ct.length));

  it('a flipped bit in a middle segment fails authentication (whole and ranged read)', async () => {
    await ready;
    for (const at of [SEALED_SEGMENT_SIZE + 5, 2 * SEALED_SEGMENT_SIZE - 1]) {
      const bad = Buffer.from(ct);
      bad[at]! ^= 0x01;
      await assert.rejects(decrypt(bad, { plaintextSize: size }), SegmentAuthError);
      const range = segmentRange(S + 3, S + 4, size);
      await assert.rejects(decrypt(bad.subarray(range.cipherStart, range.cipherEnd), { plaintextSize: size, ...range }), SegmentAuthError);
    }
  });

  it('nothing from a failing segment is released: output stops at the last good segment', async () => {
    await ready;
    const bad = Buffer.from(ct);
    bad[2 * SEALED_SEGMENT_SIZE + 7]! ^= 0x80;
    const out: Buffer[] = [];
    const stream = createDecryptStream(key, { plaintextSize: size });
    stream.on('data', (c: Buffer) => out.push(c));
    await assert.rejects(run(stream, [bad]), SegmentAuthError);
    assert.ok(Buffer.concat(out).length <= 2 * S);
  });

  it('swapped segments fail authentication', async () => {
    await ready;
    const swapped = Buffer.concat([seg(1), seg(0), seg(2), seg(3)]);
    await assert.rejects(decrypt(swapped, { plaintextSize: size }), SegmentAuthError);
  });

  it('a stream that ends at a segment boundary, inside a segment, or empty is a truncation', async () => {
    await ready;
    for (const cut of [3 * SEALED_SEGMENT_SIZE, 3 * SEALED_SEGMENT_SIZE + 5, ct.length - 1, 100, 0]) {
      await assert.rejects(decrypt(ct.subarray(0, cut), { plaintextSize: size }), TruncatedCiphertextError, `cut at ${cut}`);
    }
    const range = segmentRange(S, 2 * S + 1, size);
    await assert.rejects(decrypt(ct.subarray(range.cipherStart, range.cipherEnd - 1), { plaintextSize: size, ...range }), TruncatedCiphertextError);
  });

  it('a dropped middle segment fails authentication (the next one is at the wrong index)', async () => {
    await ready;
    await assert.rejects(decrypt(Buffer.concat([seg(0), seg(2), seg(3)]), { plaintextSize: size }), SegmentAuthError);
  });

  it('bytes after the final segment, or after the last segment of a range, fail', async () => {
    await ready;
    await assert.rejects(decrypt(Buffer.concat([ct, Buffer.of(0)]), { plaintextSize: size }), SegmentAuthError);
    await assert.rejects(decrypt(Buffer.concat([ct, seg(3)]), { plaintextSize: size }), SegmentAuthError);
    const range = segmentRange(0, 1, size);
    await assert.rejects(decrypt(ct.subarray(0, range.cipherEnd + 1), { plaintextSize: size, ...range }), SegmentAuthError);
  });

  it('a stored size that disagrees with the ciphertext is never answered with data', async () => {
    await ready;
    // shorter by one byte: the final segment is cut in the wrong place
    await assert.rejects(decrypt(ct.subarray(0, ct.length - 1), { plaintextSize: size - 1 }), SegmentAuthError);
    // exactly the first three segments claimed as the whole part: segment 2 was not sealed as final
    await assert.rejects(decrypt(ct.subarray(0, 3 * SEALED_SEGMENT_SIZE), { plaintextSize: 3 * S }), SegmentAuthError);
    // larger: the ciphertext ends before the segments the size promises
    await assert.rejects(decrypt(ct, { plaintextSize: size + S }), TruncatedCiphertextError);
    // larger, with a segment appended to match: the real final segment is opened as a middle one
    await assert.rejects(decrypt(Buffer.concat([ct.subarray(0, 3 * SEALED_SEGMENT_SIZE), seg(2), seg(3)]), { plaintextSize: size + S }), SegmentAuthError);
  });

  it('segments of another part or another object fail authentication', async () => {
    await ready;
    await assert.rejects(decrypt(ct, { plaintextSize: size }, derivePartKey(objectKey, objectId, 1)), SegmentAuthError);
    await assert.rejects(decrypt(ct, { plaintextSize: size }, derivePartKey(objectKey, newObjectId(rnd), 0)), SegmentAuthError);
    const other = await encrypt(pt, derivePartKey(objectKey, newObjectId(rnd), 0));
    const spliced = Buffer.concat([seg(0), other.subarray(SEALED_SEGMENT_SIZE, 2 * SEALED_SEGMENT_SIZE), seg(2), seg(3)]);
    await assert.rejects(decrypt(spliced, { plaintextSize: size }), SegmentAuthError);
  });

  it('property: any single flipped bit is an authentication failure, any cut a truncation', async () => {
    const r = prng(0x5eed);
    for (let i = 0; i < 40; i++) {
      const n = r(3 * S + 1);
      const c = await encrypt(rnd(n));
      const bad = Buffer.from(c);
      bad[r(c.length)]! ^= 1 << r(8);
      await assert.rejects(decrypt(bad, { plaintextSize: n }, key, r), SegmentAuthError, `flip in ${n}-byte part`);
      await assert.rejects(decrypt(c.subarray(0, r(c.length)), { plaintextSize: n }, key, r), TruncatedCiphertextError, `cut of ${n}-byte part`);
    }
  });

  it('errors name no key or plaintext bytes', async () => {
    await ready;
    const bad = Buffer.from(ct);
    bad[0]! ^= 1;
    const err = await decrypt(bad, { plaintextSize: size }).then(
      () => assert.fail('decrypted'),
      (e: Error) => e,
    );
    assert.match(err.message, /^segment 0 does not authenticate$/);
    assert.equal(err.cause, undefined);
  });
});
