// coffer custody migrate --online across providers, on a running server: root.key -> a
// SoftHSM2 token key -> a second Coffer as external KMS. The new provider's settings reach
// the server as variables, a PIN or secret key only as the name of its file: a PIN itself
// is refused by the CLI and by the route, and never echoed. After each step the server
// keeps serving with the new key alone, a restart with the new provider opens everything,
// and a start with the previous key is refused.

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
import { SignedClient } from '../../src/cli/signed-client.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET } from '../interop/support.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { SOFTHSM_MODULE, skipWithoutSoftHsm, USER_PIN } from './softhsm.js';
import { tempDirs } from './tmp-dirs.js';
import { migrationTargets } from './migration-targets.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

const run = promisify(execFile);
const skip = skipWithoutSoftHsm();
const dir = tempDirs('online-migrate');
const cliEnv = (url: string, extra: Record<string, string> = {}) => ({ ...process.env, AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_ENDPOINT: url, AWS_REGION: 'us-east-1', ...extra });

describe('coffer custody migrate --online: root.key -> PKCS#11 -> external KMS', { skip }, () => {
  const t = migrationTargets('coffer-online');

  it('moves a running server to each new provider; a PIN is never sent', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    let s = await startTestServer({}, { dataDir });
    const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
    await s.s3.send(new CreateBucketCommand({ Bucket: 'mig' }));
    await s.s3.send(new PutObjectCommand({ Bucket: 'mig', Key: 'o', Body: 'sse-s3 body', ServerSideEncryption: 'AES256' }));
    const u = await createUserWithKey({ dataDir, accountId: s.coffer.root.accountId, rootKey: s.coffer.rootKey, iam: s.coffer.iam, close: async () => {}, changes: inProcessChanges(s.coffer) }, 'alice');
    const alice = { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
    const oldFileKey = await fs.readFile(path.join(dataDir, 'root.key'));
    const opensAll = async (srv: TestServer, expectId: RegExp) => {
      assert.match(srv.coffer.rootKey.id, expectId);
      assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
      assert.equal(await (await srv.s3.send(new GetObjectCommand({ Bucket: 'mig', Key: 'o' }))).Body!.transformToString(), 'sse-s3 body');
      const sts = new STSClient({ endpoint: srv.url, region: 'us-east-1', credentials: alice });
      assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/alice$/);
      sts.destroy();
    };
    const refused = (env: Record<string, string>) =>
      assert.rejects(startTestServer(env, { dataDir }), (e: unknown) => e instanceof RootKeyConfigError && /^refusing to start: this data directory was sealed under root key/.test(e.message));
    const hsmFlags = ['--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', 'coffer-online', '--pkcs11-key-label', 'root-a'];
    const hsmEnv = { COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: 'coffer-online', COFFER_PKCS11_PIN_FILE: t.pinFile };
    try {
      // A PIN is not sent: not by the CLI, and the route takes none.
      const pinRefused = await run(process.execPath, [CLI_MAIN, 'custody', 'migrate', '--online', '--to', 'pkcs11', ...hsmFlags], { env: cliEnv(s.url, { COFFER_PKCS11_PIN: USER_PIN }) }).then(
        () => assert.fail('the CLI sent a PIN'),
        (e: { stderr: string; code: number }) => e,
      );
      assert.equal(pinRefused.code, 2);
      assert.match(pinRefused.stderr, /^coffer: error: COFFER_PKCS11_PIN cannot be sent to a running server\ncoffer: hint: put it in a file \(mode 0600\)/);
      assert.ok(!pinRefused.stderr.includes(USER_PIN));
      const admin = new SignedClient({ endpoint: s.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      const direct = await admin.admin('POST', 'custody/rotation', { command: 'migrate', to: 'pkcs11', settings: { ...hsmEnv, COFFER_PKCS11_PIN: USER_PIN } });
      assert.equal(direct.status, 400);
      assert.match(direct.body, /"__type":"ValidationException".*COFFER_PKCS11_PIN cannot be given to a running server/);
      assert.ok(!direct.body.includes(USER_PIN));
      assert.equal(JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')).rotation, undefined);

      // 1. root.key -> a token key, made by the running server from the settings (the PIN from its file).
      const m1 = await run(process.execPath, [CLI_MAIN, 'custody', 'migrate', '--online', '--to', 'pkcs11', ...hsmFlags, '--pkcs11-pin-file', t.pinFile], { env: cliEnv(s.url) });
      assert.match(m1.stdout, /^migrated online: root key key:[0-9a-f]{16} -> pkcs11:[0-9a-f]{16}\n  3 items re-sealed, 0 changed under the pass and checked again, in 2 passes; 1 KMS key material versions, 1 access keys, 0 STS sessions, 1 SSE-S3 objects, 0 uploads\n/);
      assert.match(m1.stdout, /before the next start, set --pkcs11-key-label root-a \(COFFER_PKCS11_KEY_LABEL\) and the other --pkcs11-\* settings of the new token/);
      const record = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; rotation?: unknown };
      assert.match(record.rootKey, /^pkcs11:/);
      assert.equal(record.rotation, undefined);
      // Still serving, with the token key alone (root.key is retired).
      await opensAll(s, /^pkcs11:/);
      await assert.rejects(fs.stat(path.join(dataDir, 'root.key')), /ENOENT/);
    } finally {
      await s.stop();
    }
    await refused({ COFFER_ROOT_KEY: oldFileKey.toString('base64') });

    // 2. The token -> another Coffer's KMS, on the server restarted with the token.
    s = await startTestServer({ ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-a' }, { dataDir });
    const extKey = (await t.external.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const secretFile = path.join(t.hsm.root, 'ext.secret');
    await fs.writeFile(secretFile, `${ROOT_SECRET}\n`, { mode: 0o600 });
    const extEnv = { COFFER_EXTERNAL_KMS_ENDPOINT: t.external.url, COFFER_EXTERNAL_KMS_KEY_ID: extKey, COFFER_EXTERNAL_KMS_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE: secretFile };
    try {
      await opensAll(s, /^pkcs11:/);
      const m2 = await run(process.execPath, [CLI_MAIN, 'custody', 'migrate', '--online', '--to', 'external-kms'], { env: cliEnv(s.url, extEnv) });
      assert.match(m2.stdout, /^migrated online: root key pkcs11:[0-9a-f]{16} -> external-kms:[0-9a-f]{16}/);
      assert.match(m2.stdout, /the old key stays in the token/);
      await opensAll(s, /^external-kms:/);
    } finally {
      await s.stop();
    }
    s = await startTestServer(extEnv, { dataDir });
    try {
      await opensAll(s, /^external-kms:/);
    } finally {
      await s.stop();
    }
    await refused({ ...hsmEnv, COFFER_PKCS11_KEY_LABEL: 'root-a' });
  });
});
