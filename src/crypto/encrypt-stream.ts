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

class EncryptStream extends Transform {
  readonly #key: PartKey;
  readonly #onSegment: ((index: number) => void) | undefined;
  // Reused for every segment that arrives split across chunks; whole segments inside a
  // chunk are sealed in place without a copy.
  readonly #staging = Buffer.allocUnsafe(SEGMENT_SIZE);
  readonly #nonce = Buffer.alloc(NONCE_LENGTH);
  #filled = 0;
  #index = 0;

  constructor(key: PartKey, opts: EncryptStreamOptions) {
    super();
    this.#key = asPartKey(key);
    this.#onSegment = opts.onSegment;
  }

  #seal(plaintext: Buffer, final: boolean): void {
    const [ct, tag] = sealSegment(this.#key, this.#index, final, plaintext, this.#nonce);
    this.#onSegment?.(this.#index);
    this.#index++;
    this.push(ct);
    this.push(tag);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let off = 0;
      while (off < chunk.length) {
        // More input exists, so a full staged segment is not the final one.
        if (this.#filled === SEGMENT_SIZE) {
          this.#seal(this.#staging, false);
          this.#filled = 0;
        }
        const rest = chunk.length - off;
        if (this.#filled === 0 && rest > SEGMENT_SIZE) {
          this.#seal(chunk.subarray(off, off + SEGMENT_SIZE), false);
          off += SEGMENT_SIZE;
          continue;
        }
        const n = Math.min(rest, SEGMENT_SIZE - this.#filled);
        chunk.copy(this.#staging, this.#filled, off, off + n);
        this.#filled += n;
        off += n;
      }
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#seal(this.#staging.subarray(0, this.#filled), true);
      this.#staging.fill(0);
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
