// Flexible checksums across a multipart upload, as S3 applies them:
//
//   CreateMultipartUpload  x-amz-checksum-algorithm / x-amz-checksum-type fix the upload's
//                          algorithm and type. SHA1/SHA256: COMPOSITE only. CRC32/CRC32C:
//                          COMPOSITE (default) or FULL_OBJECT. CRC64NVME: FULL_OBJECT only.
//   UploadPart             the part is hashed with the upload's algorithm; a checksum of
//                          another algorithm is refused. An upload without an algorithm
//                          accepts any, and otherwise gets S3's default CRC64NVME.
//   Complete               COMPOSITE: H(d1 ‖ d2 ‖ …) "-N", and the request must repeat
//                          every part's checksum. FULL_OBJECT: the CRC of the whole object,
//                          combined from the parts' CRCs and sizes (no bytes are read).
//
// Part checksums are stored as base64 without their algorithm: the upload's algorithm
// names them, and for uploads without one only CRC64NVME (the only 8-byte digest) is
// ever combined into an object checksum.

import type { IncomingHttpHeaders } from 'node:http';
import {
  CHECKSUM_ALGORITHMS,
  checksumHeader,
  combineCrc,
  compositeChecksum,
  decodeChecksum,
  isCrcAlgorithm,
  parseAlgorithm,
} from '../checksum/index.js';
import type { ChecksumAlgorithm, ChecksumType, MultipartUploadRecord, PartRecord, StoredChecksum } from '../storage/types.js';
import { s3Error } from './errors.js';
import type { IntegrityRequest } from './object-writer.js';

/** S3's default checksum of new data when a request names none. */
export const DEFAULT_ALGORITHM: ChecksumAlgorithm = 'CRC64NVME';

/** The element name of an algorithm in XML (ChecksumCRC32 …). */
export function checksumElement(alg: ChecksumAlgorithm): string {
  return `Checksum${alg}`;
}

function lower(alg: ChecksumAlgorithm | undefined): string {
  return alg ? alg.toLowerCase() : 'null';
}

export function typeMismatch(expected: ChecksumAlgorithm | undefined, actual: ChecksumAlgorithm | undefined): Error {
  return s3Error('InvalidRequest', {}, `Checksum Type mismatch occurred, expected checksum Type: ${lower(expected)}, actual checksum Type: ${lower(actual)}`);
}

function parseType(v: string | string[] | undefined): ChecksumType | undefined {
  if (v === undefined) return undefined;
  const s = (Array.isArray(v) ? v[0]! : v).trim().toUpperCase();
  if (s === 'COMPOSITE' || s === 'FULL_OBJECT') return s;
  throw s3Error('InvalidRequest', {}, 'Value for x-amz-checksum-type header is invalid.');
}

