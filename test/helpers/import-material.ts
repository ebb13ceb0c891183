// Key material into an EXTERNAL KMS key, as a BYOK client does: GetParametersForImport
// (RSAES_OAEP_SHA_256, RSA_2048), the material wrapped under the public key it returns, then
// ImportKeyMaterial (material that does not expire). Through @aws-sdk/client-kms.

import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { GetParametersForImportCommand, ImportKeyMaterialCommand, type KMSClient } from '@aws-sdk/client-kms';

/** Imports `material` into `keyId`; `extra` names a new material (ImportType) or re-imports one (KeyMaterialId). Returns the KeyMaterialId. */
export async function importKeyMaterial(
  kms: KMSClient, keyId: string, material: Buffer, extra: { ImportType?: 'NEW_KEY_MATERIAL'; KeyMaterialId?: string } = {},
): Promise<string> {
  const p = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const pub = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
  const EncryptedKeyMaterial = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  const out = await kms.send(new ImportKeyMaterialCommand({ KeyId: keyId, ImportToken: p.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ...extra }));
  return out.KeyMaterialId!;
}
