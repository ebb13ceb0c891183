// Queries of the audit log: one filter, one parser of the query parameters and one pager,
// shared by the administration route (GET /_coffer/api/audit/events) and
// `coffer audit query`.
//
// A page is read newest first straight from the files (log-files.ts reads them backwards
// in 64 KiB chunks) and the walk stops as soon as the page is full or the events get
// older than `since`, so a page costs what it skips, never the whole log. The next-page
// token names the position of the page's last event — the file by inode (rotation renames
// files, the inode stays) and the byte offset of its line — so events that arrive while
// a client pages land before the first page and never shift later pages.

import { createHash } from 'node:crypto';
import { ServiceError } from '../errors.js';
import type { CloudTrailEvent } from './event.js';
import { filesNewestFirst, linesBackward, linesForward, type OpenLogFile } from './log-files.js';

export interface AuditFilter {
  /** A principal ARN, an IAM user name, a role name or ARN, a role session ("role/session" or "session"), or "root". */
  principal?: string;
  /** A key id or key ARN (or an alias name as the caller gave it). */
  key?: string;
  /** Events whose encryption context's aws:s3:arn is this bucket or an object in it. */
  bucket?: string;
  eventName?: string;
  /** An error code; "any" for every failure, "none" for successes only. */
  error?: string;
  since?: Date;
  until?: Date;
}

export interface AuditPageRequest extends AuditFilter {
  limit: number;
  nextToken?: string;
}

export interface AuditPage {
  /** Newest first. */
  events: CloudTrailEvent[];
  nextToken?: string;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 1000;

export function matches(ev: CloudTrailEvent, f: AuditFilter): boolean {
  if (f.eventName !== undefined && ev.eventName !== f.eventName) return false;
  if (f.error !== undefined) {
    if (f.error === 'any' ? !ev.errorCode : f.error === 'none' ? ev.errorCode : ev.errorCode !== f.error) return false;
  }
  if (f.since || f.until) {
    const t = Date.parse(ev.eventTime);
    if (f.since && t < f.since.getTime()) return false;
    if (f.until && t > f.until.getTime()) return false;
  }
  if (f.principal !== undefined && !principalMatches(ev, f.principal)) return false;
  if (f.key !== undefined && !keyMatches(ev, f.key)) return false;
  if (f.bucket !== undefined && !bucketMatches(ev, f.bucket)) return false;
  return true;
}

/**
 * Substrings every line of a matching event contains: a line without them is skipped
 * without parsing it (JSON.parse is most of a scan's cost; the database store asks
 * PostgreSQL to skip them). A superset test only — matches() decides.
 */
export function needles(f: AuditFilter): string[] {
  const inJson = (v: string) => JSON.stringify(v).slice(1, -1);
  const out: string[] = [];
  if (f.eventName !== undefined) out.push(`"eventName":${JSON.stringify(f.eventName)}`);
  if (f.error !== undefined && f.error !== 'none') out.push(f.error === 'any' ? '"errorCode":' : `"errorCode":${JSON.stringify(f.error)}`);
  if (f.principal !== undefined) out.push(inJson(f.principal));
  if (f.key !== undefined) out.push(inJson(f.key));
  if (f.bucket !== undefined) out.push(`arn:aws:s3:::${f.bucket}`);
  return out;
}

const EVENT_TIME = '"eventTime":"';

/** The eventTime of a serialized event without parsing it (NaN if absent). */
function eventTimeOf(line: string): number {
  const i = line.indexOf(EVENT_TIME);
  return i < 0 ? NaN : Date.parse(line.slice(i + EVENT_TIME.length, line.indexOf('"', i + EVENT_TIME.length)));
}

function principalMatches(ev: CloudTrailEvent, p: string): boolean {
  const u = ev.userIdentity;
  if (u.arn === p || u.userName === p || u.principalId === p) return true;
  if (p === 'root' && u.type === 'Root') return true;
  const issuer = u.sessionContext?.sessionIssuer;
  if (issuer && (issuer.arn === p || issuer.userName === p)) return true;
  const session = /:assumed-role\/([^/]+)\/(.+)$/.exec(u.arn ?? '');
  return session !== null && (p === session[2] || p === `${session[1]}/${session[2]}`);
}

function keyMatches(ev: CloudTrailEvent, key: string): boolean {
  if (ev.resources.some((r) => r.ARN === key || r.ARN.endsWith('/' + key))) return true;
  return key.startsWith('alias/') && ev.requestParameters?.keyId === key;
}

function bucketMatches(ev: CloudTrailEvent, bucket: string): boolean {
  const ctx = ev.requestParameters?.encryptionContext;
  if (typeof ctx !== 'object' || ctx === null) return false;
  const arn = (ctx as Record<string, unknown>)['aws:s3:arn'];
  if (typeof arn !== 'string') return false;
  const b = `arn:aws:s3:::${bucket}`;
  return arn === b || arn.startsWith(b + '/');
}

/** A bad query parameter: a 400 ValidationException on the route, "invalid --<param>" with a hint in the CLI. */
export class AuditQueryError extends ServiceError {
  constructor(readonly param: string, readonly value: string, readonly hint: string) {
    super('ValidationException', `Invalid ${param} "${value}": ${hint}.`, 400);
  }
}

export function invalid(param: string, value: string, hint: string): AuditQueryError {
  return new AuditQueryError(param, value, hint);
}

/** "15m", "2h", "7d" (before now) or an ISO 8601 time. */
export function parseTime(name: string, v: string, now = Date.now()): Date {
  const m = /^(\d+)([smhd])$/.exec(v);
  if (m) return new Date(now - Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2] as 's' | 'm' | 'h' | 'd']);
  const t = /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw invalid(name, v, 'use a duration before now such as 15m, 2h or 7d, or an ISO 8601 time such as 2026-11-27T10:00:00Z');
  return new Date(t);
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The query parameters of the route and the options of the CLI, validated: principal,
 * key, bucket, event, error, since, until, limit, nextToken. Throws ValidationException.
 */
