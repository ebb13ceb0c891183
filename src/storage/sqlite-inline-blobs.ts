// The inline blob tier of SqliteMetadataStore: the inline_blobs table of metadata.sqlite,
// written on the store's own connection. One connection for both matters twice: commits
// that alternated between two connections would each pay to re-read the other's WAL index
// (about 25 µs per 4 KiB PUT), and the pending mark can go into the same transaction as
// the bytes, which saves the small PUT a commit. SQLite's WAL keeps the commits of a
// database in order, so a crash keeps a prefix of them: the ordering InlineBlobStore
// promises (an inline blob is never lost while the metadata commit after it survives).

import type Database from 'better-sqlite3';
import type { ByteRange, InlineBlobStore } from './types.js';

export class SqliteInlineBlobs implements InlineBlobStore {
  private readonly insertRow: Database.Statement;
  private readonly markPending: Database.Statement;
  private readonly selectRow: Database.Statement;
  private readonly selectRange: Database.Statement;
  private readonly deleteRow: Database.Statement;

  /** `write` runs a write transaction of the metadata store and settles once it has committed (group commit included). */
  /** `writer`: the instance the pending marks name (the metadata store's writer). */
  constructor(db: Database.Database, private readonly write: <T>(fn: () => T) => Promise<T>, private readonly writer: string) {
    this.insertRow = db.prepare('INSERT INTO inline_blobs (blob_id, data) VALUES (?, ?)');
    this.markPending = db.prepare('INSERT OR IGNORE INTO pending_blobs (blob_id, writer, created_at) VALUES (?, ?, ?)');
    this.selectRow = db.prepare('SELECT data FROM inline_blobs WHERE blob_id = ?').pluck();
    // substr() on a BLOB counts bytes, 1-based, and stops at the end of the data.
    this.selectRange = db.prepare('SELECT substr(data, ?, ?) FROM inline_blobs WHERE blob_id = ?').pluck();
    this.deleteRow = db.prepare('DELETE FROM inline_blobs WHERE blob_id = ?');
  }

  async putPending(blobId: string, data: Buffer): Promise<void> {
    await this.write(() => {
      this.markPending.run(blobId, this.writer, Date.now());
      this.insertRow.run(blobId, data);
    });
  }

  async get(blobId: string, range?: ByteRange): Promise<Buffer | undefined> {
    return this.getNow(blobId, range);
  }

  getNow(blobId: string, range?: ByteRange): Buffer | undefined {
    if (range === undefined) return this.selectRow.get(blobId) as Buffer | undefined;
    return this.selectRange.get(range.start + 1, range.end - range.start + 1, blobId) as Buffer | undefined;
  }

  async delete(blobId: string): Promise<boolean> {
    return this.write(() => this.deleteRow.run(blobId).changes > 0);
  }
}
