// GetObject and HeadObject (of the current version, or one named by versionId): preconditions, Range and partNumber, response-* header
// overrides, checksum mode, then the body streamed from the blobs that overlap.

import { lockResponseHeaders } from '../object-lock.js';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { finished, type Readable } from 'node:stream';
import { ObjectCryptoError, lentRelease } from '../../crypto/index.js';
import { readersOf } from '../../storage/blob-readers.js';
import type { BucketRecord, ObjectRecord, ReadHint, WholeRead } from '../../storage/types.js';
import { readVersion, requestedVersionId, versionHeaders } from '../versioning.js';
import { expirationHeaders } from '../lifecycle/expiration-header.js';
import { requireBucket } from '../bucket-access.js';
import { GET_CONDITIONS, checkReadConditions } from '../conditions.js';
import { type S3Context, header } from '../context.js';
import { s3Error } from '../errors.js';
import { objectResponseHeaders } from '../object-headers.js';
import { readObject, readObjectSmall, readObjectWhole } from '../object-reader.js';
import { parseReadCustomerKey, refuseSseHeaders, type CustomerKey } from '../sse/request.js';
import { checkCustomerKey, integrityFailure, openObjectForRead, sseOf, sseResponseHeaders, verifyPartList, wipe, type ObjectKeys } from '../sse/object-keys.js';
import { readDecrypted, readDecryptedSmall } from '../sse/body-cipher.js';
import { requireSecureTransport } from '../sse/transport-rule.js';
import { isBlobTierUnavailable } from '../../storage/blob-unavailable.js';
import { isDatabaseUnavailable } from '../../storage/postgres/unavailable.js';

const OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

export async function getObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  return serve(ctx, bucket, key, true);
}

export async function headObject(ctx: S3Context, bucket: string, key: string): Promise<void> {
  return serve(ctx, bucket, key, false);
}

/** The version the request names (?versionId=), or the current one: NoSuchKey, NoSuchVersion, or a delete marker's answer. */
export async function loadObject(ctx: S3Context, bucket: string, key: string, hint?: ReadHint): Promise<{ rec: ObjectRecord; bucket: BucketRecord }> {
  const versionId = requestedVersionId(ctx);
  const b = await requireBucket(ctx, bucket);
  return { rec: await readVersion(ctx, b, key, versionId, hint), bucket: b };
}

/** A GET reads the body next: a small one may come with the record (ReadHint). */
const PREFETCH: ReadHint = { prefetch: true };

async function serve(ctx: S3Context, bucket: string, key: string, withBody: boolean): Promise<void> {
  refuseSseHeaders(ctx.req.headers);
  const customer = parseReadCustomerKey(ctx.req.headers);
  if (!withBody) {
    const { rec, bucket: b } = await loadObject(ctx, bucket, key);
    return respond(ctx, rec, b, customer, false);
  }
  // The blobs of the record read here stay until the response ends, whatever a concurrent
  // overwrite or delete commits meanwhile (storage/blob-readers.ts): the claim starts before
  // the read so no collection can slip between reading the record and holding its blobs.
  const claim = readersOf(ctx.services.blobs).begin();
  try {
    const { rec, bucket: b } = await loadObject(ctx, bucket, key, PREFETCH);
    claim.hold(rec.parts.map((p) => p.blobId));
    await respond(ctx, rec, b, customer, true);
  } finally {
    claim.release();
  }
}

