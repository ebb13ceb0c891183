// The one write path for object bytes (PutObject, UploadPart, PostObject, copies):
// one pass over the body that feeds the digests (MD5, the flexible checksum) and the
// blob writer, then verification, then commit. Nothing becomes visible here: the
// caller commits metadata. On any failure the blob is aborted and its pending mark
// discarded, so an interrupted write leaves nothing behind.

import type { Readable } from 'node:stream';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { checksumHeader, createDigest, parseAlgorithm } from '../checksum/index.js';
import { isServiceError } from '../errors.js';
import type { ChecksumAlgorithm } from '../storage/types.js';
import type { S3Services } from './context.js';
import { s3Error } from './errors.js';
import type { BodyEncryptor } from './sse/body-cipher.js';

const ALGORITHMS: ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

/** What the request says about integrity: Content-MD5, and at most one flexible checksum (header or trailer). */
export interface IntegrityRequest {
  contentMd5?: Buffer;
  algorithm?: ChecksumAlgorithm;
  /** base64 value from an x-amz-checksum-* header. */
  expected?: string;
  /** the checksum arrives as a trailer of an aws-chunked body. */
  inTrailer: boolean;
}

export function parseIntegrity(headers: IncomingHttpHeaders): IntegrityRequest {
  const out: IntegrityRequest = { inTrailer: false };
  const md5 = headers['content-md5'];
  if (typeof md5 === 'string') {
    const b = Buffer.from(md5, 'base64');
    if (b.length !== 16 || b.toString('base64') !== md5.trim()) throw s3Error('InvalidDigest', { 'Content-MD5': md5 });
    out.contentMd5 = b;
  }
  let found = 0;
  for (const alg of ALGORITHMS) {
    const v = headers[checksumHeader(alg)];
    if (typeof v !== 'string') continue;
    found++;
    out.algorithm = alg;
    out.expected = v;
  }
  const trailer = headers['x-amz-trailer'];
  if (typeof trailer === 'string' && trailer.trim() !== '') {
    const name = trailer.trim().toLowerCase();
    const alg = ALGORITHMS.find((a) => checksumHeader(a) === name);
    if (!alg) throw s3Error('InvalidRequest', {}, `The value specified in the x-amz-trailer header is not supported`);
    found++;
    out.algorithm = alg;
    out.inTrailer = true;
  }
  if (found > 1) throw s3Error('InvalidRequest', {}, 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const declared = parseAlgorithm(single(headers['x-amz-sdk-checksum-algorithm']) ?? single(headers['x-amz-checksum-algorithm']));
  if (declared && !out.algorithm) {
    // The SDK announced an algorithm but sent no value: compute it, the value is returned to the client.
    out.algorithm = declared;
  } else if (declared && out.algorithm && declared !== out.algorithm) {
    throw s3Error('InvalidRequest', {}, `Value for x-amz-sdk-checksum-algorithm header is invalid.`);
  }
  if (out.expected !== undefined) checkChecksumFormat(out.algorithm!, out.expected);
  return out;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };

function checkChecksumFormat(alg: ChecksumAlgorithm, value: string): void {
  const b = Buffer.from(value, 'base64');
  if (b.length !== DIGEST_BYTES[alg] || b.toString('base64') !== value.trim()) {
    throw s3Error('InvalidRequest', {}, `Value for ${checksumHeader(alg)} header is invalid.`);
  }
}

export interface WrittenBlob {
  blobId: string;
  size: number;
  /** Absent when WriteBlobOptions.md5 was false and no Content-MD5 was sent. */
  md5?: Buffer;
  checksum?: { algorithm: ChecksumAlgorithm; digest: Buffer };
  /** The second checksum asked for by extraAlgorithm. */
  extra?: { algorithm: ChecksumAlgorithm; digest: Buffer };
}

export interface WriteBlobOptions {
  integrity: IntegrityRequest;
  /** Largest body accepted (EntityTooLarge beyond). */
  maxSize: number;
  /** Trailer values of an aws-chunked body, readable once the body ended. */
  trailers?: () => Record<string, string>;
  /** Compute this checksum when the request names none (S3's default CRC64NVME for new objects). */
  defaultAlgorithm?: ChecksumAlgorithm;
  /** Also compute this checksum, unverified (S3's default beside the client's own). */
  extraAlgorithm?: ChecksumAlgorithm;
  /** The body's size when the request announces it: large bodies are hashed on another core. */
  announcedSize?: number;
  /** Seals the body as it is written (server-side encryption); digests stay over the plaintext. */
  encryptor?: BodyEncryptor;
  /**
   * Compute the MD5 (default true). False where the ETag is not the MD5 (SSE-KMS, SSE-C:
   * `etagIsMd5`): MD5 is the slowest digest here, so a body that needs none is not hashed
   * with it, unless the request sent Content-MD5 to check.
   */
  md5?: boolean;
}

/** The decoded body size a request announces (x-amz-decoded-content-length for aws-chunked, else Content-Length). */
export function announcedSize(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['x-amz-decoded-content-length'] ?? headers['content-length'];
  const n = Number(v);
  return typeof v === 'string' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * EntityTooLarge for a body announced over `maxSize`, before a byte of it is read, with
 * Connection: close: the rest of the body is not read, so the connection cannot carry
 * another request.
 */
export function refuseAnnouncedOversize(headers: IncomingHttpHeaders, res: ServerResponse, maxSize: number): void {
  const size = announcedSize(headers);
  if (size === undefined || size <= maxSize) return;
  res.setHeader('connection', 'close');
  throw s3Error('EntityTooLarge', { ProposedSize: String(size), MaxSizeAllowed: String(maxSize) });
}

export async function writeBlob(services: S3Services, body: Readable, opts: WriteBlobOptions): Promise<WrittenBlob> {
  const { integrity } = opts;
  const algorithm = integrity.algorithm ?? opts.defaultAlgorithm;
  const extra = opts.extraAlgorithm !== algorithm ? opts.extraAlgorithm : undefined;
  const wantMd5 = opts.md5 !== false || integrity.contentMd5 !== undefined;
  const digest = createDigest({ md5: wantMd5, checksum: algorithm, extra }, opts.announcedSize);
  // A body that fails verification while we wait for the blob must reject our read
  // below, not surface as an unhandled 'error' event: the read loop still sees the
  // error, since a stream remembers it.
  body.on('error', ignore);
  const enc = opts.encryptor;
  const writer = await services.blobs.create();
  if (!writer.marksPending) await services.meta.markPending(writer.blobId);
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > opts.maxSize) throw s3Error('EntityTooLarge', { ProposedSize: String(size), MaxSizeAllowed: String(opts.maxSize) });
      try {
        await digest.update(b);
      } catch (e) {
        throw new BlobWriteFailure(e); // a digest worker that died: ours, not the client's
      }
      if (enc) await writeAll(writer, enc.update(b));
      else {
        try {
          await writer.write(b);
        } catch (e) {
          throw new BlobWriteFailure(e);
        }
      }
    }
    if (enc) await writeAll(writer, enc.final());
    const d = await ours(digest.finish());
    if (integrity.contentMd5 && !integrity.contentMd5.equals(d.md5!)) {
      throw s3Error('BadDigest', { ExpectedDigest: integrity.contentMd5.toString('hex'), CalculatedDigest: d.md5!.toString('base64') });
    }
    if (algorithm && integrity.algorithm) {
      let expected = integrity.expected;
      if (integrity.inTrailer) {
        expected = opts.trailers?.()[checksumHeader(algorithm)];
        if (expected === undefined) throw s3Error('InvalidRequest', {}, 'x-amz-trailer header present but no trailing checksum was received');
        checkChecksumFormat(algorithm, expected);
      }
      if (expected !== undefined && expected !== d.checksum!.toString('base64')) {
        throw s3Error('BadDigest', {}, `The ${algorithm} you specified did not match the calculated checksum.`);
      }
    }
    try {
      await writer.commit();
    } catch (e) {
      throw new BlobWriteFailure(e);
    }
    return {
      blobId: writer.blobId,
      size,
      md5: d.md5,
      checksum: algorithm ? { algorithm, digest: d.checksum! } : undefined,
      extra: extra ? { algorithm: extra, digest: d.extra! } : undefined,
    };
  } catch (e) {
    digest.cancel();
    enc?.discard();
    await writer.abort().catch(() => undefined);
    await services.meta.discardPending(writer.blobId).catch(() => undefined);
    services.collectGarbage();
    if (isServiceError(e)) throw e;
    if (e instanceof BlobWriteFailure) throw e.cause;
    // The client went away or the body could not be read to its announced length.
    throw s3Error('IncompleteBody');
  }
}

async function writeAll(writer: { write(b: Buffer): Promise<void> }, chunks: Buffer[]): Promise<void> {
  try {
    for (const c of chunks) await writer.write(c);
  } catch (e) {
    throw new BlobWriteFailure(e);
  }
}

/** A failure of our own (the blob store, the digest workers), kept apart from a client that stopped sending. */
class BlobWriteFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('blob write failed');
  }
}

/** A digest's step; its failure is ours (a digest worker that died), not the client's. */
async function ours<T>(step: T | Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (e) {
    throw new BlobWriteFailure(e);
  }
}

function ignore(): void {}
