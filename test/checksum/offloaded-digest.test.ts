// The off-thread digest gives exactly what the inline one gives, for any chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BodyDigest, createDigest, OFFLOAD_MIN_BYTES } from '../../src/checksum/index.js';

async function digestBoth(data: Buffer, chunk: number, opts: ConstructorParameters<typeof BodyDigest>[0]) {
  const inline = new BodyDigest(opts);
  const off = createDigest(opts, data.length);
  for (let i = 0; i < data.length; i += chunk) {
    const part = data.subarray(i, i + chunk);
    inline.update(part);
    await off.update(part);
  }
  return [inline.finish(), await off.finish()] as const;
}

for (const [size, chunk] of [[OFFLOAD_MIN_BYTES, 65536], [OFFLOAD_MIN_BYTES + 12345, 1000003], [9 * 1024 * 1024 + 1, 4096]] as const) {
  test(`off-thread MD5 + CRC32 of ${size} bytes in ${chunk}-byte chunks equals the inline digest`, async () => {
    const data = randomBytes(size);
    const [a, b] = await digestBoth(data, chunk, { md5: true, checksum: 'CRC32' });
    assert.equal(b.size, data.length);
    assert.deepEqual(b.md5, a.md5);
    assert.deepEqual(b.checksum, a.checksum);
  });
}

test('MD5 with a checksum, an extra checksum and SHA-256 off the thread equals the inline digest', async () => {
  const data = randomBytes(OFFLOAD_MIN_BYTES + 777);
  const [a, b] = await digestBoth(data, 65536, { md5: true, checksum: 'CRC32C', extra: 'CRC64NVME', sha256: true });
  assert.equal(b.size, data.length);
  assert.deepEqual(b.md5, a.md5);
  assert.deepEqual(b.checksum, a.checksum);
  assert.deepEqual(b.extra, a.extra);
  assert.deepEqual(b.sha256, a.sha256);
});

test('a checksum without MD5 off the thread gives no MD5', async () => {
  const data = randomBytes(OFFLOAD_MIN_BYTES);
  const [a, b] = await digestBoth(data, 65536, { checksum: 'CRC64NVME' });
  assert.equal(b.md5, undefined);
  assert.deepEqual(b.checksum, a.checksum);
});

test('concurrent off-thread digests do not mix their bytes', async () => {
  const bodies = [randomBytes(OFFLOAD_MIN_BYTES + 1), randomBytes(OFFLOAD_MIN_BYTES + 2), randomBytes(OFFLOAD_MIN_BYTES + 3)];
  const results = await Promise.all(bodies.map((d) => digestBoth(d, 300_000, { md5: true, checksum: 'SHA256' })));
  for (const [a, b] of results) {
    assert.deepEqual(b.md5, a.md5);
    assert.deepEqual(b.checksum, a.checksum);
  }
});

test('small announced bodies are hashed inline', async () => {
  const d = createDigest({ md5: true }, 100);
  assert.equal(d.constructor.name, 'InlineDigest');
  await d.update(Buffer.from('abc'));
  assert.equal((await d.finish()).md5?.toString('hex'), '900150983cd24fb0d6963f7d28e17f72');
});
