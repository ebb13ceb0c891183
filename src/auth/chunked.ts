// Request bodies after authentication: what each PayloadMode still has to prove,
// checked while the body streams through, never by holding it whole.
//
//   unsigned                  the source itself
//   sha256                    pass through, hash, compare at the end (XAmzContentSHA256Mismatch)
//   aws-chunked (signed)      STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]
//   aws-chunked (unsigned)    STREAMING-UNSIGNED-PAYLOAD-TRAILER, or Content-Encoding: aws-chunked
//
// aws-chunked framing, as the S3 "Transferring Payload in Multiple Chunks" and
// "Trailing headers" pages define it:
//
//   chunk    = hex-size [ ";chunk-signature=" 64hex ] CRLF data CRLF
//   final    = "0" [ ";chunk-signature=" 64hex ] CRLF
//   trailers = *( name ":" value CRLF ) [ "x-amz-trailer-signature:" 64hex CRLF ]
//   body     = *chunk final trailers CRLF          (a clean end of input may stand for the last CRLF)
//
// Chunk n's signature = HMAC(signingKey, "AWS4-HMAC-SHA256-PAYLOAD\n" amzDate "\n" scope "\n"
//   signature(n-1) "\n" sha256("") "\n" sha256(data n)), signature(0) being the seed
//   signature of the Authorization header; the final chunk is signed over empty data.
// Trailer signature = HMAC(signingKey, "AWS4-HMAC-SHA256-TRAILER\n" amzDate "\n" scope "\n"
//   signature(final chunk) "\n" sha256(each trailer as "name:value\n")).
//
// Data bytes are handed on as soon as they arrive (slices of the input, not copies)
// and a chunk's signature is checked when its last byte has passed; a bad signature,
// bad framing or a wrong decoded length destroys the body stream with the error, so
// the consumer's read loop rejects before it can commit anything. Only the current
// chunk's hash state and a line buffer of at most MAX_LINE bytes are held.
//
// Trailer names must be announced in x-amz-trailer. The decoder does NOT check
// checksum trailer values: the S3 layer computes checksums in its single digest pass
// over the decoded body and compares them with trailers() once the body has ended.
//
// On any error the source is unpiped and drained so the HTTP layer can still answer
// on the same connection.

import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { EMPTY_SHA256, signatureHex } from './canonical.js';
import { chunkSignatureDoesNotMatch, contentSha256Mismatch, incompleteBody, invalidArgument, invalidChunkSize, malformedChunk, malformedTrailer } from './errors.js';
import { constantTimeEqual } from './sigv4.js';
import { setOwn } from '../records.js';
import type { PayloadMode } from './types.js';

export interface DecodedBody {
  body: Readable;
  /** available after body 'end': lower-case trailer name -> value */
  trailers(): Record<string, string>;
}

/** Longest chunk-size or trailer line accepted, CRLF included. */
export const MAX_LINE = 4096;
/** Every signed chunk but the last must carry at least this many bytes. */
export const MIN_SIGNED_CHUNK = 8192;
const MAX_TRAILERS = 32;

export function decodePayload(source: Readable, headers: IncomingHttpHeaders, payload: PayloadMode): DecodedBody {
  const chunked =
    payload.kind === 'chunked-signed' || payload.kind === 'chunked-unsigned-trailer' || /(^|,)\s*aws-chunked\s*(,|$)/i.test(String(headers['content-encoding'] ?? ''));
  if (!chunked) {
    if (payload.kind === 'sha256') {
      const body = attach(source, new Sha256Verifier(payload.expected));
      return { body, trailers: () => ({}) };
    }
    return { body: source, trailers: () => ({}) };
  }
  const decoder = new AwsChunkedDecoder({
    signing: payload.kind === 'chunked-signed' ? payload : undefined,
    signedTrailer: payload.kind === 'chunked-signed' && payload.trailer,
    announced: announcedTrailers(headers['x-amz-trailer']),
    decodedLength: decodedLength(headers['x-amz-decoded-content-length']),
  });
  let input: Readable = source;
  if (payload.kind === 'sha256') input = attach(source, new Sha256Verifier(payload.expected));
  const body = attach(input, decoder);
  return { body, trailers: () => ({ ...decoder.trailers }) };
}

