// The embedded blob store as the server uses it: blobs of up to INLINE_MAX_BYTES live in
// the metadata store's inline tier (MetadataStore.inlineBlobs: rows of metadata.sqlite in
// the embedded backend), larger ones as files (file-blob-store.ts). A 4 KiB object then
// costs one database insert instead of a file's open, write, fdatasync, close, rename and
// directory fsync, and a GET one indexed read.
//
// Why a crash cannot leave metadata pointing at a missing inline blob: the blob is stored
// by commit(), in its own commit, before the caller's metadata transaction that references
// it (step 2 before step 3 of the protocol in types.ts), and the inline tier promises that
// a commit survives whenever a later commit of the same store does. That same commit marks
// the blob pending, so one whose metadata commit was lost is deleted by recoverStorage like
// any pending blob. A tier that offers stage (PostgreSQL) instead holds the bytes until the
// metadata transaction that names the blob, which stores them: one commit, nothing to
// recover (InlineBlobStore.stage).
//
// Durability: an inline blob is exactly as durable as the metadata commit that publishes
// it (embedded: SQLite's synchronous setting, which the server sets from the fsync option:
// FULL makes every commit durable before it returns; NORMAL survives a process crash, and a
// power loss may lose the last few commits, and with them the object, never leaving it
// torn). The fsync option given here governs the file tier.
//
// Ids: "i" + 32 random hex digits for every blob written here. A writer cannot know when it
// starts whether its blob will fit (the id is marked pending before the first byte), so
// it buffers up to INLINE_MAX_BYTES in memory and, if the data grows past that, spills to
// a file writer for the same hex digits and keeps streaming (memory stays bounded). So an
// "i" id is an inline blob if one exists, else the file of its hex digits; a plain hex id
// (a blob written before this tier existed) is always a file.
//
// Pending marks ahead (option premark; the embedded backend): a blob that spills needs its id marked pending, durably, before its
// file may be put in place — with fsync on, a group commit of its own (a WAL fsync on the
// main thread) unless another write happens to share it. So the store marks PREMARK_BATCH
// fresh ids at once, in one group commit, ahead of need, and a spilling writer takes one of
// them instead of its own id: the writer's blobId changes at the spill (callers read it once
// the blob is committed or failed). An id marked ahead is pending like any other: the commit
// that publishes its blob clears the mark; one never used (the process stopped) is reclaimed
// with its writer's other pending blobs — there is no file under it to delete.

import { randomBytes } from 'node:crypto';
import { PassThrough, pipeline, Readable } from 'node:stream';
import { FileBlobStore, type FileBlobStoreOptions } from './file-blob-store.js';
import type { BlobStore, BlobWriter, ByteRange, MetadataStore, WholeRead } from './types.js';
import { badRange, failedStream, OpQueue } from './blob-io.js';

/**
 * Largest blob kept inline. Larger blobs stream to files. Changing it affects only new
 * writes: existing inline blobs and files stay readable whatever it is.
 */
export const INLINE_MAX_BYTES = 64 * 1024;

const INLINE_PREFIX = 'i';
/** Ids marked pending ahead in one commit; a new batch is marked when fewer than PREMARK_LOW are left. */
const PREMARK_BATCH = 16;
const PREMARK_LOW = 4;
/** Random bytes drawn at once for ids: one CSPRNG call per 256 blobs instead of one per blob. */
const ID_POOL_BYTES = 16 * 256;

export interface TieredBlobStoreOptions extends FileBlobStoreOptions {
  /** Directory of the file tier. */
  dir: string;
  /** The metadata store: its inline tier holds the small blobs, its pending list the files a writer spills to. */
  meta: Pick<MetadataStore, 'inlineBlobs' | 'markPending'>;
  /**
   * Mark spilled blobs' ids pending ahead (see "Pending marks ahead"; default false). Pays
   * where a mark costs a synchronous commit of its own (the embedded SQLite store with group
   * commit); on PostgreSQL a mark is an asynchronous commit, and a cluster's writers are
   * easier to follow with one pending mark per write in flight.
   */
  premark?: boolean;
}

