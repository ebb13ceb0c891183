// Re-wrapping one object's key under another KMS key, without touching its body: the
// object key (and so every part key, the part-list tag and the stored bytes) stays; only
// the KMS ciphertext in the envelope and the envelope's key id change.
//
//   rec      := the current object record, or the version named (its sys.sse envelope, its ETag)
//   S3       := s3:GetObject (s3:GetObjectVersion for a named version) and s3:PutObject on the object, for the signer
//   blob'    := KMS ReEncrypt(blob, source = env.keyId, context = env.context,
//                             destination = target, same context)   as the signer, via S3
//   env'     := env with key_id = target ARN, wrapped_key = blob'
//   lock     := rec not protected by object lock as a delete by version id would see it (lock.ts)
//   commit   := replace sys.sse.env only if the record is still rec (sys and ETag) and,
//               in the same transaction, still passes lock
//
// By kind: SSE-KMS wraps the object key; SSE-KMS with a bucket key wraps the bucket key
// the object key is derived from (re-wrapped per object, so the object keeps its bucket
// key flag and its derivation); DSSE-KMS wraps both layer keys in one KMS blob. SSE-S3,
// SSE-C and unencrypted objects have no KMS key to change and are skipped with a reason.
// An object already under the target key is left alone (idempotent), without a KMS call.
//
// On request (convertSseS3) an SSE-S3 object becomes SSE-KMS the same way: its object key
// is unwrapped with the root key and sealed with KMS Encrypt (as the signer, via S3, so
// kms:Encrypt on the target), with the envelope's own context (aws:s3:arn = the object),
// which is the context SSE-KMS uses for new objects. Object key and object id stay.
//
// A version under a legal hold or an unexpired COMPLIANCE retention is skipped ("object-lock"),
// converted or not; a GOVERNANCE one too unless bypassGovernanceRetention (see lock.ts).

import { decodeEnvelope, encodeEnvelope, sealedKeyAad, type ObjectEnvelope } from '../../crypto/index.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import type { KmsPort } from '../../kms/port.js';
import type { KeyMetadata } from '../../kms/key-metadata.js';
import type { Caller } from '../../kms/service.js';
import { checkKeyState } from '../../kms/key-state.js';
import type { ObjectRecord, ReplaceCheck } from '../../storage/types.js';
import type { RequestFacts } from '../../http/request-facts.js';
import { ServiceError, isServiceError } from '../../errors.js';
import { kmsError } from '../../kms/errors.js';
import { isKeyId } from '../../kms/format/key-id.js';
import { envelopePlaceError, sseOf, type StoredSse } from '../sse/object-keys.js';
import type { S3PolicySources } from '../authorization.js';
import { authorizeRewrap } from './authorize.js';
import { RewrapLocked, rewrapLockCheck } from './lock.js';
import type { Logger } from 'pino';

export interface RewrapDeps extends S3PolicySources {
  kms: KmsPort;
  /** The root key that wraps SSE-S3 object keys (for convertSseS3). */
  rootKey: RootKeyProvider;
  region: string;
  log: Logger;
  /** The S3 services' clock (object lock's retention dates). */
  now: () => number;
}

export interface RewrapRequest {
  bucket: string;
  key: string;
  /** The target KMS key: id, ARN, alias name or alias ARN. */
  toKeyId: string;
  /** Only objects currently under this key (id, ARN or alias, resolved to the key). */
  fromKeyId?: string;
  /** Only this version of the object (its ETag, quoted or not); another one is `changed`. */
  expectedETag?: string;
  /** The object version to re-wrap (each version has its own envelope); the current one when absent. */
  versionId?: string;
  /** Also move SSE-S3 objects to SSE-KMS under the target key (otherwise skipped as sse-s3). */
  convertSseS3?: boolean;
  /** Re-wrap versions under GOVERNANCE retention too, if the signer is allowed s3:BypassGovernanceRetention. */
  bypassGovernanceRetention?: boolean;
}

export type SkipReason = 'unencrypted' | 'sse-s3' | 'sse-c' | 'other-source-key' | 'object-lock';

export type RewrapOutcome =
  | { status: 'rewrapped'; keyId: string; previousKeyId: string; size: number }
  | { status: 'converted'; keyId: string; size: number }
  | { status: 'unchanged'; keyId: string; size: number }
  | { status: 'skipped'; reason: SkipReason; size: number; keyId?: string }
  /** The object was overwritten, deleted or re-wrapped by someone else meanwhile: their version stands. */
  | { status: 'changed'; size: number };

