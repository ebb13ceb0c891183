// The KMS background sweep against the real server's store: keys past their deletion
// date are deleted (and audited as CloudTrail's DeleteKey service event), due automatic
// rotations add AUTOMATIC material and move the schedule (audited as RotateKey), keys
// not yet due are left alone, and a failure on one key neither stops the sweep nor
// escapes it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GetKeyRotationStatusCommand, ListKeyRotationsCommand } from '@aws-sdk/client-kms';
import { pino } from 'pino';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { KmsScheduler } from '../../src/kms/scheduler.js';
import { InFlightRequests } from '../../src/http/in-flight.js';
import { KmsService } from '../../src/kms/service.js';
import type { KmsStore } from '../../src/kms/store/types.js';
import { createTestKey } from './fixtures.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv?.stop();
});

const DAY = 24 * 60 * 60 * 1000;
// Sweeps here run "as of" a month from now, and keys fall due just before that: the
// server's own scheduler (real clock) never touches them, so each test sees only its own sweep.
const future = (): number => Date.now() + 30 * DAY;

/** The server's service with its clock at `now`. */
function serviceAt(now: number, store: KmsStore = srv.coffer.kms.store, log = srv.coffer.log): KmsService {
  const base = srv.coffer.kms;
  return new KmsService({ store, rootKey: base.rootKey, accountId: base.accountId, region: base.region, identityPolicies: async () => [], audit: srv.coffer.audit, log, now: () => now });
}

async function auditEvents(keyArn: string, eventName: string) {
  for (let i = 0; i < 50; i++) {
    const ev = await readAudit(`${srv.dataDir}/audit`, { key: keyArn, eventName });
    if (ev.length) return ev;
    await new Promise((r) => setTimeout(r, 20));
  }
  return [];
}

test('runOnce deletes keys whose deletion date has passed, with material, aliases and grants, and audits DeleteKey as a service event', async () => {
  const svc = srv.coffer.kms;
  const now = future();
  const due = await createTestKey(svc, { state: 'PendingDeletion', deletionDate: now - 1000, pendingWindowInDays: 7 });
  const notYet = await createTestKey(svc, { state: 'PendingDeletion', deletionDate: now + 7 * DAY, pendingWindowInDays: 7 });
  await svc.store.createAlias({ aliasName: 'alias/scheduler-due', keyId: due.keyId, creationDate: now, lastUpdatedDate: now });
  await svc.store.createGrant({ grantId: 'a'.repeat(64), keyId: due.keyId, granteePrincipal: `arn:aws:iam::${svc.accountId}:user/x`, issuingAccount: `arn:aws:iam::${svc.accountId}:root`, operations: ['Decrypt'], creationDate: now, grantToken: 'scheduler-test-token' });
  await svc.material(due); // cached: the sweep must forget it

  const result = await new KmsScheduler(svc).runOnce(now);
  assert.ok(result.deleted.includes(due.keyId));
  assert.ok(!result.deleted.includes(notYet.keyId));
  assert.equal(await svc.store.getKey(due.keyId), undefined);
  assert.deepEqual(await svc.store.listMaterials(due.keyId), []);
  assert.equal(await svc.store.getAlias('alias/scheduler-due'), undefined);
  assert.equal(await svc.store.getGrant('a'.repeat(64)), undefined);
  assert.ok(await svc.store.getKey(notYet.keyId));
  await assert.rejects(svc.material(due, 1), (e: { code?: string }) => e.code === 'KMSInternalException');

  const [ev] = await auditEvents(due.arn, 'DeleteKey');
  assert.ok(ev, 'DeleteKey audit event');
  assert.equal(ev.eventType, 'AwsServiceEvent');
  assert.deepEqual(ev.userIdentity, { accountId: svc.accountId, invokedBy: 'kms.amazonaws.com' });
  assert.equal(ev.sourceIPAddress, 'kms.amazonaws.com');
  assert.equal(ev.requestParameters, null);
  assert.deepEqual(ev.additionalEventData, { keyId: due.arn });
  assert.deepEqual(ev.resources, [{ ARN: due.arn, accountId: svc.accountId, type: 'AWS::KMS::Key' }]);
});

