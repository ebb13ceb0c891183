// Data-directory problems at start-up are errors that name the path and the fix: a file
// given as the directory, a path under a file, and — run as an unprivileged user when the
// tests run as root — a directory it may not create, one owned by another user, and a
// parent it cannot search. The last three through the real `coffer server` command.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DataDirError, prepareDataDir } from '../../src/backend/data-dir-setup.js';
import { CLI_MAIN } from '../interop/support.js';

const NOBODY = 65534;
// Needs root to switch users, and the checkout readable by nobody.
let asNobody: string | false = 'the tests do not run as root, so they cannot run coffer as another user';
if (process.getuid?.() === 0) {
  const probe = await new Promise<boolean>((resolve) => execFile(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CLI_MAIN)})`], { uid: NOBODY, gid: NOBODY }, (err) => resolve(!err)));
  asNobody = probe ? false : `user nobody cannot read ${CLI_MAIN}`;
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-data-dir-'));
await fs.chmod(work, 0o755);
after(() => fs.rm(work, { recursive: true, force: true }));

test('a new data directory is created owner-only, and an existing one is set to 0700', async () => {
  const dir = path.join(work, 'new', 'data');
  await prepareDataDir(dir);
  assert.equal((await fs.stat(dir)).mode & 0o777, 0o700);
  await fs.chmod(dir, 0o755);
  await prepareDataDir(dir);
  assert.equal((await fs.stat(dir)).mode & 0o777, 0o700);
});

test('a file given as the data directory, or a path under a file, says so and how to fix it', async () => {
  const file = path.join(work, 'a-file');
  await fs.writeFile(file, 'x');
  await assert.rejects(prepareDataDir(file), (e: DataDirError) => {
    assert.ok(e instanceof DataDirError);
    assert.equal(e.message, `the data directory ${file} is a file, not a directory`);
    assert.match(e.hint, /--data-dir \(COFFER_DATA_DIR\)/);
    return true;
  });
  await assert.rejects(prepareDataDir(path.join(file, 'data')), { message: `the data directory ${path.join(file, 'data')} is under a file, not a directory` });
});

interface Run {
  code: number | null;
  stderr: string;
}

function serverAsNobody(dataDir: string, port = '0'): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, 'server', '--port', port, '--data-dir', dataDir], { uid: NOBODY, gid: NOBODY, timeout: 15_000, env: { ...process.env, HOME: '/' } }, (err, _out, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
    });
  });
}

test('run as another user: a directory it may not create, one owned by someone else, a parent it cannot search', { skip: asNobody }, async () => {
  const readOnly = path.join(work, 'read-only');
  await fs.mkdir(readOnly, { mode: 0o755 });
  let r = await serverAsNobody(path.join(readOnly, 'data'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^coffer: error: cannot create the data directory ${path.join(readOnly, 'data')}: permission denied$`, 'm'));
  assert.match(r.stderr, /^coffer: hint: create it for this user first \(sudo install -d -m 700 -o nobody /m);

  const rootsDir = path.join(work, 'roots');
  await fs.mkdir(rootsDir, { mode: 0o755 });
  r = await serverAsNobody(rootsDir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^coffer: error: the data directory ${rootsDir} belongs to uid 0, and coffer runs as nobody \\(uid ${NOBODY}\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`^coffer: hint: run coffer as its owner, or give it to this user \\(sudo chown -R nobody ${rootsDir}\\)$`, 'm'));

  const closed = path.join(work, 'closed');
  await fs.mkdir(path.join(closed, 'data'), { recursive: true });
  await fs.chmod(closed, 0o700);
  r = await serverAsNobody(path.join(closed, 'data'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^coffer: error: cannot reach the data directory .*: permission denied on a parent directory$/m);

  // A directory it owns, but a store file in it that it may not open.
  const mine = path.join(work, 'mine');
  await fs.mkdir(mine, { mode: 0o700 });
  await fs.writeFile(path.join(mine, 'metadata.sqlite'), '', { mode: 0o600 });
  await fs.chown(mine, NOBODY, NOBODY);
  r = await serverAsNobody(mine);
  assert.equal(r.code, 2);
  assert.doesNotMatch(r.stderr, /port 0/);
  assert.match(r.stderr, new RegExp(`^coffer: error: cannot use ${path.join(mine, 'metadata.sqlite')}: permission denied for nobody \\(uid ${NOBODY}\\)$`, 'm'));
  assert.match(r.stderr, new RegExp(`^coffer: hint: give the user running coffer the data directory and every file in it \\(sudo chown -R nobody ${mine}\\)$`, 'm'));
  assert.doesNotMatch(r.stderr, /damaged/);
});
