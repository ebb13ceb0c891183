// Key rotation through the real server and the AWS SDK: EnableKeyRotation,
// DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations —
// shapes and messages as AWS records them, the key-state rules, the on-demand limit, and
// that ciphertexts made before a rotation still decrypt after it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecryptCommand,
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  type IncludeKeyMaterial,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { callKms } from '../../src/kms/dispatch.js';
import { createTestKey, encryptWithKey, callerFor, userPrincipal } from './fixtures.js';
import { rejects } from './harness.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv?.stop();
});

const DAY_S = 24 * 60 * 60;

test('EnableKeyRotation without a period: 365 days, NextRotationDate a year out, KeyId as the key id', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const before = Date.now() / 1000;
  await srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId }));
  const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.arn }));
  assert.equal(st.KeyRotationEnabled, true);
  assert.equal(st.KeyId, key.keyId);
  assert.equal(st.RotationPeriodInDays, 365);
  assert.ok(st.NextRotationDate instanceof Date);
  const next = st.NextRotationDate.getTime() / 1000;
  assert.ok(next >= before + 365 * DAY_S - 1 && next <= Date.now() / 1000 + 365 * DAY_S + 1, `next rotation ${next}`);
  assert.equal(st.OnDemandRotationStartDate, undefined);
});

for (const days of [90, 180, 2560]) {
  test(`EnableKeyRotation with RotationPeriodInDays ${days} reports that period`, async () => {
    const key = await createTestKey(srv.coffer.kms);
    await srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId, RotationPeriodInDays: days }));
    const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
    assert.deepEqual([st.KeyRotationEnabled, st.RotationPeriodInDays], [true, days]);
    const inDays = (st.NextRotationDate!.getTime() - Date.now()) / 1000 / DAY_S;
    assert.ok(Math.abs(inDays - days) < 0.01, `next rotation in ${inDays} days`);
  });
}

test('EnableKeyRotation again with a new period keeps the schedule start and moves the date', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId, RotationPeriodInDays: 365 }));
  const a = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  await srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId, RotationPeriodInDays: 100 }));
  const b = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  assert.equal(b.RotationPeriodInDays, 100);
  assert.equal((a.NextRotationDate!.getTime() - b.NextRotationDate!.getTime()) / 1000 / DAY_S, 265);
});

test('RotationPeriodInDays outside 90..2560 is a ValidationException with AWS wording', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await rejects(
    srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId, RotationPeriodInDays: 89 })),
    'ValidationException',
    "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value greater than or equal to 90",
  );
  await rejects(
    srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId, RotationPeriodInDays: 2561 })),
    'ValidationException',
    "1 validation error detected: Value '2561' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 2560",
  );
  const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  assert.equal(st.KeyRotationEnabled, false);
});

test('DisableKeyRotation: status is just {KeyId, KeyRotationEnabled: false}', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId, RotationPeriodInDays: 90 }));
  await srv.kms.send(new DisableKeyRotationCommand({ KeyId: key.keyId }));
  const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  const { $metadata, ...body } = st;
  void $metadata;
  assert.deepEqual(body, { KeyId: key.keyId, KeyRotationEnabled: false });
  const stored = await srv.coffer.kms.store.getKey(key.keyId);
  assert.equal(stored!.nextRotationDate, undefined);
});

test('a disabled key: Enable/DisableKeyRotation and RotateKeyOnDemand answer DisabledException "<arn> is disabled."; status still reads', async () => {
  const key = await createTestKey(srv.coffer.kms, { state: 'Disabled' });
  const msg = `${key.arn} is disabled.`;
  await rejects(srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId })), 'DisabledException', msg);
  await rejects(srv.kms.send(new DisableKeyRotationCommand({ KeyId: key.keyId })), 'DisabledException', msg);
  await rejects(srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId })), 'DisabledException', msg);
  const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  assert.equal(st.KeyRotationEnabled, false);
});

