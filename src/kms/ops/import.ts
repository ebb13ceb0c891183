// Imported key material (BYOK): GetParametersForImport, ImportKeyMaterial,
// DeleteImportedKeyMaterial, for keys created with Origin EXTERNAL. Follows AWS's
// "Importing key material" and the recordings (reference/aws-recordings/kms.json:
// test_import_key_*, test_get_parameters_for_import*, test_rotate_key_on_demand_*external*).
//
//   getParametersForImport(key, algorithm, spec):
//     fresh RSA wrapping key pair of `spec`; token = sealed(wrapping private key, key id,
//     algorithm, spec, now + 24 h) (format/import-token.ts); the key lists the token's id
//   importKeyMaterial(key, token, encrypted):
//     open the token (bound to this key, not expired, not used) → private key
//     material = unwrap(encrypted) per the token's algorithm; check it fits the key spec
//     materialId = HMAC-SHA256(material, MATERIAL_ID_LABEL || keyId): the same material
//       always has the same id, so a re-import is recognised and different material refused
//     seal it (v1 for symmetric, v2 for HMAC and private keys) into its version; the key is
//     Enabled with the expiration model; NEW_KEY_MATERIAL into a symmetric key with material
//     waits as its pendingVersion for RotateKeyOnDemand
//   deleteImportedKeyMaterial(key): the version's sealed bytes are emptied (its id stays);
//     the key is PendingImport until the same material is imported again

import { constants, createDecipheriv, createHmac, createPrivateKey, createPublicKey, generateKeyPair, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Operation } from '../operation.js';
import type { KmsService } from '../service.js';
import type { ExpirationModel, KeyMaterialRecord, KmsKeyRecord } from '../store/types.js';
import { KmsStoreConflict } from '../store/types.js';
import { kmsError } from '../errors.js';
import { epochSeconds } from '../key-metadata.js';
import { isHmac, secretKind, SPECS } from '../key-specs.js';
import { sealKeyMaterial, sealSecret, asKeyMaterial } from '../format/key-material.js';
import { openImportToken, readImportTokenHeader, sealImportToken, type WrappingAlgorithm, type WrappingKeySpec } from '../format/import-token.js';
import { changeKey, refuseAwsManaged } from './common.js';
import { absent, auditParams, blobMember, enumValue, keyIdMember, Violations } from './members.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The model's enums, in AWS's order. */
const WRAPPING_ALGORITHMS = ['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256', 'SM2PKE'];
const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'SM2'];
const EXPIRATION_MODELS = ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'];
const IMPORT_TYPES = ['EXISTING_KEY_MATERIAL', 'NEW_KEY_MATERIAL'];
const RSA_BITS: Record<WrappingKeySpec, number> = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 };

/** AWS: "The public key and import token from the same response ... are valid for 24 hours." */
export const IMPORT_PARAMETERS_TTL_MS = 24 * 60 * 60 * 1000;
/** AWS: ValidTo is at most 365 days after the request. */
const MAX_VALID_TO_MS = 365 * 24 * 60 * 60 * 1000;
/** Outstanding tokens kept per key; the oldest are forgotten (and so refused) beyond this. */
const MAX_OUTSTANDING_TOKENS = 100;
const MAX_TOKEN = 6144;
const MAX_ENCRYPTED_MATERIAL = 6144;
// Label from docs/spec/kms-import-token.md, verbatim: changing it changes every imported material id.
export const MATERIAL_ID_LABEL = 'coffer/kms/imported-material-id/v1';
/** Imported HMAC key lengths AWS accepts, bytes (developer guide, "Supported key specs for imported key material"). */
const HMAC_LENGTHS: Record<string, [number, number]> = { HMAC_224: [28, 64], HMAC_256: [32, 64], HMAC_384: [48, 128], HMAC_512: [64, 128] };

function refuseNotExternal(key: KmsKeyRecord): void {
  if (key.origin !== 'EXTERNAL') throw kmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
}

function unsupportedSm2(what: string) {
  return kmsError('UnsupportedOperationException', `${what} is not supported by Coffer's KMS (SM2 is offered in AWS China Regions only).`);
}

export interface GetParametersForImportRequest {
  KeyId?: unknown;
  WrappingAlgorithm?: unknown;
  WrappingKeySpec?: unknown;
}

