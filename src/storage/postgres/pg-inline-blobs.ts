// The inline blob tier of PgMetadataStore: meta_inline_blobs (BYTEA) in the shared
// database.
//
// stage (the way the server writes): the bytes wait in memory for the publishing write
// that names the blob (PgMetadataStore.putObject, putPart), which inserts them in its own
// transaction, sent with the record's upsert: one transaction and one commit per small PUT
// instead of two. Nothing of the blob is in the database before that commit, so it needs
// no pending mark: a write that fails or a process that dies leaves no row behind (the
// failed writer's discardPending drops the held bytes). Held bytes are bounded
// (STAGE_MAX_BYTES); past the bound stage refuses and the writer falls back to putPending.
//
// putPending stores the bytes and the pending mark in one statement, so in one
// transaction: the mark goes wherever the blob goes. That commit is asynchronous
// (synchronous_commit off for it alone): it returns without waiting for its WAL flush,
// which saves a PUT one of its two fsyncs. InlineBlobStore's
// promise still holds: PostgreSQL writes one WAL in commit order and flushes it up to a
// commit's own record before that (synchronous) commit returns, so the metadata commit that
// later names the blob — on this node or any other, for they share the database's one WAL —
// never survives a crash without the blob's commit before it. A crash that loses the blob's
// commit loses its mark with it, and nothing names the blob. Every other session sees the
// blob as soon as its commit returns, flushed or not.
//
// No getNow: every read is a round trip. A GET avoids the second one by reading its object's
// row with the blob's bytes (PgMetadataStore.getObjectVersion, prefetch), which wait here
// for takePrefetched: held once, for a moment, bounded in bytes. A blob id's bytes never
// change, so held bytes are right for whoever takes them; a GET that never takes its own
// (a HEAD-like early answer: 304, 412) leaves them to be pushed out by later ones.
import type pg from 'pg';
import type { ByteRange, InlineBlobStore } from '../types.js';
import { PG_METADATA_SQL as S } from './pg-metadata-sql.js';
import { changed, first, queryConfig } from './query.js';

/** Most bytes held for takePrefetched at once: 4 MiB, 64 GETs of 64 KiB in flight. */
const PREFETCH_HOLD_BYTES = 4 * 1024 * 1024;
/**
 * Most bytes staged at once: 16 MiB, 256 PUTs of 64 KiB between their blob's commit and
 * their record's. Past it a blob goes to the database at once (putPending), so bytes a
 * failed writer never discarded cannot grow without bound.
 */
export const STAGE_MAX_BYTES = 16 * 1024 * 1024;

export class PgInlineBlobs implements InlineBlobStore {
  /** Prefetched bytes by blob id, oldest first. */
  private readonly held = new Map<string, Buffer>();
  private heldBytes = 0;
  /** Staged bytes by blob id, until their publishing write commits (stage). */
  private readonly staged = new Map<string, Buffer>();
  private stagedBytes = 0;

  /** `writer`: the instance the pending marks name (PgMetadataStore's writer). */
  constructor(private readonly pool: pg.Pool, private readonly writer: string) {}

  async putPending(blobId: string, data: Buffer): Promise<void> {
    // Two inserts of a fresh id in one statement: its own transaction, nothing to serialize against.
    await this.pool.query(queryConfig(S.putInlinePending, [blobId, this.writer, blobId, data]));
  }

  stage(blobId: string, data: Buffer): boolean {
    if (this.stagedBytes + data.length > STAGE_MAX_BYTES) return false;
    this.unstage(blobId);
    this.staged.set(blobId, data);
    this.stagedBytes += data.length;
    return true;
  }

  /** The staged blobs among `blobIds`, for the publishing transaction to insert; they stay staged until unstage. */
  stagedAmong(blobIds: readonly string[]): Array<{ blobId: string; data: Buffer }> {
    const out: Array<{ blobId: string; data: Buffer }> = [];
    if (this.staged.size === 0) return out;
    for (const blobId of blobIds) {
      const data = this.staged.get(blobId);
      if (data !== undefined) out.push({ blobId, data });
    }
    return out;
  }

  /** Drops staged bytes (their write committed, or failed); true if there were any. */
  unstage(blobId: string): boolean {
    const data = this.staged.get(blobId);
    if (data === undefined) return false;
    this.staged.delete(blobId);
    this.stagedBytes -= data.length;
    return true;
  }

  /** Bytes staged now (tests: none are left behind). */
  get stagedSize(): number {
    return this.stagedBytes;
  }

  async get(blobId: string, range?: ByteRange): Promise<Buffer | undefined> {
    const staged = this.staged.get(blobId);
    if (staged !== undefined) return range === undefined ? staged : staged.subarray(range.start, range.end + 1);
    const row = range === undefined
      ? await first<{ data: Buffer }>(this.pool, S.getInline, [blobId])
      : await first<{ data: Buffer }>(this.pool, S.getInlineRange, [range.start + 1, range.end - range.start + 1, blobId]);
    return row?.data;
  }

  /** Holds bytes read with their object's record for the read that follows (takePrefetched). */
  hold(blobId: string, data: Buffer): void {
    this.drop(blobId);
    if (data.length > PREFETCH_HOLD_BYTES) return;
    for (const [id] of this.held) {
      if (this.heldBytes + data.length <= PREFETCH_HOLD_BYTES) break;
      this.drop(id);
    }
    this.held.set(blobId, data);
    this.heldBytes += data.length;
  }

  takePrefetched(blobId: string, range?: ByteRange): Buffer | undefined {
    const data = this.held.get(blobId);
    if (data === undefined) return undefined;
    this.drop(blobId);
    return range === undefined ? data : data.subarray(range.start, range.end + 1);
  }

  private drop(blobId: string): void {
    const data = this.held.get(blobId);
    if (data === undefined) return;
    this.held.delete(blobId);
    this.heldBytes -= data.length;
  }

  async delete(blobId: string): Promise<boolean> {
    this.drop(blobId);
    const staged = this.unstage(blobId);
    return (await changed(this.pool, S.deleteInline, [blobId])) || staged;
  }
}
