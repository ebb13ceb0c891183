// Kills a writer process in the middle of replacing an object and checks that recovery
// leaves the old version intact and removes every trace of the new one.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { FileBlobStore } from '../../src/storage/file-blob-store.js';
import { recoverStorage } from '../../src/storage/recovery.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import { readAll } from './blob-store.contract.js';
import { OBJECT_SIZE, V1_SEED } from './fixtures/crash-writer.js';
import { filesUnder, patternBytes } from './fs-helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/crash-writer.js', import.meta.url));
const blobPath = (id: string) => path.join(id.slice(0, 2), id);

/** Runs the fixture until it reports ready, SIGKILLs it, and returns the blob ids it printed. */
async function runAndKill(dir: string, mode: string): Promise<{ v1: string; v2: string }> {
  const child = spawn(process.execPath, [FIXTURE, dir, mode], {
    env: { ...process.env, COFFER_CRASH_FIXTURE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('exit', (code) => reject(new Error(`fixture exited (${code}) before it was ready`)));
    setTimeout(() => reject(new Error('fixture not ready within 20 s')), 20_000).unref();
  }).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  const [word, v1, v2] = line.split(' ');
  assert.equal(word, 'ready');
  return { v1: v1!, v2: v2! };
}

describe('crash recovery', () => {
  for (const mode of ['mid-write', 'blob-committed'] as const) {
    it(`keeps v1 byte-for-byte and removes v2 after a SIGKILL (${mode})`, async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-crash-'));
      try {
        const { v1, v2 } = await runAndKill(dir, mode);
        const blobsDir = path.join(dir, 'blobs');
        // The crash really left v2 debris behind, so the assertions below can fail.
        const v2debris = mode === 'mid-write' ? path.join('tmp', v2) : blobPath(v2);
        assert.deepEqual(await filesUnder(blobsDir), [blobPath(v1), v2debris].sort());

        const meta = SqliteMetadataStore.open(path.join(dir, 'meta.db'));
        const blobs = await FileBlobStore.open(blobsDir);
        try {
          assert.deepEqual(await recoverStorage(meta, blobs), { removedBlobs: 1 });
          const rec = await meta.getObject('crash', 'the/object');
          assert.ok(rec, 'v1 is still the object');
          assert.equal(rec.size, OBJECT_SIZE);
          assert.deepEqual(rec.parts.map((p) => p.blobId), [v1]);
          const bytes = await readAll(blobs.read(v1));
          assert.ok(bytes.equals(patternBytes(OBJECT_SIZE, V1_SEED)), 'v1 bytes intact');
          assert.deepEqual(await filesUnder(blobsDir), [blobPath(v1)]);
          assert.deepEqual(await meta.takeGarbage(true), []);
        } finally {
          await meta.close();
          await blobs.close();
        }
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });
  }
});
