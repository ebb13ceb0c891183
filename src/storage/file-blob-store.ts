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
// Shared mode (FileBlobStoreOptions.shared: a directory several nodes write at once, on NFS
// v4, CephFS or any POSIX mount — `--blobs file:///path`) keeps the same commit protocol and
// changes three things:
//   <dir>/tmp/<node>.<pid>.<id>   temporaries name their writer (node id and process id)
//   <dir>/<aa>/<bb>/<id>          two levels of fan-out (65,536 directories, made on first
//                                 use), so 100 million blobs are ~1,500 per directory
//   cleanTemporary()              removes a temporary only if it is this node's and its
//                                 process is gone (or is a stray name), or if nobody has
//                                 written to it for the grace period: another node's upload
//                                 in flight is never removed
// Ids stay 128 random bits, so nodes never collide without coordinating.
// A shared directory that cannot be reached — unmounted (its tmp/ is gone), a stale or
// hung NFS handle, I/O errors, permission lost — is the blob tier being unavailable, not
// damage: opening a writer or a blob then fails with BlobTierUnavailableError
// (blob-unavailable.ts), which the services answer 503. A blob missing from a directory
// that is there is still a missing blob.
//
// Writing is double-buffered: a full batch goes to the file while the next one fills, and
// with fsync on, the bytes already written are flushed to disk in the background every
// SYNC_EVERY bytes, so the fdatasync at commit has little left to do. With fsync on, on a
// filesystem that takes it, batches are written with O_DIRECT (direct-io.ts): they go to the
// device without a copy into the page cache. A shared directory asks the filesystem at open
// like the single-node layout does, but through the libuv pool (direct-io.ts, *Async), and
// opens its direct and buffered descriptors there too: a hung mount never blocks the event
// loop. Buffered, a 256 MiB PUT into a shared directory on ext4 cost the node 12 ms of CPU
// per MiB against 4.3 ms direct in the single-node layout (load ~10), most of it the kernel
// finding page-cache pages for the copy.

import { randomBytes } from 'node:crypto';
import { close as closeFd, constants as fsConstants, fdatasync as fdatasyncFd, fsync as fsyncFd, open as openFd, openSync, renameSync, unlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobTierUnavailableError } from './blob-unavailable.js';
import { alignedBuffer, alignedBufferAsync, closeDirectProbe, closeDirectProbeAsync, openDirectProbe, openDirectProbeAsync, writeDirect, type DirectProbe } from './direct-io.js';
import { FileRangeReader, ReadBufferPool, readFileRange, refusalWarning, type DirectRefused } from './file-range-reader.js';
import type { BlobStore, BlobWriter, ByteRange, WholeRead } from './types.js';
import { badRange, failedStream, mapStreamError, OpQueue } from './blob-io.js';
import { callback, closeFile, syncDir, writeAll } from './fd-calls.js';
import { abandoned, existing, nodeName, type SharedDir } from './shared-dir.js';

export interface FileBlobStoreOptions {
  /** fdatasync each blob and fsync its directory on commit (default true). Off only for tests and benchmarks. */
  fsync?: boolean;
  /** The directory is shared by several nodes (see the header); absent: the single-node layout. */
  shared?: SharedDirOptions;
  /** Where the store's warnings go (the server's log): direct reads refused for its files. */
  warn?: (message: string) => void;
}

export interface SharedDirOptions {
  /** This node's name in temporary file names (default: the host name). Every node needs its own. */
  nodeId?: string;
  /** Another node's temporary is removed once nobody wrote to it for this long (default one hour). */
  graceMs?: number;
  /** The clock the grace period is measured with (ms since the epoch). */
  now?: () => number;
}

/** A temporary untouched this long belongs to a writer that is gone, whichever node it was. */
export const SHARED_TEMP_GRACE_MS = 60 * 60 * 1000;

const ID_PATTERN = /^[0-9a-f]{32}$/;
/**
 * Writes are gathered into buffers of this size before they reach the file. 1 MiB plus room
 * for the segment tags of an encrypted 1 MiB object (16 × 16 bytes, rounded up to 4 KiB), so
 * such an object is one write() at commit, not a full 1 MiB batch and then its last 256 bytes:
 * each write is a hop to the libuv pool, and on a busy machine every hop waits for a core.
 */
