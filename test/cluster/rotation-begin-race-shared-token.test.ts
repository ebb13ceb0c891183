// Two rotations to the same PKCS#11 key label begun at once on two nodes sharing one token
// (review of cluster-tidy, 5ea0114): node A makes the key, node B finds it (so B's rotation
// did not make it), and B's rotation is recorded first. A's begin then records nothing; the
// key A made is the one B's rotation — the cluster's — now uses, so A must not destroy it.
//
// The order is held by construction: a test trigger on cluster_rotation makes the insert of a
// rotation that made its key (A's) wait on an advisory lock this test holds, until B's
// rotation is recorded. Two real `coffer server` children, one real PostgreSQL, one SoftHSM2 token.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { startCluster, rotationAdmin, until, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { makeSoftHsm, skipWithoutSoftHsm, SOFTHSM_MODULE, tokenKeyLabels, USER_PIN, type SoftHsm } from '../custody/softhsm.js';

const TOKEN = 'coffer-shared';
const LABEL = 'shared-label';
const HOLD = 424242;
const skip = skipWithoutSoftHsm();

interface Status {
  state: string;
  to?: string;
}

describePostgres('two rotations to one label begun at once on a shared PKCS#11 token', () => {
  let cluster: TestCluster;
  let hsm: SoftHsm;
  let pinFile: string;
  before(async () => {
    if (skip) return;
    hsm = await makeSoftHsm();
    hsm.initToken(TOKEN);
    pinFile = join(hsm.root, 'user.pin');
    await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    cluster = await startCluster({ nodes: 2, env: { COFFER_CLUSTER_LEASE_SECONDS: '2', SOFTHSM2_CONF: hsm.conf } });
  });
  after(async () => {
    await cluster?.stop();
    await hsm?.remove();
  });

  const admin = rotationAdmin;

  it('the node whose begin lost keeps the key it made when the recorded rotation uses it', { skip }, async () => {
    const [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
    const settings = { COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: TOKEN, COFFER_PKCS11_KEY_LABEL: LABEL, COFFER_PKCS11_PIN_FILE: pinFile };
    const session = new pg.Client({ connectionString: cluster.databaseUrl });
    await session.connect();
    try {
      await session.query(`CREATE FUNCTION test_hold_made_key() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.record ? 'madeKey' THEN PERFORM pg_advisory_xact_lock(${HOLD}); END IF;
          RETURN NEW;
        END $$`);
      await session.query('CREATE TRIGGER test_hold_made_key BEFORE INSERT ON cluster_rotation FOR EACH ROW EXECUTE FUNCTION test_hold_made_key()');
      await session.query('SELECT pg_advisory_lock($1)', [HOLD]);
      // A makes the key (the token has none of that label) and waits to record its rotation.
      const postA = admin(A, 'POST', { command: 'migrate', to: 'pkcs11', settings });
      await until('A waits to record its rotation', async () =>
        (await session.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rowCount === 1, 15_000);
      assert.deepEqual(tokenKeyLabels(hsm.conf, TOKEN), [LABEL], 'A made the key');
      // B finds that key (it did not make it) and records its rotation to it.
      const answerB = await admin(B, 'POST', { command: 'migrate', to: 'pkcs11', settings });
      assert.equal(answerB.status, 200, answerB.body);
      const to = (JSON.parse(answerB.body) as Status).to!;
      await session.query('SELECT pg_advisory_unlock($1)', [HOLD]);
      const answerA = await postA;
      assert.equal(answerA.status, 409, answerA.body);
      assert.match(answerA.body, /another root-key rotation was begun on the cluster at the same time/);
      assert.deepEqual(tokenKeyLabels(hsm.conf, TOKEN), [LABEL], `the key of the cluster's rotation (${to}) is still in the token`);
    } finally {
      await session.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      await session.query('DROP TRIGGER IF EXISTS test_hold_made_key ON cluster_rotation').catch(() => undefined);
      await session.end();
    }
    // The cluster's rotation completes onto that key, and the cluster serves under it.
    await until('the rotation completed', async () => (JSON.parse((await admin(B, 'GET')).body) as Status).state === 'completed', 60_000);
    for (const n of cluster.nodes) {
      const kms = n.kms();
      const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('still served') }))).CiphertextBlob!;
      for (const m of cluster.nodes) assert.equal(Buffer.from((await m.kms().send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'still served');
    }
  });
});
