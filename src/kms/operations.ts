// The KMS operations Coffer implements, by wire name. One file per family in ops/.

import type { KmsOperation } from './operation.js';
import * as crypto from './ops/crypto.js';
import * as keys from './ops/keys.js';
import * as deletion from './ops/deletion.js';
import * as aliases from './ops/aliases.js';
import * as rotation from './ops/rotation.js';
import * as tags from './ops/tags.js';
import * as policies from './ops/policies.js';
import * as grants from './ops/grants.js';
import * as sign from './ops/sign.js';
import * as publicKey from './ops/public-key.js';
import * as mac from './ops/mac.js';
import * as dataKeyPair from './ops/data-key-pair.js';
import * as imports from './ops/import.js';
import * as keyAgreement from './ops/key-agreement.js';

export const KMS_OPERATIONS: Record<string, KmsOperation> = {
  Encrypt: crypto.encrypt,
  Decrypt: crypto.decrypt,
  ReEncrypt: crypto.reEncrypt,
  GenerateDataKey: crypto.generateDataKey,
  GenerateDataKeyWithoutPlaintext: crypto.generateDataKeyWithoutPlaintext,
  GenerateRandom: crypto.generateRandom,
  Sign: sign.sign as KmsOperation,
  Verify: sign.verify as KmsOperation,
  GetPublicKey: publicKey.getPublicKey,
  GenerateMac: mac.generateMac as KmsOperation,
  VerifyMac: mac.verifyMac as KmsOperation,
  GenerateDataKeyPair: dataKeyPair.generateDataKeyPair as KmsOperation,
  GenerateDataKeyPairWithoutPlaintext: dataKeyPair.generateDataKeyPairWithoutPlaintext as KmsOperation,
  DeriveSharedSecret: keyAgreement.deriveSharedSecret as KmsOperation,
  GetParametersForImport: imports.getParametersForImport as KmsOperation,
  ImportKeyMaterial: imports.importKeyMaterial as KmsOperation,
  DeleteImportedKeyMaterial: imports.deleteImportedKeyMaterial as KmsOperation,
  CreateKey: keys.createKey,
  DescribeKey: keys.describeKey,
  ListKeys: keys.listKeys,
  EnableKey: keys.enableKey,
  DisableKey: keys.disableKey,
  UpdateKeyDescription: keys.updateKeyDescription,
  ScheduleKeyDeletion: deletion.scheduleKeyDeletion,
  CancelKeyDeletion: deletion.cancelKeyDeletion,
  CreateAlias: aliases.createAlias,
  UpdateAlias: aliases.updateAlias,
  DeleteAlias: aliases.deleteAlias,
  ListAliases: aliases.listAliases,
  EnableKeyRotation: rotation.enableKeyRotation,
  DisableKeyRotation: rotation.disableKeyRotation,
  GetKeyRotationStatus: rotation.getKeyRotationStatus,
  RotateKeyOnDemand: rotation.rotateKeyOnDemand,
  ListKeyRotations: rotation.listKeyRotations,
  TagResource: tags.tagResource,
  UntagResource: tags.untagResource,
  ListResourceTags: tags.listResourceTags,
  GetKeyPolicy: policies.getKeyPolicy,
  PutKeyPolicy: policies.putKeyPolicy,
  ListKeyPolicies: policies.listKeyPolicies,
  CreateGrant: grants.createGrant,
  ListGrants: grants.listGrants,
  ListRetirableGrants: grants.listRetirableGrants,
  RetireGrant: grants.retireGrant,
  RevokeGrant: grants.revokeGrant,
};