async function respond(ctx: S3Context, rec: ObjectRecord, b: BucketRecord, customer: CustomerKey | undefined, withBody: boolean): Promise<void> {
  const sse = sseOf(rec.sys);
  checkCustomerKey(sse, customer);
  if (sse && sse.alg !== 'AES256') requireSecureTransport(ctx, { kind: sse.alg === 'SSE-C' ? 'sse-c' : 'sse-kms' });
  checkReadConditions(ctx.req.headers, rec, GET_CONDITIONS, true);

  const partParam = ctx.query.get('partNumber');
  const rangeHeader = header(ctx, 'range');
  if (partParam !== null && rangeHeader !== undefined) {
    throw s3Error('InvalidRequest', {}, 'Cannot specify both Range header and partNumber query parameter');
  }
  let range: { start: number; end: number } | undefined;
  let partNumber: number | undefined;
  if (partParam !== null) {
    partNumber = Number(partParam);
    if (!/^\d+$/.test(partParam) || partNumber < 1 || partNumber > 10000) {
      throw s3Error('InvalidArgument', { ArgumentName: 'partNumber', ArgumentValue: partParam }, 'Part number must be an integer between 1 and 10000, inclusive');
    }
    range = partRange(rec, partNumber);
  } else if (rangeHeader !== undefined) {
    range = parseRange(rangeHeader, rec.size);
  }

  const checksumMode = header(ctx, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED' && (range === undefined || partNumber !== undefined);
  const headers: Record<string, string> = {
    ...objectResponseHeaders(rec, { checksumMode, partNumber }), ...sseResponseHeaders(ctx, sse), ...versionHeaders(b, rec),
    ...(await lockResponseHeaders(ctx, b.name, rec.key, rec)),
    // Only the current version expires (a read naming a version may read an older one).
    ...(ctx.query.has('versionId') ? {} : expirationHeaders(b, rec)),
  };
  for (const [param, name] of Object.entries(OVERRIDES)) {
    const v = ctx.query.get(param);
    if (v !== null) headers[name] = v;
  }
  sandboxActiveContent(headers);
  let status = 200;
  if (range) {
    status = 206;
    headers['content-range'] = `bytes ${range.start}-${range.end}/${rec.size}`;
    headers['content-length'] = String(range.end - range.start + 1);
  } else {
    headers['content-length'] = String(rec.size);
  }
  if (partNumber !== undefined && range && range.end < range.start) {
    // An empty part of a zero-byte object.
    delete headers['content-range'];
    headers['content-length'] = '0';
    status = 200;
    range = undefined;
  }
  // Reading an encrypted object's bytes needs its key: KMS decides (kms:Decrypt as the caller).
  // An SSE-KMS key comes before the Decrypt's audit record is durable: the body is read and
  // opened while the record is synced, and nothing — head, body, or an error the key implies —
  // is answered before it is (a refusal to record is the answer then).
  let keys: ObjectKeys | undefined;
  let recorded: Promise<void> | undefined;
  if (withBody && sse) ({ keys, recorded } = await openObjectForRead(ctx, sse, { bucket: b.name, key: rec.key }, customer));
  try {
    if (keys) verifyPartList(ctx, sse!, keys, rec);
    if (!withBody || rec.size === 0 || headers['content-length'] === '0') {
      await recorded;
      ctx.res.writeHead(status, headers);
      ctx.res.end();
      return;
    }
    await sendBody(ctx, rec, status, headers, range, keys, recorded);
  } catch (e) {
    if (recorded !== undefined) await recorded; // its refusal first
    throw e;
  } finally {
    wipe(keys);
  }
}

/** `recorded`: the KMS Decrypt's audit record (openObjectForRead), awaited before anything is written. */
async function sendBody(
  ctx: S3Context, rec: ObjectRecord, status: number, headers: Record<string, string>, range: { start: number; end: number } | undefined,
  keys: ObjectKeys | undefined, recorded: Promise<void> | undefined,
): Promise<void> {
  // A small object read in one go goes out with its headers in one write.
  let small: Buffer | undefined;
  try {
    small = keys ? readDecryptedSmall(ctx.services.blobs, rec.parts, rec.size, keys, range) : readObjectSmall(ctx.services.blobs, rec, range);
  } catch (e) {
    throw unreadable(ctx, rec, e);
  }
  if (small !== undefined) {
    await recorded;
    ctx.res.writeHead(status, headers);
    ctx.res.end(small);
    return;
  }
  // Up to about 1 MiB from one file: read whole before the head, then head and body in one
  // write, with no stream between (its start-up and ticks cost as much as the read itself).
  // The buffer may be lent by the blob store: it goes back once the response is handed to
  // the socket ('finish'); a response cut before that leaves it to the garbage collector.
  const whole = keys ? undefined : readObjectWhole(ctx.services.blobs, rec, range);
  if (whole !== undefined) {
    let body: WholeRead;
    try {
      body = await whole;
    } catch (e) {
      throw unreadable(ctx, rec, e);
    }
    ctx.res.writeHead(status, headers);
    ctx.res.end(body.data, body.release);
    return;
  }
  // Once the head is written the only signal left for a failed read is a cut connection,
  // which clients take for a network error. So the body is opened before the head: its first
  // chunk means the first blob opened and (encrypted) the first segment of the range
  // authenticated. Damage past it still cuts the connection; that needs the whole read.
  const body = keys ? readDecrypted(ctx.services.blobs, rec.parts, rec.size, keys, range, { lend: true }) : readObject(ctx.services.blobs, rec, range, { lend: true });
  const firstRead = firstChunk(body);
  if (recorded !== undefined) {
    firstRead.catch(ignore); // a read failing meanwhile is answered below, after the record
    // Between the first chunk and sendStream nobody listens to the body while the record is
    // awaited: an error it meets meanwhile (a damaged segment past the first chunk, found by
    // the worker's next read) would be an unhandled 'error' event, which ends the process.
    // Kept in body.errored instead, where sendStream finds it.
    body.on('error', ignore);
    try {
      await recorded;
    } catch (e) {
      body.destroy();
      throw e;
    }
  }
  let first: Buffer | null;
  try {
    first = await firstRead;
  } catch (e) {
    body.destroy();
    throw unreadable(ctx, rec, e);
  }
  ctx.res.writeHead(status, headers);
  if (first !== null) body.unshift(first);
  try {
    await sendStream(body, ctx.res);
  } catch (e) {
    // Headers are gone; a client that disconnected is not an error of ours.
    if (!ctx.res.destroyed && !ctx.req.socket.destroyed) ctx.services.log.error({ err: e, requestId: ctx.requestId, bucket: rec.bucket, key: rec.key }, 'object read failed after its headers were sent');
    ctx.res.destroy();
  }
}

/**
 * Writes `src` to the response and ends it, like pipeline(src, res), except in how it waits
 * for the socket: pipe() pauses the source at the first write past the socket's
 * highWaterMark (16 KiB), so a decryptor's 64 KiB segments went out one write(2) — and one
 * drain, resume and tick — each. Here every chunk the source emits in one go (a worker's
 * batch of segments) is written, and the response's cork gathers them into one writev; only
 * then, if the socket is still behind, the source waits for 'drain'. The batch is bounded by
 * what the source emits at once (its buffer and one worker reply), so memory stays flat.
 * Rejects with the source's error, or the response's when it closes first (the source is
 * then destroyed: its file and worker job are released). A chunk the decryptor lent (a slot
 * of its ring) goes back to it from the write's callback, once the socket is done with it.
 */
function sendStream(src: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    // The source may have failed already, between its first chunk and now (a damaged segment
    // right after the first one fails in the same decrypt call): its 'error' is then gone.
    if (src.errored) return reject(src.errored);
    if (src.destroyed) return reject(new Error('the object read stopped before its end'));
    // A response pipelined behind another has no socket until that one ends, and Node never
    // closes it when the connection goes first: the connection's own 'close' says so.
    const socket = res.req?.socket;
    const onGone = (): void => settle(new Error('the connection closed before the response was sent'));
    let checking = false;
    let waiting = false;
    let settled = false;
    let stopWatching: (() => void) | undefined;
    const check = (): void => {
      checking = false;
      // A 'drain' that came first (a write that completed at once) cleared the need.
      if (res.writableNeedDrain && !waiting) {
        waiting = true;
        src.pause();
      }
    };
    const onData = (chunk: Buffer): void => {
      if (!res.write(chunk, lentRelease(chunk)) && !checking) {
        checking = true;
        queueMicrotask(check);
      }
    };
    const onDrain = (): void => {
      if (!waiting) return;
      waiting = false;
      src.resume();
    };
    const onEnd = (): void => void res.end();
    const settle = (err?: Error | null): void => {
      if (settled) return;
      settled = true;
      src.off('data', onData);
      src.off('end', onEnd);
      res.off('drain', onDrain);
      stopWatching?.();
      if (err) {
        src.destroy();
        reject(err);
      } else resolve();
    };
    src.once('error', settle);
    finished(res, settle);
    if (socket?.destroyed) return onGone();
    if (socket) stopWatching = whenClosed(socket, onGone);
    res.on('drain', onDrain);
    src.once('end', onEnd);
    src.on('data', onData);
    // firstChunk() left it paused; a 'data' listener alone does not restart a paused stream.
    src.resume();
  });
}

