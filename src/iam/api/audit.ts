// Which IAM and STS calls the audit log records, and with what: the management writes
// (every IAM operation that is not a Get, List or Simulate; STS AssumeRole and
// GetSessionToken), allowed or refused, with only the members that identify what was
// acted on. An allow-list: a member not named here (a policy document, a session policy,
// an ExternalId, tags' values) never reaches the log, whatever operation carries it.

import type { AuditEvent, AuditEventSource } from '../../audit/sink.js';
import type { Principal } from '../../auth/types.js';

/** The Query members recorded, by their CloudTrail (camelCase) names. Never a secret, token or policy text. */
const SAFE_MEMBERS = [
  'UserName', 'NewUserName', 'GroupName', 'NewGroupName', 'RoleName', 'PolicyName', 'PolicyArn', 'VersionId', 'SetAsDefault',
  'AccessKeyId', 'Status', 'Path', 'NewPath', 'MaxSessionDuration', 'RoleArn', 'RoleSessionName', 'DurationSeconds',
] as const;
const NUMERIC = new Set(['MaxSessionDuration', 'DurationSeconds']);
const MAX_VALUE = 256; // identifiers are short; a longer value is cut, the call is refused by validation anyway

const STS_RECORDED = new Set(['AssumeRole', 'GetSessionToken']);

/** The event source of a recorded call, or undefined when the call is read-only and not recorded. */
export function recordedSource(service: 'iam' | 'sts', action: string): AuditEventSource | undefined {
  if (service === 'sts') return STS_RECORDED.has(action) ? 'sts.amazonaws.com' : undefined;
  return /^(Get|List|Simulate)/.test(action) ? undefined : 'iam.amazonaws.com';
}

/** requestParameters of a call: the safe members present in its form. */
export function safeParameters(form: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of SAFE_MEMBERS) {
    const v = form.get(m);
    if (v === null) continue;
    const cut = v.length > MAX_VALUE ? v.slice(0, MAX_VALUE) + '...' : v;
    out[m[0]!.toLowerCase() + m.slice(1)] = NUMERIC.has(m) && /^\d{1,9}$/.test(v) ? Number(v) : cut;
  }
  return out;
}

export interface CallRecord {
  source: AuditEventSource;
  action: string;
  principal: Principal;
  requestId: string;
  sourceIp?: string;
  userAgent?: string;
  params: Record<string, unknown>;
}

/** The AuditEvent of a recorded call; `error` when it was refused or failed. */
export function callEvent(r: CallRecord, error?: { code: string; message: string }): AuditEvent {
  return {
    eventSource: r.source,
    eventName: r.action,
    caller: { principal: r.principal, requestId: r.requestId, sourceIp: r.sourceIp, userAgent: r.userAgent },
    requestParameters: r.params,
    resources: [],
    ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
  };
}