function announcedTrailers(value: string | string[] | undefined): Set<string> {
  const names = new Set<string>();
  for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const n of v.split(',')) if (n.trim() !== '') names.add(n.trim().toLowerCase());
  }
  return names;
}

function decodedLength(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  if (!/^\d{1,16}$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) {
    throw invalidArgument('x-amz-decoded-content-length must be a non-negative integer', 'x-amz-decoded-content-length', v);
  }
  return Number(v);
}

/**
 * Pipes source into a checking transform. A source that closes before its end (the
 * client went away) fails the transform with IncompleteBody; a failed transform lets
 * go of the source and drains it.
 */
function attach<T extends Transform>(source: Readable, t: T): T {
  const onClose = () => {
    if (!source.readableEnded && !t.destroyed) t.destroy(incompleteBody());
  };
  const onError = () => {
    if (!t.destroyed) t.destroy(incompleteBody());
  };
  source.on('close', onClose);
  source.on('error', onError);
  t.on('close', () => {
    source.off('close', onClose);
    source.off('error', onError);
    if (!source.readableEnded && !source.destroyed) {
      source.unpipe(t);
      source.resume();
    }
  });
  source.pipe(t);
  return t;
}

class Sha256Verifier extends Transform {
  private readonly hash = createHash('sha256');

  constructor(private readonly expected: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const computed = this.hash.digest('hex');
    if (!constantTimeEqual(computed, this.expected)) cb(contentSha256Mismatch(this.expected, computed));
    else cb();
  }
}

interface ChunkSigning {
  seedSignature: string;
  signingKey: Buffer;
  scope: string;
  amzDate: string;
}

interface DecoderOptions {
  /** present when every chunk carries a signature to verify */
  signing?: ChunkSigning;
  /** trailers end with x-amz-trailer-signature */
  signedTrailer: boolean;
  /** lower-case names from x-amz-trailer */
  announced: Set<string>;
  /** x-amz-decoded-content-length */
  decodedLength?: number;
}

const enum State {
  Header,
  Data,
  DataEnd,
  Trailer,
  Done,
}

const CHUNK_LINE = /^([0-9a-fA-F]{1,16})(?:;(.*))?$/;
const SIGNATURE_EXT = /^chunk-signature=([0-9a-f]{64})$/;

