// The append-only audit log: one CloudTrail-shaped JSON event per line in
// <data-dir>/audit/kms.log. Every KMS use is recorded — API calls and the calls S3
// makes on a user's behalf — with the principal, the key and the encryption context,
// never plaintext or key material (operations hand over sanitized parameters only).

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AuditEvent, AuditSink } from '../kms/service.js';

export interface CloudTrailEvent {
  eventVersion: '1.08';
  /** Service events (scheduled deletion, automatic rotation) carry only accountId and invokedBy, as CloudTrail's do. */
  userIdentity: {
    type?: 'Root' | 'IAMUser' | 'AssumedRole';
    principalId?: string;
    arn?: string;
    accountId: string;
    userName?: string;
    invokedBy?: string;
    /** Temporary credentials: the session's access key id. */
    accessKeyId?: string;
    /** Role sessions: the role that issued the session, as CloudTrail's sessionContext. */
    sessionContext?: { sessionIssuer: { type: 'Role'; principalId: string; arn: string; accountId: string; userName: string } };
  };
  eventTime: string;
  eventSource: 'kms.amazonaws.com';
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent?: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: null;
  additionalEventData?: Record<string, unknown>;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources: { ARN: string; accountId: string; type: string }[];
  eventType: 'AwsApiCall' | 'AwsServiceEvent';
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: 'Management';
  errorCode?: string;
  errorMessage?: string;
}

const READ_ONLY = new Set(['DescribeKey', 'ListKeys', 'ListAliases', 'GetKeyPolicy', 'ListKeyPolicies', 'GetKeyRotationStatus', 'ListKeyRotations', 'ListResourceTags', 'ListGrants', 'ListRetirableGrants', 'GenerateRandom']);
const DATA_PLANE = new Set(['Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateRandom']);

export const AUDIT_DIR = 'audit';
export const AUDIT_FILE = 'kms.log';

export class AuditLog implements AuditSink {
  private constructor(private readonly stream: WriteStream, readonly path: string, private readonly region: string) {}

  static async open(dataDir: string, region: string): Promise<AuditLog> {
    const dir = join(dataDir, AUDIT_DIR);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, AUDIT_FILE);
    const stream = createWriteStream(path, { flags: 'a', mode: 0o600 });
    return new AuditLog(stream, path, region);
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
    // Events of one turn of the event loop go out in one write (cork until the next tick).
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(JSON.stringify(event) + '\n');
  }
  private corked = false;

  /** Waits until every recorded event is handed to the OS. */
  async flush(): Promise<void> {
    if (this.stream.writableLength === 0) return;
    // 'drain' only fires after a write that hit the high-water mark; an empty write's
    // callback runs once everything queued before it has been written.
    await new Promise<void>((resolve, reject) => this.stream.write('', (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
  }
}

export interface AuditQuery {
  principal?: string;
  key?: string;
  eventName?: string;
  since?: Date;
  limit?: number;
}

/** Reads events back, newest last, filtered. */
export async function readAudit(path: string, q: AuditQuery = {}): Promise<CloudTrailEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: CloudTrailEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    let ev: CloudTrailEvent;
    try {
      ev = JSON.parse(line) as CloudTrailEvent;
    } catch {
      continue; // a torn last line from a crash
    }
    if (q.principal && ev.userIdentity.arn !== q.principal && ev.userIdentity.userName !== q.principal) continue;
    if (q.key && !ev.resources.some((r) => r.ARN === q.key || r.ARN.endsWith('/' + q.key))) continue;
    if (q.eventName && ev.eventName !== q.eventName) continue;
    if (q.since && Date.parse(ev.eventTime) < q.since.getTime()) continue;
    out.push(ev);
  }
  return q.limit ? out.slice(-q.limit) : out;
}
