// GET /_coffer/api/audit/events: the audit log for the console, one page at a time,
// newest first. Authorized as cloudtrail:LookupEvents (the nearest AWS API). Query
// parameters and the page token are query.ts's: principal, key, bucket, event, error,
// since, until, limit (default 50, at most 1000), nextToken.
//
// The answer is {"events": [CloudTrailEvent…], "nextToken"?: string}; a bad parameter
// is a 400 ValidationException naming it.

import type { AdminRoute } from '../admin/route.js';
import { parseAuditQuery, queryAudit } from './query.js';

/** The route reading the audit directory `dir` (<data-dir>/audit). */
export function auditEventsRoute(dir: string, beforeRead: () => Promise<void> = async () => {}): AdminRoute {
  return {
    method: 'GET',
    path: 'audit/events',
    action: 'cloudtrail:LookupEvents',
    async run(r) {
      const q = parseAuditQuery((name) => r.query.get(name) ?? undefined);
      // Events recorded before this request are on disk before it reads.
      await beforeRead();
      return queryAudit(dir, q);
    },
  };
}
