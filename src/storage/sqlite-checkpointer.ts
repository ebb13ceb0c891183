// Worker thread that checkpoints the SQLite WAL of a SqliteMetadataStore on its own
// connection, so copying pages into the database file and the two fsyncs of each
// checkpoint happen off the event loop (they were about a third of the cost of a PUT's
// metadata work when the writing connection checkpointed itself).
//
// Messages from the store: 'checkpoint' (the WAL has grown) and 'close'. A PASSIVE
// checkpoint never blocks the writer; it copies what it can and leaves the rest.

import { retainSqlite } from './sqlite-database.js';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointerData {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
}

/** Also checkpoint this often when idle, to flush the tail of a burst. */
const IDLE_CHECKPOINT_MS = 1000;

if (parentPort !== null) {
  const port = parentPort;
  const { path, synchronous } = workerData as CheckpointerData;
  const db = retainSqlite(new Database(path));
  db.pragma('busy_timeout = 5000');
  db.pragma(`synchronous = ${synchronous}`);
  const checkpoint = () => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy or transient I/O trouble: the next request or the writer's own fallback retries.
    }
  };
  const idle = setInterval(checkpoint, IDLE_CHECKPOINT_MS);
  port.on('message', (m: unknown) => {
    if (m === 'checkpoint') checkpoint();
    else if (m === 'close') {
      clearInterval(idle);
      db.close();
      port.close();
    }
  });
}