test('runOnce rotates keys whose automatic rotation is due: AUTOMATIC material, next date one period on, RotateKey audited', async () => {
  const svc = srv.coffer.kms;
  const now = future();
  const due = await createTestKey(svc, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 1000 });
  const later = await createTestKey(svc, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now + DAY });
  const disabled = await createTestKey(svc, { state: 'Disabled', rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 1000 });

  const result = await new KmsScheduler(svc).runOnce(now);
  assert.ok(result.rotated.includes(due.keyId));
  assert.ok(!result.rotated.includes(later.keyId));
  assert.ok(!result.rotated.includes(disabled.keyId), 'disabled keys wait until re-enabled');

  const k = (await svc.store.getKey(due.keyId))!;
  assert.equal(k.currentVersion, 2);
  assert.equal(k.nextRotationDate, now - 1000 + 90 * DAY);
  assert.equal(k.onDemandRotations, 0);
  assert.equal((await svc.store.getKey(later.keyId))!.currentVersion, 1);
  assert.equal((await svc.store.getKey(disabled.keyId))!.currentVersion, 1);

  const list = await srv.kms.send(new ListKeyRotationsCommand({ KeyId: due.keyId }));
  assert.equal(list.Rotations!.length, 1);
  assert.equal(list.Rotations![0]!.RotationType, 'AUTOMATIC');
  assert.equal(list.Rotations![0]!.RotationDate!.getTime(), now);
  const st = await srv.kms.send(new GetKeyRotationStatusCommand({ KeyId: due.keyId }));
  assert.equal(st.NextRotationDate!.getTime(), now - 1000 + 90 * DAY);

  const [ev] = await auditEvents(due.arn, 'RotateKey');
  assert.ok(ev, 'RotateKey audit event');
  assert.equal(ev.eventType, 'AwsServiceEvent');
  assert.equal(ev.userIdentity.invokedBy, 'kms.amazonaws.com');
  const mats = await svc.store.listMaterials(due.keyId);
  assert.deepEqual(ev.additionalEventData, { keyId: due.arn, rotationType: 'AUTOMATIC', keyMaterialId: mats[1]!.materialId });

  // Run again at the same instant: nothing is due any more.
  const again = await new KmsScheduler(svc).runOnce(now);
  assert.ok(!again.rotated.includes(due.keyId));
});

test('a rotation overdue by more than a period counts the next one from now, not from the missed date', async () => {
  const svc = srv.coffer.kms;
  const now = future();
  const key = await createTestKey(svc, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 200 * DAY });
  await new KmsScheduler(svc).runOnce(now);
  const k = (await svc.store.getKey(key.keyId))!;
  assert.equal(k.currentVersion, 2, 'rotated once, not once per missed period');
  assert.equal(k.nextRotationDate, now + 90 * DAY);
});

test('runOnce with a future time deletes keys that will be due by then', async () => {
  const svc = srv.coffer.kms;
  const key = await createTestKey(svc, { state: 'PendingDeletion', deletionDate: Date.now() + 7 * DAY, pendingWindowInDays: 7 });
  assert.ok(!(await new KmsScheduler(svc).runOnce(Date.now() + 6 * DAY)).deleted.includes(key.keyId));
  const result = await new KmsScheduler(svc).runOnce(Date.now() + 8 * DAY);
  assert.ok(result.deleted.includes(key.keyId));
  assert.equal(await svc.store.getKey(key.keyId), undefined);
});