export function parseAuditQuery(get: (name: string) => string | undefined, now = Date.now()): AuditPageRequest {
  const str = (name: string): string | undefined => {
    const v = get(name);
    if (v === undefined) return undefined;
    if (v === '' || v.length > 2048) throw invalid(name, v.slice(0, 64), 'give a value of 1 to 2048 characters');
    return v;
  };
  const q: AuditPageRequest = { limit: DEFAULT_PAGE };
  const principal = str('principal');
  if (principal !== undefined) q.principal = principal;
  const key = str('key');
  if (key !== undefined) q.key = key;
  const bucket = str('bucket');
  if (bucket !== undefined) {
    if (!BUCKET.test(bucket)) throw invalid('bucket', bucket, 'give a bucket name such as my-bucket (not an ARN or a URL)');
    q.bucket = bucket;
  }
  const event = str('event');
  if (event !== undefined) {
    if (!/^[A-Za-z]+$/.test(event)) throw invalid('event', event, 'give an event name such as Decrypt or GenerateDataKey');
    q.eventName = event;
  }
  const error = str('error');
  if (error !== undefined) {
    if (!/^[A-Za-z.:]+$/.test(error)) throw invalid('error', error, 'give an error code such as AccessDeniedException, or "any" for every failure, or "none" for successes');
    q.error = error;
  }
  const since = str('since');
  if (since !== undefined) q.since = parseTime('since', since, now);
  const until = str('until');
  if (until !== undefined) q.until = parseTime('until', until, now);
  if (q.since && q.until && q.since.getTime() > q.until.getTime()) throw invalid('until', until!, 'the time range is empty: until is earlier than since');
  const limit = str('limit');
  if (limit !== undefined) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE) throw invalid('limit', limit, `give a whole number from 1 to ${MAX_PAGE}`);
    q.limit = Number(limit);
  }
  const token = str('nextToken');
  if (token !== undefined) q.nextToken = token;
  return q;
}

