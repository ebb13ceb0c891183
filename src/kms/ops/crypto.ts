// The symmetric data plane: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext and GenerateRandom — the calls SSE-KMS makes for
// every object, so this is the hot path. Shapes, limits and messages follow AWS (the
// botocore model and the recordings in /work/shared/reference/aws-recordings/kms.json).
//
// Each operation reads in one order, so errors come out as AWS's would:
//
//   validate members (ValidationException / SerializationException), grant tokens
//   resolve the key (NotFoundException); Decrypt: the key named by the ciphertext header
//   authorize once (kms:<Action> with the encryption context as condition keys)
//   key state ('crypto': DisabledException, KMSInvalidStateException)
//   algorithm against the key (InvalidKeyUsageException)
//   DryRun → DryRunOperationException (Decrypt/ReEncrypt: after the ciphertext is checked)
//   the cryptography (custody/ciphertext.ts), with the cached material of the version
//
// Envelope flow for SSE-KMS (GenerateDataKey, later Decrypt):
//
//   dataKey   = random(32)
//   blob      = encodeCiphertext(material[key, current], dataKey, context)
//   → S3 encrypts the object with dataKey, stores blob, forgets dataKey
//   Decrypt(blob, context): header → key, version → material → dataKey
//
// Every way a ciphertext can fail to open (not a v1 blob, tampered, wrong context,
// unknown material version) answers InvalidCiphertextException with an empty message,
// as AWS does; the kind (CiphertextParseError / CiphertextAuthError) stays on the
// error's `cause` for tests and never reaches the wire. Plaintext and data keys never
// reach the audit log: operations set note.params to what CloudTrail would show.

import { randomBytes } from 'node:crypto';
import { ServiceError } from '../../errors.js';
import type { AuditNote, KmsOperation, Operation } from '../operation.js';
import type { Caller, KmsService } from '../service.js';
import type { KmsKeyRecord } from '../store/types.js';
import { dryRunSucceeded, kmsError } from '../errors.js';
import { decryptCiphertext, encodeCiphertext, MAX_PLAINTEXT, parseCiphertextHeader, type CiphertextHeader } from '../format/ciphertext.js';
import { EncryptionContextError, type EncryptionContext } from '../../crypto/encryption-context.js';
import { CiphertextAuthError, CiphertextParseError } from '../../custody/errors.js';
import { validateGrantTokens } from './grants.js';
import { absent, auditParams, blobMember, contextMember, invalidCiphertext, keyIdMember, Violations } from './members.js';
import { SPECS } from '../key-specs.js';
import type { KeyMaterial } from '../format/key-material.js';
import { DATA_KEY_CONDITIONS, symmetricOnly, usableFor } from './key-usage.js';
import { decryptAsymmetric, encryptAsymmetric, openRsa, sealRsa } from './asymmetric-encryption.js';
import { OpenedCiphertexts } from '../opened-ciphertexts.js';
import { withRequestAlias } from './request-alias.js';

/** The model's EncryptionAlgorithmSpec enum, in its order (used in validation messages). */
const ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const;
const SYMMETRIC_DEFAULT = 'SYMMETRIC_DEFAULT';
const MAX_CIPHERTEXT_MEMBER = 6144;
const MAX_DATA_KEY_BYTES = 1024;
const DATA_KEY_SPECS: Record<string, number> = { AES_256: 32, AES_128: 16 };
const DRY_RUN_MODIFIERS = ['IGNORE_CIPHERTEXT'];
const EITHER_BYTES_OR_SPEC = 'Please specify either number of bytes or key spec.';
const INCORRECT_KEY = 'The key ID in the request does not identify a CMK that can perform this operation.';

// ---- requests and results ----
//
// A request holds the members as received, unchecked (the JSON handler's decoded body, or
// what the port builds from typed arguments): each operation validates them in AWS's order,
// so both callers get the same errors. Results are typed; the wire encodes their Buffers.

