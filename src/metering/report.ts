// The usage report that the admin route (GET /_coffer/api/usage) answers and `coffer
// usage` prints: requests and their estimated cost, key-months held, and what bucket
// keys saved, over a time range, grouped by principal, key, bucket or operation.
//
// Ranges are whole UTC hours (the unit counts are kept in): an hour counts when its
// start is in [since rounded down to the hour, until). The free tier applies per
// calendar month (UTC): requests of that month before the range use it up first. It covers
// symmetric-class requests only; asymmetric requests and data key pairs are priced apart
// (prices.ts, PriceClass).

import { HOUR_MS, type GroupBy, type UsageStore } from './usage-store.js';
import { HOURS_PER_MONTH, billableInMonth, classCost, keyCost, requestCost, usd, type PriceClass, type PriceTable } from './prices.js';

export const GROUPS: readonly GroupBy[] = ['principal', 'key', 'bucket', 'operation'];
export type Granularity = 'hour' | 'day';
const DAY_MS = 24 * HOUR_MS;
/** The group of counts without that dimension: no key (ListKeys), not via S3 (direct API calls). */
export const NONE = '(none)';

export interface UsageQuery {
  since: Date;
  until: Date;
  by: GroupBy;
  granularity: Granularity;
}

export interface UsageReport {
  since: string;
  until: string;
  by: GroupBy;
  granularity: Granularity;
  currency: 'USD';
  prices: PriceTable;
  requests: { total: number; errors: number; free: number; billable: number; estimatedCost: number };
  keys: { keyMonths: number; estimatedCost: number };
  estimatedCost: number;
  bucketKeys: { requestsAvoided: number; estimatedSavings: number };
  rows: { group: string; requests: number; errors: number; estimatedCost: number; requestsAvoided: number; keyMonths?: number }[];
  series: { time: string; group: string; requests: number }[];
}

/** Why a query parameter is wrong, with what would be right. */
export class UsageQueryError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

const UNITS: Record<string, number> = { m: 60_000, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS };

/** "90m", "12h", "7d", "2w" before now, or an ISO date. */
export function parseWhen(name: string, v: string, now: number): Date {
  const m = /^(\d+)([mhdw])$/.exec(v.trim());
  if (m) return new Date(now - Number(m[1]) * UNITS[m[2]!]!);
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageQueryError(`invalid ${name}: ${v}`, 'use a duration such as 12h, 7d, 2w, or an ISO date such as 2026-11-01 or 2026-11-27T10:00:00Z');
  return new Date(t);
}

/** Validates the route's (or the CLI's) parameters; defaults: since 30d, until now, by key, granularity hour. */
export function parseUsageQuery(p: { since?: string | null; until?: string | null; by?: string | null; granularity?: string | null }, now = Date.now()): UsageQuery {
  const since = parseWhen('since', p.since || '30d', now);
  const until = p.until ? parseWhen('until', p.until, now) : new Date(now);
  if (since.getTime() >= until.getTime()) throw new UsageQueryError('since must be before until', 'give an earlier since or a later until');
  const by = (p.by || 'key') as GroupBy;
  if (!GROUPS.includes(by)) throw new UsageQueryError(`invalid by: ${p.by}`, `use one of ${GROUPS.join(', ')}`);
  const granularity = (p.granularity || 'hour') as Granularity;
  if (granularity !== 'hour' && granularity !== 'day') throw new UsageQueryError(`invalid granularity: ${p.granularity}`, 'use hour or day');
  return { since, until, by, granularity };
}

function monthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextMonth(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Requests of the symmetric class and of each class outside the free tier, from classTotals rows. */
function splitClasses(rows: { priceClass: PriceClass; requests: number; avoided: number }[]) {
  let symmetric = 0;
  let avoided = 0;
  const others = new Map<Exclude<PriceClass, 'symmetric'>, number>();
  for (const r of rows) {
    avoided += r.avoided;
    if (r.priceClass === 'symmetric') symmetric += r.requests;
    else others.set(r.priceClass, (others.get(r.priceClass) ?? 0) + r.requests);
  }
  return { symmetric, avoided, others };
}

export async function usageReport(store: UsageStore, q: UsageQuery, prices: PriceTable): Promise<UsageReport> {
  const from = Math.floor(q.since.getTime() / HOUR_MS) * HOUR_MS;
  const to = q.until.getTime();
  // Per calendar month: billable symmetric-class requests as they are, and as they would be
  // had bucket keys not saved any. The other classes are outside the free tier (prices.ts).
  let total = 0;
  let errors = 0;
  let avoided = 0;
  let billable = 0;
  let billableWithout = 0;
  let symmetricInRange = 0;
  const otherRequests = new Map<Exclude<PriceClass, 'symmetric'>, number>();
  for (let m = monthStart(from); m < to; m = nextMonth(m)) {
    const lo = Math.max(m, from);
    const hi = Math.min(nextMonth(m), to);
    const before = splitClasses(await store.classTotals(m, lo));
    const inRange = splitClasses(await store.classTotals(lo, hi));
    const counts = await store.totals(lo, hi);
    total += counts.requests;
    errors += counts.errors;
    avoided += inRange.avoided;
    symmetricInRange += inRange.symmetric;
    billable += billableInMonth({ before: before.symmetric, inRange: inRange.symmetric }, prices);
    billableWithout += billableInMonth({ before: before.symmetric + before.avoided, inRange: inRange.symmetric + inRange.avoided }, prices);
    for (const [c, n] of inRange.others) otherRequests.set(c, (otherRequests.get(c) ?? 0) + n);
  }
  const symmetricCost = requestCost(billable, prices);
  const classCosts = new Map([...otherRequests].map(([c, n]) => [c, classCost(c, n)]));
  const otherBillable = [...otherRequests.values()].reduce((a, n) => a + n, 0);
  const requestsCost = symmetricCost + [...classCosts.values()].reduce((a, n) => a + n, 0);
  const keyHours = await store.keyHoursBy(from, to);
  const keyUnits = new Map(keyHours.map((k) => [k.keyArn, k.units]));
  const allKeyHours = keyHours.reduce((a, k) => a + k.units, 0);
  const keysCost = keyCost(allKeyHours, prices);

  // A group's request cost: its share of each class's cost, in proportion to its requests of that class (the free tier too).
  const groupCost = new Map<string, number>();
  for (const r of await store.classTotalsBy(q.by, from, to)) {
    const cost = r.priceClass === 'symmetric'
      ? (symmetricInRange > 0 ? (r.requests / symmetricInRange) * symmetricCost : 0)
      : ((otherRequests.get(r.priceClass) ?? 0) > 0 ? (r.requests / otherRequests.get(r.priceClass)!) * classCosts.get(r.priceClass)! : 0);
    groupCost.set(r.group, (groupCost.get(r.group) ?? 0) + cost);
  }
  const groups = await store.totalsBy(q.by, from, to);
  const rows: UsageReport['rows'] = groups.map((g) => {
    const share = groupCost.get(g.group) ?? 0;
    const units = q.by === 'key' ? keyUnits.get(g.group) ?? 0 : 0;
    keyUnits.delete(g.group);
    const row: UsageReport['rows'][number] = { group: g.group || NONE, requests: g.requests, errors: g.errors, estimatedCost: usd(share + keyCost(units, prices)), requestsAvoided: g.avoided };
    if (q.by === 'key') row.keyMonths = round(units / HOURS_PER_MONTH);
    return row;
  });
  if (q.by === 'key') {
    for (const [arn, units] of keyUnits) rows.push({ group: arn, requests: 0, errors: 0, estimatedCost: usd(keyCost(units, prices)), requestsAvoided: 0, keyMonths: round(units / HOURS_PER_MONTH) });
  }
  const bucketMs = q.granularity === 'day' ? DAY_MS : HOUR_MS;
  const series = (await store.series(q.by, from, to, bucketMs)).map((s) => ({ time: new Date(s.time).toISOString(), group: s.group || NONE, requests: s.requests }));
  return {
    since: q.since.toISOString(),
    until: q.until.toISOString(),
    by: q.by,
    granularity: q.granularity,
    currency: 'USD',
    prices: { ...prices },
    requests: { total, errors, free: total - billable - otherBillable, billable: billable + otherBillable, estimatedCost: usd(requestsCost) },
    keys: { keyMonths: round(allKeyHours / HOURS_PER_MONTH), estimatedCost: usd(keysCost) },
    estimatedCost: usd(requestsCost + keysCost),
    bucketKeys: { requestsAvoided: avoided, estimatedSavings: usd(requestCost(billableWithout - billable, prices)) },
    rows,
    series,
  };
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
