// The append-only audit log: one CloudTrail-shaped JSON event per line in
// <data-dir>/audit/kms.log. Every KMS use is recorded — API calls and the calls S3
// makes on a user's behalf — with the principal, the key and the encryption context,
// never plaintext or key material (operations hand over sanitized parameters only).
//
// Writing never waits on the disk: record() queues the line, and the events of the next
// 2 ms (or of the time the previous append takes) go out in one append. Between two appends the file may be rotated
// (docs/spec/audit-log.md): when the next event would take kms.log past maxFileBytes,
// kms.log becomes kms.log.1 (kms.log.1 becomes kms.log.2, …), the files beyond maxFiles
// are deleted (the oldest), and the rest of the batch starts a new kms.log. Events are
// never split, so each is in exactly one file, and the newest are always in kms.log.

import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AuditEvent } from './sink.js';
import type { AuditStore } from './audit-store.js';
import type { CloudTrailEvent } from './event.js';
import { AUDIT_DIR, AUDIT_FILE, filesOldestFirst, linesForward, logFileName } from './log-files.js';
import { matches, queryAudit, type AuditFilter, type AuditPage, type AuditPageRequest } from './query.js';

export type { CloudTrailEvent } from './event.js';
export { AUDIT_DIR, AUDIT_FILE } from './log-files.js';

/** How long the first event of a batch waits for others before the batch is appended. */
const BATCH_MS = 2;

/** Where rotation starts and how many files are kept (config: COFFER_AUDIT_MAX_FILE_MB, COFFER_AUDIT_MAX_FILES). */
export interface AuditLogOptions {
  /** kms.log is rotated before an append would take it past this size. Default 64 MiB. */
  maxFileBytes?: number;
  /** Files kept, kms.log included (at least 2). Default 10. */
  maxFiles?: number;
  /** Where write failures are reported. */
  log?: Logger;
}

const READ_ONLY = new Set(['DescribeKey', 'ListKeys', 'ListAliases', 'GetKeyPolicy', 'ListKeyPolicies', 'GetKeyRotationStatus', 'ListKeyRotations', 'ListResourceTags', 'ListGrants', 'ListRetirableGrants', 'GenerateRandom']);
const DATA_PLANE = new Set(['Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateRandom']);

export class AuditLog implements AuditStore {
  private pending: string[] = [];
  private draining: Promise<void> | undefined;
  /** Events recorded and events handed to the OS (or given up on), for flush(). */
  private recorded = 0;
  private written = 0;
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private closed = false;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;

  private constructor(
    private handle: FileHandle,
    private size: number,
    readonly dir: string,
    readonly path: string,
    private readonly region: string,
    private readonly opts: AuditLogOptions,
  ) {
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.maxFiles = Math.max(2, opts.maxFiles ?? 10);
  }

