// coffer custody migrate and rotate across providers, end to end: root.key -> a SoftHSM2
// token key; a rotation inside the token (a new key label); the token -> a second Coffer
// as external KMS; a rotation of the external data key. After each step the server starts
// with the new provider and every item opens, and the previous key is refused.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { CLI_MAIN } from '../interop/support.js';
import { startTestServer } from '../helpers/server.js';
import { SOFTHSM_MODULE, skipWithoutSoftHsm } from './softhsm.js';
import { tempDirs } from './tmp-dirs.js';
import { migrationTargets } from './migration-targets.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

const run = promisify(execFile);
const skip = skipWithoutSoftHsm();
const dir = tempDirs('migrate');

describe('coffer custody migrate: root.key -> PKCS#11 -> external KMS', { skip }, () => {
  const t = migrationTargets('coffer-migrate');

  it('moves every item to each new provider; each start with the previous key is refused', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    let s = await startTestServer({}, { dataDir });
    let blob: Uint8Array;
    let alice: { accessKeyId: string; secretAccessKey: string };
    try {
      const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      await s.s3.send(new CreateBucketCommand({ Bucket: 'mig' }));
      await s.s3.send(new PutObjectCommand({ Bucket: 'mig', Key: 'o', Body: 'sse-s3 body', ServerSideEncryption: 'AES256' }));
      const u = await createUserWithKey({ dataDir, accountId: s.coffer.root.accountId, rootKey: s.coffer.rootKey, iam: s.coffer.iam, close: async () => {}, changes: inProcessChanges(s.coffer) }, 'alice');
      alice = { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
    } finally {
      await s.stop();
    }
    const fileId = async () => JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string };
    const opensAll = async (env: Record<string, string>, expectId: RegExp) => {
      const srv = await startTestServer(env, { dataDir });
      try {
        assert.match(srv.coffer.rootKey.id, expectId);
        assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
        assert.equal(await (await srv.s3.send(new GetObjectCommand({ Bucket: 'mig', Key: 'o' }))).Body!.transformToString(), 'sse-s3 body');
        const sts = new STSClient({ endpoint: srv.url, region: 'us-east-1', credentials: alice });
        assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/alice$/);
        sts.destroy();
      } finally {
        await srv.stop();
      }
    };
    const refused = (env: Record<string, string>) =>
      assert.rejects(startTestServer(env, { dataDir }), (e: unknown) => e instanceof RootKeyConfigError && /^refusing to start: this data directory was sealed under root key/.test(e.message));
    const oldFileKey = await fs.readFile(path.join(dataDir, 'root.key'));
    const keyFileId = (await fileId()).rootKey;

    // 1. root.key -> a token key (made by the command).
    const hsmFlags = ['--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', 'coffer-migrate', '--pkcs11-key-label', 'root-a', '--pkcs11-pin-file', t.pinFile];
    const m1 = await run(process.execPath, [CLI_MAIN, 'custody', 'migrate', '--to', 'pkcs11', '--data-dir', dataDir, ...hsmFlags]);
    assert.match(m1.stdout, new RegExp(`^migrated: root key ${keyFileId} -> pkcs11:[0-9a-f]{16} \\(token "coffer-migrate", key label "root-a"\\)\\n  3 items re-sealed now, of 1 KMS key material versions, 1 access keys, 0 STS sessions, 1 SSE-S3 objects, 0 uploads\\n`));
    assert.match(m1.stdout, /unset the settings of the old provider/);
    await assert.rejects(fs.stat(path.join(dataDir, 'root.key')), /ENOENT/);
    const hsmEnv = { COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: 'coffer-migrate', COFFER_PKCS11_PIN_FILE: t.pinFile };
    await opensAll({ ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-a' }, /^pkcs11:/);
    await refused({ COFFER_ROOT_KEY: oldFileKey.toString('base64') });

    // 2. A new key in the same token.
    const r2 = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir, '--new-key-label', 'root-b'], { env: { ...process.env, ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-a' } });
    assert.match(r2.stdout, /^rotated: root key pkcs11:[0-9a-f]{16} -> pkcs11:[0-9a-f]{16} \(token "coffer-migrate", key label "root-b"\)/);
    assert.match(r2.stdout, /start the server with --pkcs11-key-label root-b/);
    await opensAll({ ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-b' }, /^pkcs11:/);
    await refused({ ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-a' });

    // 3. The token -> another Coffer's KMS.
    const extKey = (await t.external.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const secretFile = path.join(t.hsm.root, 'ext.secret');
    await fs.writeFile(secretFile, 'coffer-test-root-secret-key-0123456789\n', { mode: 0o600 });
    const extCreds = { COFFER_EXTERNAL_KMS_ACCESS_KEY_ID: 'AKIACOFFERTESTROOT01', COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE: secretFile };
    const m3 = await run(process.execPath, [CLI_MAIN, 'custody', 'migrate', '--to', 'external-kms', '--data-dir', dataDir, '--external-kms-endpoint', t.external.url, '--external-kms-key-id', extKey], {
      env: { ...process.env, ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-b', ...extCreds },
    });
    assert.match(m3.stdout, /^migrated: root key pkcs11:[0-9a-f]{16} -> external-kms:[0-9a-f]{16}/);
    assert.match(m3.stdout, /the old key stays in the token/);
    const extEnv = { COFFER_EXTERNAL_KMS_ENDPOINT: t.external.url, COFFER_EXTERNAL_KMS_KEY_ID: extKey, ...extCreds };
    await opensAll(extEnv, /^external-kms:/);
    await refused({ ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-b' });

    // 4. A new data key from the external KMS.
    const before4 = (await fileId()).rootKey;
    const r4 = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir], { env: { ...process.env, ...extEnv } });
    assert.match(r4.stdout, new RegExp(`^rotated: root key ${before4} -> external-kms:[0-9a-f]{16}`));
    assert.match(r4.stdout, new RegExp(`root\\.kms\\.json\\.retired-${before4.slice('external-kms:'.length)} holds the old root key`));
    await opensAll(extEnv, /^external-kms:/);
    assert.notEqual((await fileId()).rootKey, before4);
  });
});
