// Object bodies through the object encryption format: the write path seals each part as
// it streams (BodyEncryptor, driven inline by writeBlob), the read path opens exactly the
// segments a range touches (readDecrypted). DSSE-KMS adds an outer layer over the inner
// ciphertext, with its own keys; a range then maps plaintext → inner ciphertext → outer
// segments. Segment counts are kept in `cipherStats` (the 1-byte ranged GET check).

import { PassThrough, pipeline as pipelineCallback, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  SegmentSealer, ciphertextSize, createFileDecryptStream, createReadDecryptStream, derivePartKey, deriveOuterPartKey, openSegment, segmentRange,
  SEALED_SEGMENT_SIZE, TAG_LENGTH, TruncatedCiphertextError, segmentCount, type PartKey,
} from '../../crypto/index.js';
import { mapStreamError } from '../../storage/blob-io.js';
import type { BlobStore, ObjectPart } from '../../storage/types.js';
import type { ObjectKeys } from './object-keys.js';

/** Segments sealed and opened by this process (tests and the benchmark read them). */
export const cipherStats = { segmentsSealed: 0, segmentsOpened: 0 };
const countSealed = (): void => {
  cipherStats.segmentsSealed++;
};
const countOpened = (): void => {
  cipherStats.segmentsOpened++;
};

function ignore(): void {}

/** Stored size of a part of `plaintextSize` bytes. */
export function storedSize(keys: ObjectKeys | undefined, plaintextSize: number): number {
  if (!keys) return plaintextSize;
  const inner = ciphertextSize(plaintextSize);
  return keys.outer ? ciphertextSize(inner) : inner;
}

/** Seals one part's plaintext as it arrives: update() and final() return the sealed bytes to store, in order. */
export class BodyEncryptor {
  private readonly inner: SegmentSealer;
  private readonly outer: SegmentSealer | undefined;
  private out: Buffer[] = [];
  private readonly keys: PartKey[] = [];
  private readonly emitOuter = (ct: Buffer, tag: Buffer): void => {
    this.out.push(ct, tag);
  };
  private readonly emitInner = (ct: Buffer, tag: Buffer): void => {
    if (this.outer) {
      this.outer.update(ct, this.emitOuter);
      this.outer.update(tag, this.emitOuter);
    } else {
      this.out.push(ct, tag);
    }
  };

  constructor(keys: ObjectKeys, partNumber: number) {
    // The sealers keep these buffers as their keys; they are wiped when the part ends.
    this.keys.push(derivePartKey(keys.inner, keys.objectId, partNumber));
    this.inner = new SegmentSealer(this.keys[0]!, { onSegment: countSealed });
    if (keys.outer) {
      this.keys.push(deriveOuterPartKey(keys.outer, keys.objectId, partNumber));
      this.outer = new SegmentSealer(this.keys[1]!, { onSegment: countSealed });
    }
  }

  update(chunk: Buffer): Buffer[] {
    this.inner.update(chunk, this.emitInner);
    return this.take();
  }

  final(): Buffer[] {
    this.inner.final(this.emitInner);
    this.outer?.final(this.emitOuter);
    for (const k of this.keys) k.fill(0);
    return this.take();
  }

  discard(): void {
    this.inner.discard();
    this.outer?.discard();
    for (const k of this.keys) k.fill(0);
    this.out = [];
  }

