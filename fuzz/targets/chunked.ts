// Fuzz target "chunked": decodePayload() over arbitrary bytes as an aws-chunked body,
// read to the end as the S3 writers read it. Covers chunk-size lines, chunk and trailer
// signatures, trailers, the decoded length and the line limits; a body stream that
// never settles is a hang.
//
// Input: byte 0 chooses the mode (bits 0-1: signed, signed with trailer, unsigned with
// trailer, Content-Encoding aws-chunked with UNSIGNED-PAYLOAD; bit 2: announce checksum
// trailers; bit 3: send x-amz-decoded-content-length from bytes 2-3), byte 1 the size of
// the pieces the body arrives in, the rest is the body.

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { deriveSigningKey } from '../../src/auth/canonical.js';
import { decodePayload } from '../../src/auth/chunked.js';
import { chunkSignature, trailerSignature } from '../../src/auth/sign.js';
import type { PayloadMode } from '../../src/auth/types.js';
import type { FuzzTarget } from '../engine.js';
import { typedOutcome } from '../typed.js';

const SIGNER = {
  signingKey: deriveSigningKey('secret', '20240101', 'us-east-1', 's3'),
  amzDate: '20240101T000000Z',
  scope: '20240101/us-east-1/s3/aws4_request',
  seedSignature: 'a'.repeat(64),
};
const MODES: PayloadMode[] = [
  { kind: 'chunked-signed', trailer: false, ...SIGNER },
  { kind: 'chunked-signed', trailer: true, ...SIGNER },
  { kind: 'chunked-unsigned-trailer' },
  { kind: 'unsigned' },
];
const HEADER_BYTES = 4;

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** An aws-chunked body of `data` in `size`-byte chunks, signed when `signed`, with trailers. */
function encode(data: Buffer, size: number, signed: boolean, trailers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  let previous = SIGNER.seedSignature;
  const ext = (hash: string) => (signed ? `;chunk-signature=${(previous = chunkSignature(SIGNER.signingKey, SIGNER.amzDate, SIGNER.scope, previous, hash))}` : '');
  for (let off = 0; off < data.length; off += size) {
    const c = data.subarray(off, off + size);
    parts.push(Buffer.from(`${c.length.toString(16)}${ext(sha256(c))}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${ext(sha256(''))}\r\n`));
  const lines = Object.entries(trailers).map(([k, v]) => `${k}:${v}\n`);
  for (const [k, v] of Object.entries(trailers)) parts.push(Buffer.from(`${k}:${v}\r\n`));
  if (signed && lines.length > 0) parts.push(Buffer.from(`x-amz-trailer-signature:${trailerSignature(SIGNER.signingKey, SIGNER.amzDate, SIGNER.scope, previous, sha256(lines.join('')))}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

function seed(flags: number, piece: number, decodedLength: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([flags, piece, decodedLength >> 8, decodedLength & 0xff]), body]);
}

function seeds(): Buffer[] {
  const data = Buffer.alloc(9000, 'coffer ');
  const small = Buffer.from('hello, chunked world');
  const trailer = { 'x-amz-checksum-crc32': 'AAAAAA==' };
  return [
    seed(0 | 8, 0, 9000 & 0xffff, encode(data, 8192, true, {})),
    seed(1 | 4, 7, 0, encode(small, 64, true, trailer)),
    seed(2 | 4 | 8, 3, small.length, encode(small, 5, false, trailer)),
    seed(3, 255, 0, encode(small, 4, false, {})),
  ];
}

export const target: FuzzTarget = {
  name: 'chunked',
  maxLen: 32 * 1024,
  seeds,
  dictionary: [
    '\r\n', ';chunk-signature=', 'a'.repeat(64), '0\r\n', '0;chunk-signature=', '\r\n\r\n', 'x-amz-checksum-crc32:', 'x-amz-checksum-crc32c:', 'x-amz-trailer-signature:',
    ':', 'ffffffff', '2000', '10000', ';', '=', ' ', '\n', '\r',
  ],
  async run(data) {
    if (data.length < HEADER_BYTES) return 'short input';
    const flags = data[0]!;
    const piece = data[1]! === 0 ? data.length : data[1]!;
    const headers: IncomingHttpHeaders = { 'content-encoding': 'aws-chunked' };
    if (flags & 4) headers['x-amz-trailer'] = 'x-amz-checksum-crc32, x-amz-checksum-crc32c';
    if (flags & 8) headers['x-amz-decoded-content-length'] = String(data.readUInt16BE(2));
    const body = data.subarray(HEADER_BYTES);
    const pieces: Buffer[] = [];
    for (let off = 0; off < body.length; off += piece) pieces.push(body.subarray(off, off + piece));
    try {
      const decoded = decodePayload(Readable.from(pieces), headers, MODES[flags & 3]!);
      let bytes = 0;
      for await (const c of decoded.body) bytes += (c as Buffer).length;
      return `ok: ${Object.keys(decoded.trailers()).length} trailers${bytes === 0 ? ', empty' : ''}`;
    } catch (e) {
      return typedOutcome(e, data.toString('latin1'));
    }
  },
};