/** What a next-page token holds (docs/spec/audit-log.md). */
interface PageToken {
  v: 1;
  /** Inode of the file holding the last event of the previous page. */
  i: string;
  /** Byte offset of that event's line. */
  o: number;
  /** Its eventID, to notice a file that was rotated away and whose inode was reused. */
  e: string;
  /** Fingerprint of the filters the token was issued for. */
  q: string;
  /** The time window of the first page, in ms (a duration such as 15m is fixed by the first page). */
  s?: number;
  u?: number;
}

/** The filters a page token was issued for, as the token's `q`. */
export function fingerprint(f: AuditFilter): string {
  const parts = [f.principal, f.key, f.bucket, f.eventName, f.error].map((x) => x ?? '');
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 12);
}

function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeToken(s: string, f: AuditFilter): PageToken {
  let t: PageToken;
  try {
    t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as PageToken;
  } catch {
    throw invalid('nextToken', s.slice(0, 64), 'pass the nextToken of the previous page unchanged');
  }
  if (t === null || typeof t !== 'object' || t.v !== 1 || typeof t.i !== 'string' || !Number.isSafeInteger(t.o) || t.o < 0 || typeof t.e !== 'string' || typeof t.q !== 'string') {
    throw invalid('nextToken', s.slice(0, 64), 'pass the nextToken of the previous page unchanged');
  }
  if (t.q !== fingerprint(f)) throw invalid('nextToken', s.slice(0, 64), 'it was issued for a query with other filters; repeat the filters of the first page');
  return t;
}

/** One page of matching events, newest first, from the audit directory `dir`. */
export async function queryAudit(dir: string, req: AuditPageRequest): Promise<AuditPage> {
  const filter: AuditFilter = { ...req };
  let resume: PageToken | undefined;
  if (req.nextToken !== undefined) {
    resume = decodeToken(req.nextToken, req);
    filter.since = resume.s === undefined ? undefined : new Date(resume.s);
    filter.until = resume.u === undefined ? undefined : new Date(resume.u);
  }
  const since = filter.since?.getTime();
  const until = filter.until?.getTime();
  const required = needles(filter);
  const events: CloudTrailEvent[] = [];
  try {
    for await (const f of filesNewestFirst(dir)) {
      let before = f.size;
      if (resume) {
        if (f.ino !== resume.i) continue; // newer than the previous page
        if (!(await eventAt(f, resume.o, resume.e))) return { events };
        before = resume.o;
        resume = undefined;
      }
      for await (const line of linesBackward(f, before)) {
        // Cheap tests first: events newer than `until`, lines without the filters' substrings.
        if (until !== undefined && eventTimeOf(line.text) > until) continue;
        if (!required.every((n) => line.text.includes(n))) {
          if (since !== undefined && eventTimeOf(line.text) < since) return { events };
          continue;
        }
        let ev: CloudTrailEvent;
        try {
          ev = JSON.parse(line.text) as CloudTrailEvent;
        } catch {
          continue; // a line torn by a crash
        }
        // The log is in time order: nothing further back can be in the window.
        if (since !== undefined && Date.parse(ev.eventTime) < since) return { events };
        if (!matches(ev, filter)) continue;
        events.push(ev);
        if (events.length === req.limit) {
          const token: PageToken = { v: 1, i: f.ino, o: line.start, e: ev.eventID, q: fingerprint(filter) };
          if (filter.since) token.s = filter.since.getTime();
          if (filter.until) token.u = filter.until.getTime();
          return { events, nextToken: encodeToken(token) };
        }
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { events };
    throw e;
  }
  // A token whose file is gone: that file and every older one were rotated away.
  return { events };
}

/** Whether the line at `offset` of `f` is the event `eventId`. */
async function eventAt(f: OpenLogFile, offset: number, eventId: string): Promise<boolean> {
  if (offset >= f.size) return false;
  for await (const line of linesForward(f, offset)) {
    return line.text.includes(`"eventID":"${eventId}"`);
  }
  return false;
}
