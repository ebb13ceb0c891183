// The blob tier on any S3-compatible service (`--blobs s3://bucket/prefix?endpoint=…`):
// Ceph RGW, AWS S3, MinIO, or another Coffer. Each blob is one object, <prefix><id>, where
// the id is 128 random bits in hex, so nodes never collide and the backend learns nothing
// from a name. Coffer keeps its metadata, encryption and access control: with encryption
// at rest on, the backend only ever sees sealed segments.
//
// A blob becomes visible only once complete: a writer keeps up to one part in memory; a
// blob that ends within it is one PutObject, a larger one a multipart upload of parts of
// that size (each PUT and CompleteMultipartUpload is atomic at the backend), aborted when
// the write fails or is aborted. Memory per writer is at most two parts (one filling, one
// on the wire), whatever the blob's size. Nothing is written anywhere before commit()
// except the parts of an unfinished multipart upload, which the backend does not show.
//
// cleanTemporary() aborts this prefix's multipart uploads begun more than the grace
// period ago: the leftovers of a node that died mid-upload. Another node's upload in
// flight is younger than that (the same rule as a shared directory's temporaries).

import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, pipeline, Readable, Transform } from 'node:stream';
import type { BlobWriter, ByteRange } from '../storage/types.js';
import type { LargeBlobTier } from '../storage/tiered-blob-store.js';
import { BlobTierUnavailableError } from '../storage/blob-unavailable.js';
import { badRange, failedStream, OpQueue } from '../storage/blob-io.js';
import { S3BackendClient } from './s3-client.js';

export interface S3BlobStoreOptions {
  /** Key prefix of every blob ('' or ending in '/'). */
  prefix: string;
  /** Part size of multipart uploads, and the largest blob sent as one PutObject (default 16 MiB; at least 5 MiB, S3's minimum part). */
  partBytes?: number;
  /** Multipart uploads begun longer ago than this are abandoned (default one hour). */
  graceMs?: number;
  /** The clock for the grace period (ms since the epoch). */
  now?: () => number;
}

export const DEFAULT_PART_BYTES = 16 * 1024 * 1024;
/** S3's smallest part (but the last). */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
const ID_PATTERN = /^[0-9a-f]{32}$/;
const UPLOAD_GRACE_MS = 60 * 60 * 1000;

export class S3BlobStore implements LargeBlobTier {
  readonly partBytes: number;
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(
    readonly client: S3BackendClient,
    private readonly opts: S3BlobStoreOptions,
  ) {
    this.partBytes = opts.partBytes ?? DEFAULT_PART_BYTES;
    if (!(Number.isSafeInteger(this.partBytes) && this.partBytes >= MIN_PART_BYTES)) throw new RangeError(`the blob backend's part size must be at least ${MIN_PART_BYTES} bytes`);
    this.graceMs = opts.graceMs ?? UPLOAD_GRACE_MS;
    this.now = opts.now ?? Date.now;
  }

  async create(): Promise<BlobWriter> {
    return this.createAt(randomBytes(16).toString('hex'));
  }

  async createAt(blobId: string): Promise<BlobWriter> {
    if (!ID_PATTERN.test(blobId)) throw new Error(`invalid blob id ${JSON.stringify(blobId)}`);
    return new S3BlobWriter(this, blobId);
  }

  /** The backend key of a blob. */
  keyOf(blobId: string): string {
    return this.opts.prefix + blobId;
  }

  read(blobId: string, range?: ByteRange): Readable {
    if (!ID_PATTERN.test(blobId)) return failedStream(new Error(`invalid blob id ${JSON.stringify(blobId)}`));
    const bad = badRange(range);
    if (bad) return failedStream(bad);
    const out = new PassThrough({ highWaterMark: 256 * 1024 });
    this.client
      .send({ op: 'GetObject', method: 'GET', key: this.keyOf(blobId), headers: range ? { range: `bytes=${range.start}-${range.end}` } : {} })
      .then(
        (res) => {
          out.once('close', () => res.destroy());
          // Only the bytes asked for, all of them: a backend that ignores Range (200 with the
          // whole blob) or answers another range would hand the reader wrong bytes.
          let expected: number | undefined;
          if (range !== undefined) {
            const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
            if (res.statusCode !== 206 || !cr || Number(cr[1]) !== range.start || Number(cr[2]) !== range.end) {
              res.destroy();
              out.destroy(new BlobTierUnavailableError(`blob backend GetObject: asked for bytes ${range.start}-${range.end}, got ${res.statusCode} ${res.headers['content-range'] ?? 'without Content-Range'}`));
              return;
            }
            expected = range.end - range.start + 1;
          } else if (res.headers['content-length'] !== undefined) {
            expected = Number(res.headers['content-length']);
          }
          let seen = 0;
          const counted = new Transform({
            transform(chunk: Buffer, _enc, done) {
              seen += chunk.length;
              done(expected !== undefined && seen > expected ? new Error(`more than the ${expected} bytes expected`) : null, chunk);
            },
            flush(done) {
              done(expected !== undefined && seen !== expected ? new Error(`${seen} of the ${expected} bytes expected`) : null);
            },
          });
          pipeline(res, counted, out, (e) => {
            if (e) out.destroy(new BlobTierUnavailableError('blob backend GetObject: the body was cut off or the wrong length', { cause: e }));
          });
        },
        (e: Error) => out.destroy(e),
      );
    return out;
  }

  async delete(blobId: string): Promise<void> {
    if (!ID_PATTERN.test(blobId)) return;
    // S3 answers 204 for a missing key too.
    await this.client.sendAndDrain({ op: 'DeleteObject', method: 'DELETE', key: this.keyOf(blobId) });
  }

