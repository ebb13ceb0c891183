// The source side of UploadPartCopy: x-amz-copy-source-range ("bytes=first-last") and
// the source bytes. (x-amz-copy-source itself is parsed by CopyObject's parseCopySource.)

import { Readable } from 'node:stream';
import type { ObjectRecord } from '../storage/types.js';
import type { S3Context } from './context.js';
import { invalidArgument, s3Error } from './errors.js';
import { readObject } from './object-reader.js';
import { readDecrypted } from './sse/body-cipher.js';
import type { ObjectKeys } from './sse/object-keys.js';

/** The inclusive byte range to copy, checked against the source size. Undefined copies the whole object. */
export function parseCopySourceRange(raw: string | undefined, sourceSize: number): { start: number; end: number } | undefined {
  if (raw === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d+)$/.exec(raw.trim());
  if (!m || Number(m[1]) > Number(m[2])) {
    throw invalidArgument(
      'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      'x-amz-copy-source-range',
      raw,
    );
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end >= sourceSize) {
    throw invalidArgument(`Range specified is not valid for source object of size: ${sourceSize}`, 'x-amz-copy-source-range', raw);
  }
  return { start, end };
}

/**
 * The source's plaintext bytes (decrypted with `keys` when the source is encrypted); a read
 * or integrity failure of our own storage is an InternalError, not the client's IncompleteBody.
 */
export function copySourceStream(ctx: S3Context, src: ObjectRecord, range: { start: number; end: number } | undefined, keys?: ObjectKeys): Readable {
  const body = keys ? readDecrypted(ctx.services.blobs, src.parts, src.size, keys, range) : readObject(ctx.services.blobs, src, range);
  return Readable.from((async function* () {
    try {
      for await (const chunk of body) yield chunk as Buffer;
    } catch (e) {
      ctx.services.log.error({ err: e, requestId: ctx.requestId }, 'copy source read failed');
      throw s3Error('InternalError');
    }
  })(), { objectMode: false });
}
