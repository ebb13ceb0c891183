// GET /_coffer/api/audit/events: the audit log for the console, one page at a time,
// newest first. Authorized as cloudtrail:LookupEvents (the nearest AWS API). Query
// parameters and the page token are query.ts's: principal, key, bucket, event, error,
// since, until, limit (default 50, at most 1000), nextToken.
//
// The answer is {"events": [CloudTrailEvent…], "nextToken"?: string}; a bad parameter
// is a 400 ValidationException naming it.

import type { AdminRoute } from '../admin/route.js';
import type { AuditStore } from './audit-store.js';
import { parseAuditQuery } from './query.js';

/** The route paging through the server's audit store. */
export function auditEventsRoute(audit: Pick<AuditStore, 'flush' | 'query'>): AdminRoute {
  return {
    method: 'GET',
    path: 'audit/events',
    action: 'cloudtrail:LookupEvents',
    async run(r) {
      const q = parseAuditQuery((name) => r.query.get(name) ?? undefined);
      // Events recorded before this request are stored before it reads.
      await audit.flush();
      return audit.query(q);
    },
  };
}
