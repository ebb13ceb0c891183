// Usage: KMS requests over time by key and by principal (stacked SVG bars), totals,
// the estimated cost at AWS KMS list prices and what S3 Bucket Keys saved, through
// the administration API's usage route.

import { admin } from '../api.js';
import type { Route } from '../route.js';
import { stackedBars } from '../chart.js';
import { clear, errorBanner, field, h, mono, pageHeader, select, table } from '../ui.js';
import { notAvailable } from './audit.js';
import { type KeyRow, loadKeys } from './keys.js';

export interface UsageReport {
  since: string;
  until: string;
  by: string;
  granularity: string;
  currency: string;
  prices: { keyMonth: number; per10kRequests: number; freeRequestsPerMonth: number };
  requests: { total: number; errors: number; free: number; billable: number; estimatedCost: number };
  keys: { keyMonths: number; estimatedCost: number };
  estimatedCost: number;
  bucketKeys: { requestsAvoided: number; estimatedSavings: number };
  rows: Array<{ group: string; requests: number; errors: number; estimatedCost: number }>;
  series: Array<{ time: string; group: string; requests: number }>;
}

function money(n: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency, maximumFractionDigits: n !== 0 && Math.abs(n) < 1 ? 4 : 2 }).format(n);
  } catch {
    return `${n.toFixed(4)} ${currency}`;
  }
}

function stat(label: string, value: string, hint?: string, testid?: string): HTMLElement {
  return h('div', { class: 'stat card', 'data-testid': testid }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), hint ? h('div', { class: 'stat-hint' }, hint) : null);
}

export async function renderUsage(main: HTMLElement, route: Route): Promise<void> {
  const since = route.params.get('since') ?? '7d';
  const granularity = route.params.get('granularity') ?? (since === '24h' || since === '1d' ? 'hour' : 'day');
  const period = select('since', [['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days']], since, { 'aria-label': 'Period' });
  const gran = select('granularity', [['hour', 'Hourly'], ['day', 'Daily']], granularity, { 'aria-label': 'Granularity' });
  const change = (): void => void (location.hash = `#/usage?since=${period.value}&granularity=${gran.value}`);
  period.addEventListener('change', change);
  gran.addEventListener('change', change);
  const body = h('div', {});
  clear(main, pageHeader('Usage', 'KMS requests over time, what they would cost at AWS KMS prices, and what bucket keys saved.', h('div', { class: 'inline-fields' }, field('Period', period), field('Granularity', gran))), body);
  let byKey: UsageReport;
  let byPrincipal: UsageReport;
  try {
    [byKey, byPrincipal] = await Promise.all([admin<UsageReport>('GET', 'usage', { since, granularity, by: 'key' }), admin<UsageReport>('GET', 'usage', { since, granularity, by: 'principal' })]);
  } catch (e) {
    return clear(body, notAvailable(e, 'The usage view') ?? errorBanner(e));
  }
  const keys = await loadKeys().catch(() => [] as KeyRow[]);
  const keyName = (g: string): string => {
    const k = keys.find((x) => x.meta.Arn === g || x.meta.KeyId === g);
    return k?.aliases[0] ?? (g.includes('/') ? g.slice(g.lastIndexOf('/') + 1, g.lastIndexOf('/') + 9) + '\u2026' : g);
  };
  const principalName = (g: string): string => g.replace(/^arn:aws:(iam|sts)::\d{12}:/, '');
  const r = byKey;
  const cur = r.currency || 'USD';
  clear(
    body,
    h(
      'div',
      { class: 'stats' },
      stat('KMS requests', r.requests.total.toLocaleString('en-US'), `${r.requests.errors} failed \u00b7 ${r.requests.billable.toLocaleString('en-US')} billable`, 'usage-total'),
      stat('Estimated cost', money(r.estimatedCost, cur), `requests ${money(r.requests.estimatedCost, cur)} + keys ${money(r.keys.estimatedCost, cur)}`),
      stat('Key-months', r.keys.keyMonths > 0 && r.keys.keyMonths < 0.01 ? r.keys.keyMonths.toPrecision(2) : r.keys.keyMonths.toFixed(2), `${money(r.prices.keyMonth, cur)} per key-month`),
      stat('Bucket-key savings', money(r.bucketKeys.estimatedSavings, cur), `${r.bucketKeys.requestsAvoided.toLocaleString('en-US')} KMS request${r.bucketKeys.requestsAvoided === 1 ? '' : 's'} avoided`, 'usage-savings'),
    ),
    h('div', { class: 'charts' }, h('div', { class: 'card', 'data-testid': 'chart-by-key' }, stackedBars(byKey.series, { title: 'Requests by key', label: keyName, since: r.since, until: r.until, granularity: r.granularity })), h('div', { class: 'card', 'data-testid': 'chart-by-principal' }, stackedBars(byPrincipal.series, { title: 'Requests by principal', label: principalName, since: r.since, until: r.until, granularity: r.granularity }))),
    h('div', { class: 'two-col' }, breakdown('By key', byKey, keyName, cur), breakdown('By principal', byPrincipal, principalName, cur)),
    h('p', { class: 'fineprint' }, `Prices: ${money(r.prices.per10kRequests, cur)} per 10,000 requests after ${r.prices.freeRequestsPerMonth.toLocaleString('en-US')} free per month; ${money(r.prices.keyMonth, cur)} per customer managed key per month. Period ${r.since} \u2013 ${r.until}.`),
  );
}

function breakdown(title: string, r: UsageReport, name: (g: string) => string, cur: string): HTMLElement {
  return h(
    'section',
    { class: 'card' },
    h('h3', {}, title),
    table(
      [...r.rows].sort((a, b) => b.requests - a.requests),
      [
        { title: title.replace('By ', '').replace(/^./, (c) => c.toUpperCase()), cell: (x) => h('span', { title: x.group }, name(x.group) === x.group ? mono(x.group) : name(x.group)) },
        { title: 'Requests', class: 'num', cell: (x) => x.requests.toLocaleString('en-US') },
        { title: 'Errors', class: 'num', cell: (x) => x.errors.toLocaleString('en-US') },
        { title: 'Est. cost', class: 'num', cell: (x) => money(x.estimatedCost, cur) },
      ],
      'No requests in this period.',
      `usage-${r.by}`,
    ),
  );
}
