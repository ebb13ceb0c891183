// How a written blob's checksum is stored and echoed back in responses.

import { checksumHeader } from '../checksum/index.js';
import type { ObjectRecord, StoredChecksum } from '../storage/types.js';
import type { WrittenBlob } from './object-writer.js';

export function storedChecksumOf(blob: WrittenBlob): StoredChecksum | undefined {
  if (!blob.checksum) return undefined;
  return { algorithm: blob.checksum.algorithm, type: 'FULL_OBJECT', value: blob.checksum.digest.toString('base64') };
}

/** PutObject/CompleteMultipartUpload echo the checksum they stored, with its type. */
export function checksumResponseHeaders(rec: Pick<ObjectRecord, 'checksum'>): Record<string, string> {
  if (!rec.checksum) return {};
  return { [checksumHeader(rec.checksum.algorithm)]: rec.checksum.value, 'x-amz-checksum-type': rec.checksum.type };
}
