// Quick storage benchmark (not a test): metadata operation costs and blob throughput.
//   node dist/test/storage/storage-bench.js --run [--blob-mib 1024]
// Does nothing without --run, so a test runner that loads every file under test/ skips it.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileBlobStore } from '../../src/storage/file-blob-store.js';
import { SqliteMetadataStore } from '../../src/storage/sqlite-metadata-store.js';
import type { ObjectRecord } from '../../src/storage/types.js';

const rows: [string, string][] = [];
const report = (what: string, value: string) => {
  rows.push([what, value]);
  console.error(`${what}: ${value}`);
};

function rec(key: string, blobId: string): ObjectRecord {
  return {
    bucket: 'bench', key, size: 4096, etag: `"${randomBytes(16).toString('hex')}"`, lastModified: new Date().toISOString(),
    headers: { 'content-type': 'application/octet-stream' }, userMetadata: { owner: 'bench' }, tags: [],
    checksum: { algorithm: 'CRC32', type: 'FULL_OBJECT', value: 'AAAAAA==' },
    parts: [{ blobId, size: 4096, partNumber: 0, etag: '"x"' }], sys: {}, owner: 'o', storageClass: 'STANDARD',
  };
}

async function benchMetadata(dir: string) {
  for (const synchronous of ['NORMAL', 'FULL'] as const) {
    const meta = SqliteMetadataStore.open(path.join(dir, `bench-${synchronous}.db`), { synchronous });
    await meta.createBucket({ name: 'bench', region: 'r', createdAt: '', owner: 'o', config: {} });
    const N = synchronous === 'FULL' ? 2_000 : 100_000;
    const ids = Array.from({ length: N }, () => randomBytes(16).toString('hex'));
    let t = performance.now();
    for (let i = 0; i < N; i++) {
      await meta.markPending(ids[i]!);
      await meta.putObject(rec(`dir${i % 100}/obj-${i}`, ids[i]!));
    }
    report(`markPending + putObject, new key (sync=${synchronous})`, `${((performance.now() - t) * 1000 / N).toFixed(1)} µs`);
    if (synchronous === 'FULL') { await meta.close(); continue; }
    t = performance.now();
    for (let i = 0; i < N; i++) {
      const id = randomBytes(16).toString('hex');
      await meta.markPending(id);
      await meta.putObject(rec(`dir${i % 100}/obj-${i}`, id));
    }
    report('markPending + putObject, overwrite (old blob to garbage)', `${((performance.now() - t) * 1000 / N).toFixed(1)} µs`);
    t = performance.now();
    for (let i = 0; i < N; i++) await meta.getObject('bench', `dir${i % 100}/obj-${i}`);
    report('getObject', `${((performance.now() - t) * 1000 / N).toFixed(1)} µs`);
    t = performance.now();
    const pages = 50;
    for (let i = 0; i < pages; i++) await meta.listObjects('bench', { prefix: `dir${i}/`, after: `dir${i}/obj-5`, limit: 1000 });
    report(`listObjects page of 1000 (bucket of ${N} keys)`, `${((performance.now() - t) / pages).toFixed(2)} ms`);
    t = performance.now();
    const g = await meta.takeGarbage(false);
    await meta.forgetGarbage(g);
    report(`takeGarbage + forgetGarbage of ${g.length} ids`, `${(performance.now() - t).toFixed(0)} ms`);
    t = performance.now();
    for (let i = 0; i < 10_000; i++) await meta.takeGarbage(false);
    report('takeGarbage(false) with nothing to do', `${((performance.now() - t) * 1000 / 10_000).toFixed(1)} µs`);
    await meta.close();
  }
}

async function benchBlobs(dir: string, mib: number) {
  const blobs = await FileBlobStore.open(path.join(dir, 'blobs'));
  const chunk = randomBytes(1024 * 1024);
  let t = performance.now();
  const w = await blobs.create();
  for (let i = 0; i < mib; i++) await w.write(chunk);
  await w.commit();
  let s = (performance.now() - t) / 1000;
  report(`write ${mib} MiB, 1 MiB chunks, fsync on`, `${(mib / s).toFixed(0)} MiB/s`);
  t = performance.now();
  let n = 0;
  for await (const c of blobs.read(w.blobId)) n += (c as Buffer).length;
  s = (performance.now() - t) / 1000;
  report(`read ${mib} MiB, one stream (page cache warm)`, `${(n / 1048576 / s).toFixed(0)} MiB/s`);
  await blobs.delete(w.blobId);

  const small = randomBytes(4096);
  for (const [fsync, conc] of [[true, 1], [true, 16], [false, 16]] as const) {
    const store = await FileBlobStore.open(path.join(dir, `small-${fsync}`), { fsync });
    const N = 3000;
    let next = 0;
    t = performance.now();
    await Promise.all(Array.from({ length: conc }, async () => {
      while (next++ < N) {
        const bw = await store.create();
        await bw.write(small);
        await bw.commit();
      }
    }));
    report(`4 KiB blob create+write+commit, fsync=${fsync}, ${conc} concurrent`, `${(N / ((performance.now() - t) / 1000)).toFixed(0)} /s`);
  }
}

if (process.argv.includes('--run')) {
  const mibArg = process.argv.indexOf('--blob-mib');
  const mib = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 1024;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-bench-'));
  try {
    await benchMetadata(dir);
    await benchBlobs(dir, mib);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  console.log('| measurement | result |\n|---|---|');
  for (const [a, b] of rows) console.log(`| ${a} | ${b} |`);
}
