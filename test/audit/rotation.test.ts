// Size-bounded rotation with a tiny COFFER_AUDIT_MAX_FILE_BYTES: kms.log is renamed to
// kms.log.1 (and so on) before it would outgrow the limit, at most COFFER_AUDIT_MAX_FILES
// files are kept, the oldest events go first and the newest are always there, no event is
// split across files, and queries read across the files.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GenerateRandomCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { RESERVE_FILE, type CloudTrailEvent } from '../../src/audit/audit-log.js';
import { loadConfig } from '../../src/config/config.js';
import { auditFileText } from '../helpers/audit-file.js';

const MAX = 8192;
let srv: TestServer;
/** Request ids of the calls made, in order. */
const issued: string[] = [];

before(async () => {
  srv = await startTestServer({ COFFER_AUDIT_MAX_FILE_BYTES: String(MAX), COFFER_AUDIT_MAX_FILES: '3' });
  for (let i = 0; i < 120; i++) {
    const r = await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
    issued.push(r.$metadata.requestId!);
    if (i % 20 === 19) {
      // The newest event is always in the log, found first by a query.
      await srv.coffer.audit.flush();
      const newest = await adminCall(srv, 'GET', 'audit/events', { query: { limit: '1' } });
      assert.equal((newest.body.events as CloudTrailEvent[])[0]!.requestID, issued.at(-1));
    }
  }
  await srv.coffer.audit.flush();
});

after(() => srv.stop());

const dir = () => join(srv.dataDir, 'audit');

async function fileEvents(name: string): Promise<CloudTrailEvent[]> {
  const text = await auditFileText(join(dir(), name));
  assert.ok(text.length > 0, `${name} holds whole lines`);
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as CloudTrailEvent);
}

test('at most 3 files, each within the limit, with mode 0600', async () => {
  assert.deepEqual((await readdir(dir())).sort(), ['kms.log', 'kms.log.1', 'kms.log.2', RESERVE_FILE]);
  for (const f of ['kms.log', 'kms.log.1', 'kms.log.2']) {
    const s = await stat(join(dir(), f));
    assert.ok(s.size <= MAX && s.size > 0, `${f} is ${s.size} bytes`);
    assert.equal(s.mode & 0o777, 0o600, f);
  }
});

test('the files hold the newest events, whole and in order; the oldest were dropped', async () => {
  const onDisk = [...(await fileEvents('kms.log.2')), ...(await fileEvents('kms.log.1')), ...(await fileEvents('kms.log'))].map((e) => e.requestID);
  assert.ok(onDisk.length > 10 && onDisk.length < issued.length, `${onDisk.length} of ${issued.length} kept`);
  assert.deepEqual(onDisk, issued.slice(-onDisk.length), 'a contiguous run of the newest events');
  const full = (await stat(join(dir(), 'kms.log.1'))).size;
  const perEvent = full / (await fileEvents('kms.log.1')).length;
  assert.ok(full + perEvent * 1.5 > MAX, 'a file was rotated only when the next event would not fit');
});

test('a query reads across the files, newest first, and pages across them', async () => {
  const onDisk = [...(await fileEvents('kms.log')).reverse(), ...(await fileEvents('kms.log.1')).reverse(), ...(await fileEvents('kms.log.2')).reverse()];
  const r = await adminCall(srv, 'GET', 'audit/events', { query: { limit: '1000' } });
  assert.deepEqual((r.body.events as CloudTrailEvent[]).map((e) => e.eventID), onDisk.map((e) => e.eventID));
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const p = await adminCall(srv, 'GET', 'audit/events', { query: { limit: '4', ...(token ? { nextToken: token } : {}) } });
    ids.push(...(p.body.events as CloudTrailEvent[]).map((e) => e.eventID));
    token = p.body.nextToken as string | undefined;
  } while (token);
  assert.deepEqual(ids, onDisk.map((e) => e.eventID));
});

test('a restarted log continues the current file and keeps rotating', async () => {
  const sizeBefore = Buffer.byteLength(await auditFileText(join(dir(), 'kms.log')));
  const { AuditLog } = await import('../../src/audit/audit-log.js');
  const log = await AuditLog.open(srv.dataDir, 'us-east-1', { maxFileBytes: MAX, maxFiles: 3 });
  const caller = { principal: srv.coffer.root.credential.principal, requestId: 'restart-1', secureTransport: false };
  log.record({ eventName: 'GenerateRandom', caller, requestParameters: {}, resources: [] });
  await log.close();
  const last = (await fileEvents('kms.log')).at(-1)!;
  assert.equal(last.requestID, 'restart-1');
  assert.ok(Buffer.byteLength(await readFile(join(dir(), 'kms.log'))) > sizeBefore || (await fileEvents('kms.log')).length === 1, 'appended, or rotated first');
  assert.equal((await readdir(dir())).filter((n) => n !== RESERVE_FILE).length, 3);
});

test('config: COFFER_AUDIT_MAX_FILE_MB, COFFER_AUDIT_MAX_FILES and their errors', () => {
  const c = loadConfig({}, {});
  assert.equal(c.auditMaxFileBytes, 64 * 1024 * 1024);
  assert.equal(c.auditMaxFiles, 10);
  assert.equal(loadConfig({}, { COFFER_AUDIT_MAX_FILE_MB: '8' }).auditMaxFileBytes, 8 * 1024 * 1024);
  assert.throws(() => loadConfig({}, { COFFER_AUDIT_MAX_FILE_MB: 'big' }), (e: Error & { hint?: string }) => /auditMaxFileBytes/.test(e.message) && /COFFER_AUDIT_MAX_FILE_MB/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({}, { COFFER_AUDIT_MAX_FILES: '1' }), (e: Error & { hint?: string }) => /auditMaxFiles/.test(e.message) && /from 2/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({}, { COFFER_AUDIT_DELIVERY_SECONDS: '0' }), (e: Error & { hint?: string }) => /COFFER_AUDIT_DELIVERY_SECONDS/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({}, { COFFER_AUDIT_BUCKET: 'Not_A_Bucket' }), (e: Error & { hint?: string }) => /COFFER_AUDIT_BUCKET/.test(e.hint ?? ''));
  const d = loadConfig({}, { COFFER_AUDIT_BUCKET: 'trail-logs/coffer/prod', COFFER_AUDIT_DELIVERY_SECONDS: '60' });
  assert.deepEqual([d.auditBucket, d.auditPrefix, d.auditDeliverySeconds], ['trail-logs', 'coffer/prod', 60]);
});
