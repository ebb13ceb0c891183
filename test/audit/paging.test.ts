// Paging through GET /_coffer/api/audit/events while new events keep arriving and the
// log keeps rotating (a tiny COFFER_AUDIT_MAX_FILE_BYTES): the pages together are exactly
// the events that were there when the first page was read, newest first — no duplicates,
// no gaps — because the token names a position (file inode + offset), not a count.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GenerateRandomCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { auditEvents, userFactory, type TestUser } from '../helpers/sse-principals.js';
import type { CloudTrailEvent } from '../../src/audit/audit-log.js';

let srv: TestServer;
let users: ReturnType<typeof userFactory>;
let alice: TestUser;

before(async () => {
  srv = await startTestServer({ COFFER_AUDIT_MAX_FILE_BYTES: '16384', COFFER_AUDIT_MAX_FILES: '1000' });
  users = userFactory(srv);
  alice = await users.create('alice', { random: [{ Effect: 'Allow', Action: 'kms:GenerateRandom', Resource: '*' }] });
  await burst(170);
});

after(async () => {
  users.destroy();
  await srv.stop();
});

/** n GenerateRandom events, every third one by alice, some of them concurrent. */
async function burst(n: number): Promise<void> {
  for (let i = 0; i < n; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => ((i + j) % 3 === 0 ? alice.kms : srv.kms).send(new GenerateRandomCommand({ NumberOfBytes: 8 }))));
  }
}

async function page(q: Record<string, string>): Promise<{ events: CloudTrailEvent[]; nextToken?: string }> {
  const r = await adminCall(srv, 'GET', 'audit/events', { query: q });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as { events: CloudTrailEvent[]; nextToken?: string };
}

/** Pages through `filter` with `limit`, adding `between` events (and so rotations) before every next page. */
async function pageThrough(filter: Record<string, string>, limit: number, between: number): Promise<{ ids: string[]; pages: number; snapshot: CloudTrailEvent[] }> {
  const snapshot = await auditEvents(srv);
  let p = await page({ ...filter, limit: String(limit) });
  const ids = p.events.map((e) => e.eventID);
  let pages = 1;
  while (p.nextToken) {
    assert.equal(p.events.length, limit, 'a page with a token is full');
    await burst(between);
    p = await page({ ...filter, limit: String(limit), nextToken: p.nextToken });
    ids.push(...p.events.map((e) => e.eventID));
    pages++;
  }
  return { ids, pages, snapshot };
}

test('all events, 50 a page, 30 new events and rotations between pages: the snapshot exactly, newest first', async () => {
  await srv.coffer.audit.flush();
  const before = (await readdir(join(srv.dataDir, 'audit'))).length;
  const { ids, pages, snapshot } = await pageThrough({}, 50, 30);
  assert.ok(pages >= 4, `${pages} pages`);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  assert.deepEqual(ids, snapshot.map((e) => e.eventID).reverse(), 'no gaps, newest first');
  const after = (await readdir(join(srv.dataDir, 'audit'))).length;
  assert.ok(before >= 5 && after > before, `the log rotated while paging (${before} → ${after} files)`);
});

test('a filtered query (one principal), 7 a page, events in between', async () => {
  const { ids, pages, snapshot } = await pageThrough({ principal: 'alice' }, 7, 12);
  const expected = snapshot.filter((e) => e.userIdentity.arn === alice.arn).map((e) => e.eventID).reverse();
  assert.ok(expected.length > 40 && pages > 3, `${expected.length} events, ${pages} pages`);
  assert.deepEqual(ids, expected);
});

test('events recorded after the first page appear on a new first page, not in later pages', async () => {
  const first = await page({ limit: '5' });
  await burst(3);
  const fresh = await page({ limit: '3' });
  assert.ok(fresh.events.every((e) => !first.events.some((f) => f.eventID === e.eventID)), 'three new events are the newest');
  const second = await page({ limit: '5', nextToken: first.nextToken! });
  const all = await auditEvents(srv);
  const i = all.findIndex((e) => e.eventID === first.events[4]!.eventID);
  assert.deepEqual(second.events.map((e) => e.eventID), all.slice(i - 5, i).reverse().map((e) => e.eventID), 'the second page continues where the first ended');
});
