// The KMS for in-process callers — S3's SSE-KMS, re-wrapping objects, `coffer hadoop
// check` — as one typed interface: Buffers in and out, never base64 or an operation
// name with an untyped bag. Each use of a key runs the same operation the JSON API runs
// (ops/), through the same audited path (audited.ts), so key resolution, key state,
// authorization, errors and the audit event are those of the wire call.
//
// Besides the KMS calls, two things that are not calls:
//   authorizeUse  the access check of GenerateDataKey or Decrypt without the call (a
//                 bucket-key cache hit): resolve, authorize, key state; a refusal is
//                 audited as the call it stands for, an allowed check is no request.
//   lookups       findKey, authorizeOnly, authorizeIdentity answer what KMS would decide,
//                 record nothing and use no key material: filters and simulations.

import type { Caller, KmsService } from './service.js';
import type { KmsKeyRecord } from './store/types.js';
import type { KeyMetadata } from './key-metadata.js';
import type { AuditNote } from './operation.js';
import { audited, auditedAnswerFirst } from './audited.js';
import * as crypto from './ops/crypto.js';
import { describeKey } from './ops/keys.js';
import { DATA_KEY_CONDITIONS } from './ops/key-usage.js';
import { awsManagedKey } from './managed-keys.js';
import { withRequestAlias } from './ops/request-alias.js';

type Context = Readonly<Record<string, string>>;

export interface GenerateDataKeyArgs {
  caller: Caller;
  keyId: string;
  numberOfBytes: number;
  encryptionContext: Context;
  /**
   * The data key of an S3 object (not a bucket key): KMS remembers the blob with its
   * plaintext, so the object's first GET skips the Decrypt's cryptography (never its checks).
   */
  forObject?: boolean;
}

export interface DataKey {
  plaintext: Buffer;
  ciphertextBlob: Buffer;
  keyArn: string;
}

export interface DecryptArgs {
  caller: Caller;
  /** The key the ciphertext must name (IncorrectKeyException otherwise). */
  keyId?: string;
  ciphertextBlob: Buffer;
  encryptionContext: Context;
}

export interface EncryptArgs {
  caller: Caller;
  keyId: string;
  plaintext: Buffer;
  encryptionContext: Context;
}

export interface ReEncryptArgs {
  caller: Caller;
  ciphertextBlob: Buffer;
  sourceKeyId?: string;
  sourceEncryptionContext: Context;
  destinationKeyId: string;
  destinationEncryptionContext: Context;
}

/** The data-plane actions a bucket-key cache hit stands in for. */
export type UseAction = 'kms:GenerateDataKey' | 'kms:Decrypt';

export interface AuthorizeUseArgs {
  caller: Caller;
  keyId: string;
  action: UseAction;
  encryptionContext: Context;
  /**
   * The KMS ciphertext of the cached data key: the material version it names must still be
   * there, as the call would need it (imported material of an older version can be deleted
   * while the key stays Enabled, on any node).
   */
  ciphertextBlob?: Buffer;
}

export interface KmsPort {
  generateDataKey(a: GenerateDataKeyArgs): Promise<DataKey>;
  decrypt(a: DecryptArgs): Promise<{ plaintext: Buffer; keyArn: string }>;
  /**
   * Decrypt answered before its audit record is durable (audited.ts, auditedAnswerFirst):
   * `recorded` settles when it is. Nothing that depends on the plaintext may leave the
   * process before `recorded` resolves; its rejection is the call's refusal.
   */
  decryptAnswerFirst(a: DecryptArgs): Promise<{ plaintext: Buffer; keyArn: string; recorded: Promise<void> }>;
  encrypt(a: EncryptArgs): Promise<{ ciphertextBlob: Buffer; keyArn: string }>;
  reEncrypt(a: ReEncryptArgs): Promise<{ ciphertextBlob: Buffer; keyArn: string; sourceKeyArn: string }>;
  describeKey(a: { caller: Caller; keyId: string }): Promise<KeyMetadata>;
  /** The access check of `action` without the call; the ARN of the key `keyId` names now, when allowed (compare it with the cached key's). */
  authorizeUse(a: AuthorizeUseArgs): Promise<string>;
  /** The AWS managed aws/s3 key's ARN (the key SSE-KMS uses when none is named), created on first use. */
  awsManagedKeyArn(): Promise<string>;
  /** The key a reference (id, ARN, alias) names, with NotFoundException as every operation words it; `field` names the member in validation messages. */
  findKey(keyId: string, field?: string): Promise<KmsKeyRecord>;
  /** KMS's authorization decision alone (key policy, identity policies, grants), for a request naming the key by `keyRef` (kms:RequestAlias) if given: throws AccessDeniedException, records nothing. */
  authorizeOnly(a: { caller: Caller; key: KmsKeyRecord; action: string; encryptionContext?: Context; keyRef?: string }): Promise<void>;
  /** The decision of the caller's identity policies alone on `resource`: throws AccessDeniedException, records nothing. */
  authorizeIdentity(a: { caller: Caller; action: string; resource: string }): Promise<void>;
  /** The ARN of a key id in this KMS's account and region. */
  keyArn(keyId: string): string;
}

/**
 * The condition keys each use's operation sets besides the common ones (ops/crypto.ts):
 * Decrypt states its algorithm (SYMMETRIC_DEFAULT for S3's blobs), GenerateDataKey the one
 * that encrypts the data key (the same). A check standing in for the call presents the
 * same, so a policy reads it the same way.
 */
