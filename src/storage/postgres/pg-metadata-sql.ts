// Every statement of the PostgreSQL metadata store (pg-metadata-store.ts), by name: the
// twins of sqlite-rows.ts's, on the meta_ tables (pg-metadata-schema.ts). Written with
// `?` placeholders, numbered $1… here (no statement has a literal question mark).

import { OBJECT_COLUMNS, UPLOAD_COLUMNS } from '../sqlite-rows.js';
import { prepareStatements } from './query.js';

/** `?` placeholders as $1, $2, … in order. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const BUCKET_COLUMNS = 'name, region, created_at, owner, config';
const PART_COLUMNS = 'upload_id, part_number, blob_id, size, etag, checksum, last_modified';
const COMPLETED_COLUMNS = 'upload_id, bucket, key, completed_at, etag, blob_id';
const OBJECT_VALUES = '?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?';
const PATCH = `tags = COALESCE(?::text, tags), headers = COALESCE(?::text, headers), user_meta = COALESCE(?::text, user_meta),
  sys = COALESCE(?::text, sys), last_modified = COALESCE(?::text, last_modified), etag = COALESCE(?::text, etag)`;

/** Epoch milliseconds by the database's clock: one clock for every node's heartbeats and marks. */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';
const OBJECT_UPSERT = `INSERT INTO meta_objects (${OBJECT_COLUMNS}) VALUES (${OBJECT_VALUES})
     ON CONFLICT (bucket, key) DO UPDATE SET
       size = excluded.size, etag = excluded.etag, last_modified = excluded.last_modified,
       owner = excluded.owner, storage_class = excluded.storage_class, headers = excluded.headers,
       user_meta = excluded.user_meta, tags = excluded.tags, checksum = excluded.checksum,
       parts = excluded.parts, sys = excluded.sys, version_id = excluded.version_id,
       delete_marker = excluded.delete_marker, seq = excluded.seq, shares_blobs = excluded.shares_blobs`;
/** A version row's columns in objectWriteState, prefixed v_ beside the current row's. */
export const SAME_PREFIX = 'v_';
/** The object row's columns in requestReads, prefixed o_ beside the bucket's (b_). */
export const OBJECT_PREFIX = 'o_';
const columns = (table: string, prefix = '') => OBJECT_COLUMNS.split(', ').map((c) => `${table}.${c}${prefix && ` AS ${prefix}${c}`}`).join(', ');

