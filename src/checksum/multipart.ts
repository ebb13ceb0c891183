// Object-level checksums of multipart uploads, derived from the parts' checksums.
//
// FULL_OBJECT (CRC algorithms only): the CRC of the whole object, obtained by CRC
// combination from each part's CRC and size — what a single PutObject would return.
// COMPOSITE: S3's checksum-of-checksums, H(digest1 ‖ digest2 ‖ …) in base64 with
// "-N" appended, N being the number of parts (as for multipart ETags).

import type { ChecksumAlgorithm } from './algorithm.js';
import { checksumOf, digestLength, type CrcAlgorithm } from './algorithm.js';
import { combineHalves, type CrcSpec } from './crc-combine.js';
import { CRC64_NVME_POLY_HI, CRC64_NVME_POLY_LO } from './crc64-nvme.js';

const SPECS: Record<CrcAlgorithm, CrcSpec> = {
  CRC32: { width: 32, polyLo: 0xedb88320, polyHi: 0 },
  CRC32C: { width: 32, polyLo: 0x82f63b78, polyHi: 0 },
  CRC64NVME: { width: 64, polyLo: CRC64_NVME_POLY_LO, polyHi: CRC64_NVME_POLY_HI },
};

function toHalves(alg: CrcAlgorithm, digest: Buffer): [number, number] {
  if (digest.length !== digestLength(alg)) {
    throw new RangeError(`${alg} digest must be ${digestLength(alg)} bytes, got ${digest.length}`);
  }
  return alg === 'CRC64NVME' ? [digest.readUInt32BE(4), digest.readUInt32BE(0)] : [digest.readUInt32BE(0), 0];
}

function fromHalves(alg: CrcAlgorithm, [lo, hi]: [number, number]): Buffer {
  const out = Buffer.allocUnsafe(digestLength(alg));
  if (alg === 'CRC64NVME') {
    out.writeUInt32BE(hi, 0);
    out.writeUInt32BE(lo, 4);
  } else {
    out.writeUInt32BE(lo, 0);
  }
  return out;
}

/**
 * Full-object CRC of the parts' concatenation, from each part's CRC and size
 * (no data is read). No parts gives the CRC of the empty string (all zero bytes).
 */
export function combineCrc(alg: CrcAlgorithm, parts: { digest: Buffer; size: number }[]): Buffer {
  const spec = SPECS[alg];
  let acc: [number, number] = [0, 0];
  for (const part of parts) acc = combineHalves(spec, acc, toHalves(alg, part.digest), part.size);
  return fromHalves(alg, acc);
}

/** S3's COMPOSITE checksum: base64(H(part digests concatenated)) + '-' + part count. */
export function compositeChecksum(alg: ChecksumAlgorithm, partDigests: Buffer[]): string {
  const len = digestLength(alg);
  for (const d of partDigests) {
    if (d.length !== len) throw new RangeError(`${alg} digest must be ${len} bytes, got ${d.length}`);
  }
  return `${checksumOf(alg, Buffer.concat(partDigests)).toString('base64')}-${partDigests.length}`;
}
