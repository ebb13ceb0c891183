// S3 integrity checksums: flexible-checksum algorithms, single-pass body digests and
// the object-level checksums of multipart uploads.

export {
  CHECKSUM_ALGORITHMS,
  algorithmFromHeader,
  checksumHeader,
  checksumOf,
  createHasher,
  decodeChecksum,
  digestLength,
  isCrcAlgorithm,
  parseAlgorithm,
  type CrcAlgorithm,
  type Hasher,
} from './algorithm.js';
export { BodyDigest, type BodyDigestOptions, type BodyDigestResult } from './body-digest.js';
export { createDigest, OFFLOAD_MIN_BYTES, pooledDigestJobs, stopDigestWorkers, type Digest } from './offloaded-digest.js';
export { combineCrc, compositeChecksum } from './multipart.js';
export { Crc64Nvme } from './crc64-nvme.js';