export const getParametersForImport: Operation<GetParametersForImportRequest, Record<string, unknown>> = async (svc, caller, input, note) => {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const algorithm = enumValue(v, 'wrappingAlgorithm', input.WrappingAlgorithm, WRAPPING_ALGORITHMS, true);
  const spec = enumValue(v, 'wrappingKeySpec', input.WrappingKeySpec, WRAPPING_KEY_SPECS, true);
  v.throwIfAny();
  auditParams(note, { keyId: keyRef, wrappingAlgorithm: algorithm, wrappingKeySpec: spec });
  const key = await svc.resolveKey(keyRef, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:GetParametersForImport', { 'kms:WrappingAlgorithm': algorithm, 'kms:WrappingKeySpec': spec });
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  refuseNotExternal(key);
  if (algorithm === 'SM2PKE') throw unsupportedSm2('WrappingAlgorithm SM2PKE');
  if (spec === 'SM2') throw unsupportedSm2('WrappingKeySpec SM2');
  if (algorithm === 'RSAES_PKCS1_V1_5') throw kmsError('UnsupportedOperationException', 'WrappingAlgorithm RSAES_PKCS1_V1_5 is deprecated and not supported; use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.');

  const wrappingKey = (await generateKeyPairAsync('rsa', { modulusLength: RSA_BITS[spec as WrappingKeySpec], publicExponent: 65537 })).privateKey;
  const now = svc.now();
  const validTo = now + IMPORT_PARAMETERS_TTL_MS;
  const tokenId = randomBytes(16).toString('hex');
  const pkcs8 = wrappingKey.export({ type: 'pkcs8', format: 'der' });
  let token: Buffer;
  try {
    token = await sealImportToken(svc.rootKey, { tokenId, keyId: key.keyId, validTo, wrappingAlgorithm: algorithm as WrappingAlgorithm, wrappingKeySpec: spec as WrappingKeySpec }, pkcs8);
  } finally {
    pkcs8.fill(0);
  }
  await changeKey(svc, key, async (fresh) => {
    const outstanding = (fresh.importTokens ?? []).filter((t) => t.validTo > now);
    outstanding.push({ id: tokenId, validTo });
    await svc.store.updateKey({ ...fresh, importTokens: outstanding.slice(-MAX_OUTSTANDING_TOKENS) });
  });
  return {
    KeyId: key.arn,
    ImportToken: token,
    PublicKey: createPublicKey(wrappingKey).export({ type: 'spki', format: 'der' }),
    ParametersValidTo: epochSeconds(validTo),
  };
};

export interface ImportKeyMaterialRequest {
  KeyId?: unknown;
  ImportToken?: unknown;
  EncryptedKeyMaterial?: unknown;
  ValidTo?: unknown;
  ExpirationModel?: unknown;
  ImportType?: unknown;
  KeyMaterialDescription?: unknown;
  KeyMaterialId?: unknown;
}

function invalidToken(): never {
  throw kmsError('InvalidImportTokenException', 'Import token is invalid or does not match the KMS key.');
}

/** ValidTo as the JSON protocol sends a timestamp (epoch seconds) → epoch ms. */
function timestampMember(value: unknown): number | undefined {
  if (absent(value)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw kmsError('SerializationException', 'ValidTo must be a timestamp (epoch seconds).');
  return Math.round(value * 1000);
}

/** The key material inside EncryptedKeyMaterial, unwrapped with the token's private key. InvalidCiphertextException when it does not decrypt. */
function unwrapMaterial(algorithm: WrappingAlgorithm, privateKey: KeyObject, encrypted: Buffer): Buffer {
  const hash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  try {
    if (algorithm.startsWith('RSAES_OAEP')) return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, encrypted);
    // RSA_AES_KEY_WRAP: an ephemeral AES-256 key under RSA-OAEP, then the material under
    // that key with AES Key Wrap with Padding (RFC 5649).
    const modulusBytes = (privateKey.asymmetricKeyDetails!.modulusLength! + 7) >> 3;
    const aesKey = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, encrypted.subarray(0, modulusBytes));
    try {
      if (aesKey.length !== 32) throw new Error('the wrapped AES key is not 256 bits');
      const d = createDecipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
      return Buffer.concat([d.update(encrypted.subarray(modulusBytes)), d.final()]);
    } finally {
      aesKey.fill(0);
    }
  } catch {
    throw kmsError('InvalidCiphertextException', 'The EncryptedKeyMaterial could not be decrypted with the import parameters.');
  }
}