  private take(): Buffer[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}

interface PartRead {
  /** Blob bytes to read, inclusive. */
  blobStart: number;
  blobEnd: number;
  decrypt(): Transform[];
}

/** What to read from a part's blob, and the decryptors, for plaintext bytes [start, end] (inclusive) of the part. */
function planPartRead(keys: ObjectKeys, part: ObjectPart, start: number, end: number): PartRead {
  const n = part.size;
  const r1 = segmentRange(start, end + 1, n);
  const innerKey = derivePartKey(keys.inner, keys.objectId, part.partNumber);
  const inner = () => createReadDecryptStream(innerKey, { plaintextSize: n, firstSegment: r1.firstSegment, skipBytes: r1.skipBytes, length: r1.length, onSegment: countOpened });
  if (!keys.outer) return { blobStart: r1.cipherStart, blobEnd: r1.cipherEnd - 1, decrypt: () => [inner()] };
  const n2 = ciphertextSize(n);
  const r2 = segmentRange(r1.cipherStart, r1.cipherEnd, n2);
  const outerKey = deriveOuterPartKey(keys.outer, keys.objectId, part.partNumber);
  const outer = () => createReadDecryptStream(outerKey, { plaintextSize: n2, firstSegment: r2.firstSegment, skipBytes: r2.skipBytes, length: r2.length, onSegment: countOpened });
  return { blobStart: r2.cipherStart, blobEnd: r2.cipherEnd - 1, decrypt: () => [outer(), inner()] };
}

/**
 * A single-layer read of at least this many plaintext bytes from a part stored as a local
 * file goes to a decrypt worker that reads the file itself (crypto/file-decrypt.ts): the main
 * thread then only sends. Shorter reads decrypt here (a worker round trip costs more).
 */
export const FILE_DECRYPT_MIN_BYTES = 256 * 1024;

/** The part's plaintext bytes [start, end] decrypted by a worker reading its file; undefined when that path does not apply. */
function fileRead(blobs: BlobStore, keys: ObjectKeys, part: ObjectPart, start: number, end: number, lend = false): Readable | undefined {
  if (keys.outer || end - start + 1 < FILE_DECRYPT_MIN_BYTES || blobs.localFile === undefined) return undefined;
  const path = blobs.localFile(part.blobId, ciphertextSize(part.size));
  if (path === undefined) return undefined;
  const r = segmentRange(start, end + 1, part.size);
  const key = derivePartKey(keys.inner, keys.objectId, part.partNumber);
  const stream = createFileDecryptStream(key, { plaintextSize: part.size, firstSegment: r.firstSegment, skipBytes: r.skipBytes, length: r.length, onSegment: countOpened }, { path, start: r.cipherStart, end: r.cipherEnd - 1, direct: blobs.readsDirect === true, onDirectRefused: blobs.directReadRefused }, { lend });
  key.fill(0);
  return blobs.localFileError === undefined ? stream : mapStreamError(stream, (e) => blobs.localFileError!(e));
}

type Piece = { part: ObjectPart; start: number; end: number };

function overlapping(parts: readonly ObjectPart[], start: number, end: number): Piece[] {
  const pieces: Piece[] = [];
  let offset = 0;
  for (const part of parts) {
    const partStart = offset;
    const partEnd = offset + part.size - 1;
    offset += part.size;
    if (part.size === 0 || partEnd < start || partStart > end) continue;
    pieces.push({ part, start: Math.max(start, partStart) - partStart, end: Math.min(end, partEnd) - partStart });
  }
  return pieces;
}

/**
 * The plaintext bytes [range.start, range.end] (whole object when omitted) of an encrypted
 * object, as a stream. With `lend`, the reader writes every chunk to a socket with
 * lentRelease(chunk) as the write's callback: a one-part read may then lend it the decrypt
 * worker's slots instead of copies (crypto/file-decrypt.ts).
 */
export function readDecrypted(blobs: BlobStore, parts: readonly ObjectPart[], size: number, keys: ObjectKeys, range?: { start: number; end: number }, opts: { lend?: boolean } = {}): Readable {
  const pieces = overlapping(parts, range?.start ?? 0, range?.end ?? size - 1);
  if (pieces.length === 1) {
    // One part: the decryptor is the body (no extra stream hop); an error anywhere destroys it.
    const p = pieces[0]!;
    const direct = fileRead(blobs, keys, p.part, p.start, p.end, opts.lend);
    if (direct) return direct;
    const plan = planPartRead(keys, p.part, p.start, p.end);
    const src = blobs.read(p.part.blobId, { start: plan.blobStart, end: plan.blobEnd });
    const [first, second] = plan.decrypt();
    return second ? pipelineCallback(src, first!, second, ignore) : pipelineCallback(src, first!, ignore);
  }
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  (async () => {
    for (const p of pieces) {
      const direct = fileRead(blobs, keys, p.part, p.start, p.end);
      if (direct) {
        await pipeline(direct, out, { end: false });
        continue;
      }
      const plan = planPartRead(keys, p.part, p.start, p.end);
      const src = blobs.read(p.part.blobId, { start: plan.blobStart, end: plan.blobEnd });
      const [first, second] = plan.decrypt();
      if (second) await pipeline(src, first!, second, out, { end: false });
      else await pipeline(src, first!, out, { end: false });
    }
    out.end();
  })().catch((e) => out.destroy(e as Error));
  return out;
}

/**
 * The plaintext at once when it lies in one single-layer part whose blob the store holds in
 * memory-speed storage (small objects); undefined otherwise (then readDecrypted streams it).
 */
export function readDecryptedSmall(blobs: BlobStore, parts: readonly ObjectPart[], size: number, keys: ObjectKeys, range?: { start: number; end: number }): Buffer | undefined {
  if (blobs.readSmall === undefined || keys.outer) return undefined;
  const pieces = overlapping(parts, range?.start ?? 0, range?.end ?? size - 1);
  if (pieces.length !== 1) return undefined;
  const { part, start, end } = pieces[0]!;
  const r = segmentRange(start, end + 1, part.size);
  // The whole part (the usual small GET) is read without a range: a plain row read, where a
  // range is a substr() query. Bytes past the part's ciphertext are ignored, as a range would.
  const whole = r.cipherStart === 0 && r.cipherEnd === ciphertextSize(part.size);
  let sealed = blobs.readSmall(part.blobId, whole ? undefined : { start: r.cipherStart, end: r.cipherEnd - 1 });
  if (sealed === undefined) return undefined;
  if (whole && sealed.length > r.cipherEnd) sealed = sealed.subarray(0, r.cipherEnd);
  const key = derivePartKey(keys.inner, keys.objectId, part.partNumber);
  if (sealed.length !== r.cipherEnd - r.cipherStart) throw new TruncatedCiphertextError('stored ciphertext is shorter than the object');
  const finalSegment = segmentCount(part.size) - 1;
  const out: Buffer[] = [];
  let off = 0;
  for (let i = r.firstSegment; i <= r.lastSegment; i++) {
    const len = Math.min(SEALED_SEGMENT_SIZE, sealed.length - off);
    const seg = sealed.subarray(off, off + len);
    out.push(openSegment(key as PartKey, i, i === finalSegment, seg.subarray(0, seg.length - TAG_LENGTH), seg.subarray(seg.length - TAG_LENGTH)));
    countOpened();
    off += len;
  }
  key.fill(0);
  const all = out.length === 1 ? out[0]! : Buffer.concat(out);
  return all.subarray(r.skipBytes, r.skipBytes + r.length);
}
