// Streaming multipart/form-data parser for S3 PostObject (browser form uploads).
//
// S3 semantics followed here:
// - The form fields before the part named "file" are collected (names lower-cased,
//   since S3 matches them case-insensitively; values kept as sent). Their total size
//   is capped (20 KiB, as S3).
// - "file" must be the last field: anything after it is ignored (drained, not parsed).
// - parseFormUpload resolves as soon as the file part's headers are parsed. The file
//   content is then a Readable that pulls from the request body only as fast as it is
//   consumed (memory does not grow with the file) and ends at the closing delimiter.
//   A body that ends before that delimiter errors the file stream, so a truncated
//   upload is never mistaken for a complete one.
//
// Framing (RFC 2046 §5.1.1): a part ends at CRLF "--" boundary; what follows is "--"
// (the close delimiter) or optional spaces/tabs and CRLF. The first delimiter may
// come without the leading CRLF (no preamble).

import { Readable } from 'node:stream';
import { ServiceError } from '../errors.js';
import { setOwn } from '../records.js';

export interface FormUpload {
  /** Fields preceding the file, names lower-cased, values as sent (UTF-8). */
  fields: Record<string, string>;
  /** The file part's filename parameter ('' when absent). */
  fileName: string;
  /** The file part's Content-Type, if it had one. */
  fileContentType?: string;
  /** The file content; errors with MalformedPOSTRequest if the body is cut short. */
  file: Readable;
}

export interface FormLimits {
  /** Total bytes of field names and values before the file (default 20 KiB, as S3). */
  maxFieldBytes?: number;
}

const DEFAULT_MAX_FIELD_BYTES = 20 * 1024;
/** Cap on part headers and preamble, on top of the field bytes, to bound memory. */
const MAX_FRAMING_BYTES = 16 * 1024;

const CR = 13;
const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

export function malformedPost(): ServiceError {
  return new ServiceError('MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.', 400);
}

function noFile(): ServiceError {
  return new ServiceError('InvalidArgument', 'POST requires exactly one file upload per request.', 400, {
    ArgumentName: 'file',
  });
}

function fieldsTooLarge(): ServiceError {
  return new ServiceError('MaxPostPreDataLengthExceeded', 'Your POST request fields preceding the upload file were too large.', 400);
}

/** The boundary parameter of a multipart/form-data Content-Type, or undefined. */
export function formBoundary(contentType: string): string | undefined {
  const m = /^\s*multipart\/form-data\s*;(.*)$/is.exec(contentType);
  if (!m) return undefined;
  const params = parseParams(m[1]!);
  const b = params?.['boundary'];
  // RFC 2046: 1-70 characters; be lenient on length, strict on emptiness and CR/LF.
  if (b === undefined || b.length === 0 || b.length > 200 || /[\r\n]/.test(b)) return undefined;
  return b;
}

/** `; a=b; c="d"` → {a: 'b', c: 'd'} (names lower-cased); undefined if malformed. */
function parseParams(s: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let i = 0;
  const n = s.length;
  const skipWs = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  for (;;) {
    skipWs();
    while (i < n && s[i] === ';') {
      i++;
      skipWs();
    }
    if (i >= n) return out;
    const eq = s.indexOf('=', i);
    if (eq < 0) {
      // A bare token such as the disposition type is skipped.
      const semi = s.indexOf(';', i);
      i = semi < 0 ? n : semi;
      continue;
    }
    const name = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    skipWs();
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < n && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < n) i++;
        value += s[i];
        i++;
      }
      if (i >= n) return undefined; // unterminated quoted string
      i++;
    } else {
      const semi = s.indexOf(';', i);
      const end = semi < 0 ? n : semi;
      value = s.slice(i, end).trim();
      i = end;
    }
    if (name) setOwn(out, name, value);
  }
}

interface PartHeaders {
  name: string;
  fileName: string | undefined;
  contentType: string | undefined;
}

function parsePartHeaders(block: string): PartHeaders {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformedPost();
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-disposition') disposition = value;
    else if (name === 'content-type') contentType = value;
  }
  if (disposition === undefined) throw malformedPost();
  const semi = disposition.indexOf(';');
  const params = semi < 0 ? undefined : parseParams(disposition.slice(semi));
  const name = params?.['name'];
  if (name === undefined) throw malformedPost();
  return { name, fileName: params?.['filename'], contentType };
}

