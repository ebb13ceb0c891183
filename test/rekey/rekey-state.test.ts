// The checkpoint of `coffer rekey` (cli/rekey-state.ts): it moves only over a prefix of
// the listing that is entirely done, never past a failure, and a state file is only
// resumed by the same re-key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Checkpoint, loadState, saveState, STATE_FORMAT, type RekeyRun } from '../../src/cli/rekey-state.js';
import { CliError } from '../../src/cli/output.js';

test('objects finishing out of order move the checkpoint only over a finished prefix', () => {
  const c = new Checkpoint('start');
  const [a, b, d] = [c.take(), c.take(), c.take()];
  assert.equal(c.finish(b, 'b', true), false, 'b is done but a is not');
  assert.equal(c.after, 'start');
  assert.equal(c.finish(a, 'a', true), true);
  assert.equal(c.after, 'b', 'a and b are both done');
  assert.equal(c.finish(d, 'd', true), true);
  assert.deepEqual([c.after, c.advanced], ['d', 3]);
});

test('a failed object holds the checkpoint for the rest of the run, so a rerun retries it', () => {
  const c = new Checkpoint(undefined);
  const t = [c.take(), c.take(), c.take(), c.take()];
  c.finish(t[0]!, 'a', true);
  c.finish(t[2]!, 'c', true);
  c.finish(t[1]!, 'b', false);
  c.finish(t[3]!, 'd', true);
  assert.deepEqual([c.after, c.advanced], ['a', 1]);
});

test('a state file resumes only the same re-key', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-rekey-state-'));
  try {
    const file = path.join(dir, 'state.json');
    const run: RekeyRun = { endpoint: 'http://127.0.0.1:9000', bucket: 'b', prefix: 'p/', toKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/new' };
    assert.equal(await loadState(file, run), undefined, 'no file: from the start');
    await saveState(file, { format: STATE_FORMAT, ...run, after: 'p/7', covered: 8, updatedAt: new Date().toISOString() });
    assert.equal((await loadState(file, run))?.after, 'p/7');
    // A run with --bypass-governance-retention is another run: the first passed GOVERNANCE versions over.
    const others: RekeyRun[] = [
      { ...run, prefix: 'q/' }, { ...run, toKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/other' }, { ...run, convertSseS3: true },
      { ...run, bypassGovernanceRetention: true },
    ];
    for (const other of others) {
      await assert.rejects(loadState(file, other), (e: unknown) => e instanceof CliError && /belongs to another re-key/.test(e.message) && /--restart/.test(e.hint ?? ''));
    }
    await fs.writeFile(file, '{"not": "a state"}');
    await assert.rejects(loadState(file, run), /is not a coffer rekey state file/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the checkpoint of a version listing holds the key and the version; a format 1 file resumes a current-only re-key', async () => {
  const c = new Checkpoint('a', 'v9');
  const [x, y] = [c.take(), c.take()];
  c.finish(x, 'a', true, 'v8');
  assert.equal(c.finish(y, 'b', true, 'v1'), true);
  assert.deepEqual([c.after, c.afterVersionId], ['b', 'v1']);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-rekey-state-v1-'));
  try {
    const file = path.join(dir, 'old.json');
    const run: RekeyRun = { endpoint: 'http://127.0.0.1:9000', bucket: 'b', prefix: '', toKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/x' };
    await fs.writeFile(file, JSON.stringify({ format: 'coffer-rekey-state/1', ...run, after: 'k', covered: 3, updatedAt: '2026-01-01T00:00:00.000Z' }));
    const state = await loadState(file, run);
    assert.deepEqual([state?.format, state?.after, state?.allVersions], [STATE_FORMAT, 'k', undefined]);
    await assert.rejects(loadState(file, { ...run, allVersions: true }), /belongs to another re-key/, 'a current-only run is not an all-versions run');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
