// The append-only audit log: one CloudTrail-shaped JSON event per line in
// <data-dir>/audit/kms.log. Every KMS use is recorded — API calls and the calls S3
// makes on a user's behalf — with the principal, the key and the encryption context,
// never plaintext or key material (operations hand over sanitized parameters only).
//
// No request is answered before its event is durable: record() resolves once the line is
// appended durably — kms.log is open with O_DSYNC (fsync on), so each write returns once its
// bytes and the file size they need are on the device, as a write followed by fdatasync, in
// one trip to the libuv pool instead of two. Writes are group-committed: the events queued
// while one batch is written go out together in the next, so concurrent requests share one
// device flush. Between two appends the file may be rotated (docs/spec/audit-log.md): when the
// next event would take kms.log past maxFileBytes, kms.log becomes kms.log.1 (kms.log.1
// becomes kms.log.2, …), the files beyond maxFiles are deleted (the oldest), and the rest
// of the batch starts a new kms.log. Events are never split, so each is in exactly one
// file, and the newest are always in kms.log.
//
// Preallocation: a synchronous append must also make the file's new size durable (a
// journal commit), while overwriting blocks already written and synced flushes only the
// data (measured on ext4 here: 1.3-3.2 ms against 0.16-0.22 ms on one day, medians of
// 0.22 against 0.14 ms on a day when the disk's cache flush dominated both). So the writer fills kms.log with zero bytes
// preallocateBytes ahead of its last event (when COFFER_AUDIT_PREALLOCATE_MB turns it on) and overwrites them; the zero tail is synced
// with the batch that first needs it, once per extent. Readers stop at the last "\n"
// (log-files.ts), which JSON lines end with and zero bytes never contain. open() cuts the
// file back to its last "\n" (dropping a line torn by a crash and the old tail);
// rotation and close() cut the tail off, so rotated and cleanly closed files hold lines only.
//
// Fail closed: when a write or sync fails (disk full, I/O error) the log refuses new
// requests (checkWritable) and retries every second; the events it could not write are
// held and written first when it recovers (group-commit.ts, shared with the database
// store). audit/reserve holds disk space that a full disk gets back, so the records of
// requests already acting still land.

import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AuditEvent } from './sink.js';
import { GroupCommit } from './group-commit.js';
import { cloudTrailLine } from './cloudtrail.js';
import type { AuditStore } from './audit-store.js';
import type { CloudTrailEvent } from './event.js';
import { AUDIT_DIR, AUDIT_FILE, completeLength, filesOldestFirst, linesForward, logFileName } from './log-files.js';
import { matches, queryAudit, type AuditFilter, type AuditPage, type AuditPageRequest } from './query.js';

export type { CloudTrailEvent } from './event.js';
export { AUDIT_DIR, AUDIT_FILE } from './log-files.js';

/** The file in the audit directory that holds disk space for a full disk. */
export const RESERVE_FILE = 'reserve';

/** Disk space held in audit/reserve and given back when the disk fills (RESERVE_FILE). */
const RESERVE_BYTES = 1024 * 1024;

const ZEROS = Buffer.alloc(64 * 1024);

/** Where rotation starts and how many files are kept (config: COFFER_AUDIT_MAX_FILE_MB, COFFER_AUDIT_MAX_FILES). */
export interface AuditLogOptions {
  /**
   * Zero bytes written ahead of the last event, so that a batch's synchronous write has no new file
   * size to sync (COFFER_AUDIT_PREALLOCATE_MB). Default 0: off — kms.log then holds whole
   * lines only, as a log shipper tailing it expects.
   */
  preallocateBytes?: number;
  /** kms.log is rotated before an append would take it past this size. Default 64 MiB. */
  maxFileBytes?: number;
  /** Files kept, kms.log included (at least 2). Default 10. */
  maxFiles?: number;
  /** Where write failures are reported. */
  log?: Logger;
  /** Each batch durable before its events resolve (config fsync: kms.log written with O_DSYNC). Default true; off, a record survives a crash of the process but not of the machine. */
  fsync?: boolean;
  /** Bytes held in audit/reserve for a full disk. Default 1 MiB. */
  reserveBytes?: number;
}

export class AuditLog implements AuditStore {
  /** Queues the lines, writes them in batches, holds them while the log fails. */
  private readonly commit: GroupCommit<string>;
  private reserved = false;
  private readonly fsync: boolean;
  private readonly reserveBytes: number;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private readonly preallocateBytes: number;
  /** The file's length: `size` bytes of events, then zero bytes up to here (preallocated). */
  private allocated: number;

