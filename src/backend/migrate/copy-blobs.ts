// The blob files of an embedded data directory (blobs/<aa>/<id>: everything over 64 KiB,
// tiered-blob-store.ts) copied into a cluster's blob tier — a shared directory or an
// S3-compatible service (config/blobs.ts) — under the same ids, so the copied metadata finds
// them. Small blobs are rows of the inline tier and travel with the tables (copy-rows.ts).
//
// Which files: those an object version or a multipart upload's part references (the same
// walk as blob-inventory.ts), listed once into the target's migrate_blobs (each id once:
// copies onto themselves share blobs), then copied in id order, each marked copied after
// its commit. A blob copied again after a kill is written whole under its id again (the
// tier's commit replaces a file or an object as a unit), so nothing is torn.
//
// Without a target tier (no --blobs) the files stay where they are and only their
// presence is checked: a single node started with --data-dir on this directory and
// --metadata reads them there.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Database from 'better-sqlite3';
import type { BlobsConfig } from '../../config/blobs.js';
import { FileBlobStore } from '../../storage/file-blob-store.js';
import type { LargeBlobTier } from '../../storage/tiered-blob-store.js';
import { S3BackendClient } from '../s3-client.js';
import { S3BlobStore } from '../s3-blob-store.js';
import type { MigrateState } from './migrate-state.js';
import { MigrateError } from './tables.js';

const INLINE_PREFIX = 'i';
const BLOBS_STEP = 'blobs';

const LIST_STEP = 'blob-list';
const PAGE = 500;

/**
 * Lists the file ids (hex) of every blob file the source's metadata references into
 * migrate_blobs (idempotent: a killed listing is listed again). Returns how many there are.
 */
export async function listBlobs(meta: Database.Database, state: MigrateState): Promise<number> {
  if (!(await state.progress(LIST_STEP)).finished) {
    const inline = meta.prepare('SELECT 1 FROM inline_blobs WHERE blob_id = ?').pluck();
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length > 0) await state.queryable.query('INSERT INTO migrate_blobs (blob_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [batch]);
      batch = [];
    };
    const add = async (id: string) => {
      if (id.startsWith(INLINE_PREFIX) && inline.get(id) !== undefined) return;
      batch.push(id.startsWith(INLINE_PREFIX) ? id.slice(INLINE_PREFIX.length) : id);
      if (batch.length >= PAGE) await flush();
    };
    for (const table of ['objects', 'object_versions']) {
      for (const parts of meta.prepare(`SELECT parts FROM ${table}`).pluck().iterate() as Iterable<string>) {
        for (const p of JSON.parse(parts) as { blobId: string }[]) await add(p.blobId);
      }
    }
    for (const id of meta.prepare('SELECT blob_id FROM parts').pluck().iterate() as Iterable<string>) await add(id);
    await flush();
    const n = await blobCount(state);
    await state.advance(state.queryable, LIST_STEP, n, true);
  }
  return blobCount(state);
}

async function blobCount(state: MigrateState, copiedOnly = false): Promise<number> {
  const r = await state.queryable.query(`SELECT count(*)::bigint AS n FROM migrate_blobs${copiedOnly ? ' WHERE copied' : ''}`);
  return Number((r.rows[0] as { n: number }).n);
}

/** Blob files copied so far. */
export function copiedBlobs(state: MigrateState): Promise<number> {
  return blobCount(state, true);
}

/** Every listed file id in order, a page at a time (`pendingOnly`: those not copied yet). */
export async function* listedBlobs(state: MigrateState, pendingOnly = false): AsyncGenerator<string> {
  let after = '';
  for (;;) {
    const r = await state.queryable.query(`SELECT blob_id FROM migrate_blobs WHERE blob_id > $1${pendingOnly ? ' AND NOT copied' : ''} ORDER BY blob_id LIMIT ${PAGE}`, [after]);
    const ids = (r.rows as { blob_id: string }[]).map((x) => x.blob_id);
    yield* ids;
    if (ids.length < PAGE) return;
    after = ids[ids.length - 1]!;
  }
}

export function sourceBlobPath(dataDir: string, fileId: string): string {
  return join(dataDir, 'blobs', fileId.slice(0, 2), fileId);
}

/** The large-blob tier of `blobs` as a node opens it, or undefined for the data directory. */
export async function openTargetTier(blobs: BlobsConfig): Promise<LargeBlobTier | undefined> {
  switch (blobs.kind) {
    case 'data-dir':
      return undefined;
    case 'file':
      // Shared mode, as every node opens it: temporaries named by this process.
      return FileBlobStore.open(blobs.path, { fsync: true, shared: {} });
    case 's3': {
      const client = new S3BackendClient({
        endpoint: new URL(blobs.endpoint), bucket: blobs.bucket, region: blobs.region, forcePathStyle: blobs.forcePathStyle,
        accessKeyId: blobs.accessKeyId, secretAccessKey: blobs.secretAccessKey, sessionToken: blobs.sessionToken,
      });
      const store = new S3BlobStore(client, { prefix: blobs.prefix, partBytes: blobs.partBytes });
      await store.ping().catch(async (e: unknown) => {
        await store.close();
        throw e;
      });
      return store;
    }
    default: {
      const unknown: never = blobs;
      throw new Error(`no blob tier ${JSON.stringify(unknown)}`);
    }
  }
}

function missingSource(dataDir: string, id: string): MigrateError {
  return new MigrateError(
    `blob ${id} that an object or upload references is missing from ${join(dataDir, 'blobs')}`,
    `run \`coffer check --data-dir ${dataDir}\` for every damaged object; restore the data directory from a backup, then run coffer migrate again`,
  );
}

/** Copies the listed blobs not copied yet; onBlob after each with its size. */
export async function copyBlobs(dataDir: string, tier: LargeBlobTier | undefined, state: MigrateState, onBlob: (bytes: number) => void): Promise<void> {
  if ((await state.progress(BLOBS_STEP)).finished) return;
  await tier?.cleanTemporary(); // this host's temporaries of a killed earlier run
  for await (const id of listedBlobs(state, true)) {
    const src = sourceBlobPath(dataDir, id);
    let bytes: number;
    try {
      bytes = (await stat(src)).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missingSource(dataDir, id);
      throw e;
    }
    if (tier !== undefined) {
      const w = await tier.createAt(id);
      try {
        for await (const chunk of createReadStream(src, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) await w.write(chunk);
        await w.commit();
      } catch (e) {
        await w.abort();
        throw e;
      }
    }
    await state.queryable.query('UPDATE migrate_blobs SET copied = true WHERE blob_id = $1', [id]);
    onBlob(bytes);
  }
  await state.advance(state.queryable, BLOBS_STEP, await copiedBlobs(state), true);
}

/** SHA-256 (hex) and length of a stream's bytes. */
export async function digestOf(s: Readable): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of s as AsyncIterable<Buffer>) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}

export function sourceBlobStream(dataDir: string, id: string): Readable {
  return createReadStream(sourceBlobPath(dataDir, id), { highWaterMark: 64 * 1024 });
}