const BATCH_BYTES = 1024 * 1024 + 4096;
/**
 * Read size of a large range: 16 sealed segments of the object encryption format (16 ×
 * (64 KiB + 16), docs/spec/object-encryption.md), so that reads of an encrypted blob, which
 * start at a segment, never split one (the decryptor would copy it into its staging buffer)
 * and each hand-off to the decrypt worker carries 16 segments. For a plain blob it is just
 * a little over 1 MiB. fs.createReadStream's 256 KiB reads, one at a time, measured 1.3× the
 * server CPU per MiB of a 256 MiB GET (2.07 vs 1.56 ms, load ~20, interleaved): four times the
 * hops to the libuv pool and back, each a thread wake on both sides.
 */
const READ_CHUNK_BYTES = 16 * (64 * 1024 + 16);
/**
 * Large ranges keep this many reads in flight (file-range-reader.ts), so the next chunk is
 * being read while the last one goes to the socket: 1 MiB reads one at a time measured 0.78×
 * the rate of 256 KiB ones for a 256 MiB GET, for want of that overlap.
 */
const READ_AHEAD = 2;
/**
 * A range up to this long is read in one read. Each read is a hop to the libuv pool and back,
 * and on a busy machine every hop waits for a core: a 1 MiB GET in one read instead of four
 * measured 1.17x the rate at 8 in flight (load average ~21, interleaved). The extra 64 KiB
 * covers an encrypted 1 MiB object's segment tags.
 */
const WHOLE_READ_MAX = 1024 * 1024 + 64 * 1024;
/** Whole-read buffers (WHOLE_READ_MAX each) kept for reuse between GETs: 8 in flight is ~8.5 MiB. */
const READ_BUFFERS_KEPT = 16;
/** open(2) flags of a temporary: 'wx' (it must not exist yet). */
const CREATE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL;
// SYNC_METADATA_CALLS: in the single-node layout a blob's open, close and rename run on the
// calling thread, not the libuv pool: microseconds in the page cache, where a pool trip wakes
// two threads and on a busy machine each wake waits for a core (9–20% of the main thread's
// samples for 1 MiB PUTs at 8 in flight). write, fdatasync and the directory fsync, which
// wait for the disk, stay on the pool; a shared directory (NFS may hang) keeps every call there.
/** With fsync on, written bytes are flushed to disk in the background at this interval. */
const SYNC_EVERY = 32 * 1024 * 1024;
/** Batch buffers kept for reuse by later writers. */
const POOL_MAX = 8;
/** The same when blobs are written with O_DIRECT (enough for 8 writers double-buffering). */
const DIRECT_POOL_MAX = 16;
/**
 * Batches of one blob written at once with O_DIRECT (at their own offsets). A direct write
 * returns only once the device has the bytes, so one at a time would leave a stream waiting
 * on the device between batches; buffered writes return once the bytes are in the page
 * cache, and stay one at a time.
 */
