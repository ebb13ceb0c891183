// GET /_coffer/api/usage — the usage report (report.ts) for the console and scripts.
// Query: since (ISO or 12h/7d/2w, default 30d), until (ISO, default now), by
// (principal|key|bucket|operation, default key), granularity (hour|day, default hour).
// IAM action coffer:GetUsage (no AWS API reports KMS usage per principal and bucket).

import { adminError, type AdminRoute } from '../admin/route.js';
import type { PriceTable } from './prices.js';
import { parseUsageQuery, usageReport, UsageQueryError } from './report.js';
import type { UsageStore } from './usage-store.js';

export function usageRoute(deps: { store: UsageStore; prices: PriceTable; sync?: () => Promise<void> }): AdminRoute {
  return {
    method: 'GET',
    path: 'usage',
    action: 'coffer:GetUsage',
    async run(r) {
      let q;
      try {
        q = parseUsageQuery({ since: r.query.get('since'), until: r.query.get('until'), by: r.query.get('by'), granularity: r.query.get('granularity') });
      } catch (e) {
        if (e instanceof UsageQueryError) throw adminError('ValidationException', `${e.message} (${e.hint})`);
        throw e;
      }
      // The counts of the last second are still in memory: write them (and a due key sample) so the answer includes them.
      await deps.sync?.();
      return usageReport(deps.store, q, deps.prices);
    },
  };
}