  async cleanTemporary(): Promise<void> {
    let markers = '';
    for (;;) {
      const doc = await this.client.sendForXml({ op: 'ListMultipartUploads', method: 'GET', query: `prefix=${encodeURIComponent(this.opts.prefix)}&uploads=${markers}` });
      const result = (doc.ListMultipartUploadsResult ?? {}) as { Upload?: { Key?: string; UploadId?: string; Initiated?: string }[]; IsTruncated?: string; NextKeyMarker?: string; NextUploadIdMarker?: string };
      for (const u of result.Upload ?? []) {
        const started = Date.parse(u.Initiated ?? '');
        if (u.Key === undefined || u.UploadId === undefined || !u.Key.startsWith(this.opts.prefix)) continue;
        if (!Number.isFinite(started) || this.now() - started <= this.graceMs) continue;
        await this.abortUpload(u.Key, u.UploadId);
      }
      if (result.IsTruncated !== 'true' || !result.NextKeyMarker) return;
      markers = `&key-marker=${encodeURIComponent(result.NextKeyMarker)}&upload-id-marker=${encodeURIComponent(result.NextUploadIdMarker ?? '')}`;
    }
  }

  /** Reachable, credentials accepted, bucket there: HeadBucket. */
  async ping(): Promise<void> {
    await this.client.sendAndDrain({ op: 'HeadBucket', method: 'HEAD' });
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** @internal */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.client.sendAndDrain({ op: 'AbortMultipartUpload', method: 'DELETE', key, query: `uploadId=${encodeURIComponent(uploadId)}` });
  }
}

/** Bytes gathered for one PUT (a whole small blob or one part), hashed as they arrive. */
interface Part {
  chunks: Buffer[];
  length: number;
  hash: ReturnType<typeof createHash>;
}

const newPart = (): Part => ({ chunks: [], length: 0, hash: createHash('sha256') });

class S3BlobWriter implements BlobWriter {
  private part = newPart();
  private size = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private uploadId: string | undefined;
  private readonly etags: string[] = [];
  /** The part on the wire while the next one fills. */
  private inFlight: Promise<void> | undefined;
  /** Serializes write/commit so a caller that does not await cannot interleave them. */
  private readonly queue = new OpQueue();

  constructor(
    private readonly store: S3BlobStore,
    readonly blobId: string,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.queue.run(async () => {
      this.assertOpen();
      const limit = this.store.partBytes;
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(chunk.length - off, limit - this.part.length);
        // A copy: the caller may reuse chunk once this resolves.
        const piece = Buffer.from(chunk.subarray(off, off + n));
        this.part.chunks.push(piece);
        this.part.hash.update(piece);
        this.part.length += n;
        off += n;
        if (this.part.length === limit) await this.shipPart();
      }
      this.size += chunk.length;
    });
  }

  commit(): Promise<number> {
    return this.queue.run(async () => {
      this.assertOpen();
      const key = this.store.keyOf(this.blobId);
      try {
        if (this.uploadId === undefined) {
          const p = this.part;
          await this.store.client.sendAndDrain({ op: 'PutObject', method: 'PUT', key, body: { chunks: p.chunks, length: p.length, sha256: p.hash.digest('hex') } });
        } else {
          if (this.part.length > 0) await this.shipPart();
          await this.inFlight;
          const parts = this.etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`).join('');
          const body = Buffer.from(`<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`, 'utf8');
          await this.store.client.sendForXml({
            op: 'CompleteMultipartUpload', method: 'POST', key, query: `uploadId=${encodeURIComponent(this.uploadId)}`,
            headers: { 'content-type': 'application/xml' },
            body: { chunks: [body], length: body.length, sha256: createHash('sha256').update(body).digest('hex') },
          });
        }
      } catch (e) {
        await this.discard();
        throw e;
      }
      this.part = newPart();
      this.state = 'committed';
      return this.size;
    });
  }

  abort(): Promise<void> {
    // Not queued behind a stuck write: abort must always be able to clean up.
    if (this.state !== 'open') return Promise.resolve();
    return this.discard();
  }

  private async discard(): Promise<void> {
    this.state = 'aborted';
    this.part = newPart();
    await this.inFlight?.catch(() => undefined);
    // A failed abort (backend down) leaves the upload to cleanTemporary after the grace period.
    if (this.uploadId !== undefined) await this.store.abortUpload(this.store.keyOf(this.blobId), this.uploadId).catch(() => undefined);
  }

  /** Sends the filled part as the next part of the multipart upload (begun on the first); waits only for the previous one. */
  private async shipPart(): Promise<void> {
    const key = this.store.keyOf(this.blobId);
    if (this.uploadId === undefined) {
      const doc = await this.store.client.sendForXml({ op: 'CreateMultipartUpload', method: 'POST', key, query: 'uploads' });
      const id = (doc.InitiateMultipartUploadResult as { UploadId?: string } | undefined)?.UploadId;
      if (!id) throw new Error('blob backend CreateMultipartUpload: no UploadId in the answer');
      this.uploadId = id;
      if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
    }
    await this.inFlight;
    const p = this.part;
    this.part = newPart();
    const number = this.etags.length + 1;
    this.etags.push('');
    const query = `partNumber=${number}&uploadId=${encodeURIComponent(this.uploadId)}`;
    this.inFlight = this.store.client
      .sendAndDrain({ op: 'UploadPart', method: 'PUT', key, query, body: { chunks: p.chunks, length: p.length, sha256: p.hash.digest('hex') } })
      .then((res) => {
        const etag = res.headers.etag;
        if (!etag) throw new Error('blob backend UploadPart: no ETag in the answer');
        this.etags[number - 1] = etag;
      });
    // A failure surfaces at the next part or at commit; keep it from being unhandled meanwhile.
    this.inFlight.catch(() => undefined);
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
  }
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
