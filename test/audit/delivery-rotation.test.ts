// Delivery that fell behind the log's retention. Rotation deletes the oldest file and
// creates a new kms.log, which on ext4 often gets the freed inode: a delivery position
// naming the file by inode alone could then land in the new kms.log and skip, silently,
// every undelivered event of kms.log.1…n and of the new file's start. The position also
// names the last delivered event; where that event is not at the saved offset, delivery
// warns and starts at the oldest event kept, so no event still in the log is skipped.
//
// Inode reuse cannot be forced, so the test makes it: after the position's file was
// rotated away, delivery.json (written by the server) is edited while the server is down
// to name the new kms.log's inode at a line boundary of that file.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { GenerateRandomCommand } from '@aws-sdk/client-kms';
import { DeliveryServer } from './delivery-server.js';
import { readAudit, type CloudTrailEvent } from '../../src/audit/audit-log.js';
import { uniqueBucket } from '../helpers/server.js';

interface Trail {
  srv: DeliveryServer;
  bucket: string;
}

/** A server of the test's own with a small rotating log, delivering to an existing bucket; stopped when the test ends. */
async function startTrail(t: TestContext): Promise<Trail> {
  const bucket = uniqueBucket('trail-rot');
  const srv = await DeliveryServer.start({
    // Rounds only when the test asks (deliver()): between them, delivery falls behind.
    COFFER_AUDIT_BUCKET: bucket, COFFER_AUDIT_DELIVERY_SECONDS: '3600',
    COFFER_AUDIT_MAX_FILE_BYTES: '2048', COFFER_AUDIT_MAX_FILES: '3',
  });
  t.after(() => srv.stop());
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return { srv, bucket };
}

const inodeOf = async (srv: DeliveryServer, name: string) => (await stat(join(srv.auditDir, name), { bigint: true })).ino.toString();

async function generateRandom(srv: DeliveryServer, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await srv.kms.send(new GenerateRandomCommand({ NumberOfBytes: 8 }));
}

/** Delivers until a round has nothing new. */
async function deliverAll(srv: DeliveryServer): Promise<void> {
  for (let i = 0; i < 10 && (await srv.coffer.auditDelivery!.deliver()) > 0; i++);
}

async function deliveredIds({ srv, bucket }: Trail): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await srv.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'AWSLogs/', ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      const doc = JSON.parse(gunzipSync(Buffer.from(await got.Body!.transformToByteArray())).toString('utf8')) as { Records: CloudTrailEvent[] };
      ids.push(...doc.Records.map((r) => r.eventID));
    }
    token = page.NextContinuationToken;
  } while (token);
  return ids;
}

test('a position whose inode now names a newer file is not trusted: every event still in the log is delivered', async (t) => {
  const trail = await startTrail(t);
  const { srv } = trail;
  await generateRandom(srv, 2);
  assert.ok((await srv.coffer.auditDelivery!.deliver()) >= 2);
  const first = JSON.parse(await readFile(join(srv.auditDir, 'delivery.json'), 'utf8')) as Record<string, unknown>;
  const deliveredFirst = await deliveredIds(trail);

  // Delivery falls behind: enough events that the position's file is rotated away.
  await generateRandom(srv, 30);
  await srv.close();
  const names = (await readdir(srv.auditDir)).filter((n) => n.startsWith('kms.log')).sort();
  assert.deepEqual(names, ['kms.log', 'kms.log.1', 'kms.log.2']);
  const kept = (await readAudit(srv.auditDir)).map((e) => e.eventID);
  // (Its inode may already name a newer file: ext4 reuses them. Then no edit is needed, but the test makes sure.)
  assert.ok(!deliveredFirst.some((id) => kept.includes(id)), 'the file of the last delivered event was rotated away');

  // The freed inode went to the new kms.log, at a line boundary: only the saved eventID tells.
  const live = await readFile(join(srv.auditDir, 'kms.log'), 'utf8');
  const firstLineEnd = Buffer.byteLength(live.slice(0, live.indexOf('\n') + 1));
  assert.ok(firstLineEnd < Buffer.byteLength(live), 'kms.log holds more than one event');
  const reused = { ...first, ino: await inodeOf(srv, 'kms.log'), offset: firstLineEnd, ...('start' in first ? { start: 0 } : {}) };
  await writeFile(join(srv.auditDir, 'delivery.json'), JSON.stringify(reused) + '\n', { mode: 0o600 });

  await srv.restart();
  await deliverAll(srv);
  const ids = new Set(await deliveredIds(trail));
  const missing = kept.filter((id) => !ids.has(id));
  assert.deepEqual(missing, [], `${missing.length} of the ${kept.length} events still in the log were never delivered`);
  assert.ok(srv.logLines.some((l) => l.includes('may have been rotated out of the log before they could be delivered')), srv.logLines.join('\n'));
});

test('a version 1 position (inode alone) cannot be verified: everything still in the log is delivered again', async (t) => {
  const trail = await startTrail(t);
  const { srv } = trail;
  // Some events delivered, two more not yet.
  await generateRandom(srv, 5);
  await deliverAll(srv);
  await generateRandom(srv, 2);
  await srv.close();
  const kept = (await readAudit(srv.auditDir)).map((e) => e.eventID);
  await writeFile(join(srv.auditDir, 'delivery.json'), JSON.stringify({ v: 1, ino: await inodeOf(srv, 'kms.log'), offset: 0 }) + '\n', { mode: 0o600 });
  await srv.restart();
  const before = await deliveredIds(trail);
  assert.ok(kept.some((id) => before.includes(id)) && kept.some((id) => !before.includes(id)), 'some events kept were delivered, some not yet');
  await deliverAll(srv);
  const after = await deliveredIds(trail);
  assert.ok(after.length - before.length >= kept.length, 'at least every event kept was delivered');
  for (const id of kept) {
    const times = after.filter((x) => x === id).length;
    assert.ok(before.includes(id) ? times >= 2 : times >= 1, `${id} delivered (again)`);
  }
  assert.ok(srv.logLines.some((l) => l.includes('delivery.json is of version 1')), srv.logLines.join('\n'));
  const state = JSON.parse(await readFile(join(srv.auditDir, 'delivery.json'), 'utf8')) as { v: number };
  assert.equal(state.v, 2, 'replaced by a verifiable position');
});