  private constructor(
    private handle: FileHandle,
    /** Bytes of events in kms.log (whole lines); the next batch is written here. */
    private size: number,
    readonly dir: string,
    readonly path: string,
    private readonly region: string,
    private readonly opts: AuditLogOptions,
  ) {
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.maxFiles = Math.max(2, opts.maxFiles ?? 10);
    this.preallocateBytes = opts.preallocateBytes ?? 0;
    this.fsync = opts.fsync ?? true;
    this.reserveBytes = opts.reserveBytes ?? RESERVE_BYTES;
    this.allocated = size;
    this.commit = new GroupCommit<string>({
      write: (lines) => this.append(lines),
      // The reserve is taken back before the held lines are written again.
      beforeRetry: () => this.takeReserve(),
      rewrite: (lines) => this.appendOnce(lines),
      log: opts.log,
    });
  }

  static async open(dataDir: string, region: string, opts: AuditLogOptions = {}): Promise<AuditLog> {
    const dir = join(dataDir, AUDIT_DIR);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, AUDIT_FILE);
    const { handle, size } = await openLive(path, opts.fsync ?? true);
    const log = new AuditLog(handle, size, dir, path, region, opts);
    // A disk already full at start: the log starts failing and recovers when there is room.
    await log.takeReserve().catch((err: unknown) => log.commit.fail(err));
    return log;
  }

  /**
   * Group commit: everything queued is appended and synced as one batch, and the events
   * recorded meanwhile wait for the next one, so concurrent requests share one fsync.
   */
  record(e: AuditEvent): Promise<void> {
    return this.commit.add(cloudTrailLine(e, this.region));
  }

  /** Throws while the log cannot be written: requests that need a record are refused before they act. */
  checkWritable(): void {
    this.commit.checkWritable();
  }

  /**
   * Appends `lines` durably. On a full disk the reserve is given back and the batch tried
   * once more — these are the records of requests that already acted — and the log is
   * marked failing, so new requests are refused until the disk has room again.
   */
  private async append(lines: string[]): Promise<void> {
    try {
      await this.appendOnce(lines);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || !(await this.releaseReserve())) throw err;
      this.commit.fail(err);
      await this.appendOnce(lines);
    }
  }

  /**
   * Writes `lines` in order, rotating between events when kms.log would pass
   * maxFileBytes (an event larger than the limit gets a file of its own), then syncs.
   * Lines are removed from `lines` once synced. On failure kms.log is cut back to its last
   * synced event, so a retry never glues a line onto a torn one nor writes one twice.
   */
  private async appendOnce(lines: string[]): Promise<void> {
    let synced = this.size;
    let unsynced = 0;
    try {
      while (unsynced < lines.length) {
        const room = this.maxFileBytes - this.size;
        let bytes = 0;
        let j = unsynced;
        while (j < lines.length) {
          const n = Buffer.byteLength(lines[j]!);
          if (bytes + n > room && !(j === unsynced && this.size === 0)) break;
          bytes += n;
          j++;
        }
        if (j === unsynced) {
          // What went into this file is durable (O_DSYNC writes) before it is renamed away.
          lines.splice(0, unsynced);
          unsynced = 0;
          synced = this.size;
          try {
            await this.rotate();
            synced = 0;
            continue;
          } catch (err) {
            this.opts.log?.error({ err }, 'audit log rotation failed; appending to the current file');
            j = 1;
          }
        }
        const chunk = Buffer.from(lines.slice(unsynced, j).join(''));
        await writeAll(this.handle, chunk, this.size);
        this.size += chunk.length;
        if (this.size > this.allocated) {
          this.allocated = this.size;
          await this.preallocate();
        }
        unsynced = j;
      }
      lines.length = 0;
    } catch (err) {
      await this.handle.truncate(synced).catch(() => undefined);
      this.size = synced;
      this.allocated = synced;
      throw err;
    }
  }

  /**
   * Extends kms.log with zero bytes up to PREALLOCATE_BYTES past its last event (not past
   * maxFileBytes), synced before the batch's events resolve. Best effort: when the disk cannot
   * take them the tail is cut off again and the log appends as it would without.
   */
  private async preallocate(): Promise<void> {
    const target = Math.min(this.size + this.preallocateBytes, this.maxFileBytes);
    if (this.allocated >= target) return; // preallocation off (the default): nothing to write
    // With fsync on, the zeros go through a descriptor of their own without O_DSYNC and are
    // synced once: through kms.log's O_DSYNC descriptor every 64 KiB of them would be a device
    // flush of its own (measured here: 4 MiB in 71–108 ms against 7–11).
    let zeros: FileHandle | undefined;
    try {
      zeros = this.fsync ? await open(this.path, fsConstants.O_WRONLY) : this.handle;
      while (this.allocated < target) {
        const n = Math.min(ZEROS.length, target - this.allocated);
        await writeAll(zeros, ZEROS.subarray(0, n), this.allocated);
        this.allocated += n;
      }
      if (zeros !== this.handle) await zeros.datasync();
    } catch {
      await this.handle.truncate(this.size);
      this.allocated = this.size;
    } finally {
      if (zeros !== undefined && zeros !== this.handle) await zeros.close().catch(() => undefined);
    }
  }

  /** Cuts the preallocated zero tail off kms.log (before a rotation and on close). */
  private async dropTail(): Promise<void> {
    if (this.allocated === this.size) return;
    await this.handle.truncate(this.size);
    this.allocated = this.size;
  }

  /** Holds RESERVE_BYTES of disk in audit/reserve (once), so a full disk still takes the records of requests in flight. */
  private async takeReserve(): Promise<void> {
    if (this.reserved) return;
    const path = join(this.dir, RESERVE_FILE);
    try {
      await writeFile(path, Buffer.alloc(this.reserveBytes), { mode: 0o600 });
    } catch (err) {
      await unlink(path).catch(() => undefined);
      throw err;
    }
    this.reserved = true;
  }

  private async releaseReserve(): Promise<boolean> {
    if (!this.reserved) return false;
    this.reserved = false;
    await unlink(join(this.dir, RESERVE_FILE)).catch(() => undefined);
    return true;
  }

  /** kms.log → kms.log.1 → kms.log.2 …; the files from index maxFiles - 1 on are deleted first (the oldest). */
  private async rotate(): Promise<void> {
    const present: number[] = [];
    for (const name of await readdir(this.dir)) {
      const m = /^kms\.log\.(\d+)$/.exec(name);
      if (!m) continue;
      if (Number(m[1]) >= this.maxFiles - 1) await unlink(join(this.dir, name));
      else present.push(Number(m[1]));
    }
    // Renames go oldest first, so a reader walking newest first meets each file once
    // (log-files.ts skips a file it has already seen under another index).
    await this.dropTail();
    for (const i of [...present.sort((x, y) => y - x), 0]) await rename(logFileName(this.dir, i), logFileName(this.dir, i + 1));
    const old = this.handle;
    const live = await openLive(this.path, this.fsync);
    this.handle = live.handle;
    this.size = this.allocated = live.size;
    await old.close();
  }

  /** Waits until every event recorded so far is stored or held (not for later ones: a busy log still answers). */
  flush(): Promise<void> {
    return this.commit.flush();
  }

  /** A page read straight from the files (query.ts); call flush() first to include what is still queued. */
  query(request: AuditPageRequest): Promise<AuditPage> {
    return queryAudit(this.dir, request);
  }

  async close(): Promise<void> {
    await this.commit.close();
    try {
      await this.dropTail();
    } finally {
      await this.handle.close();
    }
  }
}

