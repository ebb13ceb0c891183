// "A crash loses at most the last second" (docs/METERING.md): the built server as a
// child process counts KMS requests, is SIGKILLed after more than one flush interval
// (no clean stop, no close() flush, no usage route asking for a sync), and a server
// restarted on the same data directory still reports every one of them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { adminCall } from '../helpers/admin.js';
import { ROOT_KEY_ID, ROOT_SECRET, sleep, startChildServer, type ChildServer } from '../interop/support.js';
import { FLUSH_INTERVAL_MS } from '../../src/metering/meter.js';

interface Row { group: string; requests: number; errors: number }

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
    // More than one flush interval (with room for a loaded machine), then no chance to flush again.
    await sleep(FLUSH_INTERVAL_MS * 2.5);
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
