// Everything the upload path needs to know about a body, computed in one pass over
// each chunk as it streams through: size, Content-MD5/ETag, one flexible checksum,
// and the SigV4 payload SHA-256. When the flexible checksum is itself SHA256 the
// same hash serves both, so the body is never hashed twice with one algorithm.

import { createHash, type Hash } from 'node:crypto';
import type { ChecksumAlgorithm } from './algorithm.js';
import { createHasher, type Hasher } from './algorithm.js';

export interface BodyDigestOptions {
  md5?: boolean;
  checksum?: ChecksumAlgorithm;
  /** A second checksum over the same bytes (S3's default CRC64NVME beside the one the client chose). */
  extra?: ChecksumAlgorithm;
  sha256?: boolean;
}

export interface BodyDigestResult {
  size: number;
  md5?: Buffer;
  checksum?: Buffer;
  extra?: Buffer;
  sha256?: Buffer;
}

export class BodyDigest {
  private size = 0;
  private readonly md5: Hash | undefined;
  private readonly checksum: Hasher | undefined;
  private readonly extra: Hasher | undefined;
  private readonly sha256: Hash | undefined;
  private readonly checksumIsSha256: boolean;
  private readonly wantSha256: boolean;
  private finished = false;

  constructor(opts: BodyDigestOptions) {
    this.md5 = opts.md5 ? createHash('md5') : undefined;
    this.checksumIsSha256 = opts.checksum === 'SHA256';
    this.sha256 = opts.sha256 || this.checksumIsSha256 ? createHash('sha256') : undefined;
    this.checksum = opts.checksum && !this.checksumIsSha256 ? createHasher(opts.checksum) : undefined;
    this.wantSha256 = opts.sha256 === true;
    this.extra = opts.extra && opts.extra !== opts.checksum ? createHasher(opts.extra) : undefined;
  }

  update(chunk: Buffer): void {
    if (this.finished) throw new Error('BodyDigest.update after finish');
    this.size += chunk.length;
    this.md5?.update(chunk);
    this.checksum?.update(chunk);
    this.extra?.update(chunk);
    this.sha256?.update(chunk);
  }

  finish(): BodyDigestResult {
    if (this.finished) throw new Error('BodyDigest.finish called twice');
    this.finished = true;
    const result: BodyDigestResult = { size: this.size };
    if (this.md5) result.md5 = this.md5.digest();
    const sha = this.sha256?.digest();
    if (this.checksum) result.checksum = this.checksum.digest();
    else if (this.checksumIsSha256) result.checksum = sha;
    if (this.wantSha256) result.sha256 = sha;
    if (this.extra) result.extra = this.extra.digest();
    return result;
  }
}
