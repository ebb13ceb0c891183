// POST/GET /_coffer/api/custody/rotation: who may call it, what it accepts, and what it
// refuses (a key that cannot be rotated in place, a second start while one runs, a cancel:
// one server seals under the new key from its start, so its rotation must finish).

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { SignedClient } from '../../src/cli/signed-client.js';
import { ROOT_KEY_ID, ROOT_SECRET, waitFor } from '../interop/support.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

const PATH = 'custody/rotation';

describe('the custody/rotation administration route', () => {
  let s: TestServer;
  let root: SignedClient;
  before(async () => {
    s = await startTestServer();
    root = new SignedClient({ endpoint: s.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
  });
  after(async () => {
    await s?.stop();
  });

  it('is denied to a user without coffer:RotateRootKey / coffer:GetRootKeyRotation, allowed with them', async () => {
    const u = await createUserWithKey({ dataDir: s.dataDir, accountId: s.coffer.root.accountId, rootKey: s.coffer.rootKey, iam: s.coffer.iam, close: async () => {}, changes: inProcessChanges(s.coffer) }, 'operator');
    const client = new SignedClient({ endpoint: s.url, region: 'us-east-1', credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey } });
    const denied = await client.admin('GET', PATH);
    assert.equal(denied.status, 403);
    assert.match(denied.body, /"__type":"AccessDeniedException".*coffer:GetRootKeyRotation/);
    const deniedStart = await client.admin('POST', PATH, { command: 'rotate' });
    assert.equal(deniedStart.status, 403);
    assert.match(deniedStart.body, /coffer:RotateRootKey/);
    const deniedCancel = await client.admin('DELETE', PATH);
    assert.equal(deniedCancel.status, 403);
    assert.match(deniedCancel.body, /coffer:CancelRootKeyRotation/);
    const iam = new IAMClient({ endpoint: s.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    await iam.send(new PutUserPolicyCommand({ UserName: 'operator', PolicyName: 'read', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'coffer:GetRootKeyRotation', Resource: '*' }] }) }));
    iam.destroy();
    const allowed = await client.admin('GET', PATH);
    assert.equal(allowed.status, 200);
    assert.deepEqual(JSON.parse(allowed.body), { state: 'idle', pass: 0, done: 0, total: 0, resealed: 0, changed: 0 });
  });

  it('refuses malformed requests', async () => {
    for (const [body, message] of [
      [{}, /command must be rotate or migrate/],
      [{ command: 'migrate', to: 'usb-stick' }, /to must be one of file, pkcs11, external-kms/],
      [{ command: 'rotate', itemsPerSecond: -1 }, /itemsPerSecond must be a positive number/],
      [{ command: 'migrate', to: 'external-kms', settings: { COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI' } }, /COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY cannot be given to a running server/],
    ] as const) {
      const r = await root.admin('POST', PATH, body);
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, message);
      assert.ok(!r.body.includes('wJalrXUtnFEMI'));
    }
  });

  it('refuses a second start while one runs, and a rotation of COFFER_ROOT_KEY in place', async () => {
    const none = await root.admin('DELETE', PATH);
    assert.equal(none.status, 409, none.body);
    assert.match(none.body, /"__type":"InvalidState".*no root-key rotation is in progress/);
    const first = await root.admin('POST', PATH, { command: 'rotate', itemsPerSecond: 1 });
    assert.equal(first.status, 200, first.body);
    const second = await root.admin('POST', PATH, { command: 'rotate' });
    assert.equal(second.status, 409);
    assert.match(second.body, /"__type":"RotationInProgress"/);
    const cancel = await root.admin('DELETE', PATH);
    assert.equal(cancel.status, 409, cancel.body);
    assert.match(cancel.body, /"__type":"InvalidState".*cannot be cancelled: one server seals under the new key from the moment its rotation starts, so it must finish/);
    assert.notEqual(JSON.parse((await root.admin('GET', PATH)).body).state, 'cancelled');
    assert.ok(await waitFor(async () => JSON.parse((await root.admin('GET', PATH)).body).state === 'completed', 10_000));

    const env = await startTestServer({ COFFER_ROOT_KEY: Buffer.alloc(32, 9).toString('base64') });
    try {
      const client = new SignedClient({ endpoint: env.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      const r = await client.admin('POST', PATH, { command: 'rotate' });
      assert.equal(r.status, 400);
      assert.match(r.body, /COFFER_ROOT_KEY cannot be rotated in place/);
    } finally {
      await env.stop();
    }
  });

  it('stops, naming the item, at one that neither key opens; the rotation stays recorded, both keys in use', async () => {
    const srv = await startTestServer();
    try {
      const u = await createUserWithKey({ dataDir: srv.dataDir, accountId: srv.coffer.root.accountId, rootKey: srv.coffer.rootKey, iam: srv.coffer.iam, close: async () => {}, changes: inProcessChanges(srv.coffer) }, 'damaged');
      const [k] = await srv.coffer.iam.listAccessKeys('damaged');
      const bad = Buffer.from(k!.sealedSecret);
      bad[bad.length - 1]! ^= 1;
      assert.ok(await srv.coffer.iam.resealAccessKey(u.accessKeyId, k!.sealedSecret, bad));
      const client = new SignedClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
      assert.equal((await client.admin('POST', PATH, { command: 'rotate' })).status, 200);
      let st!: { state: string; error?: string; to: string };
      assert.ok(await waitFor(async () => ((st = JSON.parse((await client.admin('GET', PATH)).body)), st.state === 'failed'), 10_000), JSON.stringify(st));
      assert.equal(st.error, `access key ${u.accessKeyId} opens under neither root key (auth): wrapped key did not authenticate: tampered, or bound to other data`);
      const record = JSON.parse(await fs.readFile(path.join(srv.dataDir, 'custody.json'), 'utf8')) as { rotation?: { to: string } };
      assert.equal(record.rotation?.to, st.to);
      assert.equal(srv.coffer.rootKey.id, st.to);
    } finally {
      await srv.stop();
    }
  });
});