/** `facts`: how the request asking for the re-wrap was signed and carried (its S3 decisions present them). */
export async function rewrapObject(deps: RewrapDeps, caller: Caller, req: RewrapRequest, facts?: RequestFacts): Promise<RewrapOutcome> {
  if (!(await deps.meta.getBucket(req.bucket))) throw new ServiceError('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: req.bucket });
  const found = req.versionId === undefined ? await deps.meta.getObject(req.bucket, req.key) : await deps.meta.getObjectVersion(req.bucket, req.key, req.versionId);
  const rec = found?.deleteMarker ? undefined : found;
  const sse = rec ? sseOf(rec.sys) : undefined;
  // Authorized before anything about the object is revealed (as S3 does: AccessDenied before NoSuchKey).
  await authorizeRewrap(deps, caller, req, sse, facts);
  if (!rec && req.versionId !== undefined) throw new ServiceError('NoSuchVersion', 'The specified version does not exist.', 404, { Key: req.key, VersionId: req.versionId });
  if (!rec) throw new ServiceError('NoSuchKey', 'The specified key does not exist.', 404, { Key: req.key });
  const size = rec.size;
  if (req.expectedETag !== undefined && unquote(req.expectedETag) !== unquote(rec.etag)) return { status: 'changed', size };
  if (!sse) return { status: 'skipped', reason: 'unencrypted', size };
  if (sse.alg === 'AES256' && !req.convertSseS3) return { status: 'skipped', reason: 'sse-s3', size };
  if (sse.alg === 'SSE-C') return { status: 'skipped', reason: 'sse-c', size };
  const env = envelope(deps, sse, req);

  const target = await deps.kms.findKey(req.toKeyId, 'toKeyId');
  // Already where it should be: the same answer with or without --from-key, so reruns read as no-ops.
  if (env.keyId === target.arn) return { status: 'unchanged', keyId: target.arn, size };
  if (req.fromKeyId !== undefined) {
    const from = await deps.kms.findKey(req.fromKeyId, 'fromKeyId');
    if (env.kind === 'sse-s3') return { status: 'skipped', reason: 'sse-s3', size };
    if (from.arn !== env.keyId) return { status: 'skipped', reason: 'other-source-key', size, keyId: env.keyId };
  }
  // Before any KMS call: a locked version is left as it is (checked again in the commit).
  const lock = await rewrapLockCheck(deps, caller, req);
  try {
    lock(rec);
  } catch (e) {
    if (e instanceof RewrapLocked) return { status: 'skipped', reason: 'object-lock', size };
    throw e;
  }
  if (env.kind === 'sse-s3') return convertSseS3(deps, caller, req, rec, sse, env, target.arn, lock);

  // As S3 calls KMS for the caller (s3/sse/kms-bridge.ts): the key policies see kms:ViaService,
  // so the AWS managed aws/s3 key, which allows only use through S3, can be re-wrapped away from.
  const out = await deps.kms.reEncrypt({
    caller: viaS3(deps, caller),
    ciphertextBlob: env.wrappedKey,
    sourceKeyId: env.keyId,
    sourceEncryptionContext: { ...env.context },
    destinationKeyId: target.arn,
    destinationEncryptionContext: { ...env.context },
  });
  const rewrapped = encodeEnvelope({ objectId: env.objectId, kind: env.kind, keyId: out.keyArn, context: env.context, wrappedKey: out.ciphertextBlob });
  const next: StoredSse = { ...sse, env: rewrapped.toString('base64') };
  const committed = await commit(deps, req, rec, next, lock);
  if (committed) return committed;
  return { status: 'rewrapped', keyId: out.keyArn, previousKeyId: env.keyId, size };
}

/** Stores `next` as the version's SSE if it is still `rec` and still passes `lock` (in the store's transaction); otherwise why not. */
async function commit(deps: RewrapDeps, req: RewrapRequest, rec: ObjectRecord, next: StoredSse, lock: ReplaceCheck): Promise<RewrapOutcome | undefined> {
  try {
    if (!(await deps.meta.replaceObjectSys(req.bucket, req.key, rec, { ...rec.sys, sse: next }, lock))) return { status: 'changed', size: rec.size };
  } catch (e) {
    if (e instanceof RewrapLocked) return { status: 'skipped', reason: 'object-lock', size: rec.size };
    throw e;
  }
  return undefined;
}

async function convertSseS3(
  deps: RewrapDeps, caller: Caller, req: RewrapRequest, rec: ObjectRecord, sse: StoredSse, env: ObjectEnvelope, targetArn: string, lock: ReplaceCheck,
): Promise<RewrapOutcome> {
  let objectKey: Buffer;
  try {
    objectKey = await deps.rootKey.unwrap(env.wrappedKey, sealedKeyAad(env));
  } catch (e) {
    deps.log.error({ err: e, bucket: req.bucket, key: req.key }, 'stored object failed authentication: its encryption metadata was changed or damaged');
    throw new ServiceError('InternalError', 'The object could not be re-wrapped: its stored encryption metadata failed an integrity check.', 500);
  }
  let out;
  try {
    out = await deps.kms.encrypt({ caller: viaS3(deps, caller), keyId: targetArn, plaintext: objectKey, encryptionContext: { ...env.context } });
  } finally {
    objectKey.fill(0);
  }
  const sealed = encodeEnvelope({ objectId: env.objectId, kind: 'sse-kms', keyId: out.keyArn, context: env.context, wrappedKey: out.ciphertextBlob });
  const next: StoredSse = { ...sse, alg: 'aws:kms', env: sealed.toString('base64') };
  const committed = await commit(deps, req, rec, next, lock);
  if (committed) return committed;
  return { status: 'converted', keyId: out.keyArn, size: rec.size };
}

/**
 * A re-key's preflight: the target (and source filter) resolved to key ARNs, and the
 * target usable, so a run fails once with KMS's message (NotFoundException,
 * DisabledException, KMSInvalidStateException) instead of once per object.
 *
 * What it tells is what DescribeKey tells, so it is authorized as DescribeKey: each key is
 * described through KMS as the caller, via S3 like the re-wraps (audited under the caller).
 * A caller who may not describe a key learns nothing about it — not its state, not the key
 * an alias points at, and not whether it exists: a reference that does not resolve is
 * reported as not found only to a caller allowed kms:DescribeKey on whatever it could name
 * (that key for a key id or ARN; every key of the account for an alias, which may point at
 * any), and every refusal has the same wording.
 */
export async function resolveRewrapKeys(deps: RewrapDeps, caller: Caller, toKeyId: string, fromKeyId?: string): Promise<{ toKeyId: string; fromKeyId?: string }> {
  const target = await describeAsCaller(deps, caller, toKeyId);
  checkKeyState({ arn: target.Arn, state: target.KeyState }, 'crypto');
  if (fromKeyId === undefined) return { toKeyId: target.Arn };
  const from = await describeAsCaller(deps, caller, fromKeyId);
  return { toKeyId: target.Arn, fromKeyId: from.Arn };
}

async function describeAsCaller(deps: RewrapDeps, caller: Caller, ref: string): Promise<KeyMetadata> {
  const via = viaS3(deps, caller);
  const denied = (): ServiceError => kmsError('AccessDeniedException', `User: ${caller.principal.arn} is not authorized to perform: kms:DescribeKey on ${ref}`);
  try {
    return await deps.kms.describeKey({ caller: via, keyId: ref });
  } catch (e) {
    if (!isServiceError(e)) throw e;
    if (e.code === 'AccessDeniedException') throw denied();
    if (e.code === 'NotFoundException') {
      try {
        await deps.kms.authorizeIdentity({ caller: via, action: 'kms:DescribeKey', resource: namedKeys(deps, ref) });
      } catch (inner) {
        if (isServiceError(inner) && inner.code === 'AccessDeniedException') throw denied();
        throw inner;
      }
    }
    throw e;
  }
}

/** The signer as S3 calls KMS for it (s3/sse/kms-bridge.ts): key policies see kms:ViaService. */
function viaS3(deps: RewrapDeps, caller: Caller): Caller {
  return { ...caller, viaService: `s3.${deps.region}.amazonaws.com` };
}

/** The keys a reference may name: the key of a key id or key ARN; any key of the account for an alias (or anything else). */
function namedKeys(deps: RewrapDeps, ref: string): string {
  if (isKeyId(ref)) return deps.kms.keyArn(ref);
  if (/^arn:aws:kms:[^:]*:\d{12}:key\/[^/]+$/.test(ref)) return ref;
  return deps.kms.keyArn('*');
}

/** The object's envelope, refused when damaged or bound to another place (aws:s3:arn, as every reader checks). */
function envelope(deps: RewrapDeps, sse: StoredSse, req: RewrapRequest): ObjectEnvelope {
  try {
    const env = decodeEnvelope(Buffer.from(sse.env, 'base64'));
    const wrong = envelopePlaceError(env.kind, env.context['aws:s3:arn'], req);
    if (wrong) throw wrong;
    return env;
  } catch (e) {
    deps.log.error({ err: e, bucket: req.bucket, key: req.key }, 'stored object failed authentication: its encryption metadata was changed or damaged');
    throw new ServiceError('InternalError', 'The object could not be re-wrapped: its stored encryption metadata failed an integrity check.', 500);
  }
}

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}
