// The blob-tier section of `npm run bench` (`--only blobs`): PUT (write + commit) and GET
// (read whole) throughput of 1 MiB and 64 MiB blobs, at the BlobStore interface, for the
// data directory's file store and for the S3 tier (backend/s3-blob-store.ts) on a Coffer
// server started in this process as its backend, side by side.
//
// Both run without fsync (the backend too), so the difference is the tier's own cost: HTTP,
// SigV4 with a SHA-256 of every byte, the backend's S3 path. The backend stores the bytes as
// given (encryption at rest off): in a real deployment they are already sealed. The backend
// shares this process and its cores.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoffer } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { S3BackendClient } from '../src/backend/s3-client.js';
import { S3BlobStore } from '../src/backend/s3-blob-store.js';
import { FileBlobStore } from '../src/storage/file-blob-store.js';
import type { BlobStore } from '../src/storage/types.js';
import { runOps } from './measure.js';
import { type Row } from './report.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './server-process.js';

export const DATA_DIR_VARIANT = 'data dir (files)';
export const S3_VARIANT = 'S3 tier (local Coffer)';
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

export async function benchBlobs(opts: { quick: boolean }): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-blobs-'));
  const config = loadConfig(
    { port: 0, dataDir: join(dir, 'backend'), fsync: false, address: '127.0.0.1', encryptionAtRest: false },
    { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_METERING: 'off', COFFER_ACCESS_LOG: 'off' },
  );
  const backend = await startCoffer(config, pino({ level: 'warn' }));
  const rows: Row[] = [];
  try {
    const client = new S3BackendClient({ endpoint: new URL(backend.url), bucket: 'bench-tier', region: 'us-east-1', forcePathStyle: true, accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });
    await client.sendAndDrain({ op: 'CreateBucket', method: 'PUT' });
    const stores: [string, BlobStore][] = [
      [DATA_DIR_VARIANT, await FileBlobStore.open(join(dir, 'files'), { fsync: false })],
      [S3_VARIANT, new S3BlobStore(client, { prefix: 'blobs/' })],
    ];
    const cases = [
      { size: MiB, count: opts.quick ? 64 : 256, concurrency: 8 },
      { size: 64 * MiB, count: opts.quick ? 3 : 8, concurrency: 2 },
    ];
    for (const c of cases) {
      const data = randomBytes(c.size);
      for (const [variant, store] of stores) {
        const ids: string[] = new Array(c.count);
        const put = async (i: number) => {
          const w = await store.create();
          for (let off = 0; off < data.length; off += CHUNK) await w.write(data.subarray(off, off + CHUNK));
          await w.commit();
          ids[i] = w.blobId;
        };
        const get = async (i: number) => {
          let n = 0;
          for await (const chunk of store.read(ids[i]!)) n += (chunk as Buffer).length;
          if (n !== c.size) throw new Error(`read ${n} bytes of ${c.size}`);
        };
        for (const [op, fn] of [['PUT', put], ['GET', get]] as const) {
          const t0 = performance.now();
          await runOps(c.count, c.concurrency, fn);
          const seconds = (performance.now() - t0) / 1000;
          const rate = (c.count * c.size) / MiB / seconds;
          rows.push({ scenario: `Blob tier: ${c.size / MiB} MiB ${op}, ${c.concurrency} in flight`, variant, result: `${rate.toFixed(0)} MiB/s (${c.count} blobs, ${seconds.toFixed(1)} s)`, target: '', value: rate });
        }
        for (const id of ids) await store.delete(id);
      }
    }
    for (const [, store] of stores) await store.close();
  } finally {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
