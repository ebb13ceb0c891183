// The S3 flexible-checksum algorithms: wire names, digest sizes and streaming hashers.
// S3 carries every checksum as base64 of the big-endian digest bytes, so a Hasher's
// digest() is exactly those bytes.

import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { ServiceError } from '../errors.js';
import { Crc64Nvme } from './crc64-nvme.js';

/** The S3 flexible-checksum algorithms (x-amz-checksum-algorithm). */
export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

export type CrcAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME';

export function isCrcAlgorithm(alg: ChecksumAlgorithm): alg is CrcAlgorithm {
  return alg === 'CRC32' || alg === 'CRC32C' || alg === 'CRC64NVME';
}

/** A streaming digest. digest() may be called once; update() after it is an error. */
export interface Hasher {
  update(chunk: Buffer): void;
  digest(): Buffer;
}

const DIGEST_LENGTH: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
};

export function digestLength(alg: ChecksumAlgorithm): number {
  return DIGEST_LENGTH[alg];
}

/** The request/response header carrying this algorithm's value, e.g. x-amz-checksum-crc32c. */
export function checksumHeader(alg: ChecksumAlgorithm): string {
  return `x-amz-checksum-${alg.toLowerCase()}`;
}

/** The algorithm named by an x-amz-checksum-<alg> header name, or undefined. */
export function algorithmFromHeader(headerName: string): ChecksumAlgorithm | undefined {
  const prefix = 'x-amz-checksum-';
  const lower = headerName.toLowerCase();
  if (!lower.startsWith(prefix)) return undefined;
  const alg = lower.slice(prefix.length).toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(alg) ? (alg as ChecksumAlgorithm) : undefined;
}

/**
 * Parses an algorithm name as S3 does: case-insensitive, absent/empty means none.
 * `header` only shapes the error message (x-amz-checksum-algorithm on
 * CreateMultipartUpload, x-amz-sdk-checksum-algorithm on PutObject/UploadPart).
 */
export function parseAlgorithm(
  value: string | undefined,
  header = 'x-amz-checksum-algorithm',
): ChecksumAlgorithm | undefined {
  if (value === undefined || value === '') return undefined;
  const upper = value.trim().toUpperCase();
  if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(upper)) return upper as ChecksumAlgorithm;
  throw new ServiceError('InvalidRequest', `Value for ${header} header is invalid.`, 400);
}

/**
 * Decodes a base64 checksum value sent by a client; undefined if it is not valid
 * base64 of exactly the algorithm's digest length (the caller picks the S3 error).
 */
export function decodeChecksum(alg: ChecksumAlgorithm, value: string): Buffer | undefined {
  const len = DIGEST_LENGTH[alg];
  if (value.length !== Math.ceil(len / 3) * 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === len ? bytes : undefined;
}

class Crc32Hasher implements Hasher {
  private state = 0;
  constructor(private readonly fn: (data: Uint8Array, state: number) => number) {}
  update(chunk: Buffer): void {
    this.state = this.fn(chunk, this.state);
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(this.state >>> 0, 0);
    return out;
  }
}

class CryptoHasher implements Hasher {
  private readonly hash: Hash;
  constructor(name: string) {
    this.hash = createHash(name);
  }
  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }
  digest(): Buffer {
    return this.hash.digest();
  }
}

export function createHasher(alg: ChecksumAlgorithm): Hasher {
  switch (alg) {
    case 'CRC32':
      return new Crc32Hasher(crc32);
    case 'CRC32C':
      return new Crc32Hasher(crc32c);
    case 'CRC64NVME':
      return new Crc64Nvme();
    case 'SHA1':
      return new CryptoHasher('sha1');
    case 'SHA256':
      return new CryptoHasher('sha256');
  }
}

/** One-shot digest of a whole buffer. */
export function checksumOf(alg: ChecksumAlgorithm, data: Buffer): Buffer {
  const h = createHasher(alg);
  h.update(data);
  return h.digest();
}
