// Sealing and opening object keys: the envelope flow of docs/spec/object-encryption.md
// for each kind of server-side encryption. A write calls sealObject() once (PutObject,
// CopyObject, CreateMultipartUpload) and keeps the returned keys only while it encrypts;
// a read calls openObject() with the stored record. The stored form (StoredSse) lives in
// the object's (or upload's) `sys.sse`.
//
//   SSE-KMS       dk, blob := GenerateDataKey(key, context)        OK := dk
//   bucket key    bk, blob := bucket key (cached GenerateDataKey)  OK := HKDF(bk, object id)
//   DSSE-KMS      dk, blob := GenerateDataKey(key, context, 64)    inner, outer := dk[0..32], dk[32..64]
//   SSE-S3        OK := random, wrapped := root.wrap(OK, sealedKeyAad(header))
//   SSE-C         OK := random, wrapped := AES-GCM(HKDF(customer key), OK, sealedKeyAad(header))
//
// Every kind binds the sealed key to its place: the envelope's context holds aws:s3:arn (the
// object's ARN; the bucket's for a bucket key), authenticated by the wrap. openObject() is
// told the place it reads and refuses an envelope whose aws:s3:arn names another (a record
// moved onto another key in the metadata database), as a damaged object; an envelope
// without aws:s3:arn (none written by Coffer so far) reads as before.

import { randomUUID } from 'node:crypto';
import {
  asObjectKey, deriveObjectKeyFromBucketKey, encodeEnvelope, EnvelopePlaceError, newObjectId, newObjectKey, openUnderCustomerKey,
  sealedKeyAad, sealUnderCustomerKey, splitDsseDataKey, DSSE_DATA_KEY_LENGTH, ObjectCryptoError, PartListAuthError, partListTag, verifyPartListTag,
  type EnvelopeFields, type EnvelopeWithAad, type ObjectEnvelope, type ObjectId, type ObjectKey,
} from '../../crypto/index.js';
import { CustodyError } from '../../custody/errors.js';
import type { S3Context } from '../context.js';
import { s3Error } from '../errors.js';
import { bucketKeyForReading, bucketKeyForWriting, decryptDataKey, decryptDataKeyAnswerFirst, defaultKeyRef, generateDataKey } from './kms-bridge.js';
import type { CustomerKey } from './request.js';
import { kmsContext, type SseSettings } from './settings.js';
import { decodeStoredEnvelope, decodeStoredEnvelopeWithAad, rememberedSseS3Object, rememberSseS3Key, steadyRootKeyId } from './object-key-memo.js';
import { rememberedKmsEnvelope, rememberKmsEnvelope } from './kms-envelope-memo.js';

/** What an encrypted object or upload stores about its encryption (`sys.sse`). */
export interface StoredSse {
  /** The algorithm as S3 reports it (x-amz-server-side-encryption), or SSE-C. */
  alg: 'AES256' | 'aws:kms' | 'aws:kms:dsse' | 'SSE-C';
  /** The envelope, base64. */
  env: string;
  /** S3 Bucket Key in use. */
  bk?: true;
  /** SSE-C: base64 MD5 of the customer key, as S3 echoes it. */
  cmd5?: string;
  /** The client's x-amz-server-side-encryption-context, echoed by PutObject/CopyObject/CreateMultipartUpload. */
  uctx?: string;
  /** Multipart objects: the part-list tag, base64. */
  plt?: string;
}

/** The keys of one object while it is being written or read. Zero them with wipe(). */
export interface ObjectKeys {
  objectId: ObjectId;
  /** The key the body (inner layer) is sealed with. */
  inner: ObjectKey;
  /** DSSE-KMS only: the outer layer's key. */
  outer?: ObjectKey;
}

export function wipe(keys: ObjectKeys | undefined): void {
  keys?.inner.fill(0);
  keys?.outer?.fill(0);
}

export interface SealedObject {
  sse: StoredSse;
  keys: ObjectKeys;
  /** SSE-KMS: the key ARN. */
  keyArn?: string;
}

export function sseOf(sys: Record<string, unknown>): StoredSse | undefined {
  return sys.sse as StoredSse | undefined;
}