function incorrectMaterial(key: KmsKeyRecord, why: string) {
  return kmsError('IncorrectKeyMaterialException', `The key material is not valid for ${key.arn}: ${why}.`);
}

/** The material as Coffer seals it: symmetric and HMAC bytes as they are, private keys as canonical PKCS#8 DER after checking type and size. */
function checkedMaterial(key: KmsKeyRecord, material: Buffer): Buffer {
  if (key.keySpec === 'SYMMETRIC_DEFAULT') {
    if (material.length !== 32) throw incorrectMaterial(key, 'SYMMETRIC_DEFAULT key material is 256 bits');
    return material;
  }
  if (isHmac(key.keySpec)) {
    const [min, max] = HMAC_LENGTHS[key.keySpec]!;
    if (material.length < min || material.length > max) throw incorrectMaterial(key, `${key.keySpec} key material is ${min} to ${max} bytes`);
    return material;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: material, format: 'der', type: 'pkcs8' });
  } catch {
    throw incorrectMaterial(key, 'asymmetric key material is a PKCS#8 private key');
  }
  const s = SPECS[key.keySpec];
  const d = privateKey.asymmetricKeyDetails ?? {};
  const fits = s.rsaBits
    ? privateKey.asymmetricKeyType === 'rsa' && d.modulusLength === s.rsaBits
    : s.nodeType
      ? (privateKey.asymmetricKeyType as string) === s.nodeType
      : privateKey.asymmetricKeyType === 'ec' && d.namedCurve === s.curve;
  if (!fits) throw incorrectMaterial(key, `the private key is not a ${key.keySpec} key`);
  return privateKey.export({ type: 'pkcs8', format: 'der' });
}

/** The id of imported material: the same material always gets the same id for the same key. */
export function importedMaterialId(keyId: string, material: Buffer): string {
  return createHmac('sha256', material).update(MATERIAL_ID_LABEL).update(keyId).digest('hex');
}

async function sealFor(svc: KmsService, key: KmsKeyRecord, version: number, material: Buffer): Promise<Buffer> {
  const kind = secretKind(key.keySpec);
  return kind === undefined ? sealKeyMaterial(svc.rootKey, key.keyId, version, asKeyMaterial(material)) : sealSecret(svc.rootKey, key.keyId, version, kind, material);
}