/** Per connection: the streaming GETs waiting on it (pipelined ones too), and their one 'close' listener. */
const watchers = new WeakMap<Socket, { waiting: Set<() => void>; onClose: () => void }>();

/**
 * Calls `onClose` when `socket` closes; returns what stops that. The streaming GETs on a
 * connection share one 'close' listener, removed when the last stops: a client pipelining
 * more than ten GETs would otherwise add one each, past Node's MaxListeners warning.
 */
function whenClosed(socket: Socket, onClose: () => void): () => void {
  let w = watchers.get(socket);
  if (w === undefined) {
    const waiting = new Set<() => void>();
    const fire = (): void => {
      watchers.delete(socket);
      for (const f of [...waiting]) f();
    };
    w = { waiting, onClose: fire };
    watchers.set(socket, w);
    socket.once('close', fire);
  }
  const { waiting, onClose: fire } = w;
  // A function of its own: the same callback added twice would be one entry.
  const entry = (): void => onClose();
  waiting.add(entry);
  return () => {
    if (!waiting.delete(entry) || waiting.size > 0) return;
    if (watchers.get(socket)?.waiting === waiting) watchers.delete(socket);
    socket.off('close', fire);
  };
}

/**
 * Waits for a stream's first chunk (null: it ended empty) and leaves the stream paused with
 * nothing consumed but that chunk, which the caller hands back with unshift(). Rejects with
 * the stream's error when it fails first.
 */