export interface EncryptRequest {
  KeyId?: unknown;
  Plaintext?: unknown;
  EncryptionContext?: unknown;
  EncryptionAlgorithm?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
}

export type EncryptResult = { CiphertextBlob: Buffer; KeyId: string; EncryptionAlgorithm: string };

export interface DecryptRequest {
  KeyId?: unknown;
  CiphertextBlob?: unknown;
  EncryptionContext?: unknown;
  EncryptionAlgorithm?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
  DryRunModifiers?: unknown;
  Recipient?: unknown;
}

export type DecryptResult = { KeyId: string; Plaintext: Buffer; EncryptionAlgorithm: string; KeyMaterialId?: string };

export interface ReEncryptRequest {
  CiphertextBlob?: unknown;
  SourceKeyId?: unknown;
  SourceEncryptionContext?: unknown;
  DestinationKeyId?: unknown;
  DestinationEncryptionContext?: unknown;
  SourceEncryptionAlgorithm?: unknown;
  DestinationEncryptionAlgorithm?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
  DryRunModifiers?: unknown;
}

export type ReEncryptResult = {
  CiphertextBlob: Buffer;
  SourceKeyId: string;
  KeyId: string;
  SourceEncryptionAlgorithm: string;
  DestinationEncryptionAlgorithm: string;
  SourceKeyMaterialId?: string;
  DestinationKeyMaterialId?: string;
};

export interface DataKeyRequest {
  KeyId?: unknown;
  NumberOfBytes?: unknown;
  KeySpec?: unknown;
  EncryptionContext?: unknown;
  GrantTokens?: unknown;
  DryRun?: unknown;
  Recipient?: unknown;
}

export type DataKeyResult = { CiphertextBlob: Buffer; Plaintext: Buffer; KeyId: string; KeyMaterialId?: string };
export type DataKeyWithoutPlaintextResult = { CiphertextBlob: Buffer; KeyId: string; KeyMaterialId?: string };

// ---- validation ----

function algorithmMember(v: Violations, field: string, value: unknown): string {
  if (absent(value)) return SYMMETRIC_DEFAULT;
  if (typeof value !== 'string' || !(ALGORITHMS as readonly string[]).includes(value)) {
    v.add(field, `Member must satisfy enum value set: [${ALGORITHMS.join(', ')}]`, String(value));
  }
  return String(value);
}

function integerMember(field: string, value: unknown): number | undefined {
  if (absent(value)) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw kmsError('SerializationException', `Expected an integer at '${field}'.`);
  return value;
}

function bytesMember(v: Violations, field: string, value: unknown): number | undefined {
  const n = integerMember(field, value);
  if (n === undefined) return undefined;
  if (n < 1) v.add(field, 'Member must have value greater than or equal to 1', n);
  else if (n > MAX_DATA_KEY_BYTES) v.add(field, `Member must have value less than or equal to ${MAX_DATA_KEY_BYTES}`, n);
  return n;
}

function ignoreCiphertext(v: Violations, value: unknown): boolean {
  if (absent(value)) return false;
  if (!Array.isArray(value)) throw kmsError('SerializationException', "Start of list found where not expected at 'dryRunModifiers'.");
  for (const m of value) {
    if (!DRY_RUN_MODIFIERS.includes(m as string)) v.add('dryRunModifiers', `Member must satisfy enum value set: [${DRY_RUN_MODIFIERS.join(', ')}]`, `[${value.join(', ')}]`);
  }
  return value.includes('IGNORE_CIPHERTEXT');
}

/**
 * Recipient asks KMS to encrypt the answer to a Nitro Enclave's public key after checking
 * its attestation document. Coffer cannot verify attestation documents, so it refuses
 * the member instead of answering in the clear.
 */
function refuseRecipient(input: { Recipient?: unknown }): void {
  if (!absent(input.Recipient)) {
    throw kmsError('UnsupportedOperationException', 'Recipient (AWS Nitro Enclaves attestation) is not supported by Coffer\'s KMS.');
  }
}