/**
 * Opens kms.log for writing (created with mode 0600) and cuts it back to its last "\n":
 * a line torn by a crash and a preallocated tail are dropped, so the next event starts a
 * line of its own. Returns the length kept.
 */
async function openLive(path: string, dsync: boolean): Promise<{ handle: FileHandle; size: number }> {
  const handle = await open(path, fsConstants.O_RDWR | fsConstants.O_CREAT | (dsync ? fsConstants.O_DSYNC : 0), 0o600);
  try {
    const { size: length } = await handle.stat();
    const size = await completeLength(handle, length);
    if (size < length) await handle.truncate(size);
    return { handle, size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

async function writeAll(h: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) done += (await h.write(buf, done, buf.length - done, position + done)).bytesWritten;
}

export interface AuditQuery extends AuditFilter {
  /** Only the newest N matches. */
  limit?: number;
}

/**
 * Reads events back, newest last, filtered, across the rotated files (for tests and
 * small logs: it holds every match in memory; paged reads use query.ts's queryAudit).
 * `path` is the audit directory or its kms.log.
 */
export async function readAudit(path: string, q: AuditQuery = {}): Promise<CloudTrailEvent[]> {
  const dir = path.endsWith(AUDIT_FILE) ? path.slice(0, -AUDIT_FILE.length - 1) : path;
  let files;
  try {
    files = await filesOldestFirst(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: CloudTrailEvent[] = [];
  try {
    for (const f of files) {
      for await (const line of linesForward(f)) {
        let ev: CloudTrailEvent;
        try {
          ev = JSON.parse(line.text) as CloudTrailEvent;
        } catch {
          continue; // a line torn by a crash
        }
        if (matches(ev, q)) out.push(ev);
      }
    }
  } finally {
    for (const f of files) await f.handle.close();
  }
  return q.limit ? out.slice(-q.limit) : out;
}
