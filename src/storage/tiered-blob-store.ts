// The embedded blob store as the server uses it: blobs of up to INLINE_MAX_BYTES live as
// rows of the metadata database (inline_blobs in metadata.sqlite), larger ones as files
// (file-blob-store.ts). A 4 KiB object then costs one SQLite insert instead of a file's
// open, write, fdatasync, close, rename and directory fsync, and a GET one indexed read.
//
// Why a crash cannot leave metadata pointing at a missing inline blob: the row is inserted
// by commit(), in its own transaction, before the caller's metadata transaction that
// references the blob (step 2 before step 3 of the protocol in types.ts). Both are commits
// to the same database, and SQLite's WAL keeps commits in order: after any crash the
// database holds a prefix of them, so if the metadata commit survived, the insert before
// it did too. The pending mark (step 1) is an earlier commit still, so an insert whose
// metadata commit was lost is deleted by recoverStorage like any pending blob.
//
// Durability: an inline blob is exactly as durable as the metadata commit that publishes
// it, i.e. what the database's synchronous setting gives (NORMAL: survives a process
// crash; a power loss may lose the last few commits, and with them the object, never
// leaving it torn). The fsync option governs the file tier only.
//
// Ids: "i" + 32 random hex digits for every blob written here. A writer cannot know when it
// starts whether its blob will fit (the id is marked pending before the first byte), so
// it buffers up to INLINE_MAX_BYTES in memory and, if the data grows past that, spills to
// a file writer for the same hex digits and keeps streaming (memory stays bounded). So an
// "i" id is an inline row if one exists, else the file of its hex digits; a plain hex id
// (a blob written before this tier existed) is always a file.

import { retainSqlite } from './sqlite-database.js';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { FileBlobStore, type FileBlobStoreOptions } from './file-blob-store.js';
import type { BlobStore, BlobWriter } from './types.js';

/**
 * Largest blob kept in the database. Larger blobs stream to files. Changing it affects only
 * new writes: existing inline rows and files stay readable whatever it is.
 */
export const INLINE_MAX_BYTES = 64 * 1024;

const INLINE_PREFIX = 'i';
/** Random bytes drawn at once for ids: one CSPRNG call per 256 blobs instead of one per blob. */
const ID_POOL_BYTES = 16 * 256;
/**
 * WAL pages after which this connection checkpoints by itself. The metadata store's worker
 * checkpoints in the background; like the metadata connection, this one only bounds the
 * WAL if that worker falls behind, so no PUT pays for a checkpoint on the event loop.
 */
const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;

export interface TieredBlobStoreOptions extends FileBlobStoreOptions {
  /** Directory of the file tier. */
  dir: string;
  /** The metadata database (already opened, and so migrated, by SqliteMetadataStore). */
  database: string;
  /**
   * The metadata store's setting (default NORMAL). A stronger one here would buy nothing: an
   * inline blob is only reachable through the later metadata commit, which a crash keeps
   * only together with every commit before it.
   */
  synchronous?: 'NORMAL' | 'FULL';
  busyTimeoutMs?: number;
  /**
   * The metadata store's own connection to that database, to share instead of opening a
   * second one: commits that alternate between two connections each pay to re-read the
   * other's WAL index (about 25 µs per 4 KiB PUT here). Not closed by close().
   */
  connection?: Database.Database;
}

type Range = { start: number; end: number };

export class TieredBlobStore implements BlobStore {
  private readonly insertRow: Database.Statement;
  private readonly selectRow: Database.Statement;
  private readonly selectRange: Database.Statement;
  private readonly deleteRow: Database.Statement;
  private readonly markPendingRow: Database.Statement;
  private readonly insertPending: Database.Transaction<(blobId: string, data: Buffer) => void>;
  private idPool = Buffer.alloc(0);
  private idOffset = 0;
  private closed = false;

  private constructor(
    readonly files: FileBlobStore,
    private readonly db: Database.Database,
    private readonly ownsConnection: boolean,
  ) {
    this.insertRow = db.prepare('INSERT INTO inline_blobs (blob_id, data) VALUES (?, ?)');
    this.selectRow = db.prepare('SELECT data FROM inline_blobs WHERE blob_id = ?').pluck();
    // substr() on a BLOB counts bytes, 1-based, and stops at the end of the data.
    this.selectRange = db.prepare('SELECT substr(data, ?, ?) FROM inline_blobs WHERE blob_id = ?').pluck();
    this.deleteRow = db.prepare('DELETE FROM inline_blobs WHERE blob_id = ?');
    // The metadata store's pending list lives in the same database: a writer marks its blob
    // pending in the very transaction that makes the first byte durable (the inline row),
    // or just before it creates the file it spills to — the protocol of types.ts, one commit less.
    this.markPendingRow = db.prepare('INSERT OR IGNORE INTO pending_blobs (blob_id) VALUES (?)');
    this.insertPending = db.transaction((blobId: string, data: Buffer) => {
      this.markPendingRow.run(blobId);
      this.insertRow.run(blobId, data);
    });
  }