test('a key pending deletion: rotation changes are KMSInvalidStateException; its status reads false and comes back on cancel', async () => {
  const key = await createTestKey(srv.coffer.kms, {
    state: 'PendingDeletion',
    deletionDate: Date.now() + 7 * DAY_S * 1000,
    pendingWindowInDays: 7,
    rotationEnabled: true,
    rotationPeriodInDays: 365,
    nextRotationDate: Date.now() + 365 * DAY_S * 1000,
  });
  const msg = `${key.arn} is pending deletion.`;
  await rejects(srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId })), 'KMSInvalidStateException', msg);
  await rejects(srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId })), 'KMSInvalidStateException', msg);
  const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  assert.equal(st.KeyRotationEnabled, false);
  assert.equal(st.RotationPeriodInDays, undefined);
  // What CancelKeyDeletion leaves behind: the key Disabled, rotation settings intact.
  await srv.coffer.kms.store.updateKey({ ...key, state: 'Disabled', deletionDate: undefined, pendingWindowInDays: undefined });
  const back = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  assert.deepEqual([back.KeyRotationEnabled, back.RotationPeriodInDays], [true, 365]);
});

test('an AWS managed key cannot have its rotation changed or rotated on demand', async () => {
  const key = await createTestKey(srv.coffer.kms, { keyManager: 'AWS' });
  const msg = `${key.arn} key manager is AWS which is not valid for this operation.`;
  await rejects(srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId })), 'UnsupportedOperationException', msg);
  await rejects(srv.kms.send(new DisableKeyRotationCommand({ KeyId: key.keyId })), 'UnsupportedOperationException', msg);
  await rejects(srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId })), 'UnsupportedOperationException', msg);
});

test('unknown keys and aliases: NotFoundException with AWS messages', async () => {
  const arn = srv.coffer.kms.keyArn('11111111-2222-3333-4444-555555555555');
  await rejects(srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: arn })), 'NotFoundException', `Key '${arn}' does not exist`);
  await rejects(srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: '11111111-2222-3333-4444-555555555555' })), 'NotFoundException', `Key '${arn}' does not exist`);
  await rejects(srv.kms.send(new EnableKeyRotationCommand({ KeyId: 'alias/some-alias' })), 'NotFoundException', "Invalid keyId 'alias/some-alias'");
});

test('RotateKeyOnDemand adds a current material version, leaves the automatic schedule, answers {KeyId} with the key ARN as AWS does', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new EnableKeyRotationCommand({ KeyId: key.keyId }));
  const before = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  const out = await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.arn }));
  // Recorded: test_rotate_on_demand_returns_arn_for_key_id.
  assert.equal(out.KeyId, key.arn);
  const stored = (await srv.coffer.kms.store.getKey(key.keyId))!;
  assert.equal(stored.currentVersion, 2);
  assert.equal(stored.onDemandRotations, 1);
  const mats = await srv.coffer.kms.store.listMaterials(key.keyId);
  assert.equal(mats.length, 2);
  assert.match(mats[1]!.materialId, /^[0-9a-f]{64}$/);
  assert.notEqual(mats[1]!.materialId, mats[0]!.materialId);
  assert.equal(mats[1]!.rotationType, 'ON_DEMAND');
  const after = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  assert.deepEqual(after.NextRotationDate, before.NextRotationDate);
  assert.equal(after.OnDemandRotationStartDate, undefined);

  const events = await waitForAudit(key.arn, 'RotateKeyOnDemand');
  assert.equal(events.at(-1)!.userIdentity.type, 'Root');
  assert.equal(events.at(-1)!.errorCode, undefined);
});

test('RotateKeyOnDemand works with automatic rotation disabled, which stays disabled', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  const { $metadata, ...body } = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: key.keyId }));
  void $metadata;
  assert.deepEqual(body, { KeyId: key.keyId, KeyRotationEnabled: false });
});