/** Creates the object key and its envelope for a new object (or multipart upload) under `settings`. */
export async function sealObject(ctx: S3Context, settings: SseSettings, bucket: string, key: string): Promise<SealedObject | undefined> {
  if (settings.kind === 'none') return undefined;
  const objectId = newObjectId();
  const place = { 'aws:s3:arn': objectArn({ bucket, key }) };
  if (settings.kind === 'sse-s3') {
    const inner = newObjectKey();
    const fields: EnvelopeFields = { objectId, kind: 'sse-s3', keyId: '', context: place, wrappedKey: Buffer.alloc(0) };
    const rootKey = ctx.services.rootKey;
    const under = steadyRootKeyId(rootKey);
    const wrappedKey = await rootKey.wrap(inner, sealedKeyAad(fields));
    const env = encodeEnvelope({ ...fields, wrappedKey }).toString('base64');
    // Remembered at the write, so the first GET of a new object opens nothing either (a copy
    // in the memo's slab; a write that fails leaves an entry no stored envelope matches).
    rememberSseS3Key(rootKey, env, inner, objectId, under, place['aws:s3:arn']);
    return { sse: { alg: 'AES256', env }, keys: { objectId, inner } };
  }
  if (settings.kind === 'sse-c') {
    const inner = newObjectKey();
    const fields: EnvelopeFields = { objectId, kind: 'sse-c', keyId: '', context: place, wrappedKey: Buffer.alloc(0) };
    const wrappedKey = sealUnderCustomerKey(inner, settings.customer.key, objectId, sealedKeyAad(fields));
    return { sse: { alg: 'SSE-C', env: encodeEnvelope({ ...fields, wrappedKey }).toString('base64'), cmd5: settings.customer.md5 }, keys: { objectId, inner } };
  }
  const context = kmsContext(settings, bucket, key);
  const keyRef = settings.keyRef ?? (await defaultKeyRef(ctx));
  const uctx = settings.userContext ? Buffer.from(JSON.stringify(settings.userContext)).toString('base64') : undefined;
  if (settings.bucketKey) {
    const bk = await bucketKeyForWriting(ctx, keyRef, context);
    const inner = deriveObjectKeyFromBucketKey(bk.plaintext, objectId);
    const env = encodeEnvelope({ objectId, kind: 'sse-kms-bucket-key', keyId: bk.keyArn, context, wrappedKey: bk.ciphertextBlob });
    return { sse: { alg: 'aws:kms', env: env.toString('base64'), bk: true, uctx }, keys: { objectId, inner }, keyArn: bk.keyArn };
  }
  const dk = await generateDataKey(ctx, keyRef, context, settings.dsse ? DSSE_DATA_KEY_LENGTH : 32);
  const fields: EnvelopeFields = { objectId, kind: settings.dsse ? 'dsse-kms' : 'sse-kms', keyId: dk.keyArn, context, wrappedKey: dk.ciphertextBlob };
  const env = encodeEnvelope(fields).toString('base64');
  // Remembered at the write (nothing secret: the blob, not the key), so the first GET of a
  // new object decodes nothing; KMS remembered the blob's data key (kms-envelope-memo.ts).
  rememberKmsEnvelope(env, fields, false);
  let keys: ObjectKeys;
  if (settings.dsse) {
    const [inner, outer] = splitDsseDataKey(dk.plaintext);
    dk.plaintext.fill(0);
    keys = { objectId, inner, outer };
  } else {
    keys = { objectId, inner: asObjectKey(dk.plaintext) };
  }
  return { sse: { alg: settings.dsse ? 'aws:kms:dsse' : 'aws:kms', env, uctx }, keys, keyArn: dk.keyArn };
}

const SSE_C_REQUIRED = 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.';
const SSE_C_WRONG_KEY = 'Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key.';

