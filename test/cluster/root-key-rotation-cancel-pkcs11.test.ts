// A cluster's rotation to a PKCS#11 token key, cancelled before its switch (docs/CLUSTER.md,
// "Root-key rotation", Cancel): two real `coffer server` children on one real PostgreSQL and
// SoftHSM2 tokens. Node 0's token is where the rotation makes its key; node 1's token (same
// label, another SoftHSM2 store) never gets it, so the rotation waits in `prepare`.
//
//   - a key the rotation made is destroyed once cancelled: the token lists only the keys it
//     had before (listed by a fresh process through PKCS#11), and the cluster serves on
//   - a key the operator named (it was in the token before the migration) is kept
//   - two rotations begun at once on the two nodes (held at the rotation table by a test
//     session): the node whose rotation was not recorded destroys the key it made at once

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { Pkcs11RootKeyProvider } from '../../src/custody/pkcs11-root-key.js';
import { startCluster, rotationAdmin, until, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { makeSoftHsm, skipWithoutSoftHsm, SOFTHSM_MODULE, tokenKeyLabels, USER_PIN, type SoftHsm } from '../custody/softhsm.js';

const TOKEN = 'coffer-cluster';
const skip = skipWithoutSoftHsm();

interface Status {
  state: string;
  to?: string;
  nodes?: { node: string; holdsNew: boolean; problem?: string }[];
}

describePostgres('a cancelled cluster rotation to a PKCS#11 token key', () => {
  let cluster: TestCluster;
  let hsmA: SoftHsm;
  let hsmB: SoftHsm;
  let pinFile: string;
  before(async () => {
    if (skip) return;
    // B first: makeSoftHsm points this process at the last one made (A, where the operator's key is made below).
    hsmB = await makeSoftHsm();
    hsmB.initToken(TOKEN);
    hsmA = await makeSoftHsm();
    hsmA.initToken(TOKEN);
    pinFile = join(hsmA.root, 'user.pin');
    await writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    // A key the operator made before: a migration may name it.
    Pkcs11RootKeyProvider.open({ module: SOFTHSM_MODULE, token: { label: TOKEN }, keyLabel: 'operator-key', pin: USER_PIN }, { create: true }).provider.close();
    cluster = await startCluster({ nodes: 2, env: { COFFER_CLUSTER_LEASE_SECONDS: '2', SOFTHSM2_CONF: hsmA.conf } });
    // Node 1 looks in another token of the same label, which never gets the new key: the switch waits.
    await cluster.nodes[1]!.stop();
    await cluster.nodes[1]!.start({ SOFTHSM2_CONF: hsmB.conf });
  });
  after(async () => {
    await cluster?.stop();
    await hsmA?.remove();
    await hsmB?.remove();
  });

  const admin = rotationAdmin;
  const labels = () => tokenKeyLabels(hsmA.conf, TOKEN);
  /** Begins a migration to the token key `keyLabel` on node 0, waits until node 1 blocks it, cancels it on node `cancelOn`. */
  const beginAndCancel = async (keyLabel: string, cancelOn: 0 | 1): Promise<string> => {
    const [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
    const settings = { COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: TOKEN, COFFER_PKCS11_KEY_LABEL: keyLabel, COFFER_PKCS11_PIN_FILE: pinFile };
    const started = await admin(A, 'POST', { command: 'migrate', to: 'pkcs11', settings });
    assert.equal(started.status, 200, started.body);
    const to = (JSON.parse(started.body) as Status).to!;
    assert.match(to, /^pkcs11:[0-9a-f]{16}$/);
    await until('node 1 blocks the switch (its token has no such key)', async () => {
      const st = JSON.parse((await admin(B, 'GET')).body) as Status;
      return st.state === 'preparing' && st.nodes?.some((n) => !n.holdsNew && n.problem?.includes('cannot open the new root key')) === true;
    }, 15_000);
    assert.ok(labels().includes(keyLabel), 'the token holds the new key while the rotation prepares');
    const cancelled = await admin(cluster.nodes[cancelOn]!, 'DELETE');
    assert.equal(cancelled.status, 200, cancelled.body);
    assert.equal((JSON.parse(cancelled.body) as Status).state, 'cancelled');
    return to;
  };
  const serves = async () => {
    for (const n of cluster.nodes) {
      const kms = n.kms();
      const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('still served') }))).CiphertextBlob!;
      for (const m of cluster.nodes) assert.equal(Buffer.from((await m.kms().send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'still served');
    }
  };

  it('destroys the token key the cancelled rotation made, and only that key', { skip }, async () => {
    assert.deepEqual(labels(), ['operator-key']);
    await beginAndCancel('made-by-rotation', 1);
    // Node 0 made it and held it; it drops it on seeing the cancel sent to node 1 (woken by the row's NOTIFY).
    await until('the key the rotation made is gone from the token', () => !labels().includes('made-by-rotation'), 15_000);
    assert.deepEqual(labels(), ['operator-key']);
    await serves();
  });

  it('keeps a token key the operator named, which the rotation did not make', { skip }, async () => {
    // Cancelled on node 0, which held it: that node has dropped the key (and decided its fate) before it answers.
    await beginAndCancel('operator-key', 0);
    assert.deepEqual(labels(), ['operator-key']);
    await serves();
  });

  it('two rotations begun at once on two nodes: the one not begun destroys the key it made; the other\'s goes at its cancel', { skip }, async () => {
    const [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
    const labelsB = () => tokenKeyLabels(hsmB.conf, TOKEN);
    assert.deepEqual([labels(), labelsB()], [['operator-key'], []]);
    const settings = (keyLabel: string) => ({ COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: TOKEN, COFFER_PKCS11_KEY_LABEL: keyLabel, COFFER_PKCS11_PIN_FILE: pinFile });
    // Both begin at once by construction: the rotation table is held against writes until both
    // nodes have made their keys and wait to record their rotation; then one records it, the other cannot.
    const session = new pg.Client({ connectionString: cluster.databaseUrl });
    await session.connect();
    let answers: { status: number; body: string }[];
    try {
      await session.query('BEGIN');
      await session.query('LOCK TABLE cluster_rotation IN SHARE ROW EXCLUSIVE MODE');
      const posts = [admin(A, 'POST', { command: 'migrate', to: 'pkcs11', settings: settings('race-a') }), admin(B, 'POST', { command: 'migrate', to: 'pkcs11', settings: settings('race-b') })];
      await until('both begins wait on the rotation table', async () =>
        (await session.query(`SELECT 1 FROM pg_locks WHERE relation = 'cluster_rotation'::regclass AND NOT granted`)).rowCount === 2, 15_000);
      assert.deepEqual([labels(), labelsB()], [['operator-key', 'race-a'], ['race-b']], 'each node made its key in its token');
      await session.query('COMMIT');
      answers = await Promise.all(posts);
    } finally {
      await session.query('ROLLBACK').catch(() => undefined);
      await session.end();
    }
    const won = answers.findIndex((a) => a.status === 200);
    assert.ok(won >= 0, JSON.stringify(answers));
    const lost = answers[1 - won]!;
    assert.equal(lost.status, 409, lost.body);
    assert.match(lost.body, /another root-key rotation was begun on the cluster at the same time/);
    // The node that lost destroyed its key before it answered; the winner's is in its token.
    assert.deepEqual([labels(), labelsB()], won === 0 ? [['operator-key', 'race-a'], []] : [['operator-key'], ['race-b']]);
    const cancelled = await admin(cluster.nodes[won]!, 'DELETE');
    assert.equal(cancelled.status, 200, cancelled.body);
    assert.deepEqual([labels(), labelsB()], [['operator-key'], []], 'the winner\'s key goes at its cancel');
    await serves();
  });
});