// ---- shared steps ----

/** The key encrypts and decrypts, with this algorithm (RSA keys: the RSAES ones, key-specs.ts). */
function usableAlgorithm(key: KmsKeyRecord, algorithm: string, operation: string): void {
  usableFor(key, 'ENCRYPT_DECRYPT', operation);
  if (!SPECS[key.keySpec].encryption!.includes(algorithm)) throw kmsError('InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`);
}


function isCofferBlob(blob: Buffer): boolean {
  try {
    parseCiphertextHeader(blob);
    return true;
  } catch {
    return false;
  }
}

function parseHeader(blob: Buffer): CiphertextHeader {
  try {
    return parseCiphertextHeader(blob);
  } catch (e) {
    if (e instanceof CiphertextParseError) throw invalidCiphertext(e);
    throw e;
  }
}

/** Lone UTF-16 surrogates (possible via JSON \ud800 escapes) have no UTF-8 form. */
function badContext(field: string): ServiceError {
  return kmsError('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Map keys and values must be well-formed Unicode strings`);
}

/** Encrypts under the key's current material (from the cache without a promise while the key is unchanged). */
function seal(svc: KmsService, key: KmsKeyRecord, plaintext: Buffer, context: EncryptionContext, field: string, memo?: OpenedCiphertexts): Buffer | Promise<Buffer> {
  const material = svc.cachedMaterial(key);
  if (material !== undefined) return sealWith(key, material, plaintext, context, field, memo);
  return svc.material(key).then((m) => sealWith(key, m, plaintext, context, field, memo));
}

/** `memo`: where the new blob is remembered with its plaintext, for S3's first GET of the object (opened-ciphertexts.ts). */
function sealWith(key: KmsKeyRecord, material: KeyMaterial, plaintext: Buffer, context: EncryptionContext, field: string, memo?: OpenedCiphertexts): Buffer {
  try {
    const blob = encodeCiphertext({ keyId: key.keyId, materialVersion: key.currentVersion, material, plaintext, context });
    memo?.remember(material, blob, context, plaintext);
    return blob;
  } catch (e) {
    if (e instanceof EncryptionContextError) throw badContext(field);
    throw e;
  }
}

/**
 * That the material a blob of `key` names is still usable (a cached data key stands in for
 * opening the blob): KMSInvalidStateException when that imported material was deleted.
 * Uses the service's material cache, checked against the key's revision (no store read
 * while the key is unchanged).
 */
export async function checkMaterialOf(svc: KmsService, key: KmsKeyRecord, blob: Buffer): Promise<void> {
  const header = parseHeader(blob);
  if (header.keyId !== key.keyId || header.materialVersion > key.currentVersion) throw invalidCiphertext(new CiphertextParseError('ciphertext names another key or a version the key does not have'));
  await svc.material(key, header.materialVersion);
}

/** Whether `blob` is a ciphertext of `key` by its header (false for a blob that does not parse). */
export function blobOfKey(blob: Buffer, key: KmsKeyRecord): boolean {
  try {
    return parseHeader(blob).keyId === key.keyId;
  } catch {
    return false;
  }
}

/** Opens a blob whose header named `key` (without a promise while its material is cached); every failure is InvalidCiphertextException. */
function open(svc: KmsService, key: KmsKeyRecord, header: CiphertextHeader, blob: Buffer, context: EncryptionContext, memo?: OpenedCiphertexts): Buffer | Promise<Buffer> {
  // Versions are 1..currentVersion; a higher one was never issued (a forged header).
  if (header.materialVersion > key.currentVersion) throw invalidCiphertext(new CiphertextParseError('ciphertext names a material version the key does not have'));
  const material = svc.cachedMaterial(key, header.materialVersion);
  if (material !== undefined) return openWith(blob, material, context, memo);
  return svc.material(key, header.materialVersion).then((m) => openWith(blob, m, context, memo));
}

/** `memo`: a blob opened a moment ago under this very material object and context answers from it. */
function openWith(blob: Buffer, material: KeyMaterial, context: EncryptionContext, memo?: OpenedCiphertexts): Buffer {
  if (memo !== undefined) {
    const known = memo.lookup(material, blob, context);
    if (known !== undefined) return known;
    const plaintext = openWith(blob, material, context);
    memo.remember(material, blob, context, plaintext);
    return plaintext;
  }
  try {
    return decryptCiphertext(blob, material, context);
  } catch (e) {
    if (e instanceof CiphertextAuthError || e instanceof CiphertextParseError) throw invalidCiphertext(e);
    if (e instanceof EncryptionContextError) throw invalidCiphertext(new CiphertextAuthError('encryption context has no UTF-8 form'));
    throw e;
  }
}

// Data keys come from the CSPRNG in 8 KiB draws: one OpenSSL call per ~256 AES-256
// keys instead of one per key (~3 µs each), as Node pools randomUUID. Each key is
// copied out and its bytes in the pool are zeroed at once, so the pool never holds a
// key that was handed out.
const POOL_SIZE = 8192;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function pooledRandom(n: number): Buffer {
  if (n > POOL_SIZE) return randomBytes(n);
  if (poolOffset + n > pool.length) {
    pool.fill(0);
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + n));
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

// Data keys sealed or opened a moment ago, per service (opened-ciphertexts.ts).
const openedCiphertexts = new WeakMap<KmsService, OpenedCiphertexts>();

export function openedCiphertextsOf(svc: KmsService): OpenedCiphertexts {
  let memo = openedCiphertexts.get(svc);
  if (memo === undefined) openedCiphertexts.set(svc, (memo = new OpenedCiphertexts()));
  return memo;
}

// Material ids never change, so one store read per (key, version) for the process.
const materialIds = new WeakMap<KmsService, Map<string, string>>();

function materialId(svc: KmsService, key: KmsKeyRecord, version: number): string | undefined | Promise<string | undefined> {
  let ids = materialIds.get(svc);
  if (!ids) materialIds.set(svc, (ids = new Map()));
  const k = `${key.keyId}/${version}`;
  const hit = ids.get(k);
  return hit !== undefined ? hit : readMaterialId(svc, key, version, ids, k);
}

async function readMaterialId(svc: KmsService, key: KmsKeyRecord, version: number, ids: Map<string, string>, k: string): Promise<string | undefined> {
  const rec = await svc.store.getMaterial(key.keyId, version);
  if (!rec) return undefined;
  if (ids.size > 10_000) ids.clear();
  ids.set(k, rec.materialId);
  return rec.materialId;
}

/** The key a Decrypt-like request names by KeyId must be the one in the ciphertext header. */
async function checkNamedKey(svc: KmsService, ref: string | undefined, header: CiphertextHeader): Promise<void> {
  if (ref === undefined) return;
  const named = await svc.resolveKey(ref, { allowAlias: true });
  if (named.keyId !== header.keyId) throw kmsError('IncorrectKeyException', INCORRECT_KEY);
}

/** The key a ciphertext names. */
function ciphertextKey(svc: KmsService, header: CiphertextHeader): Promise<KmsKeyRecord> {
  return svc.resolveKey(header.keyId, { allowAlias: false });
}

// ---- Encrypt ----

export const encrypt: Operation<EncryptRequest, EncryptResult> = async (svc, caller, input, note) => {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const plaintext = blobMember(v, 'plaintext', input.Plaintext, MAX_PLAINTEXT);
  const algorithm = algorithmMember(v, 'encryptionAlgorithm', input.EncryptionAlgorithm);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  const context = contextMember('encryptionContext', input.EncryptionContext);
  auditParams(note, { keyId: keyRef, encryptionContext: input.EncryptionContext ?? undefined, encryptionAlgorithm: algorithm, dryRun: input.DryRun ?? undefined });

  const resolved = svc.resolveKeyNow(keyRef, { allowAlias: true });
  const key = resolved instanceof Promise ? await resolved : resolved;
  note.keys.push(key);
  const authorized = svc.authorizeNow(caller, key, 'kms:Encrypt', withRequestAlias({ 'kms:EncryptionAlgorithm': algorithm }, keyRef), context);
  if (authorized) await authorized;
  svc.checkState(key, 'crypto');
  usableAlgorithm(key, algorithm, 'Encrypt');
  if (key.keySpec !== SYMMETRIC_DEFAULT) return encryptAsymmetric(svc, key, plaintext!, algorithm, context, input.DryRun === true);
  if (input.DryRun === true) throw dryRunSucceeded();

  const blob = await seal(svc, key, plaintext!, context, 'encryptionContext');
  return { CiphertextBlob: blob, KeyId: key.arn, EncryptionAlgorithm: SYMMETRIC_DEFAULT };
};

// ---- Decrypt ----

export const decrypt: Operation<DecryptRequest, DecryptResult> = async (svc, caller, input, note) => {
  const v = new Violations();
  // CiphertextBlob is required "in all cases except when DryRun is true and
  // DryRunModifiers is set to IGNORE_CIPHERTEXT" (the model's documentation).
  const skipCiphertext = ignoreCiphertext(v, input.DryRunModifiers) && input.DryRun === true;
  const blob = blobMember(v, 'ciphertextBlob', input.CiphertextBlob, MAX_CIPHERTEXT_MEMBER, !skipCiphertext);
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, false);
  const algorithm = algorithmMember(v, 'encryptionAlgorithm', input.EncryptionAlgorithm);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  const context = contextMember('encryptionContext', input.EncryptionContext);
  refuseRecipient(input);
  auditParams(note, { keyId: keyRef, encryptionContext: input.EncryptionContext ?? undefined, encryptionAlgorithm: algorithm, dryRun: input.DryRun ?? undefined });

  if (skipCiphertext) {
    // Permissions only: the key comes from KeyId, the ciphertext is not read.
    if (keyRef === undefined) throw kmsError('ValidationException', 'KeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.');
    const key = await svc.resolveKey(keyRef, { allowAlias: true });
    note.keys.push(key);
    await svc.authorize(caller, key, 'kms:Decrypt', withRequestAlias({ 'kms:EncryptionAlgorithm': algorithm }, keyRef), context);
    svc.checkState(key, 'crypto');
    usableAlgorithm(key, algorithm, 'Decrypt');
    throw dryRunSucceeded();
  }
  // An RSA ciphertext is raw OAEP and names no key: KeyId and the algorithm say how to open
  // it. A Coffer blob or a symmetric KeyId with an RSA algorithm goes on to be refused below.
  if (algorithm !== SYMMETRIC_DEFAULT && (keyRef === undefined ? !isCofferBlob(blob!) : (await svc.resolveKey(keyRef, { allowAlias: true })).keySpec !== SYMMETRIC_DEFAULT)) {
    return decryptAsymmetric(svc, caller, keyRef, algorithm, blob!, context, note, input.DryRun === true);
  }

  const header = parseHeader(blob!);
  // A KeyId (S3 names the key on every GET) must be the key the header names: that record,
  // read once for the request, is the key (no second read of the same key, no promise hop
  // while the store answers at once).
  const resolved = svc.resolveKeyNow(keyRef ?? header.keyId, { allowAlias: keyRef !== undefined });
  const key = resolved instanceof Promise ? await resolved : resolved;
  if (key.keyId !== header.keyId) throw kmsError('IncorrectKeyException', INCORRECT_KEY);
  note.keys.push(key);
  const authorized = svc.authorizeNow(caller, key, 'kms:Decrypt', withRequestAlias({ 'kms:EncryptionAlgorithm': algorithm }, keyRef), context);
  if (authorized) await authorized;
  svc.checkState(key, 'crypto');
  usableAlgorithm(key, algorithm, 'Decrypt');

  // Only after the key, the caller, the key state and the algorithm were checked: the memo saves the cryptography alone.
  // Only for S3's calls (an object's data key, read again and again): on the wire a Decrypt
  // of a blob seen before is rare, and remembering every one cost more than it saved.
  const opened = open(svc, key, header, blob!, context, caller.viaService === undefined ? undefined : openedCiphertextsOf(svc));
  const plaintext = opened instanceof Promise ? await opened : opened;
  if (input.DryRun === true) {
    plaintext.fill(0);
    throw dryRunSucceeded();
  }
  const out: DecryptResult = { KeyId: key.arn, Plaintext: plaintext, EncryptionAlgorithm: SYMMETRIC_DEFAULT };
  const id = materialId(svc, key, header.materialVersion);
  const mid = id instanceof Promise ? await id : id;
  if (mid !== undefined) out.KeyMaterialId = mid;
  return out;
};

// ---- ReEncrypt ----

export const reEncrypt: Operation<ReEncryptRequest, ReEncryptResult> = async (svc, caller, input, note) => {
  const v = new Violations();
  const skipCiphertext = ignoreCiphertext(v, input.DryRunModifiers) && input.DryRun === true;
  const blob = blobMember(v, 'ciphertextBlob', input.CiphertextBlob, MAX_CIPHERTEXT_MEMBER, !skipCiphertext);
  const sourceRef = keyIdMember(v, 'sourceKeyId', input.SourceKeyId, false);
  const destRef = keyIdMember(v, 'destinationKeyId', input.DestinationKeyId, true);
  const sourceAlgorithm = algorithmMember(v, 'sourceEncryptionAlgorithm', input.SourceEncryptionAlgorithm);
  const destAlgorithm = algorithmMember(v, 'destinationEncryptionAlgorithm', input.DestinationEncryptionAlgorithm);
  v.throwIfAny();
  validateGrantTokens(svc, input.GrantTokens);
  const sourceContext = contextMember('sourceEncryptionContext', input.SourceEncryptionContext);
  const destContext = contextMember('destinationEncryptionContext', input.DestinationEncryptionContext);
  auditParams(note, {
    sourceKeyId: sourceRef,
    destinationKeyId: destRef,
    sourceEncryptionContext: input.SourceEncryptionContext ?? undefined,
    destinationEncryptionContext: input.DestinationEncryptionContext ?? undefined,
    sourceEncryptionAlgorithm: sourceAlgorithm,
    destinationEncryptionAlgorithm: destAlgorithm,
    dryRun: input.DryRun ?? undefined,
  });

  let source: KmsKeyRecord;
  let header: CiphertextHeader | undefined;
  // An RSA source ciphertext names no key: SourceKeyId and SourceEncryptionAlgorithm say how to open it.
  const rsaSource = !skipCiphertext && sourceAlgorithm !== SYMMETRIC_DEFAULT
    && (sourceRef === undefined ? !isCofferBlob(blob!) : (await svc.resolveKey(sourceRef, { allowAlias: true })).keySpec !== SYMMETRIC_DEFAULT);
  if (skipCiphertext || rsaSource) {
    if (sourceRef === undefined) {
      throw kmsError('ValidationException', skipCiphertext ? 'SourceKeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.' : `SourceKeyId is required to decrypt with ${sourceAlgorithm}: a ciphertext made with an asymmetric KMS key does not name its key.`);
    }
    source = await svc.resolveKey(sourceRef, { allowAlias: true });
  } else {
    header = parseHeader(blob!);
    await checkNamedKey(svc, sourceRef, header);
    source = await ciphertextKey(svc, header);
  }
  const dest = await svc.resolveKey(destRef, { allowAlias: true });
  note.keys.push(source);
  if (dest.keyId !== source.keyId) note.keys.push(dest);

  const sameKey = { 'kms:ReEncryptOnSameKey': dest.keyId === source.keyId ? 'true' : 'false' };
  await svc.authorize(caller, source, 'kms:ReEncryptFrom', withRequestAlias({ ...sameKey, 'kms:EncryptionAlgorithm': sourceAlgorithm }, sourceRef), sourceContext);
  await svc.authorize(caller, dest, 'kms:ReEncryptTo', withRequestAlias({ ...sameKey, 'kms:EncryptionAlgorithm': destAlgorithm }, destRef), destContext);
  // The source may be pending deletion (re-encrypting away from a key being deleted is
  // the point); it must not be disabled. The destination must be usable.
  if (source.state === 'Disabled') svc.checkState(source, 'crypto');
  svc.checkState(dest, 'crypto');
  usableAlgorithm(source, sourceAlgorithm, 'ReEncrypt');
  usableAlgorithm(dest, destAlgorithm, 'ReEncrypt');
  if (skipCiphertext) throw dryRunSucceeded();

  const plaintext = rsaSource ? await openRsa(svc, source, sourceAlgorithm, blob!, sourceContext) : await open(svc, source, header!, blob!, sourceContext);
  try {
    const destBlob = dest.keySpec === SYMMETRIC_DEFAULT ? undefined : sealRsa(await svc.secret(dest), dest, destAlgorithm, plaintext, destContext);
    if (input.DryRun === true) throw dryRunSucceeded();
    const out: ReEncryptResult = {
      CiphertextBlob: destBlob ?? (await seal(svc, dest, plaintext, destContext, 'destinationEncryptionContext')),
      SourceKeyId: source.arn,
      KeyId: dest.arn,
      SourceEncryptionAlgorithm: sourceAlgorithm,
      DestinationEncryptionAlgorithm: destAlgorithm,
    };
    const [sourceMid, destMid] = await Promise.all([
      header ? materialId(svc, source, header.materialVersion) : undefined,
      destBlob ? undefined : materialId(svc, dest, dest.currentVersion),
    ]);
    if (sourceMid !== undefined) out.SourceKeyMaterialId = sourceMid;
    if (destMid !== undefined) out.DestinationKeyMaterialId = destMid;
    return out;
  } finally {
    plaintext.fill(0);
  }
};

// ---- GenerateDataKey, GenerateDataKeyWithoutPlaintext ----

/**
 * A member only an in-process caller can set (a symbol: no JSON body has one): the data key
 * is an S3 object's, read soon after its write, so its blob is remembered with it.
 */
export const SEAL_FOR_S3_READ: unique symbol = Symbol('coffer.sealForS3Read');

async function dataKey(svc: KmsService, caller: Caller, input: DataKeyRequest, note: AuditNote, withPlaintext: true): Promise<DataKeyResult>;
async function dataKey(svc: KmsService, caller: Caller, input: DataKeyRequest, note: AuditNote, withPlaintext: false): Promise<DataKeyWithoutPlaintextResult>;
async function dataKey(svc: KmsService, caller: Caller, input: DataKeyRequest, note: AuditNote, withPlaintext: boolean): Promise<DataKeyResult | DataKeyWithoutPlaintextResult> {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const numberOfBytes = bytesMember(v, 'numberOfBytes', input.NumberOfBytes);
  const keySpec = absent(input.KeySpec) ? undefined : String(input.KeySpec);
  if (keySpec !== undefined && !Object.hasOwn(DATA_KEY_SPECS, keySpec)) v.add('keySpec', 'Member must satisfy enum value set: [AES_256, AES_128]', keySpec);
  v.throwIfAny();
  if ((keySpec === undefined) === (numberOfBytes === undefined)) throw kmsError('ValidationException', EITHER_BYTES_OR_SPEC);
  validateGrantTokens(svc, input.GrantTokens);
  const context = contextMember('encryptionContext', input.EncryptionContext);
  if (withPlaintext) refuseRecipient(input);
  auditParams(note, { keyId: keyRef, encryptionContext: input.EncryptionContext ?? undefined, keySpec, numberOfBytes, dryRun: input.DryRun ?? undefined });

  const resolved = svc.resolveKeyNow(keyRef, { allowAlias: true });
  const key = resolved instanceof Promise ? await resolved : resolved;
  note.keys.push(key);
  const authorized = svc.authorizeNow(caller, key, withPlaintext ? 'kms:GenerateDataKey' : 'kms:GenerateDataKeyWithoutPlaintext', withRequestAlias(DATA_KEY_CONDITIONS, keyRef), context);
  if (authorized) await authorized;
  svc.checkState(key, 'crypto');
  symmetricOnly(key, withPlaintext ? 'GenerateDataKey' : 'GenerateDataKeyWithoutPlaintext');
  if (input.DryRun === true) throw dryRunSucceeded();

  const plaintext = pooledRandom(numberOfBytes ?? DATA_KEY_SPECS[keySpec!]!);
  let blob: Buffer;
  try {
    // S3's data key for an object (SEAL_FOR_S3_READ, set by the port only): remembered, so
    // the object's first GET skips the cryptography of its Decrypt (opened-ciphertexts.ts).
    const memo = withPlaintext && caller.viaService !== undefined && (input as { [SEAL_FOR_S3_READ]?: true })[SEAL_FOR_S3_READ] === true ? openedCiphertextsOf(svc) : undefined;
    const sealed = seal(svc, key, plaintext, context, 'encryptionContext', memo);
    blob = sealed instanceof Promise ? await sealed : sealed;
  } finally {
    if (!withPlaintext) plaintext.fill(0);
  }
  const out: DataKeyResult | DataKeyWithoutPlaintextResult = withPlaintext ? { CiphertextBlob: blob, Plaintext: plaintext, KeyId: key.arn } : { CiphertextBlob: blob, KeyId: key.arn };
  const id = materialId(svc, key, key.currentVersion);
  const mid = id instanceof Promise ? await id : id;
  if (mid !== undefined) out.KeyMaterialId = mid;
  return out;
}

export const generateDataKey: Operation<DataKeyRequest, DataKeyResult> = (svc, caller, input, note) => dataKey(svc, caller, input, note, true);
export const generateDataKeyWithoutPlaintext: Operation<DataKeyRequest, DataKeyWithoutPlaintextResult> = (svc, caller, input, note) => dataKey(svc, caller, input, note, false);

// ---- GenerateRandom ----

/**
 * Random bytes from the operating system's CSPRNG; no key, no authorization (AWS
 * authorizes kms:GenerateRandom through IAM policies only). CustomKeyStoreId can never
 * name a store: Coffer has no custom key stores.
 */
export const generateRandom: KmsOperation = async (svc, caller, input, note) => {
  const v = new Violations();
  const n = integerMember('numberOfBytes', input.NumberOfBytes);
  if (n !== undefined && n < 1) v.add('numberOfBytes', 'Member must have value greater than or equal to 1', n);
  else if (n !== undefined && n > MAX_DATA_KEY_BYTES) v.add('numberOfBytes', `Member must have value less than or equal to ${MAX_DATA_KEY_BYTES}`, n);
  const store = input.CustomKeyStoreId;
  if (!absent(store)) {
    const s = String(store);
    if (s.length < 1) v.add('customKeyStoreId', 'Member must have length greater than or equal to 1', s);
    else if (s.length > 64) v.add('customKeyStoreId', 'Member must have length less than or equal to 64', s);
  }
  v.throwIfAny();
  if (n === undefined) throw kmsError('ValidationException', 'NumberOfBytes is required.');
  refuseRecipient(input);
  auditParams(note, { numberOfBytes: n, customKeyStoreId: absent(store) ? undefined : String(store) });
  await svc.authorizeIdentity(caller, 'kms:GenerateRandom');
  if (!absent(store)) throw kmsError('CustomKeyStoreNotFoundException', `Custom key store ${String(store)} does not exist: Coffer's KMS has no custom key stores.`);
  return { Plaintext: randomBytes(n) };
};
