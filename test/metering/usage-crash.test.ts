// "A crash loses at most the last second" (docs/METERING.md): the built server as a
// child process counts KMS requests, is SIGKILLed once its periodic flush has written
// them (no clean stop, no close() flush, no usage route asking for a sync), and a server
// restarted on the same data directory still reports every one of them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { adminCall } from '../helpers/admin.js';
import { ROOT_KEY_ID, ROOT_SECRET, startChildServer, waitFor, type ChildServer } from '../interop/support.js';
import { USAGE_FILE } from '../../src/metering/sqlite-usage-store.js';

interface Row { group: string; requests: number; errors: number }

/** The requests of `operation` in the server's usage file, as flushed so far (a reader beside the running server: WAL). */
function flushedCount(dataDir: string, operation: string): number {
  const db = new Database(join(dataDir, USAGE_FILE), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT coalesce(sum(requests), 0) AS n FROM requests WHERE operation = ?').get(operation) as { n: number }).n;
  } finally {
    db.close();
  }
}

test('counts written by the once-a-second flush survive a SIGKILL and a restart', { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'coffer-meter-crash-'));
  let child: ChildServer | undefined;
  try {
    child = await startChildServer(dataDir);
    const kms = new KMSClient({ endpoint: child.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
    const keyArn = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    const ENCRYPTS = 5;
    for (let i = 0; i < ENCRYPTS; i++) await kms.send(new EncryptCommand({ KeyId: keyArn, Plaintext: Buffer.from(`p${i}`) }));
    kms.destroy();
    // Until the once-a-second flush has written every count (read from the file, not
    // through the usage route, which would flush), then no chance to flush again.
    assert.ok(await waitFor(async () => flushedCount(dataDir, 'Encrypt') === ENCRYPTS && flushedCount(dataDir, 'CreateKey') === 1, 10_000), 'the flush wrote the counts');
    await child.kill();
    assert.equal(child.proc.signalCode, 'SIGKILL', 'killed, not stopped');

    child = await startChildServer(dataDir);
    const r = await adminCall(child, 'GET', 'usage', { query: { since: '1d', by: 'operation' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const rows = r.body.rows as Row[];
    const count = (op: string) => rows.find((x) => x.group === op)?.requests;
    assert.equal(count('Encrypt'), ENCRYPTS, JSON.stringify(rows));
    assert.equal(count('CreateKey'), 1, JSON.stringify(rows));
    const byKey = await adminCall(child, 'GET', 'usage', { query: { since: '1d', by: 'key' } });
    const keyRow = (byKey.body.rows as Row[]).find((x) => x.group === keyArn);
    assert.equal(keyRow?.requests, 1 + ENCRYPTS);
  } finally {
    await child?.kill();
    await rm(dataDir, { recursive: true, force: true });
  }
});