function firstChunk(s: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const settle = (): void => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      s.pause();
      settle();
      resolve(chunk);
    };
    const onEnd = (): void => {
      settle();
      resolve(null);
    };
    const onError = (e: Error): void => {
      settle();
      reject(e);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', onError);
  });
}

function ignore(): void {}

/** The body of `rec` cannot be read: logged with the object it belongs to, InternalError to the client. */
function unreadable(ctx: S3Context, rec: ObjectRecord, e: unknown): Error {
  if (e instanceof ObjectCryptoError) return integrityFailure(ctx, e, rec);
  if (isBlobTierUnavailable(e) || isDatabaseUnavailable(e)) return e as Error; // 503: the handler logs it
  ctx.services.log.error({ err: e, requestId: ctx.requestId, bucket: rec.bucket, key: rec.key }, 'stored object could not be read: its blob is missing or unreadable');
  return s3Error('InternalError', {}, 'The object could not be read: its stored data is missing or unreadable.');
}

function partRange(rec: ObjectRecord, n: number): { start: number; end: number } {
  const multipart = rec.parts.length > 1 || (rec.parts[0]?.partNumber ?? 0) > 0;
  if (!multipart) {
    if (n !== 1) throw s3Error('InvalidPartNumber');
    return { start: 0, end: rec.size - 1 };
  }
  if (n > rec.parts.length) throw s3Error('InvalidPartNumber');
  let start = 0;
  for (let i = 0; i < n - 1; i++) start += rec.parts[i]!.size;
  return { start, end: start + rec.parts[n - 1]!.size - 1 };
}

/** RFC 7233 single byte ranges as S3 reads them; anything it cannot parse is ignored (whole object). */
export function parseRange(v: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw invalidRange(v, size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) throw invalidRange(v, size);
  return { start, end };
}

function invalidRange(v: string, size: number) {
  return s3Error('InvalidRange', { RangeRequested: v, ActualObjectSize: String(size) });
}

// Documents a browser would run (HTML, SVG, XML) share the server's origin with the web
// console (/console) when read path-style; their scripts could read the console's signed-in
// session. Served with a CSP sandbox they get an opaque origin of their own: they still
// render and run, but see nothing of the console. Other clients ignore the header.
const ACTIVE_CONTENT = /^\s*(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|text\/xsl)\b/i;

function sandboxActiveContent(headers: Record<string, string>): void {
  const type = headers['content-type'];
  if (type !== undefined && ACTIVE_CONTENT.test(type)) {
    headers['content-security-policy'] = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';
  }
}