/**
 * The store larger blobs go to: the files of file-blob-store.ts, or a remote tier. It takes
 * the id the tiered store already handed out (its hex digits) when a blob spills over.
 */
export interface LargeBlobTier extends BlobStore {
  createAt(blobId: string): Promise<BlobWriter>;
}

export class TieredBlobStore implements BlobStore {
  private idPool = Buffer.alloc(0);
  private idOffset = 0;
  private closed = false;
  /** Ids whose pending mark is durable and that no writer has taken yet (see "Pending marks ahead"). */
  private premarked: string[] = [];
  private premarking = false;

  private constructor(
    readonly files: LargeBlobTier,
    readonly meta: TieredBlobStoreOptions['meta'],
    private readonly premarks = false,
  ) {}

  static async open(opts: TieredBlobStoreOptions): Promise<TieredBlobStore> {
    return new TieredBlobStore(await FileBlobStore.open(opts.dir, { fsync: opts.fsync, shared: opts.shared, warn: opts.warn }), opts.meta, opts.premark ?? false);
  }

  /** Small blobs inline as always, larger ones in `large` (a remote tier); closing this closes `large`. */
  static over(large: LargeBlobTier, meta: TieredBlobStoreOptions['meta']): TieredBlobStore {
    return new TieredBlobStore(large, meta);
  }

  async create(): Promise<BlobWriter> {
    return new TieredBlobWriter(this, this.freshId());
  }

  private freshId(): string {
    if (this.idOffset === this.idPool.length) {
      this.idPool = randomBytes(ID_POOL_BYTES);
      this.idOffset = 0;
    }
    const hex = this.idPool.toString('hex', this.idOffset, this.idOffset + 16);
    this.idOffset += 16;
    return INLINE_PREFIX + hex;
  }

  /**
   * @internal An id already durably marked pending, for a writer that spills; undefined when
   * none is ready (the writer then marks its own). Tops the supply up in the background.
   */
  takePremarked(): string | undefined {
    if (!this.premarks) return undefined;
    const id = this.premarked.pop();
    if (this.premarked.length < PREMARK_LOW && !this.premarking && !this.closed) this.premark();
    return id;
  }

  private premark(): void {
    this.premarking = true;
    const ids = Array.from({ length: PREMARK_BATCH }, () => this.freshId());
    // Queued in one turn, so one group commit marks them all. A batch that fails in part
    // leaves its marked ids to recovery (nothing exists under them); the next spill marks
    // its own id and asks again.
    Promise.all(ids.map((id) => this.meta.markPending(id))).then(
      () => {
        this.premarking = false;
        if (!this.closed) this.premarked.push(...ids);
      },
      () => {
        this.premarking = false;
      },
    );
  }

