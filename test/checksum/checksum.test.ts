// Pins the S3 flexible-checksum primitives: check values, the sliced CRC64 against
// references, CRC combination, composite checksums and the single-pass BodyDigest.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Crc64Nvme as AwsCrc64Nvme } from '@aws-sdk/crc64-nvme';
import {
  BodyDigest,
  CHECKSUM_ALGORITHMS,
  algorithmFromHeader,
  checksumHeader,
  checksumOf,
  combineCrc,
  compositeChecksum,
  createHasher,
  decodeChecksum,
  digestLength,
  parseAlgorithm,
  type CrcAlgorithm,
} from '../../src/checksum/index.js';
import { CRC64_NVME_ENGINE, Crc64Nvme, crc64NvmeBitwise } from '../../src/checksum/crc64-nvme.js';
import { WASM_INPUT_BYTES } from '../../src/checksum/crc64-nvme-wasm.js';
import { ServiceError } from '../../src/errors.js';

const CHECK = Buffer.from('123456789');

/** Deterministic PRNG so a failing split can be reproduced from the seed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

function splitAt(data: Buffer, rand: (n: number) => number, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = Math.min(data.length - i, rand(maxChunk + 1)); // zero-length chunks included
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

async function awsCrc64(data: Buffer): Promise<Buffer> {
  const h = new AwsCrc64Nvme();
  h.update(data);
  return Buffer.from(await h.digest());
}

describe('check values ("123456789")', () => {
  it('CRC32 = 0xCBF43926', () => assert.equal(checksumOf('CRC32', CHECK).toString('hex'), 'cbf43926'));
  it('CRC32C = 0xE3069283', () => assert.equal(checksumOf('CRC32C', CHECK).toString('hex'), 'e3069283'));
  it('CRC64NVME = 0xAE8B14860A799888', () =>
    assert.equal(checksumOf('CRC64NVME', CHECK).toString('hex'), 'ae8b14860a799888'));
  it('SHA1 and SHA256 match node:crypto', () => {
    assert.deepEqual(checksumOf('SHA1', CHECK), createHash('sha1').update(CHECK).digest());
    assert.deepEqual(checksumOf('SHA256', CHECK), createHash('sha256').update(CHECK).digest());
  });
  it('empty input gives all-zero CRCs', () => {
    for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
      assert.deepEqual(checksumOf(alg, Buffer.alloc(0)), Buffer.alloc(digestLength(alg)));
    }
  });
  it('digests have the documented lengths', () => {
    for (const alg of CHECKSUM_ALGORITHMS) assert.equal(checksumOf(alg, CHECK).length, digestLength(alg));
  });
});

describe('CRC64NVME slice-by-16', () => {
  it('matches the bitwise reference for every length 0..300 and every alignment 0..7', () => {
    const data = randomBytes(310);
    for (let off = 0; off < 8; off++) {
      for (let len = 0; len <= 300; len++) {
        const slice = data.subarray(off, off + len);
        assert.deepEqual(checksumOf('CRC64NVME', slice), crc64NvmeBitwise(slice), `off ${off} len ${len}`);
      }
    }
  });

  it('runs on the WebAssembly kernel where Node has WebAssembly', () => {
    assert.equal(CRC64_NVME_ENGINE, 'wasm');
  });

  it('the WebAssembly kernel and the JavaScript loop agree with the bitwise reference, across the kernel\'s input window', () => {
    const data = randomBytes(2 * WASM_INPUT_BYTES + 64);
    const lengths = [256, 257, 271, 272, 4096 + 5, WASM_INPUT_BYTES - 1, WASM_INPUT_BYTES, WASM_INPUT_BYTES + 1, 2 * WASM_INPUT_BYTES + 15];
    for (const off of [0, 1, 3, 7]) {
      for (const len of lengths) {
        const slice = data.subarray(off, off + len);
        const js = new Crc64Nvme();
        js.updateJs(slice);
        const wasm = new Crc64Nvme();
        wasm.update(slice);
        const ref = crc64NvmeBitwise(slice);
        assert.deepEqual(js.digest(), ref, `js off ${off} len ${len}`);
        assert.deepEqual(wasm.digest(), ref, `wasm off ${off} len ${len}`);
      }
    }
  });

  it('carries the register between the two loops (short chunks in JavaScript, long ones in WebAssembly)', () => {
    const data = randomBytes(50_000);
    const rand = rng(11);
    const h = new Crc64Nvme();
    for (const c of splitAt(data, rand, 600)) h.update(c);
    assert.deepEqual(h.digest(), crc64NvmeBitwise(data));
  });

  it('matches @aws-sdk/crc64-nvme on 1 MiB of random data fed in random chunks', async () => {
    const data = randomBytes(1 << 20);
    const rand = rng(7);
    const h = createHasher('CRC64NVME');
    for (const c of splitAt(data, rand, 70_000)) h.update(c);
    assert.deepEqual(h.digest(), await awsCrc64(data));
  });
});

describe('streaming hashers', () => {
  it('give the same digest whatever the chunking, for every algorithm', () => {
    const data = randomBytes(200_000);
    const rand = rng(42);
    for (const alg of CHECKSUM_ALGORITHMS) {
      const whole = checksumOf(alg, data);
      for (let round = 0; round < 5; round++) {
        const h = createHasher(alg);
        for (const c of splitAt(data, rand, 9000)) h.update(c);
        assert.deepEqual(h.digest(), whole, alg);
      }
    }
  });
});

describe('combineCrc', () => {
  const algs: CrcAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME'];

  for (const alg of algs) {
    it(`${alg}: combining random splits (including empty parts) equals the CRC of the whole`, () => {
      const rand = rng(alg.length * 977);
      for (let round = 0; round < 30; round++) {
        const data = randomBytes(rand(50_000));
        const parts = splitAt(data, rand, 1 + rand(20_000));
        if (round % 3 === 0) parts.splice(rand(parts.length + 1), 0, Buffer.alloc(0));
        const combined = combineCrc(
          alg,
          parts.map((p) => ({ digest: checksumOf(alg, p), size: p.length })),
        );
        assert.deepEqual(combined, checksumOf(alg, data), `round ${round}, ${parts.length} parts`);
      }
    });
  }

  it('handles a single part, only empty parts, and no parts', () => {
    for (const alg of algs) {
      const p = randomBytes(1234);
      assert.deepEqual(combineCrc(alg, [{ digest: checksumOf(alg, p), size: p.length }]), checksumOf(alg, p));
      const empty = { digest: checksumOf(alg, Buffer.alloc(0)), size: 0 };
      assert.deepEqual(combineCrc(alg, [empty, empty]), Buffer.alloc(digestLength(alg)));
      assert.deepEqual(combineCrc(alg, []), Buffer.alloc(digestLength(alg)));
    }
  });

  it('combines sizes with several bits set, and a 5 GiB part in bounded time', () => {
    // crc(zeros(a+b)) must equal combine(crc(zeros(a)), crc(zeros(b)), b) for any a, b;
    // checking 1 MiB + 1 MiB ⇒ 2 MiB pins the operator for a length with several bits set.
    for (const alg of algs) {
      const mib = Buffer.alloc(1 << 20);
      const one = { digest: checksumOf(alg, mib), size: mib.length };
      assert.deepEqual(combineCrc(alg, [one, one]), checksumOf(alg, Buffer.alloc(2 << 20)));
      // And a 5 GiB operand still runs in bounded time.
      const t = Date.now();
      combineCrc(alg, [one, { digest: one.digest, size: 5 * 1024 ** 3 }]);
      assert.ok(Date.now() - t < 1000);
    }
  });

  it('rejects a digest of the wrong length', () => {
    assert.throws(() => combineCrc('CRC64NVME', [{ digest: Buffer.alloc(4), size: 1 }]), RangeError);
  });
});

describe('compositeChecksum', () => {
  // Expected values computed independently with Python's zlib and hashlib:
  //   base64(crc32(crc32be("hello") + crc32be("world"))) + "-2"
  it('CRC32 of "hello","world" parts is wpn7tg==-2', () => {
    const parts = ['hello', 'world'].map((s) => checksumOf('CRC32', Buffer.from(s)));
    assert.equal(compositeChecksum('CRC32', parts), 'wpn7tg==-2');
  });
  it('SHA256 of "hello","world" parts', () => {
    const parts = ['hello', 'world'].map((s) => checksumOf('SHA256', Buffer.from(s)));
    assert.equal(compositeChecksum('SHA256', parts), 'cwXbmyq8zXBsJW2z2X5f9I1nfP5NOlkEr7faDjlQ4eI=-2');
  });
  it('rejects a part digest of the wrong length', () => {
    assert.throws(() => compositeChecksum('SHA1', [Buffer.alloc(4)]), RangeError);
  });
});

describe('BodyDigest', () => {
  for (const checksum of [undefined, ...CHECKSUM_ALGORITHMS]) {
    it(`equals separate computations (md5 + ${checksum ?? 'no checksum'} + sha256) over random chunking`, () => {
      const rand = rng(1 + (checksum?.length ?? 0));
      const data = randomBytes(300_000 + rand(1000));
      const bd = new BodyDigest({ md5: true, checksum, sha256: true });
      for (const c of splitAt(data, rand, 65_536)) bd.update(c);
      const r = bd.finish();
      assert.equal(r.size, data.length);
      assert.deepEqual(r.md5, createHash('md5').update(data).digest());
      assert.deepEqual(r.sha256, createHash('sha256').update(data).digest());
      if (checksum) assert.deepEqual(r.checksum, checksumOf(checksum, data));
      else assert.equal(r.checksum, undefined);
    });
  }

  it('omits what was not asked for', () => {
    const bd = new BodyDigest({ checksum: 'SHA256' });
    bd.update(CHECK);
    const r = bd.finish();
    assert.deepEqual(Object.keys(r).sort(), ['checksum', 'size']);
    assert.deepEqual(r.checksum, createHash('sha256').update(CHECK).digest());
  });

  it('refuses update after finish', () => {
    const bd = new BodyDigest({});
    bd.finish();
    assert.throws(() => bd.update(CHECK));
  });
});

describe('names and parsing', () => {
  it('maps algorithms to their headers and back', () => {
    assert.equal(checksumHeader('CRC64NVME'), 'x-amz-checksum-crc64nvme');
    for (const alg of CHECKSUM_ALGORITHMS) assert.equal(algorithmFromHeader(checksumHeader(alg)), alg);
    assert.equal(algorithmFromHeader('X-Amz-Checksum-CRC32C'), 'CRC32C');
    assert.equal(algorithmFromHeader('x-amz-checksum-md5'), undefined);
    assert.equal(algorithmFromHeader('x-amz-checksum-algorithm'), undefined);
  });

  it('parses algorithm names case-insensitively; absent is undefined', () => {
    assert.equal(parseAlgorithm('crc32c'), 'CRC32C');
    assert.equal(parseAlgorithm('Sha256'), 'SHA256');
    assert.equal(parseAlgorithm(undefined), undefined);
    assert.equal(parseAlgorithm(''), undefined);
  });

  it('rejects an unknown algorithm with InvalidRequest 400 and the S3 message', () => {
    assert.throws(
      () => parseAlgorithm('md5'),
      (e: unknown) =>
        e instanceof ServiceError &&
        e.code === 'InvalidRequest' &&
        e.status === 400 &&
        e.message === 'Value for x-amz-checksum-algorithm header is invalid.',
    );
    assert.throws(
      () => parseAlgorithm('crc16', 'x-amz-sdk-checksum-algorithm'),
      { message: 'Value for x-amz-sdk-checksum-algorithm header is invalid.' },
    );
  });

  it('decodes client checksum values only at the exact digest length', () => {
    const v = checksumOf('CRC32', CHECK);
    assert.deepEqual(decodeChecksum('CRC32', v.toString('base64')), v);
    assert.equal(decodeChecksum('CRC32C', 'AAAAAAAAAAA='), undefined);
    assert.equal(decodeChecksum('CRC32', 'AAA*AA=='), undefined);
    assert.equal(decodeChecksum('SHA1', ''), undefined);
  });
});
