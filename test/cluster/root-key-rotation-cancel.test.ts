// Cancelling a cluster's online root-key rotation (docs/CLUSTER.md, "Root-key rotation"):
// three real `coffer server` children on one real PostgreSQL. A migration to a root.key file
// begun on node 0 waits for node 2, which never gets root.key.next:
//
//   - `coffer custody rotate --online --cancel` (sent to node 2) cancels it: the audit trail
//     holds CofferRootKeyRotationCancelled, every node drops the new key (its custody.json has
//     no rotation section; root.key.next is set aside as root.key.cancelled-<hex>) — node 1,
//     down meanwhile, when it starts again — and the status says `cancelled`
//   - the nodes keep serving under the old key, and nothing was sealed under the new one: each
//     node restarted with the old key alone opens what was written before and during the
//     cancelled rotation
//   - a second cancel is refused (nothing in progress); a new rotation then begins (a new key)
//     and completes; once past its switch, a cancel is refused (409 InvalidState: it must finish)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { ROOT_KEY_ID, ROOT_SECRET, startCluster, rotationAdmin, until as untilPolled, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { CLI_MAIN } from '../interop/support.js';

interface Status {
  state: string;
  from?: string;
  to?: string;
  resealed: number;
  message?: string;
  nodes?: { node: string; live: boolean; holdsNew: boolean; problem?: string }[];
}