/** Checks the customer key a read brings against what the object was written with (before any KMS or crypto work). */
export function checkCustomerKey(sse: StoredSse | undefined, customer: CustomerKey | undefined): void {
  if (sse?.alg === 'SSE-C') {
    if (!customer) throw s3Error('InvalidRequest', {}, SSE_C_REQUIRED);
    if (customer.md5 !== sse.cmd5) throw s3Error('AccessDenied', {}, SSE_C_WRONG_KEY);
  } else if (customer) {
    throw s3Error('InvalidRequest', {}, 'The encryption parameters are not applicable to this object.');
  }
}

/** The envelope of a stored object; a damaged one is an error, never a guess. */
export function envelopeOf(ctx: S3Context, sse: StoredSse): ObjectEnvelope {
  const known = decoded.get(sse);
  if (known) return known;
  // SSE-KMS and DSSE-KMS: what this very string decoded to (or was encoded from), if remembered.
  const remembered = sse.alg === 'aws:kms' || sse.alg === 'aws:kms:dsse' ? rememberedKmsEnvelope(sse.env) : undefined;
  if (remembered !== undefined) {
    decoded.set(sse, remembered);
    return remembered;
  }
  try {
    const env = decodeStoredEnvelope(sse.env);
    decoded.set(sse, env);
    if (sse.alg !== 'AES256' && sse.alg !== 'SSE-C') rememberKmsEnvelope(sse.env, env, true);
    return env;
  } catch (e) {
    throw integrityFailure(ctx, e);
  }
}

/** Envelopes already decoded during this request (headers and unsealing read the same one). */
const decoded = new WeakMap<StoredSse, ObjectEnvelope>();

/**
 * The envelope of an SSE-S3 or SSE-C object with the AAD of its sealed key taken from the
 * stored bytes (decodeEnvelopeWithAad: no second encoding of the header). Their headers
 * carry nothing the KMS kinds' response headers read, so it is not kept for the request.
 */
function envelopeWithAadOf(ctx: S3Context, sse: StoredSse): EnvelopeWithAad {
  try {
    return decodeStoredEnvelopeWithAad(sse.env);
  } catch (e) {
    throw integrityFailure(ctx, e);
  }
}

/** Where a stored object or upload lives: the bucket and key it is read (or written) as. */
export interface ObjectPlace {
  bucket: string;
  key: string;
}

/** The ARN of an object (`arn:aws:s3:::bucket/key`), the aws:s3:arn its envelope context binds it to. */
export function objectArn(place: ObjectPlace): string {
  return `arn:aws:s3:::${place.bucket}/${place.key}`;
}

/**
 * Checks the place an envelope's context names (aws:s3:arn, if present) against the object
 * being read: the object's ARN, or for a bucket-key envelope the bucket's ARN. A mismatch is
 * a damaged object (integrityFailure); the log names both places, never a key.
 */
export function checkEnvelopePlace(ctx: S3Context, kind: ObjectEnvelope['kind'], named: string | undefined, place: ObjectPlace): void {
  const wrong = envelopePlaceError(kind, named, place);
  if (wrong) throw integrityFailure(ctx, wrong, place);
}

/** The error for an envelope of `kind` whose aws:s3:arn (`named`) is not that of `place`; undefined when it is, or is absent. */
export function envelopePlaceError(kind: ObjectEnvelope['kind'], named: string | undefined, place: ObjectPlace): EnvelopePlaceError | undefined {
  if (named === undefined) return undefined;
  const expected = kind === 'sse-kms-bucket-key' ? `arn:aws:s3:::${place.bucket}` : objectArn(place);
  return named === expected ? undefined : new EnvelopePlaceError(`the envelope is bound to ${named}, not to ${expected}`);
}

/**
 * Unseals the object key(s) of a stored object or upload read at `place`, as the caller (KMS
 * decides for SSE-KMS). An envelope bound to another place is refused before any key is opened.
 */
export async function openObject(ctx: S3Context, sse: StoredSse, place: ObjectPlace, customer?: CustomerKey): Promise<ObjectKeys> {
  const { keys, recorded } = await open(ctx, sse, place, customer, false);
  if (recorded !== undefined) {
    try {
      await recorded;
    } catch (e) {
      wipe(keys);
      throw e;
    }
  }
  return keys;
}