export const importKeyMaterial: Operation<ImportKeyMaterialRequest, { KeyId: string; KeyMaterialId: string }> = async (svc, caller, input, note) => {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const token = blobMember(v, 'importToken', input.ImportToken, MAX_TOKEN);
  const encrypted = blobMember(v, 'encryptedKeyMaterial', input.EncryptedKeyMaterial, MAX_ENCRYPTED_MATERIAL);
  const modelGiven = enumValue(v, 'expirationModel', input.ExpirationModel, EXPIRATION_MODELS, false) as ExpirationModel | undefined;
  const model = modelGiven ?? 'KEY_MATERIAL_EXPIRES';
  const importType = enumValue(v, 'importType', input.ImportType, IMPORT_TYPES, false);
  const materialIdRef = absent(input.KeyMaterialId) ? undefined : String(input.KeyMaterialId);
  if (materialIdRef !== undefined && !/^[0-9a-f]{64}$/.test(materialIdRef)) v.add('keyMaterialId', 'Member must have length less than or equal to 64', materialIdRef);
  v.throwIfAny();
  const validTo = timestampMember(input.ValidTo);
  auditParams(note, { keyId: keyRef, expirationModel: model, validTo: validTo === undefined ? undefined : new Date(validTo).toISOString(), importType, keyMaterialId: materialIdRef });
  const key = await svc.resolveKey(keyRef, { allowAlias: false });
  note.keys.push(key);
  // kms:ExpirationModel only as the request gives it: AWS's example allows the default alone with Null true.
  await svc.authorize(caller, key, 'kms:ImportKeyMaterial', { 'kms:ExpirationModel': modelGiven, 'kms:ValidTo': validTo === undefined ? undefined : String(Math.floor(validTo / 1000)) });
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  refuseNotExternal(key);
  const now = svc.now();
  if (model === 'KEY_MATERIAL_EXPIRES') {
    if (validTo === undefined) throw kmsError('ValidationException', 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES');
    if (validTo <= now) throw kmsError('ValidationException', 'The validTo date must be in the future.');
    if (validTo > now + MAX_VALID_TO_MS) throw kmsError('ValidationException', 'The validTo date must be at most 365 days from now.');
  } else if (validTo !== undefined) {
    throw kmsError('ValidationException', 'A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE');
  }

  // The token: bound to this key, authentic, not expired, not used.
  let header;
  try {
    header = readImportTokenHeader(token!);
  } catch {
    invalidToken();
  }
  if (header.keyId !== key.keyId) invalidToken();
  let opened;
  try {
    opened = await openImportToken(svc.rootKey, token!);
  } catch {
    invalidToken();
  }
  let material: Buffer | undefined;
  try {
    const privateKey = createPrivateKey({ key: opened.wrappingKeyPkcs8, format: 'der', type: 'pkcs8' });
    if (opened.contents.validTo <= now) throw kmsError('ExpiredImportTokenException', 'The import token has expired. Call GetParametersForImport for a new import token and public key.');
    material = checkedMaterial(key, unwrapMaterial(opened.contents.wrappingAlgorithm, privateKey, encrypted!));
    const materialId = importedMaterialId(key.keyId, material);
    // One use per token, across nodes: the token leaves the key's list in the same
    // compare-and-swap write that stores the material, so of two imports with one token
    // exactly one lands; the other finds the token gone on its second round.
    await changeKey(svc, key, async (fresh) => {
      if (!(fresh.importTokens ?? []).some((t) => t.id === opened.contents.tokenId)) invalidToken();
      const importTokens = (fresh.importTokens ?? []).filter((t) => t.id !== opened.contents.tokenId && t.validTo > now);
      const { record, next } = await placeMaterial(svc, fresh, material!, materialId, { importType, materialIdRef, model, validTo, now });
      await svc.store.putMaterial(record, { ...next, importTokens });
    });
    svc.forget(key.keyId);
    return { KeyId: key.arn, KeyMaterialId: materialId };
  } finally {
    opened.wrappingKeyPkcs8.fill(0);
    material?.fill(0);
  }
};

interface Placement {
  importType: string | undefined;
  materialIdRef: string | undefined;
  model: ExpirationModel;
  validTo: number | undefined;
  now: number;
}

/** Which version the material goes into and what the key becomes: a first import, a re-import of known material, or new material waiting for rotation. */
async function placeMaterial(svc: KmsService, key: KmsKeyRecord, material: Buffer, materialId: string, p: Placement): Promise<{ record: KeyMaterialRecord; next: KmsKeyRecord }> {
  const materials = await svc.store.listMaterials(key.keyId);
  const expiry = { expirationModel: p.model, validTo: p.model === 'KEY_MATERIAL_EXPIRES' ? p.validTo : undefined };
  const record = async (version: number, createdAt: number, rotationType?: KeyMaterialRecord['rotationType']): Promise<KeyMaterialRecord> => ({
    keyId: key.keyId, version, materialId, sealed: await sealFor(svc, key, version, material), createdAt, ...(rotationType ? { rotationType } : {}),
  });
  const enabled = (k: KmsKeyRecord): KmsKeyRecord => ({ ...k, ...expiry, state: k.state === 'PendingImport' ? 'Enabled' : k.state });

  if (materials.length === 0) {
    if (p.importType === 'EXISTING_KEY_MATERIAL') throw incorrectMaterial(key, 'the key has no key material to reimport');
    return { record: await record(key.currentVersion, p.now), next: enabled(key) };
  }
  if (p.importType === 'NEW_KEY_MATERIAL') {
    if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw kmsError('UnsupportedOperationException', `${key.arn} key spec is ${key.keySpec}: new key material can be imported into symmetric encryption keys only.`);
    if (key.pendingVersion !== undefined) {
      const pending = materials.find((m) => m.version === key.pendingVersion);
      throw kmsError('KMSInvalidStateException', `New key material (id: ${materialId}) cannot be imported into KMS key ${key.keyId}, because another key material (id: ${pending?.materialId ?? ''}) is pending rotation.`);
    }
    if (materials.some((m) => m.materialId === materialId)) throw incorrectMaterial(key, 'this key material is already associated with the KMS key');
    if (p.model === 'KEY_MATERIAL_EXPIRES') throw kmsError('UnsupportedOperationException', 'New key material that expires (KEY_MATERIAL_EXPIRES) waiting for rotation is not supported by Coffer\'s KMS; import it with KEY_MATERIAL_DOES_NOT_EXPIRE.');
    const version = Math.max(...materials.map((m) => m.version)) + 1;
    return { record: await record(version, p.now, 'ON_DEMAND'), next: { ...key, pendingVersion: version } };
  }
  // Re-import: the same material as the version named (or the current one).
  const target = p.materialIdRef !== undefined ? materials.find((m) => m.materialId === p.materialIdRef) : materials.find((m) => m.version === key.currentVersion);
  if (!target) throw kmsError('NotFoundException', `Key material ${p.materialIdRef ?? ''} does not exist for ${key.arn}.`);
  if (target.materialId !== materialId) throw incorrectMaterial(key, 'it is not the key material that was previously imported');
  const rec = await record(target.version, target.createdAt, target.rotationType);
  return { record: rec, next: target.version === key.currentVersion ? enabled(key) : key };
}

export interface DeleteImportedKeyMaterialRequest {
  KeyId?: unknown;
  KeyMaterialId?: unknown;
}

/**
 * Empties the sealed bytes of a version; the current one makes the key PendingImport.
 * Shared with the expiry sweep. Changed (KmsStoreConflict) when `key` is no longer the
 * stored revision: nothing is deleted (a sweep's record may predate a re-import).
 */
export async function deleteMaterialVersion(svc: KmsService, key: KmsKeyRecord, version: number): Promise<KeyMaterialRecord | undefined> {
  const rec = await svc.store.getMaterial(key.keyId, version);
  if (!rec) return undefined;
  let next: KmsKeyRecord = key;
  if (version === key.currentVersion) {
    next = { ...key, state: key.state === 'PendingDeletion' ? key.state : 'PendingImport', expirationModel: undefined, validTo: undefined };
  } else if (version === key.pendingVersion) {
    next = { ...key, pendingVersion: undefined };
  }
  try {
    await svc.store.putMaterial({ ...rec, sealed: Buffer.alloc(0) }, next);
  } catch (e) {
    if (e instanceof KmsStoreConflict && e.kind === 'NotFound') throw kmsError('NotFoundException', `Key '${key.arn}' does not exist`);
    throw e;
  }
  svc.forget(key.keyId);
  return rec;
}

export const deleteImportedKeyMaterial: Operation<DeleteImportedKeyMaterialRequest, Record<string, unknown>> = async (svc, caller, input, note) => {
  const v = new Violations();
  const keyRef = keyIdMember(v, 'keyId', input.KeyId, true);
  const materialIdRef = absent(input.KeyMaterialId) ? undefined : String(input.KeyMaterialId);
  v.throwIfAny();
  auditParams(note, { keyId: keyRef, keyMaterialId: materialIdRef });
  const key = await svc.resolveKey(keyRef, { allowAlias: false });
  note.keys.push(key);
  await svc.authorize(caller, key, 'kms:DeleteImportedKeyMaterial');
  svc.checkState(key, 'manage');
  refuseAwsManaged(key);
  refuseNotExternal(key);
  const rec = await changeKey(svc, key, async (fresh) => {
    let version = fresh.currentVersion;
    if (materialIdRef !== undefined) {
      const m = (await svc.store.listMaterials(key.keyId)).find((x) => x.materialId === materialIdRef);
      if (!m) throw kmsError('NotFoundException', `Key material ${materialIdRef} does not exist for ${key.arn}.`);
      version = m.version;
    }
    return deleteMaterialVersion(svc, fresh, version);
  });
  return { KeyId: key.arn, ...(rec ? { KeyMaterialId: rec.materialId } : {}) };
};

