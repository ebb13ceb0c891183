// A single-node (SQLite) start that fails late — the port is taken by another listener — as a
// library caller sees it (review of cluster-tidy, 5ea0114, app.ts failStart): startCoffer
// rejects with EADDRINUSE, the data directory's lock is free (the same start succeeds once the
// port is), and nothing the failed start opened keeps the process alive: a real Node process
// that only calls startCoffer and catches the error ends by itself.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { ROOT_KEY_ID, ROOT_SECRET } from './support.js';

const APP = fileURLToPath(new URL('../../src/app.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../src/config/config.js', import.meta.url));

it('a SQLite server whose port is taken fails, frees its data directory and leaves nothing running', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-start-failure-sqlite-'));
  const dataDir = join(dir, 'data');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    const script = join(dir, 'start.mjs');
    await writeFile(script, `
      import { startCoffer } from ${JSON.stringify(APP)};
      import { loadConfig } from ${JSON.stringify(CONFIG)};
      const env = { COFFER_ROOT_ACCESS_KEY_ID: ${JSON.stringify(ROOT_KEY_ID)}, COFFER_ROOT_SECRET_ACCESS_KEY: ${JSON.stringify(ROOT_SECRET)} };
      const config = loadConfig({ port: Number(process.argv[2]), address: '127.0.0.1', dataDir: ${JSON.stringify(dataDir)}, fsync: false }, env);
      try {
        const c = await startCoffer(config);
        process.stdout.write('started ' + c.port + '\\n');
        await c.close();
      } catch (e) {
        process.stdout.write('failed ' + e.code + '\\n');
      }
    `);
    const run = (p: number) => new Promise<{ code: number | null; out: string; timedOut: boolean }>((resolve) => {
      const proc = spawn(process.execPath, [script, String(p)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COFFER_LOG_LEVEL: 'error' } });
      let out = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        proc.kill('SIGKILL');
      }, 20_000);
      proc.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, out, timedOut });
      });
    });
    const failed = await run(port);
    assert.match(failed.out, /failed EADDRINUSE/, failed.out);
    assert.equal(failed.timedOut, false, `the process ended by itself after the failed start: ${failed.out}`);
    assert.equal(failed.code, 0);
    // The lock is free: the same data directory starts, on a free port.
    const started = await run(0);
    assert.match(started.out, /started \d+/, started.out);
    assert.equal(started.timedOut, false, started.out);
  } finally {
    taken.close();
    await rm(dir, { recursive: true, force: true });
  }
});
