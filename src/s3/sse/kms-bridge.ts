// How S3 uses the KMS on a caller's behalf. Every call runs as the requesting principal,
// with kms:ViaService = s3.<region>.amazonaws.com, through callKms — so the key policy,
// the caller's identity policies and grants decide, the key state is checked, and the
// audit log shows the call under the caller. KMS errors become S3's wire errors:
// AccessDenied (403) with KMS's message, KMS.<Code> (400) for key problems.
//
// Bucket keys: a data key from KMS for (bucket, KMS key, context), reused for a bounded
// time to derive per-object keys (GenerateDataKey once per TTL, not per object), and on
// reads the unwrapped bucket key is remembered for the same TTL. A cache hit never skips
// the access check: it resolves the key, checks its state and authorizes the caller for
// the same action exactly as the KMS call would (authorizeUse); only the cryptography
// and the billed request are saved.

import { createHash } from 'node:crypto';
import { ServiceError, isServiceError } from '../../errors.js';
import { callKms } from '../../kms/dispatch.js';
import { isTlsRequest } from '../../http/transport.js';
import { awsManagedKey } from '../../kms/managed-keys.js';
import type { Caller, KmsService } from '../../kms/service.js';
import type { S3Context } from '../context.js';
import { s3Error } from '../errors.js';

export function kmsCaller(ctx: S3Context): Caller {
  const socket = ctx.req.socket;
  return {
    principal: ctx.principal,
    requestId: ctx.requestId,
    sourceIp: socket.remoteAddress,
    secureTransport: isTlsRequest(ctx.req),
    userAgent: typeof ctx.req.headers['user-agent'] === 'string' ? ctx.req.headers['user-agent'] : undefined,
    viaService: `s3.${ctx.services.config.region}.amazonaws.com`,
  };
}

function service(ctx: S3Context): KmsService {
  const kms = ctx.services.kms;
  if (!kms) throw new Error('SSE-KMS needs the KMS service');
  return kms;
}

/** A KMS error as S3 answers it. */
export function s3ErrorFromKms(e: unknown): unknown {
  if (!isServiceError(e)) return e;
  if (e.code === 'AccessDeniedException') return s3Error('AccessDenied', {}, e.message);
  if (e.code === 'KMSInternalException') return s3Error('InternalError');
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
  return viaKms(async () => (await awsManagedKey(service(ctx))).arn);
}

export interface DataKey {
  plaintext: Buffer;
  blob: Buffer;
  keyArn: string;
}

/** GenerateDataKey as the caller: `bytes` of key (32, or 64 for DSSE-KMS). */
export async function generateDataKey(ctx: S3Context, keyRef: string, context: Record<string, string>, bytes: number): Promise<DataKey> {
  return viaKms(async () => {
    const out = await callKms(service(ctx), kmsCaller(ctx), 'GenerateDataKey', { KeyId: keyRef, NumberOfBytes: bytes, EncryptionContext: context });
    return { plaintext: out.Plaintext as Buffer, blob: out.CiphertextBlob as Buffer, keyArn: out.KeyId as string };
  });
}

/** Decrypt as the caller, naming the key the object says it was sealed under. */
export async function decryptDataKey(ctx: S3Context, keyArn: string, blob: Buffer, context: Record<string, string>): Promise<Buffer> {
  return viaKms(async () => {
    const out = await callKms(service(ctx), kmsCaller(ctx), 'Decrypt', { KeyId: keyArn, CiphertextBlob: blob, EncryptionContext: context });
    return out.Plaintext as Buffer;
  });
}

