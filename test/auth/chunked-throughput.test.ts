// Throughput of decodePayload over a 256 MiB body fed in 64 KiB pieces (what a
// socket hands over), per payload mode and SDK chunk size, beside a plain
// pass-through of the same pieces for a ratio. Skipped unless COFFER_BENCH=1, since
// timings say nothing on a loaded CI box:
//   COFFER_BENCH=1 node --test dist/test/auth/chunked-throughput.test.js
//
// Measured on the 2-core dev box (Node 20.20), 256 MiB in 64 KiB pieces, MiB/s; the
// first column on an idle box, the second while other builds ran (load ~5). The
// signed modes are bound by SHA-256 of every chunk (the sha256 row is that bound):
//   pass-through (unsigned, baseline)              2290   800-3150
//   sha256                                          740    360-720
//   aws-chunked signed, 64 KiB chunks               446    240-260
//   aws-chunked signed, 1 MiB chunks                598    370-920
//   aws-chunked unsigned-trailer, 64 KiB chunks    1027    540-1590
//   aws-chunked unsigned-trailer, 1 MiB chunks     4257   1700-4300

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { it } from 'node:test';
import { decodePayload } from '../../src/auth/chunked.js';
import { deriveSigningKey } from '../../src/auth/canonical.js';
import type { PayloadMode } from '../../src/auth/types.js';
import { encodeChunked, sha256Hex, type ChunkSigner } from './fixtures.js';

const TOTAL = 256 * 1024 * 1024;
const PIECE = 64 * 1024;

const signer: ChunkSigner = {
  signingKey: deriveSigningKey('secret', '20240101', 'us-east-1', 's3'),
  amzDate: '20240101T000000Z',
  scope: '20240101/us-east-1/s3/aws4_request',
  seedSignature: 'a'.repeat(64),
};

function source(buf: Buffer): Readable {
  let off = 0;
  return new Readable({
    highWaterMark: PIECE,
    read() {
      if (off >= buf.length) return this.push(null);
      this.push(buf.subarray(off, off + PIECE));
      off += PIECE;
    },
  });
}

async function measure(name: string, encoded: Buffer, mode: PayloadMode | 'raw', headers: Record<string, string>): Promise<string> {
  const start = process.hrtime.bigint();
  const body = mode === 'raw' ? source(encoded) : decodePayload(source(encoded), headers, mode).body;
  let n = 0;
  for await (const c of body) n += (c as Buffer).length;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (n !== TOTAL) throw new Error(`${name}: decoded ${n} bytes`);
  return `${name.padEnd(44)} ${(TOTAL / 1048576 / secs).toFixed(0).padStart(6)} MiB/s`;
}

it('prints decodePayload MiB/s per mode', { skip: process.env['COFFER_BENCH'] !== '1' }, async () => {
  const data = randomBytes(TOTAL);
  const rows: string[] = [];
  const len = { 'x-amz-decoded-content-length': String(TOTAL) };
  rows.push(await measure('pass-through (unsigned, baseline)', data, 'raw', {}));
  rows.push(await measure('sha256', data, { kind: 'sha256', expected: sha256Hex(data) }, {}));
  for (const chunk of [64 * 1024, 1024 * 1024]) {
    const kib = `${chunk / 1024} KiB chunks`;
    const signed = encodeChunked(data, chunk, { signer });
    rows.push(await measure(`aws-chunked signed, ${kib}`, signed, { kind: 'chunked-signed', trailer: false, ...signer }, len));
    const trailer = encodeChunked(data, chunk, { trailers: { 'x-amz-checksum-crc32': 'AAAAAA==' } });
    rows.push(
      await measure(`aws-chunked unsigned-trailer, ${kib}`, trailer, { kind: 'chunked-unsigned-trailer' }, { ...len, 'x-amz-trailer': 'x-amz-checksum-crc32' }),
    );
  }
  console.log('\n' + rows.join('\n'));
});
