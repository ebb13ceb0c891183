// A bucket's default encryption (PutBucketEncryption) as stored in its config, and the
// default every bucket has without one: SSE-S3, as in AWS since January 2023.

import type { BucketRecord } from '../../storage/types.js';
import type { SseAlgorithm } from './request.js';

export const BUCKET_ENCRYPTION_ITEM = 'encryption';

export interface BucketEncryption {
  algorithm: SseAlgorithm;
  /** KMSMasterKeyID as given (id, ARN, alias); absent means the default key. */
  keyId?: string;
  bucketKeyEnabled: boolean;
  blockedEncryptionTypes?: string[];
}

const SSE_S3_DEFAULT: BucketEncryption = { algorithm: 'AES256', bucketKeyEnabled: false };

export function bucketEncryptionOf(b: BucketRecord): BucketEncryption {
  const raw = b.config[BUCKET_ENCRYPTION_ITEM];
  if (raw === undefined) return SSE_S3_DEFAULT;
  let cfg = parsed.get(raw);
  if (!cfg) {
    if (parsed.size >= 256) parsed.clear();
    cfg = JSON.parse(raw) as BucketEncryption;
    parsed.set(raw, cfg);
  }
  return cfg;
}

/** Parsed configurations by their stored text (read on every write of every bucket). */
const parsed = new Map<string, BucketEncryption>();
