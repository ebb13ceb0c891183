// Decrypts one part, or a range of it, as a stream: ciphertext of the needed segments in,
// plaintext of the range out. Only segments firstSegment..lastSegment are read and
// opened; the part's real last segment is opened with the final flag, every other with
// it clear. Nothing is released from a segment until its tag has verified. The stream
// errors — it never ends cleanly — if the input stops short (TruncatedCiphertextError),
// a segment fails to authenticate or bytes follow the last needed segment
// (SegmentAuthError). Spec: docs/spec/object-encryption.md ("Decryption", "Ranges").

import { Transform, type TransformCallback } from 'node:stream';
import { SegmentAuthError, TruncatedCiphertextError } from './errors.js';
import { asPartKey, type PartKey } from './keys.js';
import { NONCE_LENGTH, SEALED_SEGMENT_SIZE, SEGMENT_SIZE, TAG_LENGTH, segmentCount, segmentPlaintextLength } from './layout.js';
import { openSegment } from './segment.js';

export interface DecryptStreamOptions {
  /** Plaintext size of the whole part, from the object's metadata. */
  plaintextSize: number;
  /** First segment in the input (the input starts at its ciphertext offset). Default 0. */
  firstSegment?: number;
  /** Plaintext bytes of firstSegment to drop. Default 0. */
  skipBytes?: number;
  /** Plaintext bytes to emit. Default: everything from the start to the end of the part. */
  length?: number;
  /** Called after each segment authenticates, with its index: tests count segments with it. */
  onSegment?: (index: number) => void;
}

/**
 * The decryptor's state machine, driven synchronously: update() opens every segment the
 * chunk completes and hands out its plaintext (the range's part of it) through `emit`, in
 * order, each only after its tag verified; final() checks the input was whole. A worker that
 * copies plaintext straight into a slot of its ring uses this without a stream around it.
 */
export class SegmentOpener {
  readonly #key: PartKey;
  readonly #onSegment: ((index: number) => void) | undefined;
  readonly #plaintextSize: number;
  readonly #finalSegment: number;
  readonly #lastSegment: number;
  /** A segment split across chunks is put together here; allocated on first need (a worker's whole-segment reads never need it). */
  #staging: Buffer | undefined;
  readonly #nonce = Buffer.alloc(NONCE_LENGTH);
  #filled = 0;
  #index: number;
  #need: number; // sealed length of segment #index
  #skip: number;
  #remaining: number;

  constructor(key: PartKey, opts: DecryptStreamOptions) {
    this.#key = asPartKey(key);
    this.#onSegment = opts.onSegment;
    const size = opts.plaintextSize;
    const total = segmentCount(size);
    const first = opts.firstSegment ?? 0;
    const skip = opts.skipBytes ?? 0;
    if (!Number.isSafeInteger(first) || first < 0 || first >= total) throw new RangeError(`first segment must be an integer from 0 to ${total - 1}`);
    const start = first * SEGMENT_SIZE + skip;
    if (!Number.isSafeInteger(skip) || skip < 0 || (skip > 0 && skip >= segmentPlaintextLength(first, size))) {
      throw new RangeError('skipBytes must lie inside the first segment');
    }
    const length = opts.length ?? size - start;
    if (!Number.isSafeInteger(length) || length < 0 || start + length > size) throw new RangeError('the range must end inside the part');
    this.#plaintextSize = size;
    this.#finalSegment = total - 1;
    // An empty read still opens its first segment, so an empty part is verified too.
    this.#lastSegment = length === 0 ? first : Math.floor((start + length - 1) / SEGMENT_SIZE);
    this.#index = first;
    this.#need = segmentPlaintextLength(first, size) + TAG_LENGTH;
    this.#skip = skip;
    this.#remaining = length;
  }

  #open(sealed: Buffer, emit: (plaintext: Buffer) => void): void {
    const index = this.#index;
    const cut = sealed.length - TAG_LENGTH;
    const pt = openSegment(this.#key, index, index === this.#finalSegment, sealed.subarray(0, cut), sealed.subarray(cut), this.#nonce);
    this.#onSegment?.(index);
    const take = Math.min(pt.length - this.#skip, this.#remaining);
    this.#remaining -= take;
    const skip = this.#skip;
    this.#skip = 0;
    this.#index++;
    this.#need = this.#index <= this.#lastSegment ? segmentPlaintextLength(this.#index, this.#plaintextSize) + TAG_LENGTH : 0;
    if (take > 0) emit(skip === 0 && take === pt.length ? pt : pt.subarray(skip, skip + take));
  }

  /** Opens the segments `chunk` completes (the rest waits in the staging buffer); throws SegmentAuthError. */
  update(chunk: Buffer, emit: (plaintext: Buffer) => void): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#index > this.#lastSegment) {
        throw new SegmentAuthError(this.#lastSegment === this.#finalSegment ? 'ciphertext continues past the final segment' : 'ciphertext continues past the last segment of the read');
      }
      const rest = chunk.length - off;
      if (this.#filled === 0 && rest >= this.#need) {
        const n = this.#need;
        this.#open(chunk.subarray(off, off + n), emit);
        off += n;
        continue;
      }
      const n = Math.min(rest, this.#need - this.#filled);
      const staging = (this.#staging ??= Buffer.allocUnsafe(SEALED_SEGMENT_SIZE));
      chunk.copy(staging, this.#filled, off, off + n);
      this.#filled += n;
      off += n;
      if (this.#filled === this.#need) {
        this.#filled = 0;
        this.#open(staging.subarray(0, this.#need), emit);
      }
    }
  }

  /** The input ended: throws TruncatedCiphertextError unless every segment of the read was opened. */
  final(): void {
    if (this.#index <= this.#lastSegment) {
      throw new TruncatedCiphertextError(`ciphertext ended inside or before segment ${this.#index} (expected through segment ${this.#lastSegment})`);
    }
  }
}

class DecryptStream extends Transform {
  readonly #opener: SegmentOpener;
  readonly #emit = (pt: Buffer): void => {
    this.push(pt);
  };

  constructor(key: PartKey, opts: DecryptStreamOptions) {
    super();
    this.#opener = new SegmentOpener(key, opts);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#opener.update(chunk, this.#emit);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#opener.final();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/**
 * A Transform that decrypts the part encrypted under `partKey`, or the range of it that
 * starts `skipBytes` into segment `firstSegment` and is `length` bytes long (spread a
 * segmentRange() result in). Its input must be exactly the ciphertext of the segments
 * the range touches.
 */
export function createDecryptStream(partKey: PartKey, opts: DecryptStreamOptions): Transform {
  return new DecryptStream(partKey, opts);
}
