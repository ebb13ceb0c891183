// Shared test data for the auth tests: AWS's documented example credentials, a
// lookup over a few records, and a builder for aws-chunked bodies.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { chunkSignature, trailerSignature } from '../../src/auth/sign.js';
import type { CredentialLookup, CredentialRecord } from '../../src/auth/types.js';

/** The S3 documentation's example key pair (S3 "Signature Calculations" pages). */
export const S3_DOC_KEY = 'AKIAIOSFODNN7EXAMPLE';
export const S3_DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
/** The SigV4 test suite's key pair (get-vanilla and friends). */
export const SUITE_KEY = 'AKIDEXAMPLE';
export const SUITE_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

export function record(accessKeyId: string, secretAccessKey: string, extra: Partial<CredentialRecord> = {}): CredentialRecord {
  return {
    accessKeyId,
    secretAccessKey,
    principal: { arn: 'arn:aws:iam::123456789012:root', accountId: '123456789012', userName: 'root', kind: 'root' },
    ...extra,
  };
}

export function lookupOf(...records: CredentialRecord[]): CredentialLookup {
  const map = new Map(records.map((r) => [r.accessKeyId, r]));
  return (id) => map.get(id);
}

export const docLookup = lookupOf(record(S3_DOC_KEY, S3_DOC_SECRET), record(SUITE_KEY, SUITE_SECRET));

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ChunkSigner {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

/**
 * Encodes data as aws-chunked: one chunk per entry of `sizes` (cycled until the data
 * is used up), then the final chunk, optional trailers and, when signing, their signature.
 */
export function encodeChunked(data: Buffer, chunkSize: number, opts: { signer?: ChunkSigner; trailers?: Record<string, string> } = {}): Buffer {
  const parts: Buffer[] = [];
  let previous = opts.signer?.seedSignature ?? '';
  const ext = (hash: string) => {
    if (!opts.signer) return '';
    const s = opts.signer;
    previous = chunkSignature(s.signingKey, s.amzDate, s.scope, previous, hash);
    return `;chunk-signature=${previous}`;
  };
  for (let off = 0; off < data.length; off += chunkSize) {
    const chunk = data.subarray(off, Math.min(off + chunkSize, data.length));
    parts.push(Buffer.from(`${chunk.length.toString(16)}${ext(sha256Hex(chunk))}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${ext(sha256Hex(''))}\r\n`));
  if (opts.trailers) {
    let text = '';
    for (const [k, v] of Object.entries(opts.trailers)) text += `${k}:${v}\n`;
    parts.push(Buffer.from(text.replace(/\n/g, '\r\n')));
    if (opts.signer) {
      const s = opts.signer;
      parts.push(Buffer.from(`x-amz-trailer-signature:${trailerSignature(s.signingKey, s.amzDate, s.scope, previous, sha256Hex(text))}\r\n`));
    }
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** A readable that hands out `buf` in pieces of `piece` bytes (to cut lines and CRLFs apart). */
export function pieces(buf: Buffer, piece: number): Readable {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += piece) out.push(buf.subarray(i, i + piece));
  return Readable.from(out);
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** The code of the error a promise rejects with. */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'resolved';
}