describePostgres('cancelling a cluster\'s online root-key rotation', () => {
  let cluster: TestCluster;
  let db: pg.Client;
  before(async () => {
    cluster = await startCluster({ nodes: 3, env: { COFFER_CLUSTER_LEASE_SECONDS: '2' } });
    db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const admin = rotationAdmin;
  const until = (what: string, ok: () => Promise<boolean>, ms: number) => untilPolled(what, ok, ms, 50);
  const status = async (n: ClusterNode): Promise<Status> => {
    const r = await admin(n, 'GET');
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Status;
  };
  const cli = (n: ClusterNode, args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI_MAIN, 'custody', ...args], {
        env: { ...process.env, AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_ENDPOINT: n.url(), AWS_REGION: 'us-east-1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('close', (code) => resolve({ code, out, err }));
    });
  const custody = async (n: ClusterNode) => JSON.parse(await readFile(join(n.dataDir, 'custody.json'), 'utf8')) as { rootKey: string; rotation?: { to: string } };
  const nodeId = async (n: ClusterNode) => (await readFile(join(n.dataDir, 'node-id'), 'utf8')).trim();

  it('cancels a rotation blocked before its switch: every node drops the new key and serves under the old one; a new rotation completes; no cancel after the switch', async () => {
    const [A, B, C] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
    const ABC = [A, B, C];
    await A.s3().send(new CreateBucketCommand({ Bucket: 'cancel' }));
    const keyId = (await A.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const written: { key: string; body: string }[] = [];
    const blobs: { blob: Uint8Array; plain: string }[] = [];
    /** A write and an encryption on every node, each checked by reading it back on another. */
    const round = async (tag: string) => {
      for (const [i, n] of ABC.entries()) {
        const key = `${tag}-${i}`;
        const sse = i % 2 === 0 ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: keyId } : { ServerSideEncryption: 'AES256' as const };
        await n.s3().send(new PutObjectCommand({ Bucket: 'cancel', Key: key, Body: `body of ${key}`, ...sse }));
        written.push({ key, body: `body of ${key}` });
        const plain = `secret ${key}`;
        const k = (await n.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        for (const id of [keyId, k]) blobs.push({ blob: (await n.kms().send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from(plain) }))).CiphertextBlob!, plain });
      }
    };
    const opensAll = async () => {
      for (const [i, n] of ABC.entries()) {
        for (const w of written.filter((_, j) => j % 3 === i)) assert.equal(await (await n.s3().send(new GetObjectCommand({ Bucket: 'cancel', Key: w.key }))).Body!.transformToString(), w.body);
        for (const b of blobs.filter((_, j) => j % 3 === i)) assert.equal(Buffer.from((await n.kms().send(new DecryptCommand({ CiphertextBlob: b.blob }))).Plaintext!).toString(), b.plain);
      }
    };
    await round('before');
    const oldKey = (await custody(A)).rootKey;

    // Begun on node 0; root.key.next copied to node 1 only: node 2 blocks the switch.
    const started = await admin(A, 'POST', { command: 'migrate', to: 'file', settings: {} });
    assert.equal(started.status, 200, started.body);
    const cancelledKey = (JSON.parse(started.body) as Status).to!;
    await copyFile(join(A.dataDir, 'root.key.next'), join(B.dataDir, 'root.key.next'));
    const cId = await nodeId(C);
    let st!: Status;
    await until('node 2 named as the only blocker', async () => {
      st = await status(B);
      return st.nodes?.filter((n) => !n.holdsNew).map((n) => n.node).join() === cId && st.message?.includes(`node ${cId} cannot open`) === true;
    }, 15_000);
    assert.equal(st.state, 'preparing');
    for (const n of [A, B]) assert.equal((await custody(n)).rotation?.to, cancelledKey, `node ${n.index} holds the new key`);
    // Served while it waits (nodes 0 and 1 hold the new key beside the old one).
    await round('during');

    // Node 1, which holds the new key, is down during the cancel: it joins the cancellation when it starts again.
    await B.stop();
    const cancel = await cli(C, ['rotate', '--online', '--cancel']);
    assert.equal(cancel.code, 0, cancel.err);
    assert.equal(cancel.out.split('\n')[0], `cancelled the root-key rotation from ${oldKey} to ${cancelledKey} before its switch: every node drops the new key and seals under ${oldKey}`);
    // The durable record came before the answer.
    const audit = await db.query<{ record: string }>(`SELECT record FROM audit_events WHERE event_name = 'CofferRootKeyRotationCancelled'`);
    assert.equal(audit.rows.length, 1);
    const data = (JSON.parse(audit.rows[0]!.record) as { additionalEventData: Record<string, unknown> }).additionalEventData;
    assert.deepEqual([data.from, data.to, data.phase, data.cluster], [oldKey, cancelledKey, 'prepare', true]);
    assert.equal((await db.query(`SELECT phase FROM cluster_rotation WHERE to_key = $1`, [cancelledKey])).rows[0].phase, 'cancelled');

    await B.start();
    // Every node drops it: custody.json without the rotation, root.key.next set aside.
    const hex = cancelledKey.slice(cancelledKey.indexOf(':') + 1);
    await until('every node dropped the new key', async () => {
      for (const n of ABC) {
        if ((await custody(n)).rotation) return false;
        if ((await readdir(n.dataDir)).includes('root.key.next')) return false;
      }
      return true;
    }, 15_000);
    for (const n of [A, B]) assert.ok((await readdir(n.dataDir)).includes(`root.key.cancelled-${hex}`), `node ${n.index} keeps the key aside`);
    for (const n of ABC) {
      st = await status(n);
      assert.deepEqual([st.state, st.from, st.to, st.resealed], ['cancelled', oldKey, cancelledKey, 0]);
      assert.equal((await custody(n)).rootKey, oldKey);
    }
    // Still serving, under the old key.
    await round('after');
    await opensAll();
    // Nothing was sealed under the new key: each node restarted with the old key alone (its file set aside) opens everything.
    for (const n of ABC) await n.stop();
    for (const n of ABC) await n.start();
    await opensAll();

    // Nothing left to cancel.
    const again = await cli(A, ['rotate', '--online', '--cancel']);
    assert.equal(again.code, 2, again.out);
    assert.match(again.err, /coffer: error: .*InvalidState: no root-key rotation of the cluster is in progress/);

    // A new rotation: a new key, every node gets it, it completes; past its switch it cannot be cancelled.
    const second = await admin(A, 'POST', { command: 'migrate', to: 'file', settings: {}, itemsPerSecond: 5 });
    assert.equal(second.status, 200, second.body);
    const newKey = (JSON.parse(second.body) as Status).to!;
    assert.notEqual(newKey, cancelledKey);
    for (const n of [B, C]) await copyFile(join(A.dataDir, 'root.key.next'), join(n.dataDir, 'root.key.next'));
    await until('the cluster switched', async () => ['waiting', 'resealing', 'finishing', 'completed'].includes((st = await status(C)).state), 30_000);
    // Paced at 5 items a second, two passes at least over some 30 items: seconds before it completes.
    assert.notEqual(st.state, 'completed');
    const refused = await cli(C, ['rotate', '--online', '--cancel']);
    assert.equal(refused.code, 2, refused.out);
    assert.match(refused.err, new RegExp(`InvalidState: the cluster's root-key rotation from ${oldKey} to ${newKey} is past its switch \\(sealing\\): nodes seal under the new key, so it cannot be cancelled and must finish`));
    assert.match(refused.err, /hint: follow it to its end: coffer custody rotate --online --follow/);
    await until('the new rotation completed', async () => (st = await status(B)).state === 'completed', 120_000);
    assert.ok(st.resealed > 0);
    for (const n of ABC) assert.deepEqual(await custody(n).then((c) => [c.rootKey, c.rotation]), [newKey, undefined]);
    await round('last');
    await opensAll();
  });
});
