// Server-side encryption across a multipart upload: the upload's envelope is made at
// CreateMultipartUpload; each UploadPart / UploadPartCopy unseals the object key as the
// caller (AWS needs kms:Decrypt there too) and seals its part under its own part key;
// CompleteMultipartUpload unseals it once more to tag the final part list.

import type { MultipartUploadRecord } from '../../storage/types.js';
import type { S3Context } from '../context.js';
import { s3Error } from '../errors.js';
import { partListKey, partListTagWithKey, sealedKeyAad } from '../../crypto/index.js';
import type { EnvelopeFields } from '../../crypto/envelope.js';
import { checkEnvelopePlace, envelopeOf, openObject, partListTagOf, sealObject, sseOf, wipe, type ObjectKeys, type StoredSse } from './object-keys.js';
import type { CustomerKey } from './request.js';
import type { SseSettings } from './settings.js';
import { requireSecureTransport } from './transport-rule.js';

/** An upload's stored encryption; SSE-C uploads also keep K_list sealed under the root key (Complete brings no customer key). */
interface UploadSse extends StoredSse {
  plk?: string;
}

function partListKeyAad(ctx: S3Context, sse: StoredSse): Buffer {
  return partListKeyAadOf(envelopeOf(ctx, sse));
}

/** The AAD of an SSE-C upload's part-list key under the root key (also re-sealed by a root-key rotation, backend/reseal/). */
export function partListKeyAadOf(env: EnvelopeFields): Buffer {
  return Buffer.concat([sealedKeyAad(env), Buffer.from('/part-list-key', 'ascii')]);
}

/** The envelope of a new upload (CreateMultipartUpload); the object key is not kept. */
export async function sealUpload(ctx: S3Context, settings: SseSettings, bucket: string, key: string): Promise<UploadSse | undefined> {
  const sealed = await sealObject(ctx, settings, bucket, key);
  if (!sealed) return undefined;
  try {
    if (sealed.sse.alg !== 'SSE-C') return sealed.sse;
    const kl = partListKey(sealed.keys.inner, sealed.keys.objectId);
    try {
      const plk = await ctx.services.rootKey.wrap(kl, partListKeyAad(ctx, sealed.sse));
      return { ...sealed.sse, plk: plk.toString('base64') };
    } finally {
      kl.fill(0);
    }
  } finally {
    wipe(sealed.keys);
  }
}

const PART_NEEDS_KEY = 'The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.';

/**
 * The TLS rule for a part (UploadPart, UploadPartCopy), as for the PUT and GET of such an object:
 * a customer key sent, or a part of an SSE-C or SSE-KMS upload, only over a secure transport.
 */
export function requireSecurePartTransport(ctx: S3Context, upload: MultipartUploadRecord, customer: CustomerKey | undefined): void {
  const sse = sseOf(upload.sys);
  if (customer || sse?.alg === 'SSE-C') requireSecureTransport(ctx, { kind: 'sse-c' });
  if (sse && sse.alg !== 'AES256' && sse.alg !== 'SSE-C') requireSecureTransport(ctx, { kind: 'sse-kms' });
}

/** The keys a part of `upload` is sealed with (undefined: the upload is not encrypted), after AWS's SSE-C checks. */
export async function partKeys(ctx: S3Context, upload: MultipartUploadRecord, customer: CustomerKey | undefined): Promise<ObjectKeys | undefined> {
  const sse = sseOf(upload.sys);
  if (sse?.alg === 'SSE-C') {
    if (!customer) throw s3Error('InvalidRequest', {}, PART_NEEDS_KEY);
    if (customer.md5 !== sse.cmd5) throw s3Error('InvalidRequest', {}, 'The provided encryption parameters did not match the ones used originally.');
  } else if (customer) {
    throw s3Error('InvalidRequest', {}, PART_NEEDS_KEY);
  }
  return sse ? openObject(ctx, sse, upload, customer) : undefined;
}

/** The object's `sse` at completion: the upload's, with the tag of the chosen parts. */
export async function completedSse(ctx: S3Context, upload: MultipartUploadRecord, parts: readonly { partNumber: number; size: number }[]): Promise<StoredSse | undefined> {
  const sse = sseOf(upload.sys) as UploadSse | undefined;
  if (!sse) return undefined;
  const entries = parts.map((p) => ({ partNumber: p.partNumber, plaintextSize: p.size }));
  if (sse.alg === 'SSE-C') {
    const env = envelopeOf(ctx, sse);
    checkEnvelopePlace(ctx, env.kind, env.context['aws:s3:arn'], upload);
    const { plk, ...rest } = sse;
    const kl = await ctx.services.rootKey.unwrap(Buffer.from(plk ?? '', 'base64'), partListKeyAad(ctx, sse));
    try {
      return { ...rest, plt: partListTagWithKey(kl, entries).toString('base64') };
    } finally {
      kl.fill(0);
    }
  }
  const keys = await openObject(ctx, sse, upload);
  try {
    return { ...sse, plt: partListTagOf(keys, parts) };
  } finally {
    wipe(keys);
  }
}