const USE_CONDITIONS: Record<UseAction, Readonly<Record<string, string>>> = {
  'kms:Decrypt': { 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' },
  'kms:GenerateDataKey': DATA_KEY_CONDITIONS,
};

/** Decrypt's input as the JSON API takes it. */
function decryptInput(a: DecryptArgs) {
  return a.keyId === undefined
    ? { CiphertextBlob: a.ciphertextBlob, EncryptionContext: a.encryptionContext }
    : { KeyId: a.keyId, CiphertextBlob: a.ciphertextBlob, EncryptionContext: a.encryptionContext };
}

/** The port over a KmsService in this process. */
export class InProcessKms implements KmsPort {
  constructor(private readonly svc: KmsService) {}

  async generateDataKey(a: GenerateDataKeyArgs): Promise<DataKey> {
    const input = { KeyId: a.keyId, NumberOfBytes: a.numberOfBytes, EncryptionContext: a.encryptionContext, ...(a.forObject === true ? { [crypto.SEAL_FOR_S3_READ]: true as const } : {}) };
    const out = await audited(this.svc, a.caller, 'GenerateDataKey', crypto.generateDataKey, input);
    return { plaintext: out.Plaintext, ciphertextBlob: out.CiphertextBlob, keyArn: out.KeyId };
  }

  async decrypt(a: DecryptArgs): Promise<{ plaintext: Buffer; keyArn: string }> {
    const out = await audited(this.svc, a.caller, 'Decrypt', crypto.decrypt, decryptInput(a));
    return { plaintext: out.Plaintext, keyArn: out.KeyId };
  }

  async decryptAnswerFirst(a: DecryptArgs): Promise<{ plaintext: Buffer; keyArn: string; recorded: Promise<void> }> {
    const { out, recorded } = await auditedAnswerFirst(this.svc, a.caller, 'Decrypt', crypto.decrypt, decryptInput(a));
    return { plaintext: out.Plaintext, keyArn: out.KeyId, recorded };
  }

  async encrypt(a: EncryptArgs): Promise<{ ciphertextBlob: Buffer; keyArn: string }> {
    const input = { KeyId: a.keyId, Plaintext: a.plaintext, EncryptionContext: a.encryptionContext };
    const out = await audited(this.svc, a.caller, 'Encrypt', crypto.encrypt, input);
    return { ciphertextBlob: out.CiphertextBlob, keyArn: out.KeyId };
  }

  async reEncrypt(a: ReEncryptArgs): Promise<{ ciphertextBlob: Buffer; keyArn: string; sourceKeyArn: string }> {
    const input = {
      CiphertextBlob: a.ciphertextBlob,
      ...(a.sourceKeyId === undefined ? {} : { SourceKeyId: a.sourceKeyId }),
      SourceEncryptionContext: a.sourceEncryptionContext,
      DestinationKeyId: a.destinationKeyId,
      DestinationEncryptionContext: a.destinationEncryptionContext,
    };
    const out = await audited(this.svc, a.caller, 'ReEncrypt', crypto.reEncrypt, input);
    return { ciphertextBlob: out.CiphertextBlob, keyArn: out.KeyId, sourceKeyArn: out.SourceKeyId };
  }

  async describeKey(a: { caller: Caller; keyId: string }): Promise<KeyMetadata> {
    return (await audited(this.svc, a.caller, 'DescribeKey', describeKey, { KeyId: a.keyId })).KeyMetadata;
  }

  async authorizeUse(a: AuthorizeUseArgs): Promise<string> {
    // The call's own steps in its order: the key resolved now (an alias may have moved or
    // gone since the data key was cached; a refusal is audited as the call's), then the
    // decision on the request context the call would present.
    const check = async (svc: KmsService, caller: Caller, _input: object, note: AuditNote): Promise<string> => {
      const key = await svc.resolveKey(a.keyId, { allowAlias: true });
      note.keys.push(key);
      await svc.authorize(caller, key, a.action, withRequestAlias(USE_CONDITIONS[a.action], a.keyId), a.encryptionContext);
      svc.checkState(key, 'crypto');
      // The cached data key's material must still be there — when it is this key's: a reference
      // that names another key now (an alias moved) answers that key's ARN, and the caller
      // does not use what it cached for the old one.
      if (a.ciphertextBlob && crypto.blobOfKey(a.ciphertextBlob, key)) await crypto.checkMaterialOf(svc, key, a.ciphertextBlob);
      return key.arn;
    };
    const input = { KeyId: a.keyId, EncryptionContext: a.encryptionContext };
    return audited(this.svc, a.caller, a.action.slice('kms:'.length), check, input, { recordSuccess: false });
  }

  async awsManagedKeyArn(): Promise<string> {
    return (await awsManagedKey(this.svc)).arn;
  }

  findKey(keyId: string, field?: string): Promise<KmsKeyRecord> {
    return this.svc.resolveKey(keyId, field === undefined ? { allowAlias: true } : { allowAlias: true, field });
  }

  authorizeOnly(a: { caller: Caller; key: KmsKeyRecord; action: string; encryptionContext?: Context; keyRef?: string }): Promise<void> {
    // The decision S3's call would get: a use action presents what the call does (USE_CONDITIONS).
    return this.svc.authorize(a.caller, a.key, a.action, withRequestAlias(USE_CONDITIONS[a.action as UseAction] ?? {}, a.keyRef), a.encryptionContext);
  }

  authorizeIdentity(a: { caller: Caller; action: string; resource: string }): Promise<void> {
    return this.svc.authorizeIdentity(a.caller, a.action, a.resource);
  }

  keyArn(keyId: string): string {
    return this.svc.keyArn(keyId);
  }
}
