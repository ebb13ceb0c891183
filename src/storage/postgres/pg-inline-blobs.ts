// The inline blob tier of PgMetadataStore: meta_inline_blobs (BYTEA) in the shared
// database. putPending stores the bytes and the pending mark in one transaction;
// PostgreSQL's WAL keeps commits in order, so the metadata commit that later names the
// blob never survives without it (InlineBlobStore's promise). No getNow: every read is a
// round trip, so GETs of inline blobs take the streaming path.

import type pg from 'pg';
import type { ByteRange, InlineBlobStore } from '../types.js';
import { PG_METADATA_SQL as S } from './pg-metadata-sql.js';
import { changed, first } from './query.js';
import { transaction } from './transaction.js';

export class PgInlineBlobs implements InlineBlobStore {
  /** `writer`: the instance the pending marks name (PgMetadataStore's writer). */
  constructor(private readonly pool: pg.Pool, private readonly writer: string) {}

  async putPending(blobId: string, data: Buffer): Promise<void> {
    // Two inserts of fresh ids: nothing to serialize against, so READ COMMITTED.
    await transaction(this.pool, 'READ COMMITTED', async (q) => {
      await q.query(S.addPending, [blobId, this.writer]);
      await q.query(S.insertInline, [blobId, data]);
    });
  }

  async get(blobId: string, range?: ByteRange): Promise<Buffer | undefined> {
    const row = range === undefined
      ? await first<{ data: Buffer }>(this.pool, S.getInline, [blobId])
      : await first<{ data: Buffer }>(this.pool, S.getInlineRange, [range.start + 1, range.end - range.start + 1, blobId]);
    return row?.data;
  }

  async delete(blobId: string): Promise<boolean> {
    return changed(this.pool, S.deleteInline, [blobId]);
  }
}
