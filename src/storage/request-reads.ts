// A request's first reads, started together as soon as the request is routed, before it is
// authenticated: on PostgreSQL each read is a round trip of its own, and the ones every S3
// request makes — IAM's version counter (iam/credentials.ts checks its cached credentials
// and policies against it), the bucket's record (authorization, then the operation) and,
// for a GET or HEAD of the current version, the object's row — need not wait for each
// other. Each is still read on this request, after it began: a change answered on another
// node before the request started is seen ("Caches across nodes", docs/CLUSTER.md).
//
// Nothing read here reaches the client before the request is authorized: the object row is
// taken only by the operation, after authorization, and only for the bucket and key it was
// read for (a caller refused learns nothing about the key).

import type { BucketRecord, ObjectRecord } from './types.js';

export interface RequestReads {
  /** IamStore.version() as read for this request. */
  readonly iamVersion: Promise<string>;
  /** The bucket's record as read for this request (undefined: no such bucket). */
  readonly bucket: Promise<BucketRecord | undefined>;
  /**
   * The current version's row (a delete marker's too; `record` undefined: no such key) of
   * the key this request's reads were started with, once. Undefined — the caller reads it
   * itself — when they were started for another bucket or key or without one, or it was
   * taken already, or (started for a GET) the object's bytes did not come with its row: a
   * GET must begin its blob readers' claim (storage/blob-readers.ts) before it reads a
   * record that names blobs in a blob tier. A small object's inline bytes are held for the
   * body read that follows (InlineBlobStore.takePrefetched).
   */
  takeObject(bucket: string, key: string): Promise<{ record: ObjectRecord | undefined } | undefined> | undefined;
}

export interface RequestReader {
  /** Starts the reads of a request on `bucket`; with `object`, the key's current row too (`inline`: with its bytes, for a GET). */
  start(bucket: string, object?: { key: string; inline: boolean }): RequestReads;
}