/** Pulls chunks from a Readable on demand (paused mode), so backpressure holds. */
class ChunkSource {
  private ended: boolean;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly onReadable = (): void => this.notify();
  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };
  private readonly onError = (e: Error): void => {
    this.failure = e;
    this.notify();
  };

  constructor(private readonly body: Readable) {
    this.ended = body.readableEnded;
    this.failure = body.errored ?? undefined;
    body.on('readable', this.onReadable);
    body.on('end', this.onEnd);
    body.on('error', this.onError);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next chunk, or null at the end of the body. Rejects if the body errors. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      const c: unknown = this.body.read();
      if (c !== null) return Buffer.isBuffer(c) ? c : Buffer.from(c as string);
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Stop parsing: detach and let the rest of the body flow away unread. */
  drain(): void {
    this.body.off('readable', this.onReadable);
    this.body.off('end', this.onEnd);
    this.body.off('error', this.onError);
    this.body.on('error', () => {}); // the request may still be aborted; nobody listens now
    this.body.resume();
  }

  /** Detach without reading further (the file consumer gave up). */
  detach(): void {
    this.body.off('readable', this.onReadable);
    this.body.off('end', this.onEnd);
    this.body.off('error', this.onError);
    this.body.on('error', () => {});
  }
}

/** Length of the longest suffix of buf that is a proper prefix of delim. */
function partialDelimiterSuffix(buf: Buffer, delim: Buffer): number {
  let p = buf.indexOf(CR, Math.max(0, buf.length - delim.length + 1));
  while (p >= 0) {
    const k = buf.length - p;
    if (buf.compare(delim, 0, k, p) === 0) return k;
    p = buf.indexOf(CR, p + 1);
  }
  return 0;
}

/**
 * What follows a delimiter: 'close' for "--", 'next' for [LWSP] CRLF, 'more' if buf
 * is too short to tell, 'bad' otherwise. `consumed` is the length of that suffix.
 */
function afterDelimiter(buf: Buffer, at: number): { kind: 'close' | 'next' | 'more' | 'bad'; consumed: number } {
  if (buf.length - at < 2) return { kind: 'more', consumed: 0 };
  if (buf[at] === 0x2d && buf[at + 1] === 0x2d) return { kind: 'close', consumed: 2 };
  let i = at;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  if (i - at > 256) return { kind: 'bad', consumed: 0 };
  if (buf.length - i < 2) return { kind: 'more', consumed: 0 };
  if (buf[i] === CR && buf[i + 1] === 10) return { kind: 'next', consumed: i + 2 - at };
  return { kind: 'bad', consumed: 0 };
}

/** The file content as a Readable: scans for the delimiter, holding back at most a partial match. */
class FileStream extends Readable {
  private tail: Buffer;
  private done = false;
  private pulling = false;

  constructor(
    private readonly source: ChunkSource,
    private readonly delim: Buffer,
    initial: Buffer,
  ) {
    super();
    this.tail = initial;
  }

  override _read(): void {
    if (this.pulling || this.done) return;
    this.pulling = true;
    this.pump().catch((e: unknown) => {
      this.done = true;
      this.source.detach();
      this.destroy(e instanceof Error ? e : malformedPost());
    });
  }

  /**
   * Pushes until the consumer is full, the file ends, or the body ends early. The
   * pulling flag is cleared synchronously right after a push that filled the buffer,
   * so the _read call that follows a drain is never lost.
   */
  private async pump(): Promise<void> {
    for (;;) {
      const buf = this.tail;
      const idx = buf.indexOf(this.delim);
      if (idx >= 0) {
        // The content ends here; confirm the delimiter is well-formed before ending.
        const after = afterDelimiter(buf, idx + this.delim.length);
        if (after.kind === 'bad') throw malformedPost();
        if (after.kind === 'more') {
          if (!(await this.more())) throw malformedPost();
          continue;
        }
        this.done = true;
        this.tail = EMPTY;
        if (idx > 0) this.push(buf.subarray(0, idx));
        this.push(null);
        this.source.drain(); // later fields are ignored, as S3 does
        return;
      }
      const hold = partialDelimiterSuffix(buf, this.delim);
      const emit = buf.length - hold;
      // Copy the held bytes so the whole chunk is not kept alive by a few bytes.
      this.tail = hold > 0 ? Buffer.from(buf.subarray(emit)) : EMPTY;
      if (emit > 0 && !this.push(buf.subarray(0, emit))) {
        this.pulling = false;
        return;
      }
      if (!(await this.more())) throw malformedPost();
    }
  }

