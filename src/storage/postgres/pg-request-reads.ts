// The request reads of src/storage/request-reads.ts on PostgreSQL: IAM's version counter,
// the bucket's row and (for a GET or HEAD of the current version) the object's row with its
// inline bytes, in ONE statement (PG_METADATA_SQL.requestReads) — one round trip and one
// snapshot where they were two to four round trips, each waiting for the one before.
//
// The statement is sent when the request is routed; its answer is taken by whoever needs
// each part (the credential directory, authorization, the operation). A part nobody takes
// is dropped with the request; a failed read (the database away) fails whoever takes a part,
// as its own read would have, and is never an unhandled rejection.

import type pg from 'pg';
import { toBucket, toObject, OBJECT_COLUMNS, type ObjectRow } from '../sqlite-rows.js';
import type { BucketRecord, ObjectRecord } from '../types.js';
import type { RequestReader, RequestReads } from '../request-reads.js';
import { INLINE_MAX_BYTES } from '../tiered-blob-store.js';
import { OBJECT_PREFIX, PG_METADATA_SQL as S } from './pg-metadata-sql.js';
import type { PgInlineBlobs } from './pg-inline-blobs.js';
import { readAlone } from './pool.js';
import { queryConfig } from './query.js';

interface Row {
  iam_version: number | string | null;
  b_name: string | null;
  b_region: string;
  b_created_at: string;
  b_owner: string;
  b_config: string;
  o_bucket?: string | null;
  o_inline_data?: Buffer | null;
  [column: string]: unknown;
}

const NOTHING = (): void => {};

export class PgRequestReader implements RequestReader {
  constructor(private readonly pool: pg.Pool, private readonly inlineBlobs: Pick<PgInlineBlobs, 'hold'>) {}

  start(bucket: string, object?: { key: string; inline: boolean }): RequestReads {
    // A read alone: on the pool's held connection, without a checkout (pool.ts, readAlone).
    const row = (object === undefined
      ? readAlone(this.pool, queryConfig(S.requestReadsBucket, [bucket]))
      : readAlone(this.pool, queryConfig(S.requestReads, [bucket, object.inline ? INLINE_MAX_BYTES : -1, object.key])))
      .then((r) => r.rows[0] as Row | undefined);
    row.catch(NOTHING); // its failure reaches whoever takes a part
    const iamVersion = row.then((r) => String(r?.iam_version ?? 0));
    const record = row.then((r): BucketRecord | undefined => (r?.b_name == null ? undefined : toBucket({
      name: r.b_name, region: r.b_region, created_at: r.b_created_at, owner: r.b_owner, config: r.b_config,
    })));
    iamVersion.catch(NOTHING);
    record.catch(NOTHING);
    let untaken = object !== undefined;
    return {
      iamVersion,
      bucket: record,
      takeObject: (b, key) => {
        if (!untaken || b !== bucket || key !== object!.key) return undefined;
        untaken = false;
        // Decoded (and its bytes held) only now: after the request was authorized.
        return row.then((r) => (r === undefined ? undefined : this.objectOf(r, object!.inline)));
      },
    };
  }

  private objectOf(r: Row, forBody: boolean): { record: ObjectRecord | undefined } | undefined {
    if (r.o_bucket == null) return { record: undefined };
    const record = toObject(Object.fromEntries(OBJECT_COLUMNS.split(', ').map((c) => [c, r[OBJECT_PREFIX + c]])) as unknown as ObjectRow);
    if (!forBody || record.parts.length === 0) return { record };
    // A GET: only a record whose bytes came with it; one naming a tier blob is read again after the claim.
    if (record.parts.length !== 1 || r.o_inline_data == null) return undefined;
    this.inlineBlobs.hold(record.parts[0]!.blobId, r.o_inline_data);
    return { record };
  }
}
