// How S3 uses the KMS on a caller's behalf. Every call goes through the KMS port
// (kms/port.ts) as the requesting principal, with kms:ViaService = s3.<region>.amazonaws.com
// — so the key policy, the caller's identity policies and grants decide, the key state is
// checked, and the audit log shows the call under the caller. KMS errors become S3's wire
// errors here, once: AccessDenied (403) with KMS's message, KMS.<Code> (400) for key
// problems. Bucket keys (bucket-keys.ts) go through the same port and the same mapping.

import { ServiceError, isServiceError } from '../../errors.js';
import type { DataKey } from '../../kms/port.js';
import type { Caller } from '../../kms/service.js';
import type { S3Context } from '../context.js';
import { s3Error } from '../errors.js';
import { AuditUnavailableError } from '../../audit/sink.js';
import { isStorageFull } from '../../storage/storage-full.js';

export type { DataKey };

export function kmsCaller(ctx: S3Context): Caller {
  return {
    principal: ctx.principal,
    requestId: ctx.requestId,
    sourceIp: ctx.transport.sourceIp,
    secureTransport: ctx.transport.secure,
    userAgent: typeof ctx.req.headers['user-agent'] === 'string' ? ctx.req.headers['user-agent'] : undefined,
    viaService: `s3.${ctx.services.config.region}.amazonaws.com`,
  };
}

/** A KMS error as S3 answers it. */
export function s3ErrorFromKms(e: unknown): unknown {
  if (!isServiceError(e)) return e;
  if (e.code === 'AccessDeniedException') return s3Error('AccessDenied', {}, e.message);
  // A KMS that cannot write its audit log refuses for now: S3 says so with 503, which clients retry.
  if (e.code === 'KMSInternalException') {
    if (!(e.cause instanceof AuditUnavailableError)) return s3Error('InternalError');
    return s3Error(isStorageFull(e.cause) ? 'InsufficientStorage' : 'ServiceUnavailable');
  }
  return new ServiceError(`KMS.${e.code}`, e.message, 400);
}

async function viaKms<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw s3ErrorFromKms(e);
  }
}

/**
 * The KMS key reference for aws:kms without a key id: the organization default key
 * (COFFER_DEFAULT_KMS_KEY_ID) when set, else the AWS managed aws/s3 key, created on first use.
 */
export async function defaultKeyRef(ctx: S3Context): Promise<string> {
  const configured = ctx.services.config.defaultKmsKeyId;
  if (configured) return configured;
  return viaKms(() => ctx.services.kms.awsManagedKeyArn());
}

/** GenerateDataKey as the caller: `bytes` of key (32, or 64 for DSSE-KMS). */
export function generateDataKey(ctx: S3Context, keyRef: string, context: Record<string, string>, bytes: number): Promise<DataKey> {
  return viaKms(() => ctx.services.kms.generateDataKey({ caller: kmsCaller(ctx), keyId: keyRef, numberOfBytes: bytes, encryptionContext: context, forObject: true }));
}

/** Decrypt as the caller, naming the key the object says it was sealed under. */
export async function decryptDataKey(ctx: S3Context, keyArn: string, blob: Buffer, context: Record<string, string>): Promise<Buffer> {
  return viaKms(async () => (await ctx.services.kms.decrypt({ caller: kmsCaller(ctx), keyId: keyArn, ciphertextBlob: blob, encryptionContext: context })).plaintext);
}

/**
 * Decrypt as the caller, answered before its audit record is durable: `recorded` settles
 * when it is, rejecting with the S3 error the refusal maps to (never left unhandled). The
 * caller sends nothing that depends on the plaintext before it resolves.
 */
export async function decryptDataKeyAnswerFirst(ctx: S3Context, keyArn: string, blob: Buffer, context: Record<string, string>): Promise<{ plaintext: Buffer; recorded: Promise<void> }> {
  const out = await viaKms(() => ctx.services.kms.decryptAnswerFirst({ caller: kmsCaller(ctx), keyId: keyArn, ciphertextBlob: blob, encryptionContext: context }));
  const recorded = viaKms(() => out.recorded);
  recorded.catch(ignore);
  return { plaintext: out.plaintext, recorded };
}

function ignore(): void {}

/** The bucket key for a new object under (keyRef, context), as the caller. */
export function bucketKeyForWriting(ctx: S3Context, keyRef: string, context: Record<string, string>): Promise<DataKey> {
  return viaKms(() => ctx.services.bucketKeys.forWriting(ctx.services.kms, kmsCaller(ctx), keyRef, context));
}

/** The plaintext bucket key of a stored object, as the caller. */
export function bucketKeyForReading(ctx: S3Context, keyArn: string, blob: Buffer, context: Record<string, string>): Promise<Buffer> {
  return viaKms(() => ctx.services.bucketKeys.forReading(ctx.services.kms, kmsCaller(ctx), keyArn, blob, context));
}
