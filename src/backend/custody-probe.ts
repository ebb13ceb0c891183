// One item sealed under the root key, for the start-up custody check of a data directory
// without custody.json (custody/open-custody.ts): the current material of the first KMS
// key, else the secret of the first access key, else the object key of an SSE-S3 object
// among the first few objects of the first few buckets. Nothing found: a new directory.

import type { SealedSample } from '../custody/open-custody.js';
import { decodeEnvelope, sealedKeyAad } from '../crypto/envelope.js';
import type { IamStore } from '../iam/store/types.js';
import { unsealSecret } from '../iam/credentials.js';
import { openKeyMaterial } from '../kms/format/key-material.js';
import type { KmsStore } from '../kms/store/types.js';
import type { MetadataStore } from '../storage/types.js';

const BUCKETS_LOOKED_AT = 20;
const OBJECTS_PER_BUCKET = 200;

export async function findSealedSample(stores: { kms?: KmsStore; iam?: IamStore; meta?: MetadataStore }): Promise<SealedSample | undefined> {
  const { kms, iam, meta } = stores;
  if (kms) {
    for (const key of await kms.listKeys(undefined, 1)) {
      const rec = await kms.getMaterial(key.keyId, key.currentVersion);
      // Deleted imported material (empty sealed bytes) holds nothing to probe.
      if (rec && rec.sealed.length > 0) {
        return {
          what: `KMS key ${key.keyId} (material version ${rec.version})`,
          open: async (p) => void (await openKeyMaterial(p, key.keyId, rec.version, rec.sealed)).fill(0),
        };
      }
    }
  }
  if (iam) {
    for (const user of await iam.listUsers({ limit: 100 })) {
      const [ak] = await iam.listAccessKeys(user.userName);
      if (ak) return { what: `the secret of access key ${ak.accessKeyId}`, open: async (p) => void (await unsealSecret(p, ak.accessKeyId, ak.sealedSecret)) };
    }
  }
  if (meta) {
    for (const bucket of (await meta.listBuckets()).slice(0, BUCKETS_LOOKED_AT)) {
      for (const obj of await meta.listObjects(bucket.name, { prefix: '', limit: OBJECTS_PER_BUCKET })) {
        const sse = obj.sys.sse as { alg?: unknown; env?: unknown } | undefined;
        if (sse?.alg !== 'AES256' || typeof sse.env !== 'string') continue;
        const env = decodeEnvelope(Buffer.from(sse.env, 'base64'));
        if (env.kind !== 'sse-s3') continue;
        return { what: `the SSE-S3 key of object ${bucket.name}/${obj.key}`, open: async (p) => void (await p.unwrap(env.wrappedKey, sealedKeyAad(env))).fill(0) };
      }
    }
  }
  return undefined;
}