test('ListKeyRotations: rotations only by default (oldest first), ALL_KEY_MATERIAL adds the first material without a date', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const none = await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId }));
  assert.deepEqual([none.Rotations, none.Truncated], [[], false]);

  const t0 = Date.now() / 1000;
  await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  const mats = await srv.coffer.kms.store.listMaterials(key.keyId);
  const list = await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.arn }));
  assert.equal(list.Truncated, false);
  assert.equal(list.NextMarker, undefined);
  assert.equal(list.Rotations!.length, 2);
  list.Rotations!.forEach((r, i) => {
    assert.equal(r.KeyId, key.keyId);
    assert.equal(r.RotationType, 'ON_DEMAND');
    assert.equal(r.KeyMaterialId, mats[i + 1]!.materialId);
    assert.ok(r.RotationDate instanceof Date && r.RotationDate.getTime() / 1000 >= t0 - 1);
  });
  assert.deepEqual(list.Rotations!.map((r) => r.KeyMaterialState), ['NON_CURRENT', 'CURRENT']);

  const all = await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }));
  assert.equal(all.Rotations!.length, 3);
  const first = all.Rotations![0]!;
  assert.deepEqual([first.KeyMaterialId, first.KeyMaterialState, first.RotationDate, first.RotationType], [mats[0]!.materialId, 'NON_CURRENT', undefined, undefined]);
});

test('ListKeyRotations pages with Limit and NextMarker; a bad marker, limit or IncludeKeyMaterial is refused', async () => {
  const key = await createTestKey(srv.coffer.kms);
  for (let i = 0; i < 3; i++) await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  const p1 = await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, Limit: 2 }));
  assert.equal(p1.Rotations!.length, 2);
  assert.equal(p1.Truncated, true);
  assert.ok(p1.NextMarker);
  const p2 = await srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, Limit: 2, Marker: p1.NextMarker }));
  assert.equal(p2.Rotations!.length, 1);
  assert.equal(p2.Truncated, false);
  const ids = new Set([...p1.Rotations!, ...p2.Rotations!].map((r) => r.KeyMaterialId));
  assert.equal(ids.size, 3);

  await rejects(srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, Marker: 'not-a-marker' })), 'InvalidMarkerException');
  await rejects(
    srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, Limit: 0 })),
    'ValidationException',
    "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
  );
  await rejects(
    srv.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, IncludeKeyMaterial: 'SOME' as IncludeKeyMaterial })),
    'ValidationException',
    "1 validation error detected: Value 'SOME' at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
  );
});

test('the 26th on-demand rotation is LimitExceededException with the recorded message', async () => {
  const key = await createTestKey(srv.coffer.kms);
  for (let i = 0; i < 25; i++) await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  await rejects(
    srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId })),
    'LimitExceededException',
    `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${key.arn}`,
  );
  assert.equal((await srv.coffer.kms.store.getKey(key.keyId))!.currentVersion, 26);
});

test('a user the key policy does not allow cannot rotate: AccessDeniedException, nothing changes', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const alice = userPrincipal(srv.coffer.kms.accountId, 'rotation-test-nobody');
  await assert.rejects(callKms(srv.coffer.kms, callerFor(alice), 'RotateKeyOnDemand', { KeyId: key.keyId }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'AccessDeniedException');
    assert.equal(e.message, `User: ${alice.arn} is not authorized to perform: kms:RotateKeyOnDemand on resource: ${key.arn} because no identity-based policy allows the kms:RotateKeyOnDemand action`);
    return true;
  });
  assert.equal((await srv.coffer.kms.store.getKey(key.keyId))!.currentVersion, 1);
});

test('ciphertexts from every earlier material version still decrypt after rotations', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const ctx = { purpose: 'rotation-test' };
  const v1 = await encryptWithKey(srv.coffer.kms, key.keyId, Buffer.from('made under version 1'), ctx);
  await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  const v2 = await encryptWithKey(srv.coffer.kms, key.keyId, Buffer.from('made under version 2'), ctx);
  await srv.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  for (const [blob, text] of [[v1, 'made under version 1'], [v2, 'made under version 2']] as const) {
    const out = await srv.kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx }));
    assert.equal(Buffer.from(out.Plaintext!).toString(), text);
    assert.equal(out.KeyId, key.arn);
  }
});

async function waitForAudit(keyArn: string, eventName: string) {
  for (let i = 0; i < 500; i++) { // 10 s and more: a loaded machine writes the log late
    const events = await readAudit(`${srv.dataDir}/audit`, { key: keyArn, eventName });
    if (events.length) return events;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`no ${eventName} audit event for ${keyArn}`);
}
