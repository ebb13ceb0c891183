// decodePayload: aws-chunked bodies (signed, signed with trailer, unsigned with
// trailer) decode to the original bytes whatever the input piece size, and every
// malformed body fails with a precise error instead of hanging or crashing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { decodePayload } from '../../src/auth/chunked.js';
import { deriveSigningKey } from '../../src/auth/canonical.js';
import type { PayloadMode } from '../../src/auth/types.js';
import { encodeChunked, pieces, readAll, rejectionCode, sha256Hex, type ChunkSigner } from './fixtures.js';

const signer: ChunkSigner = {
  signingKey: deriveSigningKey('secret', '20240101', 'us-east-1', 's3'),
  amzDate: '20240101T000000Z',
  scope: '20240101/us-east-1/s3/aws4_request',
  seedSignature: 'a'.repeat(64),
};
const signed = (trailer = false): PayloadMode => ({ kind: 'chunked-signed', trailer, ...signer });
const unsignedTrailer: PayloadMode = { kind: 'chunked-unsigned-trailer' };
const data = randomBytes(200_000);

function headers(extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
  return { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), ...extra };
}

async function decode(body: Buffer, mode: PayloadMode, h: IncomingHttpHeaders = headers(), piece = 16384) {
  const d = decodePayload(pieces(body, piece), h, mode);
  const out = await readAll(d.body);
  return { out, trailers: d.trailers() };
}

function failure(body: Buffer, mode: PayloadMode, h: IncomingHttpHeaders = headers(), piece = 16384): Promise<string> {
  return rejectionCode(decode(body, mode, h, piece));
}