  static async open(opts: TieredBlobStoreOptions): Promise<TieredBlobStore> {
    const files = await FileBlobStore.open(opts.dir, { fsync: opts.fsync });
    if (opts.connection) {
      const table = opts.connection.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inline_blobs'`).get();
      if (table === undefined) throw new Error(`${opts.database} has no inline_blobs table: open the metadata store (which migrates it) first`);
      return new TieredBlobStore(files, opts.connection, false);
    }
    const db = retainSqlite(new Database(opts.database, { fileMustExist: true }));
    try {
      // Per connection, and SQLite's default is FULL: an fsync of the WAL per inline blob.
      db.pragma(`synchronous = ${opts.synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
      db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
      db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inline_blobs'`).get();
      if (table === undefined) throw new Error(`${opts.database} has no inline_blobs table: open the metadata store (which migrates it) first`);
      return new TieredBlobStore(files, db, true);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async create(): Promise<BlobWriter> {
    if (this.idOffset === this.idPool.length) {
      this.idPool = randomBytes(ID_POOL_BYTES);
      this.idOffset = 0;
    }
    const hex = this.idPool.toString('hex', this.idOffset, this.idOffset + 16);
    this.idOffset += 16;
    return new TieredBlobWriter(this, INLINE_PREFIX + hex);
  }

  read(blobId: string, range?: Range): Readable {
    if (!blobId.startsWith(INLINE_PREFIX)) return this.files.read(blobId, range);
    if (range !== undefined && !validRange(range)) return failed(new RangeError(`invalid blob range ${range.start}-${range.end}`));
    const data = this.readSmall(blobId, range);
    // No row: the blob spilled to a file (or does not exist, and the file read says so).
    if (data === undefined) return this.files.read(blobId.slice(INLINE_PREFIX.length), range);
    return new Readable({
      read() {
        if (data.length > 0) this.push(data);
        this.push(null);
      },
    });
  }

  /**
   * The bytes of an inline blob (or of a range of it) at once, for a response that can be
   * sent in one write; undefined when the blob is not inline (then use read()).
   */
  readSmall(blobId: string, range?: Range): Buffer | undefined {
    if (!blobId.startsWith(INLINE_PREFIX)) return undefined;
    if (range === undefined) return this.selectRow.get(blobId) as Buffer | undefined;
    if (!validRange(range)) return undefined;
    return this.selectRange.get(range.start + 1, range.end - range.start + 1, blobId) as Buffer | undefined;
  }

  async delete(blobId: string): Promise<void> {
    if (!blobId.startsWith(INLINE_PREFIX)) return this.files.delete(blobId);
    // A writer ends either as a row or as a file, never both.
    if (this.deleteRow.run(blobId).changes === 0) await this.files.delete(blobId.slice(INLINE_PREFIX.length));
  }

  async cleanTemporary(): Promise<void> {
    // Buffered inline data never outlives its process; only the file tier has leftovers.
    await this.files.cleanTemporary();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsConnection) this.db.close();
    await this.files.close();
  }

  /** @internal Stores an inline blob and its pending mark in one transaction. */
  insert(blobId: string, data: Buffer): void {
    this.insertPending(blobId, data);
  }

  /** @internal Marks a blob pending before its file is created. */
  markPending(blobId: string): void {
    this.markPendingRow.run(blobId);
  }
}

class TieredBlobWriter implements BlobWriter {
  readonly marksPending = true;
  /** Copies of the chunks written so far while the blob may still be inline. */
  private chunks: Buffer[] = [];
  private size = 0;
  /** The file writer once the data outgrew INLINE_MAX_BYTES. */
  private file: BlobWriter | undefined;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  /** Serializes write/commit so a caller that does not await cannot interleave them with a spill. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: TieredBlobStore,
    readonly blobId: string,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.enqueue(async () => {
      this.assertOpen();
      if (this.file === undefined && this.size + chunk.length > INLINE_MAX_BYTES) await this.spill();
      if (this.file !== undefined) await this.file.write(chunk);
      else if (chunk.length > 0) this.chunks.push(Buffer.from(chunk)); // the caller may reuse chunk
      this.size += chunk.length;
    });
  }

  commit(): Promise<number> {
    return this.enqueue(async () => {
      this.assertOpen();
      try {
        if (this.file !== undefined) await this.file.commit();
        else this.store.insert(this.blobId, this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size));
      } catch (e) {
        await this.abort();
        throw e;
      }
      this.chunks = [];
      this.state = 'committed';
      return this.size;
    });
  }

  async abort(): Promise<void> {
    // Not queued behind a stuck write: abort must always be able to clean up.
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.chunks = [];
    await this.file?.abort();
  }

  private async spill(): Promise<void> {
    this.store.markPending(this.blobId);
    const file = await this.store.files.createAt(this.blobId.slice(INLINE_PREFIX.length));
    if (this.state !== 'open') {
      // Aborted while the file was being opened.
      await file.abort();
      this.assertOpen();
    }
    this.file = file;
    if (this.size > 0) await file.write(Buffer.concat(this.chunks, this.size));
    this.chunks = [];
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function validRange(r: Range): boolean {
  return Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.end >= r.start;
}

function failed(err: Error): Readable {
  return new Readable({
    read() {
      this.destroy(err);
    },
  });
}