/** The access check of a KMS call without the call: key exists, caller allowed, key usable. */
async function authorizeUse(ctx: S3Context, keyRef: string, action: 'kms:GenerateDataKey' | 'kms:Decrypt', context: Record<string, string>): Promise<string> {
  return viaKms(async () => {
    const svc = service(ctx);
    const caller = kmsCaller(ctx);
    const key = await svc.resolveKey(keyRef, { allowAlias: true });
    try {
      await svc.authorize(caller, key, action, {}, context);
      svc.checkState(key, 'crypto');
    } catch (e) {
      // A refusal is audited like the KMS call it stands for; a cache hit that is allowed is not a KMS request.
      svc.audit({
        eventName: action.slice('kms:'.length),
        caller,
        requestParameters: { keyId: key.arn, encryptionContext: context },
        resources: [{ ARN: key.arn, accountId: key.accountId, type: 'AWS::KMS::Key' }],
        errorCode: isServiceError(e) ? e.code : 'KMSInternalException',
        errorMessage: isServiceError(e) ? e.message : 'internal error',
      });
      throw e;
    }
    return key.arn;
  });
}

interface CachedKey {
  plaintext: Buffer;
  blob: Buffer;
  keyArn: string;
  expires: number;
}

const MAX_CACHED = 1024;

/** Bucket keys of one server: for writes by (bucket, key reference, context), for reads by wrapped blob. */
export class BucketKeyCache {
  private readonly forWrite = new Map<string, CachedKey>();
  private readonly forRead = new Map<string, CachedKey>();
  /** Bucket keys fetched from KMS, and objects that reused one (for tests and metering). */
  readonly stats = { generated: 0, reusedForWrite: 0, decrypted: 0, reusedForRead: 0 };

  /** onReuse: told of each object key derived from a cached bucket key — a KMS request avoided (metering). */
  constructor(
    private readonly ttlMs: number,
    private readonly onReuse?: (principal: string, keyArn: string, context: Record<string, string>, avoided: 'GenerateDataKey' | 'Decrypt') => void,
  ) {}

  async forWriting(ctx: S3Context, keyRef: string, context: Record<string, string>): Promise<DataKey> {
    const id = `${keyRef}\u0000${canonicalContext(context)}`;
    const now = Date.now();
    const hit = this.forWrite.get(id);
    if (hit && hit.expires > now) {
      const arn = await authorizeUse(ctx, hit.keyArn, 'kms:GenerateDataKey', context);
      if (arn === hit.keyArn) {
        this.stats.reusedForWrite++;
        this.onReuse?.(ctx.principal.arn, hit.keyArn, context, 'GenerateDataKey');
        return hit;
      }
    }
    const dk = await generateDataKey(ctx, keyRef, context, 32);
    this.stats.generated++;
    const entry = { ...dk, expires: now + this.ttlMs };
    remember(this.forWrite, id, entry);
    remember(this.forRead, readId(dk.blob), entry);
    return dk;
  }

  async forReading(ctx: S3Context, keyArn: string, blob: Buffer, context: Record<string, string>): Promise<Buffer> {
    const id = readId(blob);
    const now = Date.now();
    const hit = this.forRead.get(id);
    if (hit && hit.expires > now && hit.keyArn === keyArn) {
      await authorizeUse(ctx, keyArn, 'kms:Decrypt', context);
      this.stats.reusedForRead++;
      this.onReuse?.(ctx.principal.arn, keyArn, context, 'Decrypt');
      return hit.plaintext;
    }
    const plaintext = await decryptDataKey(ctx, keyArn, blob, context);
    this.stats.decrypted++;
    remember(this.forRead, id, { plaintext, blob, keyArn, expires: now + this.ttlMs });
    return plaintext;
  }
}

function remember(map: Map<string, CachedKey>, id: string, entry: CachedKey): void {
  if (map.size >= MAX_CACHED) {
    const now = Date.now();
    for (const [k, v] of map) if (v.expires <= now) map.delete(k);
    if (map.size >= MAX_CACHED) map.delete(map.keys().next().value!);
  }
  map.set(id, entry);
}

function readId(blob: Buffer): string {
  return createHash('sha256').update(blob).digest('base64');
}

function canonicalContext(c: Record<string, string>): string {
  return JSON.stringify(Object.keys(c).sort().map((k) => [k, c[k]]));
}