  read(blobId: string, range?: ByteRange, opts?: { lend?: boolean }): Readable {
    if (!blobId.startsWith(INLINE_PREFIX)) return this.files.read(blobId, range, opts);
    const bad = badRange(range);
    if (bad) return failedStream(bad);
    const { inlineBlobs } = this.meta;
    const fileId = blobId.slice(INLINE_PREFIX.length);
    // No inline blob: it spilled to a file (or does not exist, and the file read says so).
    if (inlineBlobs.getNow) {
      // A tier that answers at once: a spilled blob is the file's own stream, with nothing
      // between it and the response (a large GET is one of these).
      const data = inlineBlobs.getNow(blobId, range);
      return data === undefined ? this.files.read(fileId, range, opts) : bytesStream(data);
    }
    const prefetched = inlineBlobs.takePrefetched?.(blobId, range);
    if (prefetched !== undefined) return bytesStream(prefetched);
    // A tier behind a round trip: the answer decides which stream feeds this one.
    const out = new PassThrough();
    inlineBlobs.get(blobId, range).then(
      (data) => (data === undefined ? pipeline(this.files.read(fileId, range), out, () => {}) : out.end(data)),
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  /**
   * A blob longer than INLINE_MAX_BYTES is never inline (its writer spilled to a file), so it
   * is the file of its hex digits; a shorter one may be inline: undefined (use read()).
   */
  localFile(blobId: string, size: number): string | undefined {
    if (!blobId.startsWith(INLINE_PREFIX)) return this.files.localFile?.(blobId, size);
    return size > INLINE_MAX_BYTES ? this.files.localFile?.(blobId.slice(INLINE_PREFIX.length), size) : undefined;
  }

  get readsDirect(): boolean {
    return this.files.readsDirect === true;
  }

  readonly directReadRefused = (file: string): void => this.files.directReadRefused?.(file);

  localFileError(e: unknown): unknown | Promise<unknown> {
    return this.files.localFileError === undefined ? e : this.files.localFileError(e);
  }

  /**
   * The bytes of an inline blob (or of a range of it) at once, for a response that can be
   * sent in one write; undefined when the blob is not inline or the metadata store cannot
   * read it without a round trip (then use read()): on PostgreSQL, only the bytes that came
   * with their object's record (InlineBlobStore.takePrefetched).
   */
  readSmall(blobId: string, range?: ByteRange): Buffer | undefined {
    if (!blobId.startsWith(INLINE_PREFIX)) return undefined;
    if (badRange(range)) return undefined;
    // Past INLINE_MAX_BYTES the blob is a file as blobs are written now: no query for it.
    if (range !== undefined && range.end >= INLINE_MAX_BYTES) return undefined;
    const { inlineBlobs } = this.meta;
    return inlineBlobs.getNow ? inlineBlobs.getNow(blobId, range) : inlineBlobs.takePrefetched?.(blobId, range);
  }

  /**
   * A range of up to about 1 MiB in one buffer (BlobStore.readWhole), through the file tier's
   * readWhole (undefined when it has none, as a remote tier). An "i" blob is inline or its
   * file; a range reaching past INLINE_MAX_BYTES cannot be inline as blobs are written now,
   * so its file is tried first and the inline tier only when there is no file (a blob kept
   * inline under a larger maximum of the past); a shorter range asks the inline tier first.
   */
  readWhole(blobId: string, range: ByteRange): Promise<WholeRead> | undefined {
    const files = this.files;
    if (files.readWhole === undefined) return undefined;
    if (!blobId.startsWith(INLINE_PREFIX)) return files.readWhole(blobId, range);
    const bad = badRange(range);
    if (bad) return Promise.reject(bad);
    const fileId = blobId.slice(INLINE_PREFIX.length);
    const { inlineBlobs } = this.meta;
    const inline = async (): Promise<WholeRead | undefined> => {
      const data = inlineBlobs.getNow ? inlineBlobs.getNow(blobId, range) : (inlineBlobs.takePrefetched?.(blobId, range) ?? (await inlineBlobs.get(blobId, range)));
      if (data === undefined) return undefined;
      if (data.length !== range.end - range.start + 1) throw new Error('the inline blob ended before the range read');
      return { data, release: () => {} };
    };
    if (range.end >= INLINE_MAX_BYTES) {
      const read = files.readWhole(fileId, range);
      if (read === undefined) return undefined;
      return read.catch(async (e: unknown) => {
        if ((e as NodeJS.ErrnoException | null)?.code !== 'ENOENT') throw e;
        const data = await inline();
        if (data === undefined) throw e;
        return data;
      });
    }
    return inline().then((data) => data ?? files.readWhole!(fileId, range) ?? Promise.reject(new Error('the file tier cannot read this range whole')));
  }

  async delete(blobId: string): Promise<void> {
    if (!blobId.startsWith(INLINE_PREFIX)) return this.files.delete(blobId);
    // A writer ends either inline or as a file, never both.
    if (!(await this.meta.inlineBlobs.delete(blobId))) await this.files.delete(blobId.slice(INLINE_PREFIX.length));
  }

  async cleanTemporary(): Promise<void> {
    // Buffered inline data never outlives its process; only the file tier has leftovers.
    await this.files.cleanTemporary();
  }

  /** The file tier's probe; the inline tier is the metadata store's, which has its own. */
  async ping(): Promise<void> {
    await this.files.ping();
  }

  /** Closes the file tier; the metadata store (and with it the inline tier) is its owner's to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.premarked = []; // still pending: reclaimed with this writer's other pending blobs
    await this.files.close();
  }
}

class TieredBlobWriter implements BlobWriter {
  readonly marksPending = true;
  private id: string;
  /** Copies of the chunks written so far while the blob may still be inline. */
  private chunks: Buffer[] = [];
  private size = 0;
  /** The file writer once the data outgrew INLINE_MAX_BYTES. */
  private file: BlobWriter | undefined;
  /**
   * The spilled blob's pending mark. It commits (a group commit, an fsync with fsync on)
   * while the first bytes already stream into the file tier's temporary area, and is awaited
   * before the file commits: nothing exists under the blob's id before its mark is durable,
   * and a temporary left by a crash is emptied by recovery like any other.
   */
  private marked: Promise<void> | undefined;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  /** Serializes write/commit so a caller that does not await cannot interleave them with a spill. */
  private readonly queue = new OpQueue();

  constructor(
    private readonly store: TieredBlobStore,
    blobId: string,
  ) {
    this.id = blobId;
  }

  /** The id the blob is committed under: a spill may exchange it for one marked ahead. */
  get blobId(): string {
    return this.id;
  }

  write(chunk: Buffer): Promise<void> {
    return this.queue.run(async () => {
      this.assertOpen();
      if (this.file === undefined && this.size + chunk.length > INLINE_MAX_BYTES) await this.spill();
      if (this.file !== undefined) await this.file.write(chunk);
      else if (chunk.length > 0) this.chunks.push(Buffer.from(chunk)); // the caller may reuse chunk
      this.size += chunk.length;
    });
  }

  commit(): Promise<number> {
    return this.queue.run(async () => {
      this.assertOpen();
      try {
        if (this.file !== undefined) {
          await this.marked;
          await this.file.commit();
        }
        else {
          const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
          const { inlineBlobs } = this.store.meta;
          // Held for the publishing write, which stores it in its own transaction; else its own commit now.
          if (inlineBlobs.stage?.(this.blobId, data) !== true) await inlineBlobs.putPending(this.blobId, data);
        }
      } catch (e) {
        await this.abort();
        throw e;
      }
      this.chunks = [];
      this.state = 'committed';
      return this.size;
    });
  }

  async abort(): Promise<void> {
    // Not queued behind a stuck write: abort must always be able to clean up.
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.chunks = [];
    await this.file?.abort();
  }

  private async spill(): Promise<void> {
    const ahead = this.store.takePremarked();
    if (ahead !== undefined) {
      this.id = ahead;
    } else {
      const marked = this.store.meta.markPending(this.id);
      marked.catch(() => undefined); // observed by commit(), which fails if the mark did
      this.marked = marked;
    }
    const file = await this.store.files.createAt(this.id.slice(INLINE_PREFIX.length));
    if (this.state !== 'open') {
      // Aborted while the file was being opened.
      await file.abort();
      this.assertOpen();
    }
    this.file = file;
    if (this.size > 0) await file.write(Buffer.concat(this.chunks, this.size));
    this.chunks = [];
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
  }
}

function bytesStream(data: Buffer): Readable {
  return Readable.from(data.length > 0 ? [data] : [], { objectMode: false });
}
