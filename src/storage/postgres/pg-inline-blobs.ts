// The inline blob tier of PgMetadataStore: meta_inline_blobs (BYTEA) in the shared
// database. putPending stores the bytes and the pending mark in one statement, so in one
// transaction: the mark goes wherever the blob goes.
//
// That commit is asynchronous (synchronous_commit off for it alone): it returns without
// waiting for its WAL flush, which saves a PUT one of its two fsyncs. InlineBlobStore's
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

export class PgInlineBlobs implements InlineBlobStore {
  /** Prefetched bytes by blob id, oldest first. */
  private readonly held = new Map<string, Buffer>();
  private heldBytes = 0;

  /** `writer`: the instance the pending marks name (PgMetadataStore's writer). */
  constructor(private readonly pool: pg.Pool, private readonly writer: string) {}

  async putPending(blobId: string, data: Buffer): Promise<void> {
    // Two inserts of a fresh id in one statement: its own transaction, nothing to serialize against.
    await this.pool.query(queryConfig(S.putInlinePending, [blobId, this.writer, blobId, data]));
  }

  async get(blobId: string, range?: ByteRange): Promise<Buffer | undefined> {
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
    return changed(this.pool, S.deleteInline, [blobId]);
  }
}