  static async open(dataDir: string, region: string, opts: AuditLogOptions = {}): Promise<AuditLog> {
    const dir = join(dataDir, AUDIT_DIR);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, AUDIT_FILE);
    const handle = await open(path, 'a', 0o600);
    const { size } = await handle.stat();
    return new AuditLog(handle, size, dir, path, region, opts);
  }

  record(e: AuditEvent): void {
    if (e.eventType === 'AwsServiceEvent') {
      this.write(this.serviceEvent(e));
      return;
    }
    const p = e.caller.principal;
    const event: CloudTrailEvent = {
      eventVersion: '1.08',
      userIdentity: {
        type: p.kind === 'root' ? 'Root' : p.kind === 'user' ? 'IAMUser' : 'AssumedRole',
        principalId: p.kind === 'root' ? p.accountId : p.kind === 'assumed-role' ? `${p.roleId}:${p.sessionName}` : (p.userId ?? p.userName),
        arn: p.arn,
        accountId: p.accountId,
        ...(p.kind === 'user' ? { userName: p.userName } : {}),
        ...(p.temporary ? { accessKeyId: p.temporary.accessKeyId } : {}),
        ...(p.kind === 'assumed-role'
          ? { sessionContext: { sessionIssuer: { type: 'Role' as const, principalId: p.roleId, arn: p.roleArn, accountId: p.accountId, userName: p.roleName } } }
          : {}),
        ...(e.caller.viaService ? { invokedBy: 's3.amazonaws.com' } : {}),
      },
      eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: 'kms.amazonaws.com',
      eventName: e.eventName,
      awsRegion: this.region,
      sourceIPAddress: e.caller.viaService ? 's3.amazonaws.com' : (e.caller.sourceIp ?? 'unknown'),
      userAgent: e.caller.viaService ? 's3.amazonaws.com' : e.caller.userAgent,
      requestParameters: e.requestParameters,
      responseElements: null,
      requestID: e.caller.requestId,
      eventID: randomUUID(),
      readOnly: READ_ONLY.has(e.eventName),
      resources: e.resources,
      eventType: 'AwsApiCall',
      managementEvent: !DATA_PLANE.has(e.eventName),
      recipientAccountId: p.accountId,
      eventCategory: 'Management',
      ...(e.errorCode ? { errorCode: e.errorCode, errorMessage: e.errorMessage } : {}),
    };
    this.write(event);
  }

  /** What KMS does by itself, shaped as CloudTrail's AwsServiceEvent (invokedBy kms.amazonaws.com). */
  private serviceEvent(e: AuditEvent): CloudTrailEvent {
    const accountId = e.caller.principal.accountId;
    return {
      eventVersion: '1.08',
      userIdentity: { accountId, invokedBy: 'kms.amazonaws.com' },
      eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: 'kms.amazonaws.com',
      eventName: e.eventName,
      awsRegion: this.region,
      sourceIPAddress: 'kms.amazonaws.com',
      userAgent: 'kms.amazonaws.com',
      requestParameters: null,
      responseElements: null,
      ...(e.additionalEventData ? { additionalEventData: e.additionalEventData } : {}),
      requestID: e.caller.requestId,
      eventID: randomUUID(),
      readOnly: false,
      resources: e.resources,
      eventType: 'AwsServiceEvent',
      managementEvent: true,
      recipientAccountId: accountId,
      eventCategory: 'Management',
      ...(e.errorCode ? { errorCode: e.errorCode, errorMessage: e.errorMessage } : {}),
    };
  }

  private write(event: CloudTrailEvent): void {
    if (this.closed) return;
    this.pending.push(JSON.stringify(event) + '\n');
    this.recorded++;
    this.drain();
  }

  /**
   * Appends the queued events, one batch per 2 ms (BATCH_MS). A batch that would
   * take kms.log past maxFileBytes is cut between events: what fits is appended, the file
   * is rotated, and the rest starts the new kms.log (an event larger than the limit gets a
   * file of its own).
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = (async () => {
      // Let the events of the next couple of milliseconds join the batch: under load one
      // write carries many events instead of one (a write per event cost the data path ~5%).
      await new Promise<void>((resolve) => setTimeout(resolve, BATCH_MS));
      while (this.pending.length > 0) {
        const events = this.pending;
        this.pending = [];
        let i = 0;
        while (i < events.length) {
          const room = this.maxFileBytes - this.size;
          let bytes = 0;
          let j = i;
          while (j < events.length) {
            const n = Buffer.byteLength(events[j]!);
            if (bytes + n > room && !(j === i && this.size === 0)) break;
            bytes += n;
            j++;
          }
          if (j === i) {
            try {
              await this.rotate();
              continue;
            } catch (err) {
              this.opts.log?.error({ err }, 'audit log rotation failed; appending to the current file');
              j = i + 1;
            }
          }
          const chunk = Buffer.from(events.slice(i, j).join(''));
          try {
            await writeAll(this.handle, chunk);
            this.size += chunk.length;
          } catch (err) {
            this.opts.log?.error({ err, events: j - i }, 'audit log write failed');
          }
          this.written += j - i;
          this.waiters = this.waiters.filter((w) => (w.upTo <= this.written ? (w.resolve(), false) : true));
          i = j;
        }
      }
    })().finally(() => {
      this.draining = undefined;
      if (this.pending.length > 0) this.drain();
    });
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
    for (const i of [...present.sort((x, y) => y - x), 0]) await rename(logFileName(this.dir, i), logFileName(this.dir, i + 1));
    const old = this.handle;
    this.handle = await open(this.path, 'a', 0o600);
    this.size = 0;
    await old.close();
  }

  /** Waits until every event recorded so far is handed to the OS (not for later ones: a busy log still answers). */
  async flush(): Promise<void> {
    if (this.written >= this.recorded) return;
    await new Promise<void>((resolve) => this.waiters.push({ upTo: this.recorded, resolve }));
  }

  /** A page read straight from the files (query.ts); call flush() first to include what is still queued. */
  query(request: AuditPageRequest): Promise<AuditPage> {
    return queryAudit(this.dir, request);
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.draining;
    await this.handle.close();
  }
}

async function writeAll(h: FileHandle, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) done += (await h.write(buf, done, buf.length - done)).bytesWritten;
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