/** The algorithm and type a CreateMultipartUpload request asks for. */
export function parseUploadChecksum(h: IncomingHttpHeaders): { algorithm?: ChecksumAlgorithm; type?: ChecksumType } {
  const raw = h['x-amz-checksum-algorithm'];
  const algorithm = parseAlgorithm(Array.isArray(raw) ? raw[0] : raw, 'x-amz-checksum-algorithm');
  const requested = parseType(h['x-amz-checksum-type']);
  if (!algorithm) {
    if (requested) throw s3Error('InvalidRequest', {}, 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    return {};
  }
  const type = requested ?? (algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (type === 'FULL_OBJECT' && !isCrcAlgorithm(algorithm)) {
    throw s3Error('InvalidRequest', {}, `The FULL_OBJECT checksum type cannot be used with the ${lower(algorithm)} checksum algorithm.`);
  }
  if (type === 'COMPOSITE' && algorithm === 'CRC64NVME') {
    throw s3Error('InvalidRequest', {}, `The COMPOSITE checksum type cannot be used with the ${lower(algorithm)} checksum algorithm.`);
  }
  return { algorithm, type };
}

export interface PartChecksumPlan {
  integrity: IntegrityRequest;
  defaultAlgorithm?: ChecksumAlgorithm;
  /** Computed beside the client's checksum and stored as the part's, so Complete can combine the default. */
  extraAlgorithm?: ChecksumAlgorithm;
  /** Return the part's checksum in the response (the client sent or the upload declared one). */
  echo: boolean;
}

/** How a part's checksum is computed and verified, given what the upload declared. */
export function planPartChecksum(upload: MultipartUploadRecord, integrity: IntegrityRequest, opts: { customerKey?: boolean } = {}): PartChecksumPlan {
  const declared = upload.checksumAlgorithm;
  if (declared) {
    if (integrity.algorithm && integrity.algorithm !== declared) throw typeMismatch(declared, integrity.algorithm);
    // A part sent without a checksum is hashed with the upload's algorithm, so Complete can combine it.
    return { integrity: { ...integrity, algorithm: declared }, echo: true };
  }
  if (integrity.algorithm) {
    // The client's own checksum of a part (an SDK's default CRC32) does not replace S3's default
    // for the object: AWS still gives it a full-object CRC64NVME, except under a customer key,
    // where it gives none (aws-recordings: test_s3_multipart_upload_sse, test_multipart_upload_sse_c).
    const extra = opts.customerKey || integrity.algorithm === DEFAULT_ALGORITHM ? undefined : DEFAULT_ALGORITHM;
    return { integrity, extraAlgorithm: extra, echo: true };
  }
  return { integrity, defaultAlgorithm: DEFAULT_ALGORITHM, echo: false };
}

/** The algorithm a part copy is hashed with. */
export function copyPartAlgorithm(upload: MultipartUploadRecord): ChecksumAlgorithm {
  return upload.checksumAlgorithm ?? DEFAULT_ALGORITHM;
}

/** A checksum the Complete request gives for one part, from its <Part> element. */
export interface RequestedPartChecksum {
  algorithm: ChecksumAlgorithm;
  value: string;
}

export function requestedPartChecksums(get: (name: string) => string | undefined): RequestedPartChecksum[] {
  const out: RequestedPartChecksum[] = [];
  for (const alg of CHECKSUM_ALGORITHMS) {
    const v = get(checksumElement(alg));
    if (v !== undefined) out.push({ algorithm: alg, value: v.trim() });
  }
  return out;
}

/**
 * Checks the per-part checksums of a Complete request against the stored part.
 * Returns 'missing' when a COMPOSITE upload's request leaves one out, 'mismatch' when one does not match.
 */
export function checkRequestedPartChecksum(upload: MultipartUploadRecord, part: PartRecord, requested: RequestedPartChecksum[]): 'ok' | 'missing' | 'mismatch' {
  const declared = upload.checksumAlgorithm;
  if (declared) {
    for (const r of requested) if (r.algorithm !== declared || r.value !== part.checksum) return 'mismatch';
    if (upload.checksumType === 'COMPOSITE' && !requested.some((r) => r.algorithm === declared)) return 'missing';
    return 'ok';
  }
  // No declared algorithm: the stored checksum's algorithm is not recorded; compare what can be compared.
  for (const r of requested) {
    const stored = part.checksum === undefined ? undefined : Buffer.from(part.checksum, 'base64');
    const given = decodeChecksum(r.algorithm, r.value);
    if (!given) return 'mismatch';
    if (stored && stored.length === given.length && !stored.equals(given)) return 'mismatch';
  }
  return 'ok';
}

export function missingPartChecksum(upload: MultipartUploadRecord, partNumber: number): Error {
  return s3Error(
    'InvalidRequest',
    {},
    `The upload was created using a ${lower(upload.checksumAlgorithm)} checksum. The complete request must include the checksum for each part. It was missing for part ${partNumber} in the request.`,
  );
}

/** The object checksum of the chosen parts, or undefined when the parts do not all carry one. */
export function objectChecksum(upload: MultipartUploadRecord, parts: PartRecord[]): StoredChecksum | undefined {
  const algorithm = upload.checksumAlgorithm ?? DEFAULT_ALGORITHM;
  const type: ChecksumType = upload.checksumAlgorithm ? upload.checksumType ?? 'COMPOSITE' : 'FULL_OBJECT';
  const digests: Buffer[] = [];
  for (const p of parts) {
    const d = p.checksum === undefined ? undefined : decodeChecksum(algorithm, p.checksum);
    if (!d) {
      if (upload.checksumAlgorithm) throw new Error(`part ${p.partNumber} of upload ${upload.uploadId} has no ${algorithm} checksum`);
      return undefined;
    }
    digests.push(d);
  }
  if (type === 'COMPOSITE') return { algorithm, type, value: compositeChecksum(algorithm, digests) };
  if (!isCrcAlgorithm(algorithm)) throw new Error(`FULL_OBJECT upload ${upload.uploadId} with ${algorithm}`);
  const value = combineCrc(algorithm, parts.map((p, i) => ({ digest: digests[i]!, size: p.size }))).toString('base64');
  return { algorithm, type, value };
}

/**
 * The Complete request's own checksum headers: x-amz-checksum-type must repeat the upload's type,
 * and an x-amz-checksum-<alg> value must match the object checksum (BadDigest otherwise).
 */
export function checkCompleteChecksumHeaders(h: IncomingHttpHeaders, upload: MultipartUploadRecord, computed: StoredChecksum | undefined): void {
  const type = parseType(h['x-amz-checksum-type']);
  const storedType = upload.checksumAlgorithm ? upload.checksumType ?? 'COMPOSITE' : undefined;
  if (type && storedType && type !== storedType) {
    throw s3Error('InvalidRequest', {}, `The upload was created using the ${storedType} checksum mode. The complete request must use the same checksum mode.`);
  }
  for (const alg of CHECKSUM_ALGORITHMS) {
    const raw = h[checksumHeader(alg)];
    if (raw === undefined) continue;
    const value = (Array.isArray(raw) ? raw[0]! : raw).trim();
    if (!computed || computed.algorithm !== alg) throw typeMismatch(computed?.algorithm ?? upload.checksumAlgorithm, alg);
    if (computed.type === 'COMPOSITE') {
      const base = computed.value.replace(/-\d+$/, '');
      if (value !== computed.value && value !== base) throw badDigest(alg);
    } else {
      if (!decodeChecksum(alg, value)) throw s3Error('InvalidRequest', {}, `Value for ${checksumHeader(alg)} header is invalid.`);
      if (value !== computed.value) throw badDigest(alg);
    }
  }
}

function badDigest(alg: ChecksumAlgorithm): Error {
  return s3Error('BadDigest', {}, `The ${alg} you specified did not match the calculated checksum.`);
}
