// Streams an object's bytes, or a byte range of them, across the blobs of its parts.
// Only the blobs that overlap the range are opened.

import { PassThrough, type Readable } from 'node:stream';
import type { BlobStore, ObjectRecord, WholeRead } from '../storage/types.js';

type Piece = { blobId: string; start: number; end: number };

export function readObject(blobs: BlobStore, rec: ObjectRecord, range?: { start: number; end: number }, opts: { lend?: boolean } = {}): Readable {
  const pieces = overlapping(rec, range);
  // `lend` (BlobStore.read) only for one blob's own stream: the copy below takes buffers, not loans.
  if (pieces.length === 1) return blobs.read(pieces[0]!.blobId, { start: pieces[0]!.start, end: pieces[0]!.end }, opts);
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  (async () => {
    for (const p of pieces) {
      const src = blobs.read(p.blobId, { start: p.start, end: p.end });
      for await (const chunk of src) {
        if (!out.write(chunk)) await new Promise<void>((resolve, reject) => {
          const onDrain = () => { out.off('close', onClose); resolve(); };
          const onClose = () => { out.off('drain', onDrain); src.destroy(); reject(new Error('reader closed')); };
          out.once('drain', onDrain);
          out.once('close', onClose);
        });
      }
    }
    out.end();
  })().catch((e) => out.destroy(e as Error));
  return out;
}

/**
 * The requested bytes at once when they lie in one blob the store can hand over as a buffer
 * (BlobStore.readSmall: the inline tier); undefined otherwise, and then readObject streams them.
 */
export function readObjectSmall(blobs: BlobStore, rec: ObjectRecord, range?: { start: number; end: number }): Buffer | undefined {
  if (blobs.readSmall === undefined) return undefined;
  const pieces = overlapping(rec, range);
  if (pieces.length !== 1) return undefined;
  return blobs.readSmall(pieces[0]!.blobId, { start: pieces[0]!.start, end: pieces[0]!.end });
}

/**
 * The requested bytes in one buffer when they lie in one blob and the store reads such a
 * range whole (BlobStore.readWhole: up to about 1 MiB from a file); undefined otherwise, and
 * then readObject streams them.
 */
export function readObjectWhole(blobs: BlobStore, rec: ObjectRecord, range?: { start: number; end: number }): Promise<WholeRead> | undefined {
  if (blobs.readWhole === undefined) return undefined;
  const pieces = overlapping(rec, range);
  if (pieces.length !== 1) return undefined;
  return blobs.readWhole(pieces[0]!.blobId, { start: pieces[0]!.start, end: pieces[0]!.end });
}

function overlapping(rec: ObjectRecord, range?: { start: number; end: number }): Piece[] {
  const start = range?.start ?? 0;
  const end = range?.end ?? rec.size - 1;
  const pieces: Piece[] = [];
  let offset = 0;
  for (const part of rec.parts) {
    const partStart = offset;
    const partEnd = offset + part.size - 1;
    offset += part.size;
    if (part.size === 0 || partEnd < start || partStart > end) continue;
    pieces.push({ blobId: part.blobId, start: Math.max(start, partStart) - partStart, end: Math.min(end, partEnd) - partStart });
  }
  return pieces;
}