/** The aws-chunked parser: a state machine fed buffer by buffer. */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = {};
  private state = State.Header;
  private line = '';
  private remaining = 0;
  private crlf = 0;
  private total = 0;
  private chunkIndex = 0;
  private lastSize = -1;
  private previousSignature: string;
  private chunkSignature = '';
  private hash: Hash | undefined;
  private trailerText = '';
  private trailerCount = 0;
  private trailerSigned = false;

  constructor(private readonly opts: DecoderOptions) {
    super();
    this.previousSignature = opts.signing?.seedSignature ?? '';
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    const cleanEnd = (this.state === State.Trailer && this.line === '') || this.state === State.Done;
    if (!cleanEnd) return cb(incompleteBody());
    if (this.opts.signedTrailer && !this.trailerSigned) return cb(malformedTrailer());
    if (this.opts.decodedLength !== undefined && this.total !== this.opts.decodedLength) return cb(incompleteBody());
    cb();
  }

  private consume(buf: Buffer): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.state) {
        case State.Data: {
          const n = Math.min(this.remaining, len - pos);
          const slice = pos === 0 && n === len ? buf : buf.subarray(pos, pos + n);
          this.hash?.update(slice);
          this.push(slice);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.verifyChunk();
            this.state = State.DataEnd;
            this.crlf = 0;
          }
          break;
        }
        case State.DataEnd: {
          const expected = this.crlf === 0 ? 13 : 10;
          if (buf[pos] !== expected) throw malformedChunk('chunk data is not followed by CRLF');
          pos++;
          if (++this.crlf === 2) this.state = State.Header;
          break;
        }
        case State.Done:
          throw malformedChunk('unexpected data after the final chunk');
        default: {
          // Header or Trailer: one CRLF-terminated line at a time.
          const nl = buf.indexOf(10, pos);
          const end = nl < 0 ? len : nl + 1;
          if (this.line.length + (end - pos) > MAX_LINE) {
            if (this.state === State.Header) throw malformedChunk('chunk-size line too long');
            throw malformedTrailer();
          }
          this.line += buf.toString('latin1', pos, end);
          pos = end;
          if (nl < 0) break;
          const line = this.line;
          this.line = '';
          if (line.length < 2 || line.charCodeAt(line.length - 2) !== 13) {
            if (this.state === State.Header) throw malformedChunk('chunk-size line does not end with CRLF');
            throw malformedTrailer();
          }
          if (this.state === State.Header) this.onChunkLine(line.slice(0, -2));
          else this.onTrailerLine(line.slice(0, -2));
        }
      }
    }
  }

  private onChunkLine(line: string): void {
    const m = CHUNK_LINE.exec(line);
    if (!m) throw malformedChunk(`invalid chunk size line "${line.slice(0, 80)}"`);
    const size = parseInt(m[1]!, 16);
    if (!Number.isSafeInteger(size)) throw malformedChunk('chunk size too large');
    if (this.opts.signing) {
      const sig = SIGNATURE_EXT.exec(m[2] ?? '');
      if (!sig) throw malformedChunk('chunk has no chunk-signature');
      this.chunkSignature = sig[1]!;
      if (size > 0 && this.lastSize >= 0 && this.lastSize < MIN_SIGNED_CHUNK) throw invalidChunkSize(this.chunkIndex, this.lastSize);
    }
    this.chunkIndex++;
    this.lastSize = size;
    if (this.opts.decodedLength !== undefined && this.total + size > this.opts.decodedLength) throw incompleteBody();
    this.total += size;
    if (size === 0) {
      if (this.opts.signing) {
        this.hash = undefined;
        this.verifyChunk();
      }
      this.state = State.Trailer;
      return;
    }
    this.remaining = size;
    this.hash = this.opts.signing ? createHash('sha256') : undefined;
    this.state = State.Data;
  }

  private verifyChunk(): void {
    const s = this.opts.signing;
    if (!s) return;
    const dataHash = this.hash ? this.hash.digest('hex') : EMPTY_SHA256;
    this.hash = undefined;
    const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${this.previousSignature}\n${EMPTY_SHA256}\n${dataHash}`;
    if (!constantTimeEqual(signatureHex(s.signingKey, toSign), this.chunkSignature)) throw chunkSignatureDoesNotMatch(toSign, this.chunkSignature);
    this.previousSignature = this.chunkSignature;
  }

  private onTrailerLine(line: string): void {
    if (line === '') {
      if (this.opts.signedTrailer && !this.trailerSigned) throw malformedTrailer();
      this.state = State.Done;
      return;
    }
    if (this.trailerSigned) throw malformedTrailer();
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw this.trailerCount === 0 && this.opts.announced.size === 0 && !this.opts.signedTrailer
        ? malformedChunk('unexpected data after the final chunk')
        : malformedTrailer();
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature' && this.opts.signing && this.opts.signedTrailer) {
      this.verifyTrailer(value);
      return;
    }
    if (!this.opts.announced.has(name) || Object.hasOwn(this.trailers, name) || ++this.trailerCount > MAX_TRAILERS) throw malformedTrailer();
    setOwn(this.trailers, name, value);
    this.trailerText += `${name}:${value}\n`;
  }

  private verifyTrailer(signature: string): void {
    const s = this.opts.signing!;
    const toSign = `AWS4-HMAC-SHA256-TRAILER\n${s.amzDate}\n${s.scope}\n${this.previousSignature}\n${createHash('sha256').update(this.trailerText, 'latin1').digest('hex')}`;
    if (!constantTimeEqual(signatureHex(s.signingKey, toSign), signature)) throw chunkSignatureDoesNotMatch(toSign, signature);
    this.trailerSigned = true;
  }
}
