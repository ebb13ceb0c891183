// What the embedded backend holds, for `coffer check`: every blob that metadata.sqlite
// references (the parts of objects and of their noncurrent versions, and multipart uploads' parts), the blob ids it keeps for
// bookkeeping (pending, garbage), and the blobs actually stored — rows of the inline tier
// and files under blobs/ (tiered-blob-store.ts: an "i" id is an inline row, else the file
// of its hex digits). Read-only; opens its own connection, safe beside a running server.

import Database from 'better-sqlite3';
import { opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';

const INLINE_PREFIX = 'i';

/** One referenced blob: whose part it is, its recorded size, and the owner's opaque `sys` (encryption). */
export interface BlobReference {
  blobId: string;
  /** Plaintext bytes the part holds, as recorded. */
  size: number;
  /** "bucket/key part 2" or "upload <id> of bucket/key part 2". */
  owner: string;
  sys: Record<string, unknown>;
}

export class EmbeddedInventory {
  private readonly db: Database.Database;

  constructor(metadataPath: string, private readonly blobsDir: string) {
    this.db = new Database(metadataPath, { fileMustExist: true });
  }

  /** objects: every version of every object (delete markers included), current or not. */
  counts(): { objects: number; uploadParts: number } {
    const current = (this.db.prepare('SELECT count(*) FROM objects').pluck().get() as number) ?? 0;
    const noncurrent = this.hasVersions() ? ((this.db.prepare('SELECT count(*) FROM object_versions').pluck().get() as number) ?? 0) : 0;
    const objects = current + noncurrent;
    const uploadParts = (this.db.prepare('SELECT count(*) FROM parts').pluck().get() as number) ?? 0;
    return { objects, uploadParts };
  }

  /** Every referenced blob, one object or upload part at a time (memory does not grow with the store). */
  *references(): Generator<BlobReference> {
    const tables = this.hasVersions()
      ? ['SELECT bucket, key, parts, sys, NULL AS version_id FROM objects', 'SELECT bucket, key, parts, sys, version_id FROM object_versions']
      : ['SELECT bucket, key, parts, sys, NULL AS version_id FROM objects'];
    for (const sql of tables) {
      for (const row of this.db.prepare(sql).iterate() as Iterable<{ bucket: string; key: string; parts: string; sys: string; version_id: string | null }>) {
        const sys = JSON.parse(row.sys) as Record<string, unknown>;
        const version = row.version_id === null ? '' : ` version ${row.version_id}`;
        for (const p of JSON.parse(row.parts) as { blobId: string; size: number; partNumber: number }[]) {
          yield { blobId: p.blobId, size: p.size, owner: `${row.bucket}/${row.key}${version}${p.partNumber ? ` part ${p.partNumber}` : ''}`, sys };
        }
      }
    }
    const parts = this.db.prepare('SELECT p.blob_id, p.size, p.part_number, u.upload_id, u.bucket, u.key, u.sys FROM parts p JOIN uploads u ON u.upload_id = p.upload_id');
    for (const r of parts.iterate() as Iterable<{ blob_id: string; size: number; part_number: number; upload_id: string; bucket: string; key: string; sys: string }>) {
      yield { blobId: r.blob_id, size: r.size, owner: `upload ${r.upload_id} of ${r.bucket}/${r.key} part ${r.part_number}`, sys: JSON.parse(r.sys) as Record<string, unknown> };
    }
  }

  /** Pending and garbage ids: blobs that may exist without a reference (writes in flight, deletes to come). */
  bookkeeping(): Set<string> {
    const ids = this.db.prepare('SELECT blob_id FROM pending_blobs UNION SELECT blob_id FROM garbage_blobs').pluck().all() as string[];
    return new Set(ids);
  }

  /** The stored size of a blob, or undefined when it is missing. */
  async storedSize(blobId: string): Promise<number | undefined> {
    if (blobId.startsWith(INLINE_PREFIX)) {
      const n = this.db.prepare('SELECT length(data) FROM inline_blobs WHERE blob_id = ?').pluck().get(blobId) as number | undefined;
      if (n !== undefined) return n;
      return this.fileSize(blobId.slice(INLINE_PREFIX.length));
    }
    return this.fileSize(blobId);
  }

  /** Every stored blob id: inline rows, then files (as the ids that name them). */
  async *stored(): AsyncGenerator<string> {
    for (const id of this.db.prepare('SELECT blob_id FROM inline_blobs').pluck().iterate() as Iterable<string>) yield id;
    let top;
    try {
      top = await opendir(this.blobsDir);
    } catch {
      return;
    }
    for await (const d of top) {
      if (!d.isDirectory() || !/^[0-9a-f]{2}$/.test(d.name)) continue;
      for await (const f of await opendir(join(this.blobsDir, d.name))) if (f.isFile()) yield f.name;
    }
  }

  /** Whether a stored id (as stored() names it) belongs to one of `referenced` (a file may hold an "i" id's bytes). */
  static isReferenced(storedId: string, referenced: Set<string>): boolean {
    return referenced.has(storedId) || referenced.has(INLINE_PREFIX + storedId);
  }

  close(): void {
    this.db.close();
  }

  /** Whether the database has noncurrent versions' table (schema 4 and later). */
  private hasVersions(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'object_versions'").get() !== undefined;
  }

  private async fileSize(fileId: string): Promise<number | undefined> {
    try {
      return (await stat(join(this.blobsDir, fileId.slice(0, 2), fileId))).size;
    } catch {
      return undefined;
    }
  }
}