/** An object's keys, opened before the audit record of their KMS Decrypt is durable. */
export interface OpenedForRead {
  keys: ObjectKeys;
  /**
   * SSE-KMS and DSSE-KMS: settles once the Decrypt's audit record is durable, rejecting with
   * the S3 error of its refusal (never left unhandled). Undefined for the other kinds (their
   * keys are opened without a KMS call) and for bucket keys (opened as before, recorded).
   */
  recorded?: Promise<void>;
}

/**
 * openObject() for a GET, which answers nothing before `recorded` resolves: the body can be
 * read and opened meanwhile, while the KMS Decrypt's audit record is being synced.
 */
export function openObjectForRead(ctx: S3Context, sse: StoredSse, place: ObjectPlace, customer?: CustomerKey): Promise<OpenedForRead> {
  return open(ctx, sse, place, customer, true);
}

async function open(ctx: S3Context, sse: StoredSse, place: ObjectPlace, customer: CustomerKey | undefined, answerFirst: boolean): Promise<OpenedForRead> {
  checkCustomerKey(sse, customer);
  // An SSE-S3 envelope string remembered with its key was decoded (or written) as such: no
  // decode again. Any other string (another kind, or one changed by a byte) is a miss below.
  if (sse.alg === 'AES256') {
    const known = rememberedSseS3Object(ctx.services.rootKey, sse.env);
    if (known !== undefined) {
      const keys = { objectId: known.objectId, inner: known.inner };
      try {
        checkEnvelopePlace(ctx, 'sse-s3', known.place, place);
      } catch (e) {
        wipe(keys);
        throw e;
      }
      return { keys };
    }
  }
  const opened = sse.alg === 'AES256' || sse.alg === 'SSE-C' ? envelopeWithAadOf(ctx, sse) : undefined;
  const env = opened?.envelope ?? envelopeOf(ctx, sse);
  const { objectId } = env;
  const named = env.context['aws:s3:arn'];
  checkEnvelopePlace(ctx, env.kind, named, place);
  try {
    switch (env.kind) {
      case 'sse-s3': {
        const rootKey = ctx.services.rootKey;
        const under = steadyRootKeyId(rootKey);
        const inner = asObjectKey(await rootKey.unwrap(env.wrappedKey, opened?.aad ?? sealedKeyAad(env)));
        rememberSseS3Key(rootKey, sse.env, inner, objectId, under, named);
        return { keys: { objectId, inner } };
      }
      case 'sse-c':
        try {
          return { keys: { objectId, inner: openUnderCustomerKey(env.wrappedKey, customer!.key, objectId, opened?.aad ?? sealedKeyAad(env)) } };
        } catch {
          throw s3Error('AccessDenied', {}, SSE_C_WRONG_KEY);
        }
      case 'sse-kms': {
        const { plaintext, recorded } = await decryptKmsDataKey(ctx, env, answerFirst);
        return { keys: { objectId, inner: await fromPlaintext(plaintext, recorded, asObjectKey) }, recorded };
      }
      case 'sse-kms-bucket-key': {
        const bk = await bucketKeyForReading(ctx, env.keyId, env.wrappedKey, { ...env.context });
        return { keys: { objectId, inner: deriveObjectKeyFromBucketKey(bk, objectId) } };
      }
      case 'dsse-kms': {
        const { plaintext: dk, recorded } = await decryptKmsDataKey(ctx, env, answerFirst);
        const [inner, outer] = await fromPlaintext(dk, recorded, splitDsseDataKey);
        dk.fill(0);
        return { keys: { objectId, inner, outer }, recorded };
      }
    }
  } catch (e) {
    if (e instanceof ObjectCryptoError || e instanceof CustodyError) throw integrityFailure(ctx, e);
    throw e;
  }
}

/**
 * The object key(s) `make` takes from a Decrypt's plaintext. When it refuses the plaintext (a
 * length no object key has), the plaintext is wiped and, answered first, the error waits for
 * the Decrypt's record: it is an answer the key implies (a refusal to record answers instead).
 */
async function fromPlaintext<T>(plaintext: Buffer, recorded: Promise<void> | undefined, make: (p: Buffer) => T): Promise<T> {
  try {
    return make(plaintext);
  } catch (e) {
    plaintext.fill(0);
    await recorded;
    throw e;
  }
}

