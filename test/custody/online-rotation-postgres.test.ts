// An online root-key rotation on a server whose metadata, KMS and IAM stores are in
// PostgreSQL (one node): the same passes through the same store interfaces re-seal every
// item there; the server serves throughout, and after a restart the new key alone opens
// everything while the old one is refused.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { SignedClient } from '../../src/cli/signed-client.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { ROOT_KEY_ID, ROOT_SECRET, waitFor } from '../interop/support.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

describePostgres('online root-key rotation on PostgreSQL', () => {
  it('re-seals the items in PostgreSQL while serving; the new key alone opens them after a restart', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'coffer-pg-rotate-'));
    const env = { COFFER_METADATA: url };
    try {
      let s = await startTestServer(env, { dataDir });
      const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      await s.s3.send(new CreateBucketCommand({ Bucket: 'pgrot' }));
      for (let i = 0; i < 10; i++) await s.s3.send(new PutObjectCommand({ Bucket: 'pgrot', Key: `o${i}`, Body: `body ${i}`, ServerSideEncryption: 'AES256' }));
      const u = await createUserWithKey({ dataDir, accountId: s.coffer.root.accountId, rootKey: s.coffer.rootKey, iam: s.coffer.iam, close: async () => {}, changes: inProcessChanges(s.coffer) }, 'alice');
      const alice = { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
      const oldKey = await fs.readFile(path.join(dataDir, 'root.key'));
      const oldId = s.coffer.rootKey.id;
      const opensAll = async (srv: TestServer) => {
        assert.equal(Buffer.from((await srv.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
        for (let i = 0; i < 10; i++) assert.equal(await (await srv.s3.send(new GetObjectCommand({ Bucket: 'pgrot', Key: `o${i}` }))).Body!.transformToString(), `body ${i}`);
        const sts = new STSClient({ endpoint: srv.url, region: 'us-east-1', credentials: alice });
        assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/alice$/);
        sts.destroy();
      };
      let newId: string;
      try {
        const admin = new SignedClient({ endpoint: s.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
        const started = await admin.admin('POST', 'custody/rotation', { command: 'rotate', itemsPerSecond: 20 });
        assert.equal(started.status, 200, started.body);
        // Served during the rotation.
        await opensAll(s);
        let st!: { state: string; resealed: number; to: string; counts?: { kmsMaterial: number; accessKeys: number; objects: number } };
        assert.ok(await waitFor(async () => ((st = JSON.parse((await admin.admin('GET', 'custody/rotation')).body)), st.state === 'completed'), 15_000), JSON.stringify(st));
        assert.deepEqual([st.counts?.kmsMaterial, st.counts?.accessKeys, st.counts?.objects], [1, 1, 10]);
        assert.equal(st.resealed, 12);
        newId = st.to;
        await opensAll(s);
      } finally {
        await s.stop();
      }
      s = await startTestServer(env, { dataDir });
      try {
        assert.equal(s.coffer.rootKey.id, newId);
        await opensAll(s);
      } finally {
        await s.stop();
      }
      await assert.rejects(startTestServer({ ...env, COFFER_ROOT_KEY: oldKey.toString('base64') }, { dataDir }), (e: unknown) => e instanceof RootKeyConfigError && e.message.includes(`is ${oldId}`));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