const DIRECT_WRITE_DEPTH = 4;
/** Errors of a shared directory that is not reachable as a whole (see the header). */
const UNREACHABLE = new Set(['EIO', 'ESTALE', 'ENOTCONN', 'EHOSTDOWN', 'ETIMEDOUT', 'EACCES', 'EPERM', 'ENOTDIR']);
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export class FileBlobStore implements BlobStore {
  private readonly pool: Buffer[] = [];
  /** Lent to whole reads (readWhole), given back when their response is out. */
  private readonly readBuffers = new ReadBufferPool(WHOLE_READ_MAX, READ_BUFFERS_KEPT);
  /**
   * Single-node layout: a descriptor per fan-out directory, opened on its first commit and
   * kept until close(), so the directory fsync of a commit is one call to the libuv pool
   * instead of three (open, fsync, close). At most 256.
   */
  private readonly dirFds = new Map<string, Promise<number>>();
  /** Batch buffers at an address O_DIRECT accepts. */
  private readonly aligned = new WeakSet<Buffer>();

  private constructor(
    readonly dir: string,
    private readonly fsync: boolean,
    private readonly shared: SharedDir | undefined,
    /** Set when blobs are written with O_DIRECT (direct-io.ts). */
    private direct: DirectProbe | undefined = undefined,
    readonly directReadRefused: DirectRefused = () => undefined, // BlobStore.directReadRefused: warns once (refusalWarning)
  ) {}

  static async open(dir: string, opts: FileBlobStoreOptions = {}): Promise<FileBlobStore> {
    const root = path.resolve(dir);
    const fsync = opts.fsync ?? true;
    await fs.mkdir(path.join(root, 'tmp'), { recursive: true, mode: DIR_MODE });
    if (opts.shared !== undefined) {
      // Fan-out directories are made on first use: 65,536 mkdirs at every start would be slow on NFS.
      const node = nodeName(opts.shared.nodeId ?? os.hostname());
      const shared = { node, tempPrefix: `${node}.${process.pid}.`, graceMs: opts.shared.graceMs ?? SHARED_TEMP_GRACE_MS, now: opts.shared.now ?? Date.now };
      // As below, direct writes where the filesystem takes them (NFS does; a FUSE mount may not).
      return new FileBlobStore(root, fsync, shared, fsync ? await openDirectProbeAsync(path.join(root, 'tmp'), shared.tempPrefix) : undefined, refusalWarning(root, opts.warn));
    }
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
    // Direct writes only pay where every commit waits for the disk anyway (fsync on).
    return new FileBlobStore(root, fsync, undefined, fsync ? openDirectProbe(path.join(root, 'tmp')) : undefined, refusalWarning(root, opts.warn));
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
    const tmp = path.join(this.dir, 'tmp', (this.shared?.tempPrefix ?? '') + blobId);
    if (this.shared === undefined) {
      if (this.direct !== undefined) {
        try {
          return new FileBlobWriter(this, blobId, tmp, openSync(tmp, CREATE_FLAGS | fsConstants.O_DIRECT, FILE_MODE), true);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
          this.stopDirect(); // the filesystem stopped taking it (remounted?): buffered from now on
          // Some filesystems create the file before refusing O_DIRECT; the id is ours alone.
          try {
            unlinkSync(tmp);
          } catch {
            // not created
          }
        }
      }
      return new FileBlobWriter(this, blobId, tmp, openSync(tmp, CREATE_FLAGS, FILE_MODE), false);
    }
    if (this.direct !== undefined) {
      const fd = await callback<number>((cb) => openFd(tmp, CREATE_FLAGS | fsConstants.O_DIRECT, FILE_MODE, cb)).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code === 'EINVAL') return undefined;
        throw await this.unreachable(e, 'create a blob');
      });
      if (fd !== undefined) return new FileBlobWriter(this, blobId, tmp, fd, true);
      this.stopDirect(); // as above: buffered from now on
      await fs.unlink(tmp).catch(() => undefined);
    }
    const fd = await callback<number>((cb) => openFd(tmp, CREATE_FLAGS, FILE_MODE, cb)).catch(async (e: unknown) => {
      throw await this.unreachable(e, 'create a blob');
    });
    return new FileBlobWriter(this, blobId, tmp, fd, false);
  }

  /**
   * Both layouts hold plain files. The reader (the decrypt worker) reads through the libuv
   * pool, so a hung shared mount blocks no event loop; its errors go through localFileError.
   */
  /**
   * Blobs written with O_DIRECT are read with it (io/direct-read.ts): they are not in the page
   * cache, and a buffered read would fill it and copy out of it.
   */
  get readsDirect(): boolean {
    return this.direct !== undefined;
  }

  localFile(blobId: string, _size: number): string | undefined {
    if (!ID_PATTERN.test(blobId)) return undefined;
    return this.finalPath(blobId);
  }

  /** In a shared directory, a read error of the whole directory as BlobTierUnavailableError, as read() reports it. */
  localFileError(e: unknown): Promise<unknown> {
    return this.unreachable(e, 'read a blob');
  }

  read(blobId: string, range?: { start: number; end: number }, opts?: { lend?: boolean }): Readable {
    if (!ID_PATTERN.test(blobId)) return failedStream(new Error(`invalid blob id ${JSON.stringify(blobId)}`));
    const bad = badRange(range);
    if (bad) return failedStream(bad);
    // A missing file makes the stream emit 'error' (ENOENT) from its open.
    const whole = range !== undefined && range.end - range.start < WHOLE_READ_MAX;
    const stream = new FileRangeReader(this.finalPath(blobId), {
      start: range?.start ?? 0,
      end: range?.end,
      chunk: whole ? range.end - range.start + 1 : READ_CHUNK_BYTES,
      depth: whole ? 1 : READ_AHEAD,
      direct: this.readsDirect, onRefused: this.directReadRefused,
      // A stream in a shared directory is wrapped (mapStreamError), which may not keep chunks whole.
      lend: opts?.lend === true && this.shared === undefined,
    });
    return this.shared === undefined ? stream : mapStreamError(stream, (e) => this.unreachable(e, 'read a blob'));
  }

  /** A range up to WHOLE_READ_MAX in one read (BlobStore.readWhole); undefined for a larger one. */
  readWhole(blobId: string, range: ByteRange): Promise<WholeRead> | undefined {
    if (range.end - range.start >= WHOLE_READ_MAX) return undefined;
    if (!ID_PATTERN.test(blobId)) return Promise.reject(new Error(`invalid blob id ${JSON.stringify(blobId)}`));
    const bad = badRange(range);
    if (bad) return Promise.reject(bad);
    const read = readFileRange(this.finalPath(blobId), range.start, range.end - range.start + 1, this.readBuffers, this.readsDirect, this.directReadRefused);
    return this.shared === undefined ? read : read.catch(async (e: unknown) => Promise.reject(await this.unreachable(e, 'read a blob')));
  }

  async delete(blobId: string): Promise<void> {
    if (!ID_PATTERN.test(blobId)) return; // no such blob can exist here
    await fs.unlink(this.finalPath(blobId)).catch(ignoreMissing);
  }

  async cleanTemporary(): Promise<void> {
    const tmp = path.join(this.dir, 'tmp');
    for (const name of await fs.readdir(tmp)) {
      if (this.shared !== undefined && !(await abandoned(path.join(tmp, name), name, this.shared))) continue;
      await fs.rm(path.join(tmp, name), { force: true, recursive: true });
    }
  }

  async ping(): Promise<void> {
    // A real write and read in the directory writers use, so a missing, replaced or
    // read-only blob directory (or a full disk) fails here.
    const probe = path.join(this.dir, 'tmp', `${this.shared?.tempPrefix ?? ''}ping-${randomBytes(8).toString('hex')}`);
    try {
      await fs.writeFile(probe, 'ping', { mode: FILE_MODE, flag: 'wx' });
      if ((await fs.readFile(probe, 'utf8')) !== 'ping') throw new Error('the blob directory returned other bytes than were written');
    } finally {
      await fs.unlink(probe).catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.pool.length = 0;
    this.stopDirect();
    const fds = [...this.dirFds.values()];
    this.dirFds.clear();
    for (const fd of fds) await fd.then((n) => callback<void>((cb) => closeFd(n, cb))).catch(() => undefined);
  }

  // ---- used by FileBlobWriter ----

  /**
   * @internal A batch buffer: aligned for O_DIRECT when the store writes that way and an
   * aligned address was found. A new aligned buffer of a shared directory is probed for
   * through the libuv pool (the probe's reads are on the directory), hence the promise.
   */
  takeBuffer(): Buffer | Promise<Buffer> {
    const pooled = this.pool.pop();
    if (pooled !== undefined) return pooled;
    if (this.direct !== undefined) {
      if (this.shared !== undefined) return alignedBufferAsync(this.direct, BATCH_BYTES).then((b) => this.keepAligned(b));
      return this.keepAligned(alignedBuffer(this.direct, BATCH_BYTES));
    }
    return Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  private keepAligned(b: Buffer | undefined): Buffer {
    if (b === undefined) return Buffer.allocUnsafeSlow(BATCH_BYTES);
    this.aligned.add(b);
    return b;
  }

  /**
   * @internal A buffered descriptor of a temporary for the bytes a direct write cannot take:
   * opened on this thread in the single-node layout (SYNC_METADATA_CALLS), through the pool in
   * a shared directory.
   */
  openPlain(tmp: string): Promise<number> {
    if (this.shared !== undefined) return callback<number>((cb) => openFd(tmp, fsConstants.O_WRONLY, cb));
    try {
      return Promise.resolve(openSync(tmp, fsConstants.O_WRONLY));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** @internal Whether open, close and rename run on the calling thread (the single-node layout; see SYNC_METADATA_CALLS). */
  get callsOnThread(): boolean {
    return this.shared === undefined;
  }

  /** @internal Whether b may be the source of an O_DIRECT write. */
  isAligned(b: Buffer): boolean {
    return this.aligned.has(b);
  }

  /** @internal Whether blobs are being written with O_DIRECT. */
  get writesDirect(): boolean {
    return this.direct !== undefined;
  }

  private stopDirect(): void {
    if (this.shared !== undefined) closeDirectProbeAsync(this.direct);
    else closeDirectProbe(this.direct);
    this.direct = undefined;
  }

  /** @internal */
  returnBuffer(b: Buffer): void {
    // Aligned buffers cost a probe to make (direct-io.ts): more of them are kept.
    if (this.pool.length < (this.direct !== undefined ? DIRECT_POOL_MAX : POOL_MAX)) this.pool.push(b);
  }

  /** @internal Whether commits flush to disk. */
  get durable(): boolean {
    return this.fsync;
  }

  /**
   * @internal Moves a finished temporary file into place, durably when fsync is on, and
   * closes fd (also when it fails). In the single-node layout the close and the rename run
   * on the calling thread (see SYNC_METADATA_CALLS); the fdatasync and the directory fsync,
   * which wait for the disk, go to the libuv pool.
   */
  async place(blobId: string, tmp: string, fd: number): Promise<void> {
    try {
      if (this.fsync) await callback<void>((cb) => fdatasyncFd(fd, cb));
    } catch (e) {
      await closeFile(fd, this.shared === undefined);
      throw e;
    }
    await closeFile(fd, this.shared === undefined);
    const final = this.finalPath(blobId);
    const parent = path.dirname(final);
    if (this.shared === undefined) {
      renameSync(tmp, final);
      if (this.fsync) await this.syncFanOut(parent);
      return;
    }
    try {
      await fs.rename(tmp, final);
    } catch (e) {
      // Shared layout: the fan-out directory is made on first use (the tmp file exists, we hold it).
      if (this.shared === undefined || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await this.makeFanOut(parent);
      await fs.rename(tmp, final);
    }
    if (this.fsync) await this.syncFanOut(parent);
  }

  /** fsync of a fan-out directory after a rename into it: through its kept descriptor in the single-node layout. */
  private async syncFanOut(parent: string): Promise<void> {
    if (this.shared !== undefined) return syncDir(parent);
    let fd = this.dirFds.get(parent);
    if (fd === undefined) {
      fd = callback<number>((cb) => openFd(parent, 'r', cb));
      this.dirFds.set(parent, fd);
      fd.catch(() => this.dirFds.delete(parent));
    }
    const n = await fd;
    await callback<void>((cb) => fsyncFd(n, cb));
  }

  /** Makes <aa>/<bb> (another node may make it at the same moment), durably when fsync is on. */
  private async makeFanOut(parent: string): Promise<void> {
    const top = path.dirname(parent);
    const madeTop = await fs.mkdir(top, { mode: DIR_MODE }).then(() => true, existing);
    if (madeTop && this.fsync) await syncDir(this.dir);
    const made = await fs.mkdir(parent, { mode: DIR_MODE }).then(() => true, existing);
    if (made && this.fsync) await syncDir(top);
  }

  /**
   * In a shared directory, `e` as BlobTierUnavailableError when the directory as a whole
   * cannot be reached (an unreachable-kind error, or ENOENT with tmp/ itself gone: the
   * mount is not there); otherwise `e` as it is. The look at tmp/ goes through the libuv
   * pool, as every call on a shared directory.
   */
  private async unreachable(e: unknown, what: string): Promise<unknown> {
    if (this.shared === undefined) return e;
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (code === undefined) return e;
    const gone = code === 'ENOENT' && (await fs.access(path.join(this.dir, 'tmp')).then(() => false, () => true));
    if (!UNREACHABLE.has(code) && !gone) return e;
    return new BlobTierUnavailableError(`shared blob directory: cannot ${what} (${gone ? 'the directory is not there' : code})`, { cause: e });
  }

  private finalPath(blobId: string): string {
    if (this.shared !== undefined) return path.join(this.dir, blobId.slice(0, 2), blobId.slice(2, 4), blobId);
    return path.join(this.dir, blobId.slice(0, 2), blobId);
  }
}

class FileBlobWriter implements BlobWriter {
  private batch: Buffer | undefined;
  private used = 0;
  private size = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  /** fd has been closed or handed to place(), which closes it. */
  private closed = false;
  /** File offset of the next batch. */
  private written = 0;
  /** With O_DIRECT: a buffered descriptor of the same file for bytes that cannot go direct (a blob's unaligned tail). */
  private plainFd: Promise<number> | undefined;
  /** The batch being written to the file while the next one fills. */
  private inFlight: Promise<void>[] = [];
  /** A background fdatasync of what is already written (fsync on only). */
  private syncing: Promise<void> | undefined;
  private unsynced = 0;
  /** Serializes write/commit/abort so a caller that does not await cannot interleave them. */
  private readonly queue = new OpQueue();

  constructor(
    private readonly store: FileBlobStore,
    readonly blobId: string,
    private readonly tmp: string,
    /** The temporary's descriptor, closed by place() or discard(). */
    private readonly fd: number,
    /** fd was opened with O_DIRECT. */
    private readonly direct: boolean,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.queue.run(async () => {
      let off = 0;
      while (off < chunk.length) {
        if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
        this.batch ??= await this.store.takeBuffer();
        const n = chunk.copy(this.batch, this.used, off);
        this.used += n;
        off += n;
        if (this.used === BATCH_BYTES) await this.flush();
      }
      this.size += chunk.length;
    });
  }

  commit(): Promise<number> {
    return this.queue.run(async () => {
      if (this.state !== 'open') throw new Error(`blob ${this.blobId} is ${this.state}`);
      try {
        await this.flush();
        await Promise.all(this.inFlight);
        await this.syncing;
        this.release();
        await this.closePlain(); // its bytes are in the file's page cache: place()'s fdatasync on fd covers them
        this.closed = true; // place() closes it, whatever happens
        await this.store.place(this.blobId, this.tmp, this.fd);
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
    await Promise.allSettled(this.inFlight);
    await this.syncing?.catch(() => undefined);
    this.release();
    await this.closePlain();
    if (!this.closed) {
      this.closed = true;
      await closeFile(this.fd, false).catch(() => undefined);
    }
    await fs.unlink(this.tmp).catch(ignoreMissing);
  }

  /**
   * Hands the current batch to the file; waits only until fewer than the writer's depth of
   * batches are being written (1 buffered: double buffering; DIRECT_WRITE_DEPTH with O_DIRECT).
   */
  private async flush(): Promise<void> {
    if (this.batch === undefined || this.used === 0) return;
    const depth = this.direct ? DIRECT_WRITE_DEPTH : 1;
    while (this.inFlight.length >= depth) await this.inFlight.shift();
    const full = this.batch;
    const length = this.used;
    const position = this.written;
    this.batch = undefined;
    this.used = 0;
    this.written += length;
    const writing = this.writeOut(full, length, position).then(() => {
      this.store.returnBuffer(full);
      this.unsynced += length;
      if (this.store.durable && this.unsynced >= SYNC_EVERY && this.syncing === undefined) {
        this.unsynced = 0;
        this.syncing = callback<void>((cb) => fdatasyncFd(this.fd, cb)).finally(() => {
          this.syncing = undefined;
        });
      }
    });
    writing.catch(() => undefined); // observed by the flush, commit or discard that awaits it
    this.inFlight.push(writing);
  }

  /**
   * Writes buf[0, length) at position: through the O_DIRECT descriptor as far as alignment
   * allows (whole batches always do), the rest through the buffered one.
   */
  private async writeOut(buf: Buffer, length: number, position: number): Promise<void> {
    // A blob that is one batch ending off a block boundary (an encrypted 1 MiB object: 1 MiB
    // and its 256 bytes of segment tags) goes direct too, all but its last partial block. Written
    // buffered whole, its write and fdatasync cost ~9 ms of kernel CPU per MiB on the pool threads
    // on this machine under load (15–36; ~1 ms at load 10), 0.5 ms this way: 1 MiB SSE-S3 PUTs ×8
    // ran at 0.35× the rate of this way at load ~18 (docs/PERFORMANCE.md, "Encrypted PUTs").
    const done = this.direct && this.store.isAligned(buf) ? await writeDirect(this.fd, buf, length, position) : 0;
    if (done === length) return;
    let fd = this.fd;
    if (this.direct) fd = await (this.plainFd ??= this.store.openPlain(this.tmp));
    await writeAll(fd, buf.subarray(done, length), position + done);
  }

  private async closePlain(): Promise<void> {
    const opening = this.plainFd;
    if (opening === undefined) return;
    this.plainFd = undefined;
    const fd = await opening.catch(() => undefined); // a failed open was reported by the write that made it
    if (fd === undefined) return;
    // A close error loses nothing here: the commit's fdatasync reports the file's state.
    await closeFile(fd, this.store.callsOnThread).catch(() => undefined);
  }

  private release(): void {
    if (this.batch !== undefined) this.store.returnBuffer(this.batch);
    this.batch = undefined;
    this.used = 0;
  }
}

function ignoreMissing(e: NodeJS.ErrnoException): void {
  if (e.code !== 'ENOENT') throw e;
}