test('a failure on one key is logged, the sweep goes on with the others, and runOnce does not reject', async () => {
  const base = srv.coffer.kms;
  const now = future();
  const bad = await createTestKey(base, { state: 'PendingDeletion', deletionDate: now - 2000, pendingWindowInDays: 7 });
  const good = await createTestKey(base, { state: 'PendingDeletion', deletionDate: now - 1000, pendingWindowInDays: 7 });
  const rotating = await createTestKey(base, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 1000 });
  // Fault injection on the real store: deleting one key fails as a broken disk would.
  const store = new Proxy(base.store, {
    get(target, prop, receiver) {
      if (prop === 'deleteKey') {
        return async (keyId: string) => {
          if (keyId === bad.keyId) throw new Error('injected disk failure');
          return target.deleteKey(keyId);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as KmsStore;
  const logged: string[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
  const svc = serviceAt(now, store, log);

  const result = await new KmsScheduler(svc).runOnce(now);
  assert.deepEqual(result.failed, [bad.keyId]);
  assert.ok(result.deleted.includes(good.keyId));
  assert.ok(result.rotated.includes(rotating.keyId));
  assert.ok(await base.store.getKey(bad.keyId), 'the failed key is still there for the next sweep');
  assert.ok(logged.some((l) => l.includes(bad.keyId) && l.includes('injected disk failure')), logged.join('\n'));

  // A store that fails to list at all: logged, empty result, no rejection.
  const broken = new Proxy(base.store, {
    get(target, prop) {
      if (prop === 'dueForDeletion' || prop === 'dueForRotation' || prop === 'dueForExpiry') return async () => { throw new Error('injected list failure'); };
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as KmsStore;
  const svc2 = serviceAt(now, broken, log);
  const none = await new KmsScheduler(svc2).runOnce(now);
  assert.deepEqual(none, { deleted: [], rotated: [], expired: [], failed: [] });
  assert.ok(logged.some((l) => l.includes('injected list failure')));
});

test('start() sweeps on its timer without holding the process open; stop() ends it', async () => {
  const now = future();
  const svc = serviceAt(now);
  const key = await createTestKey(svc, { state: 'PendingDeletion', deletionDate: now - 1000, pendingWindowInDays: 7 });
  const scheduler = new KmsScheduler(svc, { intervalMs: 50 });
  scheduler.start();
  scheduler.start(); // idempotent
  try {
    for (let i = 0; i < 100 && (await svc.store.getKey(key.keyId)); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await svc.store.getKey(key.keyId), undefined, 'the timer sweep deleted the due key');
  } finally {
    scheduler.stop();
  }
  const after = await createTestKey(svc, { state: 'PendingDeletion', deletionDate: now - 1000, pendingWindowInDays: 7 });
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(await svc.store.getKey(after.keyId), 'no sweep after stop()');
  await svc.store.deleteKey(after.keyId);
});

test('concurrent runOnce calls do not rotate a due key twice', async () => {
  const svc = srv.coffer.kms;
  const now = future();
  const key = await createTestKey(svc, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 1000 });
  const s = new KmsScheduler(svc);
  const [a, b] = await Promise.all([s.runOnce(now), s.runOnce(now)]);
  assert.equal([...a.rotated, ...b.rotated].filter((id) => id === key.keyId).length, 1);
  assert.equal((await svc.store.getKey(key.keyId))!.currentVersion, 2);
});

test('two schedulers sweeping at once (as two nodes do) rotate a due key once, and neither reports a failure', async () => {
  const now = future();
  const svc = serviceAt(now);
  for (let round = 0; round < 5; round++) {
    const key = await createTestKey(svc, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 1000 });
    // Two services, two schedulers: nothing shared between them but the store, as between nodes.
    const [a, b] = await Promise.all([new KmsScheduler(serviceAt(now)).runOnce(now), new KmsScheduler(serviceAt(now)).runOnce(now)]);
    assert.equal([...a.rotated, ...b.rotated].filter((id) => id === key.keyId).length, 1, `round ${round}`);
    assert.deepEqual([...a.failed, ...b.failed], []);
    assert.equal((await svc.store.listMaterials(key.keyId)).length, 2, 'one new version, not two');
  }
});

test('the deletion sweep leaves a key whose deletion was cancelled after the sweep listed it', async () => {
  const now = future();
  const svc = serviceAt(now);
  const key = await createTestKey(svc, { state: 'PendingDeletion', deletionDate: now - 1000, pendingWindowInDays: 7 });
  const listed = (await svc.store.dueForDeletion(now)).find((k) => k.keyId === key.keyId)!;
  // CancelKeyDeletion on another node, between the listing and the delete.
  await svc.store.updateKey({ ...listed, state: 'Disabled', deletionDate: undefined, pendingWindowInDays: undefined });
  const store: KmsStore = Object.assign(Object.create(svc.store) as KmsStore, { dueForDeletion: async () => [listed], dueForRotation: async () => [], dueForExpiry: async () => [] });
  const result = await new KmsScheduler(serviceAt(now, store)).runOnce(now);
  assert.deepEqual(result.deleted, []);
  assert.equal((await svc.store.getKey(key.keyId))?.state, 'Disabled');
});

test('stop() mid-sweep: no further key is acted on (a node that lost the job leadership stops between keys)', async () => {
  const base = srv.coffer.kms;
  const now = future() + DAY; // past every other test's keys: this sweep sees only its own
  const keys = [];
  for (let i = 0; i < 3; i++) keys.push(await createTestKey(base, { state: 'PendingDeletion', deletionDate: now - 3000 + i, pendingWindowInDays: 7 }));
  await new KmsScheduler(serviceAt(now - 5000)).runOnce(now - 5000); // what earlier tests left due, not these
  let scheduler: KmsScheduler | undefined;
  // The first deletion stops the scheduler, as losing the lease does.
  const store = new Proxy(base.store, {
    get(target, prop, receiver) {
      if (prop === 'deleteKey') {
        return async (...args: Parameters<KmsStore['deleteKey']>) => {
          const r = await target.deleteKey(...args);
          scheduler!.stop();
          return r;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as KmsStore;
  scheduler = new KmsScheduler(serviceAt(now, store));
  const result = await scheduler.runOnce(now);
  const mine = new Set(keys.map((k) => k.keyId));
  assert.equal(result.deleted.length, 1, 'one key deleted, then the sweep stopped');
  assert.ok(mine.has(result.deleted[0]!));
  const left = [];
  for (const k of keys) if (await base.store.getKey(k.keyId)) left.push(k.keyId);
  assert.equal(left.length, 2, 'the others wait for the next leader\'s sweep');
  // Cleaned up by a sweep that is not stopped.
  await new KmsScheduler(serviceAt(now)).runOnce(now);
});

test('a sweep is work in flight: what waits for the work begun before it (an online root-key rotation after its switch) waits for the sweep too', async () => {
  const now = future() + 2 * DAY;
  const key = await createTestKey(srv.coffer.kms, { rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now - 1000 });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  // The rotation sweep's listing waits, as a slow store would, while its material is yet to be sealed.
  const store = new Proxy(srv.coffer.kms.store, {
    get(target, prop, receiver) {
      if (prop === 'dueForRotation') return async (at: number) => (await held, target.dueForRotation(at));
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as KmsStore;
  const inFlight = new InFlightRequests();
  const sweep = new KmsScheduler(serviceAt(now, store), { track: () => inFlight.begin() }).runOnce(now);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(inFlight.count, 1, 'the sweep counts as in flight');
  let settled = false;
  const waited = inFlight.settled().then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false, 'settled() waits for the sweep');
  release();
  const result = await sweep;
  await waited;
  assert.ok(result.rotated.includes(key.keyId));
  assert.equal(inFlight.count, 0);
});
