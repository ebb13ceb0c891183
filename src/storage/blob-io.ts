// Pieces every blob store's reads and writers share (file-blob-store.ts,
// tiered-blob-store.ts, backend/s3-blob-store.ts): a read with bad arguments answered as
// a failing stream (read() returns a stream, it never throws), and a writer's operations
// run one at a time.

import { Readable } from 'node:stream';
import type { ByteRange } from './types.js';

/** A stream that fails with err when read. */
export function failedStream(err: Error): Readable {
  return new Readable({
    read() {
      this.destroy(err);
    },
  });
}

/**
 * `stream` with the error it fails with passed through `map` first (which may look at the
 * store, hence a promise): the error a reader sees is the one the stream's destroy passes on,
 * so it is translated there.
 */
export function mapStreamError<S extends Readable>(stream: S, map: (e: Error) => unknown): S {
  const destroy = stream._destroy.bind(stream);
  stream._destroy = (err, cb) =>
    destroy(err, (e) => {
      if (!e) return cb(e);
      Promise.resolve(map(e)).then(
        (mapped) => cb(mapped as Error),
        () => cb(e),
      );
    });
  return stream;
}

/** Why a read's range is unusable (not safe whole numbers with 0 ≤ start ≤ end); undefined when it is fine or absent. */
export function badRange(range: ByteRange | undefined): RangeError | undefined {
  if (range === undefined) return undefined;
  if (Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start) return undefined;
  return new RangeError(`invalid blob range ${range.start}-${range.end}`);
}

/**
 * A writer's operations in call order, each started once the one before has settled
 * (failed or not), so a caller that does not await cannot interleave them.
 */
export class OpQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(op, op);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
