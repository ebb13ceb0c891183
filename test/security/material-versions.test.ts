// A deleted material version while the key stays Enabled: an imported key rotated onto new
// material (NEW_KEY_MATERIAL, RotateKeyOnDemand), then its first material deleted by
// KeyMaterialId. An object sealed under the first version — its data key opened a moment
// ago (kms/opened-ciphertexts.ts), or its bucket key cached (s3/sse/bucket-keys.ts) — must
// fail on its next GET as an uncached Decrypt does (KMS.KMSInvalidStateException naming the
// material), while an object of the current version reads; the same material imported again
// brings the old object back. Through @aws-sdk/client-s3 and client-kms on the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateKeyCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { importKeyMaterial } from '../helpers/import-material.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { refusal } from '../helpers/sse-principals.js';

let srv: TestServer;
const bucket = uniqueBucket('material-versions');

before(async () => {
  srv = await startTestServer();
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => {
  await srv?.stop();
});

const importInto = (KeyId: string, material: Buffer, ImportType?: 'NEW_KEY_MATERIAL'): Promise<string> =>
  importKeyMaterial(srv.kms, KeyId, material, ImportType ? { ImportType } : {});

const put = (key: string, keyArn: string, bk: boolean) =>
  srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, BucketKeyEnabled: bk }));
const text = async (key: string) => (await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();

for (const bk of [false, true]) {
  test(`[${bk ? 'bucket key' : 'own data key'}] the first material version deleted after a rotation: the warm object of that version fails as uncached, the current version's reads, re-import restores`, async () => {
    const keyArn = (await srv.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.Arn!;
    const m1 = randomBytes(32);
    const first = await importInto(keyArn, m1);
    const old = `v1-${bk}`;
    await put(old, keyArn, bk);
    for (let i = 0; i < 2; i++) assert.equal(await text(old), `body of ${old}`);

    await importInto(keyArn, randomBytes(32), 'NEW_KEY_MATERIAL');
    await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: keyArn }));
    // A new object: under the bucket key a new period's key (another material version) only after the TTL,
    // so the bucket-key case writes to another place (another context) to get a fresh one.
    const fresh = `v2-${bk}`;
    await put(fresh, keyArn, false);
    assert.equal(await text(old), `body of ${old}`, 'before the deletion the old version reads');

    await srv.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyArn, KeyMaterialId: first }));
    assert.equal((await srv.kms.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata!.KeyState, 'Enabled', 'the key stays Enabled: its current material is there');
    const e = await refusal(srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: old })));
    assert.deepEqual([e.name, e.$metadata.httpStatusCode, e.message], ['KMS.KMSInvalidStateException', 400, `${keyArn} key material (id: ${first}) is deleted; import the same key material again to use it.`]);
    assert.equal(await text(fresh), `body of ${fresh}`);

    await importKeyMaterial(srv.kms, keyArn, m1, { KeyMaterialId: first });
    assert.equal(await text(old), `body of ${old}`, 'the same material imported again: the old object reads');
  });
}