describe('aws-chunked decoding', () => {
  for (const piece of [1, 3, 100, 65536, 1 << 20]) {
    it(`signed chunks decode with input in ${piece}-byte pieces`, async () => {
      const { out } = await decode(encodeChunked(data, 65536, { signer }), signed(), headers(), piece);
      assert.ok(out.equals(data));
    });
  }

  it('signed chunks with a signed trailer decode and expose the trailer', async () => {
    const body = encodeChunked(data, 65536, { signer, trailers: { 'x-amz-checksum-crc32c': 'sOO8/Q==' } });
    const { out, trailers } = await decode(body, signed(true), headers({ 'x-amz-trailer': 'x-amz-checksum-crc32c' }), 1000);
    assert.ok(out.equals(data));
    assert.deepEqual(trailers, { 'x-amz-checksum-crc32c': 'sOO8/Q==' });
  });

  it('unsigned chunks with a trailer decode (STREAMING-UNSIGNED-PAYLOAD-TRAILER)', async () => {
    const body = encodeChunked(data, 8000, { trailers: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
    const { out, trailers } = await decode(body, unsignedTrailer, headers({ 'x-amz-trailer': 'x-amz-checksum-crc32' }), 777);
    assert.ok(out.equals(data));
    assert.deepEqual(trailers, { 'x-amz-checksum-crc32': 'AAAAAA==' });
  });

  it('an empty body is just the final chunk', async () => {
    const { out } = await decode(encodeChunked(Buffer.alloc(0), 65536, { signer }), signed(), headers({ 'x-amz-decoded-content-length': '0' }));
    assert.equal(out.length, 0);
  });

  it('a clean end of input may stand for the closing CRLF', async () => {
    const body = encodeChunked(data, 65536, { signer });
    const { out } = await decode(body.subarray(0, body.length - 2), signed());
    assert.ok(out.equals(data));
  });

  it('Content-Encoding aws-chunked with UNSIGNED-PAYLOAD is decoded too', async () => {
    const { out } = await decode(encodeChunked(data, 5000), { kind: 'unsigned' });
    assert.ok(out.equals(data));
  });
});

describe('aws-chunked failures', () => {
  const good = encodeChunked(data, 65536, { signer });

  it('a bad hex chunk size is InvalidRequest', async () => {
    assert.equal(await failure(Buffer.from('zz;chunk-signature=' + 'a'.repeat(64) + '\r\n'), signed()), 'InvalidRequest');
    assert.equal(await failure(Buffer.from('\r\n'), unsignedTrailer), 'InvalidRequest');
  });

  it('a chunk-size line without CRLF is InvalidRequest', async () => {
    assert.equal(await failure(Buffer.from('10\nabc'), unsignedTrailer), 'InvalidRequest');
  });

  it('an endless chunk-size line is cut off at MAX_LINE', async () => {
    assert.equal(await failure(Buffer.alloc(100_000, '1'), unsignedTrailer), 'InvalidRequest');
  });

  it('chunk data not followed by CRLF is InvalidRequest', async () => {
    assert.equal(await failure(Buffer.from('3\r\nabcXY0\r\n\r\n'), unsignedTrailer, headers({ 'x-amz-decoded-content-length': '3' })), 'InvalidRequest');
  });

  it('a signed chunk without chunk-signature is InvalidRequest', async () => {
    assert.equal(await failure(Buffer.from('3\r\nabc\r\n'), signed()), 'InvalidRequest');
  });

  for (const cut of [10, 100, 65600, good.length - 30]) {
    it(`a body truncated at ${cut} bytes is IncompleteBody`, async () => {
      assert.equal(await failure(good.subarray(0, cut), signed()), 'IncompleteBody');
    });
  }

  it('a changed data byte fails that chunk signature', async () => {
    const bad = Buffer.from(good);
    bad[70_000] ^= 1;
    assert.equal(await failure(bad, signed()), 'SignatureDoesNotMatch');
  });

  it('reordered chunks fail (each signature chains the previous one)', async () => {
    const other = encodeChunked(data, 65536, { signer: { ...signer, seedSignature: 'b'.repeat(64) } });
    assert.equal(await failure(other, signed()), 'SignatureDoesNotMatch');
  });

  it('a wrong final-chunk signature fails', async () => {
    const s = good.toString('latin1');
    const at = s.lastIndexOf('0;chunk-signature=') + 18;
    const bad = Buffer.from(s.slice(0, at) + (s[at] === '0' ? '1' : '0') + s.slice(at + 1), 'latin1');
    assert.equal(await failure(bad, signed()), 'SignatureDoesNotMatch');
  });

  it('a wrong trailer signature fails', async () => {
    const h = headers({ 'x-amz-trailer': 'x-amz-checksum-crc32c' });
    const body = encodeChunked(data, 65536, { signer, trailers: { 'x-amz-checksum-crc32c': 'sOO8/Q==' } }).toString('latin1');
    assert.equal(await failure(Buffer.from(body.replace('sOO8/Q==', 'sOO8/R=='), 'latin1'), signed(true), h), 'SignatureDoesNotMatch');
  });

  it('a signed trailer section without its signature is MalformedTrailerError', async () => {
    const h = headers({ 'x-amz-trailer': 'x-amz-checksum-crc32c' });
    const withSig = encodeChunked(data, 65536, { signer, trailers: { 'x-amz-checksum-crc32c': 'sOO8/Q==' } }).toString('latin1');
    const stripped = withSig.replace(/x-amz-trailer-signature:[0-9a-f]{64}\r\n/, '');
    assert.equal(await failure(Buffer.from(stripped, 'latin1'), signed(true), h), 'MalformedTrailerError');
  });

  it('a trailer not announced in x-amz-trailer is MalformedTrailerError', async () => {
    const body = encodeChunked(data, 8192, { trailers: { 'x-amz-checksum-sha256': 'x' } });
    assert.equal(await failure(body, unsignedTrailer, headers({ 'x-amz-trailer': 'x-amz-checksum-crc32' })), 'MalformedTrailerError');
  });

  it('data after the final chunk is InvalidRequest', async () => {
    assert.equal(await failure(Buffer.concat([good, Buffer.from('junk')]), signed()), 'InvalidRequest');
    const unsignedBody = encodeChunked(data, 65536);
    assert.equal(await failure(Buffer.concat([unsignedBody.subarray(0, unsignedBody.length - 2), Buffer.from('garbage\r\n\r\n')]), unsignedTrailer), 'InvalidRequest');
  });

  it('a decoded length other than x-amz-decoded-content-length is IncompleteBody', async () => {
    assert.equal(await failure(good, signed(), headers({ 'x-amz-decoded-content-length': String(data.length + 1) })), 'IncompleteBody');
    assert.equal(await failure(good, signed(), headers({ 'x-amz-decoded-content-length': String(data.length - 1) })), 'IncompleteBody');
  });

  it('a signed chunk below 8192 bytes that is not the last is InvalidChunkSizeError', async () => {
    assert.equal(await failure(encodeChunked(data, 4096, { signer }), signed()), 'InvalidChunkSizeError');
  });

  it('a source that closes early is IncompleteBody, not a hang', async () => {
    const source = new PassThrough();
    const d = decodePayload(source, headers(), signed());
    source.write(good.subarray(0, 1000));
    setImmediate(() => source.destroy());
    assert.equal(await rejectionCode(readAll(d.body)), 'IncompleteBody');
  });

  it('after a failure the source is drained so the connection can answer', async () => {
    const source = new PassThrough();
    const d = decodePayload(source, headers(), signed());
    const bad = Buffer.from(good);
    bad[100] ^= 1;
    source.write(bad.subarray(0, 70_000));
    assert.equal(await rejectionCode(readAll(d.body)), 'SignatureDoesNotMatch');
    let drained = false;
    source.on('end', () => (drained = true));
    source.end(bad.subarray(70_000));
    await new Promise((r) => setImmediate(r));
    assert.ok(drained);
  });
});

describe('sha256 payloads', () => {
  const body = Buffer.from('Welcome to Amazon S3.');
  it('a matching body passes through unchanged', async () => {
    const d = decodePayload(Readable.from([body]), {}, { kind: 'sha256', expected: sha256Hex(body) });
    assert.ok((await readAll(d.body)).equals(body));
  });

  it('a different body is XAmzContentSHA256Mismatch', async () => {
    const d = decodePayload(Readable.from([body]), {}, { kind: 'sha256', expected: sha256Hex('other') });
    await assert.rejects(readAll(d.body), (e: { code: string; fields: Record<string, string> }) => {
      assert.equal(e.code, 'XAmzContentSHA256Mismatch');
      assert.equal(e.fields['S3ComputedContentSHA256'], sha256Hex(body));
      return true;
    });
  });

  it('the empty-body hash with a non-empty body mismatches', async () => {
    const d = decodePayload(Readable.from([body]), {}, { kind: 'sha256', expected: sha256Hex('') });
    assert.equal(await rejectionCode(readAll(d.body)), 'XAmzContentSHA256Mismatch');
  });

  it('unsigned payloads are the source itself', () => {
    const src = Readable.from([body]);
    assert.equal(decodePayload(src, {}, { kind: 'unsigned' }).body, src);
  });
});
