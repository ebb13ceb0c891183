// The encryption one write will use, decided once from the request's headers, the
// bucket's default encryption and the server's settings. Precedence, as in AWS:
//   1. SSE-C headers                          → SSE-C
//   2. x-amz-server-side-encryption           → that algorithm; aws:kms without a key id
//                                               uses the default key (below), not the bucket's
//   3. the bucket's default encryption        → its algorithm and KMSMasterKeyID (none: default key)
//   4. nothing configured                     → SSE-S3 (unless the server runs with at-rest
//                                               encryption off, for benchmarks: stored in the clear)
// The default key is the organization default (COFFER_DEFAULT_KMS_KEY_ID) if set, else the
// AWS managed aws/s3 key. BucketKeyEnabled: the request header, else the bucket's setting.

import type { BucketRecord } from '../../storage/types.js';
import type { S3Context } from '../context.js';
import { invalidArgument, s3Error } from '../errors.js';
import { bucketEncryptionOf } from './bucket-default.js';
import type { CustomerKey, SseRequest } from './request.js';
import { SSE, SSE_CONTEXT } from './request.js';

export type SseSettings =
  | { kind: 'none' }
  | { kind: 'sse-s3' }
  | { kind: 'sse-c'; customer: CustomerKey }
  | {
      kind: 'sse-kms';
      dsse: boolean;
      /** Key id, ARN or alias as configured; undefined: the default key. */
      keyRef: string | undefined;
      /** The client's context (x-amz-server-side-encryption-context), without aws:s3:arn. */
      userContext: Record<string, string> | undefined;
      bucketKey: boolean;
    };

export function resolveSse(ctx: S3Context, bucket: BucketRecord, req: SseRequest): SseSettings {
  const cfg = bucketEncryptionOf(bucket);
  const configured = bucket.config.encryption !== undefined;
  if (req.customer) {
    if (cfg.blockedEncryptionTypes?.includes('SSE-C')) throw s3Error('AccessDenied', {}, 'Requests specifying Server Side Encryption with Customer provided keys are blocked by this bucket\'s encryption configuration.');
    return { kind: 'sse-c', customer: req.customer };
  }
  if (req.algorithm === 'AES256') return { kind: 'sse-s3' };
  if (req.algorithm === 'aws:kms' || req.algorithm === 'aws:kms:dsse') {
    if (req.algorithm === 'aws:kms:dsse' && req.bucketKeyEnabled) {
      throw invalidArgument('Bucket Key is not supported with dual-layer server-side encryption with AWS KMS keys (DSSE-KMS).', SSE, req.algorithm);
    }
    return {
      kind: 'sse-kms',
      dsse: req.algorithm === 'aws:kms:dsse',
      keyRef: req.keyId,
      userContext: req.context,
      bucketKey: req.algorithm === 'aws:kms' && (req.bucketKeyEnabled ?? cfg.bucketKeyEnabled),
    };
  }
  if (cfg.algorithm === 'aws:kms' || cfg.algorithm === 'aws:kms:dsse') {
    return { kind: 'sse-kms', dsse: cfg.algorithm === 'aws:kms:dsse', keyRef: cfg.keyId, userContext: undefined, bucketKey: cfg.algorithm === 'aws:kms' && (req.bucketKeyEnabled ?? cfg.bucketKeyEnabled) };
  }
  if (!configured && !ctx.services.config.encryptionAtRest) return { kind: 'none' };
  return { kind: 'sse-s3' };
}

/** The encryption context for the object's data key: the client's pairs plus aws:s3:arn. */
export function kmsContext(settings: Extract<SseSettings, { kind: 'sse-kms' }>, bucket: string, key: string): Record<string, string> {
  const arn = settings.bucketKey ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
  const user = settings.userContext ?? {};
  const given = user['aws:s3:arn'];
  if (given !== undefined && given !== arn) {
    throw invalidArgument(`Encryption context aws:s3:arn must be ${arn}`, SSE_CONTEXT);
  }
  return { ...user, 'aws:s3:arn': arn };
}