/** The KMS Decrypt of an SSE-KMS or DSSE-KMS envelope's data key, as the caller; answered first (recorded pending) or after its record. */
async function decryptKmsDataKey(ctx: S3Context, env: ObjectEnvelope, answerFirst: boolean): Promise<{ plaintext: Buffer; recorded?: Promise<void> }> {
  if (answerFirst) return decryptDataKeyAnswerFirst(ctx, env.keyId, env.wrappedKey, { ...env.context });
  return { plaintext: await decryptDataKey(ctx, env.keyId, env.wrappedKey, { ...env.context }) };
}

/** Stored encryption data that fails to parse or authenticate: logged for the operator, a plain error to the client. */
export function integrityFailure(ctx: S3Context, e: unknown, object?: { bucket: string; key: string }): Error {
  const named = object ? { bucket: object.bucket, key: object.key } : {};
  ctx.services.log.error({ err: e, requestId: ctx.requestId, ...named }, 'stored object failed authentication: its data or encryption metadata was changed or damaged');
  return s3Error('InternalError', {}, 'The object could not be read: its stored data failed an integrity check.');
}

/** The response headers that describe an object's encryption (GET, HEAD, PUT, UploadPart, Complete, Copy). */
export function sseResponseHeaders(ctx: S3Context, sse: StoredSse | undefined, opts: { withContext?: boolean } = {}): Record<string, string> {
  if (!sse) return {};
  if (sse.alg === 'SSE-C') {
    return { 'x-amz-server-side-encryption-customer-algorithm': 'AES256', 'x-amz-server-side-encryption-customer-key-md5': sse.cmd5 ?? '' };
  }
  const out: Record<string, string> = { 'x-amz-server-side-encryption': sse.alg };
  if (sse.alg !== 'AES256') {
    out['x-amz-server-side-encryption-aws-kms-key-id'] = envelopeOf(ctx, sse).keyId;
    if (sse.bk) out['x-amz-server-side-encryption-bucket-key-enabled'] = 'true';
    if (opts.withContext && sse.uctx) out['x-amz-server-side-encryption-context'] = sse.uctx;
  }
  return out;
}

/** The ETag of an encrypted object: the MD5 for SSE-S3 and unencrypted objects; otherwise not the MD5 (as in AWS). */
/** Whether an object's ETag is its MD5 (unencrypted or SSE-S3): otherwise the write path skips the MD5 pass. */
export function etagIsMd5(sse: StoredSse | undefined): boolean {
  return !sse || sse.alg === 'AES256';
}

export function etagHex(sse: StoredSse | undefined, md5: Buffer | undefined): string {
  if (etagIsMd5(sse)) {
    if (md5 === undefined) throw new Error('the ETag of this object is its MD5, which was not computed');
    return md5.toString('hex');
  }
  // 122 random bits from the UUID generator's pooled entropy: cheaper than a CSPRNG call per object.
  return randomUUID().replace(/-/g, '');
}

/** A multipart object's part list must match its tag before any plaintext is released. */
export function verifyPartList(ctx: S3Context, sse: StoredSse, keys: ObjectKeys, rec: { parts: readonly { partNumber: number; size: number }[] }): void {
  const multipart = rec.parts.length > 1 || (rec.parts[0]?.partNumber ?? 0) > 0;
  if (!multipart) return;
  try {
    if (sse.plt === undefined) throw new PartListAuthError('a multipart object without its part-list tag');
    verifyPartListTag(keys.inner, keys.objectId, rec.parts.map((p) => ({ partNumber: p.partNumber, plaintextSize: p.size })), Buffer.from(sse.plt, 'base64'));
  } catch (e) {
    throw integrityFailure(ctx, e);
  }
}

/** The part-list tag to store at CompleteMultipartUpload. */
export function partListTagOf(keys: ObjectKeys, parts: readonly { partNumber: number; size: number }[]): string {
  return partListTag(keys.inner, keys.objectId, parts.map((p) => ({ partNumber: p.partNumber, plaintextSize: p.size }))).toString('base64');
}
