// Encrypts one part as a stream: plaintext in, sealed segments out, one pass, memory
// bounded by one segment whatever the part size (STYLE rules 14–16). A full segment is
// held back until at least one more byte arrives, because only the end of the input
// tells whether it is the final segment (so a part of exactly 65536 bytes is one final
// segment, and an empty part is one empty final segment). Spec:
// docs/spec/object-encryption.md ("Encryption").

import { Transform, type TransformCallback } from 'node:stream';
import { asPartKey, type PartKey } from './keys.js';
import { NONCE_LENGTH, SEGMENT_SIZE } from './layout.js';
import { sealSegment } from './segment.js';

export interface EncryptStreamOptions {
  /** Called after each segment is sealed, with its index (for tests and metrics). */
  onSegment?: (index: number) => void;
}

const SPARE: Buffer[] = [];
const MAX_SPARE = 64;
const EMPTY = Buffer.alloc(0);

/**
 * The encryptor without a stream around it: feed plaintext with update(), end with
 * final(); each sealed segment is handed to `emit` as (ciphertext, tag) in order. The
 * S3 write path drives it inline, in the same loop that hashes the body.
 */
export class SegmentSealer {
  readonly #key: PartKey;
  readonly #onSegment: ((index: number) => void) | undefined;
  // Borrowed lazily from a small free list: most objects are small, and a fresh 64 KiB
  // buffer per object is garbage-collector work on the small-PUT path.
  #stagingBuffer: Buffer | undefined;
  readonly #nonce = Buffer.alloc(NONCE_LENGTH);
  #filled = 0;
  #index = 0;
  #done = false;

  constructor(key: PartKey, opts: EncryptStreamOptions = {}) {
    this.#key = asPartKey(key);
    this.#onSegment = opts.onSegment;
  }

  get #staging(): Buffer {
    return (this.#stagingBuffer ??= SPARE.pop() ?? Buffer.allocUnsafe(SEGMENT_SIZE));
  }

  #giveBack(): void {
    const b = this.#stagingBuffer;
    if (!b) return;
    this.#stagingBuffer = undefined;
    b.fill(0);
    if (SPARE.length < MAX_SPARE) SPARE.push(b);
  }

  #seal(plaintext: Buffer, final: boolean, emit: (ct: Buffer, tag: Buffer) => void): void {
    const [ct, tag] = sealSegment(this.#key, this.#index, final, plaintext, this.#nonce);
    this.#onSegment?.(this.#index);
    this.#index++;
    emit(ct, tag);
  }

  update(chunk: Buffer, emit: (ct: Buffer, tag: Buffer) => void): void {
    if (this.#done) throw new Error('update() after final()');
    let off = 0;
    while (off < chunk.length) {
      if (this.#filled === SEGMENT_SIZE) {
        this.#seal(this.#staging, false, emit);
        this.#filled = 0;
      }
      const rest = chunk.length - off;
      if (this.#filled === 0 && rest > SEGMENT_SIZE) {
        this.#seal(chunk.subarray(off, off + SEGMENT_SIZE), false, emit);
        off += SEGMENT_SIZE;
        continue;
      }
      const n = Math.min(rest, SEGMENT_SIZE - this.#filled);
      chunk.copy(this.#staging, this.#filled, off, off + n);
      this.#filled += n;
      off += n;
    }
  }

  /** Seals what is left as the final segment (empty if nothing is), and wipes the staging buffer. */
  final(emit: (ct: Buffer, tag: Buffer) => void): void {
    if (this.#done) throw new Error('final() twice');
    this.#done = true;
    this.#seal(this.#filled === 0 ? EMPTY : this.#staging.subarray(0, this.#filled), true, emit);
    this.#giveBack();
  }

  /** Wipes buffered plaintext without sealing (an aborted write). */
  discard(): void {
    this.#done = true;
    this.#giveBack();
  }
}

class EncryptStream extends Transform {
  readonly #sealer: SegmentSealer;
  readonly #emit = (ct: Buffer, tag: Buffer): void => {
    this.push(ct);
    this.push(tag);
  };

  constructor(key: PartKey, opts: EncryptStreamOptions) {
    super();
    this.#sealer = new SegmentSealer(key, opts);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#sealer.update(chunk, this.#emit);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#sealer.final(this.#emit);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/** A Transform that encrypts one part's plaintext under `partKey` into its ciphertext (ciphertextSize(n) bytes). */
export function createEncryptStream(partKey: PartKey, opts: EncryptStreamOptions = {}): Transform {
  return new EncryptStream(partKey, opts);
}
