// The embedded blob store: one file per blob under a data directory.
//
//   <dir>/tmp/<id>          while being written (emptied on start by cleanTemporary)
//   <dir>/<aa>/<id>         once committed; aa is the first two hex digits of the id
//
// Ids are 128 random bits in lower-case hex, so the fan-out is uniform; the 256 fan-out
// directories are created when the store opens, so no PUT pays for a mkdir. Directories
// are 0700 and files 0600: the data directory holds secrets. commit() is the durability
// point: fdatasync the file, rename it into place, fsync the directory that now names it.
//
// Writing is double-buffered: a full batch goes to the file while the next one fills, and
// with fsync on, the bytes already written are flushed to disk in the background every
// SYNC_EVERY bytes, so the fdatasync at commit has little left to do.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore, BlobWriter } from './types.js';

export interface FileBlobStoreOptions {
  /** fdatasync each blob and fsync its directory on commit (default true). Off only for tests and benchmarks. */
  fsync?: boolean;
}

const ID_PATTERN = /^[0-9a-f]{32}$/;
/** Writes are gathered into buffers of this size before they reach the file. */
const BATCH_BYTES = 1024 * 1024;
/** Read chunk size: large enough for ≥ 500 MiB/s from one stream, small enough not to churn the GC. */
const READ_CHUNK_BYTES = 256 * 1024;
/** With fsync on, written bytes are flushed to disk in the background at this interval. */
const SYNC_EVERY = 32 * 1024 * 1024;
/** Batch buffers kept for reuse by later writers. */
const POOL_MAX = 8;
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export class FileBlobStore implements BlobStore {
  private readonly pool: Buffer[] = [];

  private constructor(
    readonly dir: string,
    private readonly fsync: boolean,
  ) {}

  static async open(dir: string, opts: FileBlobStoreOptions = {}): Promise<FileBlobStore> {
    const root = path.resolve(dir);
    const fsync = opts.fsync ?? true;
    await fs.mkdir(path.join(root, 'tmp'), { recursive: true, mode: DIR_MODE });
    let created = false;
    for (let i = 0; i < 256; i++) {
      const made = await fs.mkdir(path.join(root, i.toString(16).padStart(2, '0')), { mode: DIR_MODE }).then(
        () => true,
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'EEXIST') return false;
          throw e;
        },
      );
      created ||= made;
    }
    if (created && fsync) await syncDir(root);
    return new FileBlobStore(root, fsync);
  }

  async create(): Promise<BlobWriter> {
    return this.createAt(randomBytes(16).toString('hex'));
  }

  /**
   * Opens a writer for an id the caller chose (32 random lower-case hex digits): a store
   * layered on this one (tiered-blob-store.ts) keeps the id it already handed out when a
   * blob moves here.
   */
  async createAt(blobId: string): Promise<BlobWriter> {
    if (!ID_PATTERN.test(blobId)) throw new Error(`invalid blob id ${JSON.stringify(blobId)}`);
    const tmp = path.join(this.dir, 'tmp', blobId);
    const handle = await fs.open(tmp, 'wx', FILE_MODE);
    return new FileBlobWriter(this, blobId, tmp, handle);
  }

  read(blobId: string, range?: { start: number; end: number }): Readable {
    if (!ID_PATTERN.test(blobId)) return failed(new Error(`invalid blob id ${JSON.stringify(blobId)}`));
    if (range !== undefined && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
      return failed(new RangeError(`invalid blob range ${range.start}-${range.end}`));
    }
    // A missing file makes the stream emit 'error' (ENOENT) from its open.
    return createReadStream(this.finalPath(blobId), {
      start: range?.start,
      end: range?.end,
      highWaterMark: READ_CHUNK_BYTES,
    });
  }

  async delete(blobId: string): Promise<void> {
    if (!ID_PATTERN.test(blobId)) return; // no such blob can exist here
    await fs.unlink(this.finalPath(blobId)).catch(ignoreMissing);
  }

  async cleanTemporary(): Promise<void> {
    const tmp = path.join(this.dir, 'tmp');
    for (const name of await fs.readdir(tmp)) {
      await fs.rm(path.join(tmp, name), { force: true, recursive: true });
    }
  }

  async ping(): Promise<void> {
    // A real write and read in the directory writers use, so a missing, replaced or
    // read-only blob directory (or a full disk) fails here.
    const probe = path.join(this.dir, 'tmp', `ping-${randomBytes(8).toString('hex')}`);
    try {
      await fs.writeFile(probe, 'ping', { mode: FILE_MODE, flag: 'wx' });
      if ((await fs.readFile(probe, 'utf8')) !== 'ping') throw new Error('the blob directory returned other bytes than were written');
    } finally {
      await fs.unlink(probe).catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.pool.length = 0;
  }

  // ---- used by FileBlobWriter ----

  /** @internal */
  takeBuffer(): Buffer {
    return this.pool.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  /** @internal */
  returnBuffer(b: Buffer): void {
    if (this.pool.length < POOL_MAX) this.pool.push(b);
  }

  /** @internal Whether commits flush to disk. */
  get durable(): boolean {
    return this.fsync;
  }

  /** @internal Moves a finished temporary file into place, durably when fsync is on. */
  async place(blobId: string, tmp: string, handle: FileHandle): Promise<void> {
    if (this.fsync) await handle.datasync();
    await handle.close();
    const parent = path.join(this.dir, blobId.slice(0, 2));
    await fs.rename(tmp, path.join(parent, blobId));
    if (this.fsync) await syncDir(parent);
  }

  private finalPath(blobId: string): string {
    return path.join(this.dir, blobId.slice(0, 2), blobId);
  }
}

class FileBlobWriter implements BlobWriter {
  private batch: Buffer | undefined;
  private used = 0;
  private size = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  /** The batch being written to the file while the next one fills. */
  private inFlight: Promise<void> | undefined;
  /** A background fdatasync of what is already written (fsync on only). */
  private syncing: Promise<void> | undefined;
  private unsynced = 0;
  /** Serializes write/commit/abort so a caller that does not await cannot interleave them. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: FileBlobStore,
    readonly blobId: string,
    private readonly tmp: string,
    private readonly handle: FileHandle,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.enqueue(async () => {
      let off = 0;
      while (off < chunk.length) {
        if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
        this.batch ??= this.store.takeBuffer();
        const n = chunk.copy(this.batch, this.used, off);
        this.used += n;
        off += n;
        if (this.used === BATCH_BYTES) await this.flush();
      }
      this.size += chunk.length;
    });
  }

  commit(): Promise<number> {
    return this.enqueue(async () => {
      if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
      try {
        await this.flush();
        await this.inFlight;
        await this.syncing;
        this.release();
        await this.store.place(this.blobId, this.tmp, this.handle);
        this.state = 'committed';
        return this.size;
      } catch (e) {
        await this.discard();
        throw e;
      }
    });
  }

  abort(): Promise<void> {
    // Not queued behind a stuck write: abort must always be able to clean up.
    if (this.state !== 'open') return Promise.resolve();
    return this.discard();
  }

  private async discard(): Promise<void> {
    this.state = 'aborted';
    await this.inFlight?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    this.release();
    await this.handle.close().catch(() => undefined);
    await fs.unlink(this.tmp).catch(ignoreMissing);
  }

  /** Hands the current batch to the file; waits only for the previous batch (double buffering). */
  private async flush(): Promise<void> {
    if (this.batch === undefined || this.used === 0) return;
    await this.inFlight;
    const full = this.batch;
    const length = this.used;
    this.batch = undefined;
    this.used = 0;
    this.inFlight = writeAll(this.handle, full.subarray(0, length)).then(() => {
      this.store.returnBuffer(full);
      this.unsynced += length;
      if (this.store.durable && this.unsynced >= SYNC_EVERY && this.syncing === undefined) {
        this.unsynced = 0;
        this.syncing = this.handle.datasync().finally(() => {
          this.syncing = undefined;
        });
      }
    });
  }

  private release(): void {
    if (this.batch !== undefined) this.store.returnBuffer(this.batch);
    this.batch = undefined;
    this.used = 0;
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await handle.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

function ignoreMissing(e: NodeJS.ErrnoException): void {
  if (e.code !== 'ENOENT') throw e;
}

function failed(err: Error): Readable {
  return new Readable({
    read() {
      this.destroy(err);
    },
  });
}