  /** Appends the next body chunk to the tail; false at end of body. */
  private async more(): Promise<boolean> {
    const c = await this.source.next();
    if (c === null) return false;
    this.tail = this.tail.length === 0 ? c : Buffer.concat([this.tail, c]);
    return true;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.done) {
      this.done = true;
      this.source.detach();
    }
    cb(err);
  }
}

/**
 * Parses a PostObject body up to the file part and returns the fields and the file
 * content as a stream. Rejects with MalformedPOSTRequest, InvalidArgument (no file)
 * or MaxPostPreDataLengthExceeded; a body stream error is passed through as is.
 * On rejection, or if the file stream is destroyed by its consumer, the body is left
 * paused and unread: the caller decides whether to drain it or close the connection.
 * Once the file ends normally, the rest of the body is drained here.
 */
export async function parseFormUpload(body: Readable, contentType: string, limits: FormLimits = {}): Promise<FormUpload> {
  const boundary = formBoundary(contentType);
  if (boundary === undefined) throw malformedPost();
  const maxFieldBytes = limits.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  const maxBuffered = maxFieldBytes + MAX_FRAMING_BYTES;
  const delim = Buffer.from(`\r\n--${boundary}`);
  const source = new ChunkSource(body);

  let buf = EMPTY;
  let pos = 0; // parse position in buf
  let consumedBefore = 0; // bytes dropped from the front of buf, for the framing cap
  const more = async (): Promise<void> => {
    const c = await source.next();
    if (c === null) throw malformedPost();
    // Drop what is parsed so buf holds only the unparsed rest.
    consumedBefore += pos;
    buf = Buffer.concat([buf.subarray(pos), c]);
    pos = 0;
  };

  const fields: Record<string, string> = {};
  let fieldBytes = 0;

  try {
    // First delimiter: "--boundary" at the very start, or CRLF "--boundary" after a preamble.
    const first = delim.subarray(2);
    for (;;) {
      if (buf.length >= first.length && buf.compare(first, 0, first.length, 0, first.length) === 0) {
        pos = first.length;
        break;
      }
      const idx = buf.indexOf(delim);
      if (idx >= 0) {
        pos = idx + delim.length;
        break;
      }
      if (buf.length > maxBuffered) throw malformedPost();
      await more();
    }

    for (;;) {
      // After a delimiter: close, or the next part's headers.
      let after = afterDelimiter(buf, pos);
      while (after.kind === 'more') {
        await more();
        after = afterDelimiter(buf, pos);
      }
      if (after.kind === 'bad') throw malformedPost();
      if (after.kind === 'close') throw noFile();
      pos += after.consumed;

      // A part without headers (CRLF right after the delimiter line) has no name.
      while (buf.length - pos < 2) await more();
      if (buf.compare(CRLF, 0, 2, pos, pos + 2) === 0) throw malformedPost();
      let headerEnd = buf.indexOf(HEADER_END, pos);
      while (headerEnd < 0) {
        if (consumedBefore + buf.length > maxBuffered) throw fieldsTooLarge();
        const resume = Math.max(0, buf.length - pos - HEADER_END.length + 1); // don't rescan
        await more();
        headerEnd = buf.indexOf(HEADER_END, pos + resume);
      }
      const part = parsePartHeaders(buf.toString('latin1', pos, headerEnd));
      // Header bytes are latin1 on the wire; browsers send UTF-8 names, so re-decode.
      const name = Buffer.from(part.name, 'latin1').toString('utf8');
      pos = headerEnd + HEADER_END.length;

      if (name.toLowerCase() === 'file') {
        const file = new FileStream(source, delim, buf.subarray(pos));
        const upload: FormUpload = {
          fields,
          fileName: part.fileName === undefined ? '' : Buffer.from(part.fileName, 'latin1').toString('utf8'),
          file,
        };
        if (part.contentType !== undefined) upload.fileContentType = part.contentType;
        return upload;
      }

      let end = buf.indexOf(delim, pos);
      while (end < 0) {
        if (fieldBytes + name.length + (buf.length - pos) > maxFieldBytes + delim.length) throw fieldsTooLarge();
        const resume = Math.max(0, buf.length - pos - delim.length + 1); // don't rescan
        await more();
        end = buf.indexOf(delim, pos + resume);
      }
      fieldBytes += Buffer.byteLength(name) + (end - pos);
      if (fieldBytes > maxFieldBytes) throw fieldsTooLarge();
      setOwn(fields, name.toLowerCase(), buf.toString('utf8', pos, end));
      pos = end + delim.length;
    }
  } catch (e) {
    source.detach();
    throw e;
  }
}