const SQL = {
  bucketExists: 'SELECT 1 FROM meta_buckets WHERE name = ?',
  getBucket: `SELECT ${BUCKET_COLUMNS} FROM meta_buckets WHERE name = ?`,
  getBucketForUpdate: `SELECT ${BUCKET_COLUMNS} FROM meta_buckets WHERE name = ? FOR UPDATE`,
  // deleteBucket's first statement: every writer that adds a row to the bucket holds the row
  // FOR SHARE (objectWriteState, createUpload), so this waits for them, and they for it.
  lockBucket: 'SELECT 1 FROM meta_buckets WHERE name = ? FOR UPDATE',
  bucketExistsForShare: 'SELECT 1 FROM meta_buckets WHERE name = ? FOR SHARE',
  listBuckets: `SELECT ${BUCKET_COLUMNS} FROM meta_buckets ORDER BY name`,
  insertBucket: `INSERT INTO meta_buckets (${BUCKET_COLUMNS}) VALUES (?, ?, ?, ?, ?)`,
  deleteBucket: 'DELETE FROM meta_buckets WHERE name = ?',
  setBucketConfig: 'UPDATE meta_buckets SET config = ? WHERE name = ?',
  bucketHasObject: 'SELECT 1 FROM meta_objects WHERE bucket = ? LIMIT 1',
  bucketHasVersion: 'SELECT 1 FROM meta_object_versions WHERE bucket = ? LIMIT 1',
  bucketHasUpload: 'SELECT 1 FROM meta_uploads WHERE bucket = ? LIMIT 1',

  getObject: `SELECT ${OBJECT_COLUMNS} FROM meta_objects WHERE bucket = ? AND key = ?`,
  // The current row and, for an object of at most ? bytes, its first blob's inline bytes
  // (null when that blob is a file): a GET's two reads in one (getObjectVersion's prefetch).
  getObjectPrefetch: `SELECT ${columns('o')}, i.data AS inline_data FROM meta_objects o
     LEFT JOIN meta_inline_blobs i ON i.blob_id = CASE WHEN o.size <= ? THEN o.parts::jsonb -> 0 ->> 'blobId' END
     WHERE o.bucket = ? AND o.key = ?`,
  // A request's first reads, one statement and one snapshot (pg-request-reads.ts): IAM's
  // version counter (iam_version, pg-iam-schema.ts: the IAM store owns it, this only reads
  // it), the bucket's row (columns b_…) and, when a key is given, that key's current row
  // (o_…) with its first blob's inline bytes when the object has at most ? bytes (-1: none).
  // requestReadsBucket: the same without an object (a PUT, a bucket operation).
  requestReadsBucket: `SELECT v.version AS iam_version, b.name AS b_name, b.region AS b_region, b.created_at AS b_created_at,
       b.owner AS b_owner, b.config AS b_config
     FROM (SELECT 1) AS one
     LEFT JOIN iam_version v ON v.id = 1
     LEFT JOIN meta_buckets b ON b.name = ?::text`,
  requestReads: `SELECT v.version AS iam_version, b.name AS b_name, b.region AS b_region, b.created_at AS b_created_at,
       b.owner AS b_owner, b.config AS b_config, x.*
     FROM (SELECT 1) AS one
     LEFT JOIN iam_version v ON v.id = 1
     LEFT JOIN meta_buckets b ON b.name = ?::text
     LEFT JOIN LATERAL (SELECT ${columns('o', OBJECT_PREFIX)}, i.data AS o_inline_data FROM meta_objects o
       LEFT JOIN meta_inline_blobs i ON i.blob_id = CASE WHEN o.size <= ?::bigint THEN o.parts::jsonb -> 0 ->> 'blobId' END
       WHERE o.bucket = b.name AND o.key = ?::text) AS x ON true`,
  upsertObject: OBJECT_UPSERT,
  // writeObject's first statement (pg-metadata-versions.ts), every read it needs at once:
  // the writer's fence, the bucket, the key's current row, the version row that carries
  // the new version's id (only when the current one does not), the next sequence number.
  // It runs at READ COMMITTED under the key's advisory lock, and locks what it relies on
  // beyond the key: its writer row FOR KEY SHARE (the leader's reclamation, which deletes
  // the row before it moves the writer's marks, waits for this transaction; a heartbeat does
  // not), the bucket row FOR SHARE (deleteBucket waits, then sees the object).
  objectWriteState: `SELECT (SELECT 1 FROM meta_blob_writers WHERE instance = ? FOR KEY SHARE) AS fenced,
       (SELECT 1 FROM meta_buckets WHERE name = ? FOR SHARE) AS bucket_found,
       nextval('meta_version_seq') AS next_seq, ${columns('o')}, ${columns('v', SAME_PREFIX)}
     FROM (SELECT 1) AS one
     LEFT JOIN meta_objects o ON o.bucket = ? AND o.key = ?
     LEFT JOIN meta_object_versions v ON v.bucket = ? AND v.key = ? AND v.version_id = ?::text
       AND o.version_id IS DISTINCT FROM ?::text`,
  // The new current row and the end of its blobs' pending marks, one statement.
  publishObject: `WITH cleared AS (DELETE FROM meta_pending_blobs WHERE blob_id = ANY(?::text[])) ${OBJECT_UPSERT}`,
  // The same for a record whose one blob was staged (pg-inline-blobs.ts): its bytes and the
  // new current row, one statement; a staged blob has no pending mark to clear. ON CONFLICT:
  // a caller's retry of a write whose commit went through though its answer was lost.
  publishInlineObject: `WITH blob AS (INSERT INTO meta_inline_blobs (blob_id, data) VALUES (?, ?) ON CONFLICT DO NOTHING) ${OBJECT_UPSERT}`,
  // A new key's write in one statement, in its own transaction (transaction.ts,
  // keyWriteOnce): the key's lock, then the row and the end of its blobs' pending marks, or
  // the row and its one staged inline blob, only when the writer's fence and the bucket hold
  // (locked as objectWriteState locks them) and the key has no current row and no version
  // row with the new version's id — the only state in which writeObject would write this
  // row and nothing else (pg-metadata-schema.ts V5). The rows written: 1, or 0 for none
  // (the caller then writes in full). Values: the lock, the writer, the blob ids (null with
  // an inline blob), the inline blob's id and bytes (null without), objectParams' first 15.
  putNewObject: `SELECT meta_put_new_object(?::bigint, ?::text, ?::text[], ?::text, ?::bytea, ?::text, ?::text, ?::bigint, ?::text,
       ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::int)`,
  insertInline: 'INSERT INTO meta_inline_blobs (blob_id, data) VALUES (?, ?) ON CONFLICT DO NOTHING',
  updateObject: `UPDATE meta_objects SET ${PATCH}
     WHERE bucket = ? AND key = ? AND delete_marker = 0 AND (?::text IS NULL OR version_id = ?)`,
  updateVersion: `UPDATE meta_object_versions SET ${PATCH} WHERE bucket = ? AND key = ? AND delete_marker = 0 AND version_id = ?`,
  replaceObjectSys:
    'UPDATE meta_objects SET sys = ? WHERE bucket = ? AND key = ? AND sys = ? AND etag = ? AND delete_marker = 0 AND (?::text IS NULL OR version_id = ?)',
  replaceVersionSys:
    'UPDATE meta_object_versions SET sys = ? WHERE bucket = ? AND key = ? AND sys = ? AND etag = ? AND delete_marker = 0 AND version_id = ?',
  deleteObject: 'DELETE FROM meta_objects WHERE bucket = ? AND key = ?',

  getVersion: `SELECT ${OBJECT_COLUMNS} FROM meta_object_versions WHERE bucket = ? AND key = ? AND version_id = ?`,
  newestVersion: `SELECT ${OBJECT_COLUMNS} FROM meta_object_versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1`,
  insertVersion: `INSERT INTO meta_object_versions (${OBJECT_COLUMNS}) VALUES (${OBJECT_VALUES})`,
  deleteVersion: 'DELETE FROM meta_object_versions WHERE bucket = ? AND key = ? AND seq = ?',
  sharedVersionParts: 'SELECT parts FROM meta_object_versions WHERE bucket = ? AND key = ? AND shares_blobs = 1',
  olderVersionsOf: `SELECT ${OBJECT_COLUMNS} FROM meta_object_versions WHERE bucket = ? AND key = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,

  insertUpload: `INSERT INTO meta_uploads (${UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  getUpload: `SELECT ${UPLOAD_COLUMNS} FROM meta_uploads WHERE upload_id = ?`,
  // completeUpload's (READ COMMITTED): a concurrent complete, abort or part upload of the same upload waits, or is waited for.
  getUploadForUpdate: `SELECT ${UPLOAD_COLUMNS} FROM meta_uploads WHERE upload_id = ? FOR UPDATE`,
  // putPart's (SERIALIZABLE): an upload completed or aborted meanwhile makes it fail (40001) and retry.
  getUploadForShare: `SELECT ${UPLOAD_COLUMNS} FROM meta_uploads WHERE upload_id = ? FOR SHARE`,
  deleteUpload: 'DELETE FROM meta_uploads WHERE upload_id = ?',
  replaceUploadSys: 'UPDATE meta_uploads SET sys = ? WHERE upload_id = ? AND sys = ?',
  getPartBlob: 'SELECT blob_id FROM meta_parts WHERE upload_id = ? AND part_number = ?',
  upsertPart: `INSERT INTO meta_parts (${PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (upload_id, part_number) DO UPDATE SET
       blob_id = excluded.blob_id, size = excluded.size, etag = excluded.etag,
       checksum = excluded.checksum, last_modified = excluded.last_modified`,
  listParts: `SELECT ${PART_COLUMNS} FROM meta_parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?`,
  listPartBlobs: 'SELECT blob_id FROM meta_parts WHERE upload_id = ?',
  deleteParts: 'DELETE FROM meta_parts WHERE upload_id = ?',

  insertCompleted: `INSERT INTO meta_completed_uploads (${COMPLETED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (upload_id) DO UPDATE SET bucket = excluded.bucket, key = excluded.key,
       completed_at = excluded.completed_at, etag = excluded.etag, blob_id = excluded.blob_id`,
  getCompleted: `SELECT ${COMPLETED_COLUMNS} FROM meta_completed_uploads WHERE upload_id = ?`,
  pruneCompleted: 'DELETE FROM meta_completed_uploads WHERE completed_at < ?',
  deleteBucketCompleted: 'DELETE FROM meta_completed_uploads WHERE bucket = ?',

  addPending: `INSERT INTO meta_pending_blobs (blob_id, writer, created_at) VALUES (?, ?, ${NOW_MS}) ON CONFLICT DO NOTHING`,
  registerWriter: `INSERT INTO meta_blob_writers (instance, node, started_at, heartbeat_at, heartbeat_ms) VALUES (?, ?, ${NOW_MS}, ${NOW_MS}, ?) ON CONFLICT (instance) DO NOTHING`,
  heartbeatWriter: `UPDATE meta_blob_writers SET heartbeat_at = ${NOW_MS} WHERE instance = ?`,
  // putPart's (SERIALIZABLE), no row lock: the publishing transaction also deletes its blobs'
  // pending marks, which the leader's reclamation deletes too, so the two conflict there
  // (40001) and PostgreSQL orders them (pg-metadata-store.ts, reclaimPending). The object
  // writes, at READ COMMITTED, lock the row instead (objectWriteState).
  fenceWriter: 'SELECT 1 FROM meta_blob_writers WHERE instance = ?',
  retireOtherWriters: 'DELETE FROM meta_blob_writers WHERE instance <> ?',
  retireEarlierWriters: 'DELETE FROM meta_blob_writers WHERE node = ? AND instance <> ? RETURNING instance',
  retireStaleWriters: `DELETE FROM meta_blob_writers WHERE heartbeat_at < ${NOW_MS} - GREATEST(?::bigint, 4 * heartbeat_ms) AND instance <> ? RETURNING instance`,
  reclaimPendingOf: `WITH p AS (DELETE FROM meta_pending_blobs WHERE writer = ANY(?::text[]) RETURNING blob_id),
       g AS (INSERT INTO meta_garbage_blobs (blob_id, added_at) SELECT blob_id, 0 FROM p ON CONFLICT DO NOTHING)
     SELECT count(*)::int AS n FROM p`,
  reclaimPendingOfNobody: `WITH p AS (DELETE FROM meta_pending_blobs pb WHERE pb.created_at < ${NOW_MS} - ?
         AND NOT EXISTS (SELECT 1 FROM meta_blob_writers w WHERE w.instance = pb.writer) RETURNING blob_id),
       g AS (INSERT INTO meta_garbage_blobs (blob_id, added_at) SELECT blob_id, 0 FROM p ON CONFLICT DO NOTHING)
     SELECT count(*)::int AS n FROM p`,
  clearPending: 'DELETE FROM meta_pending_blobs WHERE blob_id = ?',
  // Pending blobs were never named by any record, so no read can hold them: garbage at time 0,
  // due at once. Blobs a record named (addGarbage, addGarbageMany) take the column's default,
  // now, and wait out the grace (pg-metadata-schema.ts, V4).
  pendingToGarbage: `WITH p AS (DELETE FROM meta_pending_blobs RETURNING blob_id)
     INSERT INTO meta_garbage_blobs (blob_id, added_at) SELECT blob_id, 0 FROM p ON CONFLICT DO NOTHING`,
  // A write that failed before its commit: its blob, if still pending, is garbage. No mark: the
  // commit went through though the writer saw an error (the answer lost with the connection),
  // or the blob is garbage already; either way it is left.
  discardPending: `WITH p AS (DELETE FROM meta_pending_blobs WHERE blob_id = ? RETURNING blob_id)
     INSERT INTO meta_garbage_blobs (blob_id, added_at) SELECT blob_id, 0 FROM p ON CONFLICT DO NOTHING`,
  addGarbage: 'INSERT INTO meta_garbage_blobs (blob_id) VALUES (?) ON CONFLICT DO NOTHING',
  addGarbageMany: 'INSERT INTO meta_garbage_blobs (blob_id) SELECT unnest(?::text[]) ON CONFLICT DO NOTHING',
  // The cutoff in a subquery, computed once: clock_timestamp() is volatile, and compared row by row it would rule out the index.
  listGarbage: `SELECT blob_id FROM meta_garbage_blobs WHERE added_at <= (SELECT ${NOW_MS} - ?::bigint)`,
  forgetGarbage: 'DELETE FROM meta_garbage_blobs WHERE blob_id = ANY(?::text[])',

  // The blob and its pending mark in one statement, committed asynchronously (pg-inline-blobs.ts says why that is safe).
  putInlinePending: `WITH mark AS (INSERT INTO meta_pending_blobs (blob_id, writer, created_at) VALUES (?, ?, ${NOW_MS}) ON CONFLICT DO NOTHING),
       blob AS (INSERT INTO meta_inline_blobs (blob_id, data) VALUES (?, ?))
     SELECT set_config('synchronous_commit', 'off', true)`,
  getInline: 'SELECT data FROM meta_inline_blobs WHERE blob_id = ?',
  // substring() on BYTEA counts bytes, 1-based, and stops at the end of the data.
  getInlineRange: 'SELECT substring(data FROM ?::int FOR ?::int) AS data FROM meta_inline_blobs WHERE blob_id = ?',
  deleteInline: 'DELETE FROM meta_inline_blobs WHERE blob_id = ?',

  usage: 'SELECT bucket, objects, bytes FROM meta_bucket_usage ORDER BY bucket',
} as const;

/** The statements with $n placeholders. */
export const PG_METADATA_SQL = Object.fromEntries(Object.entries(SQL).map(([k, v]) => [k, numbered(v)])) as { readonly [K in keyof typeof SQL]: string };
// Each parsed once per connection (query.ts), not at every use.
prepareStatements('meta', PG_METADATA_SQL);
