// Audit: the KMS audit log (CloudTrail-shaped events) with filters and paging, through
// the administration API's audit/events route (cloudtrail:LookupEvents).

import { ApiError, admin } from '../api.js';
import type { Route } from '../route.js';
import { type KeyRow, loadKeys } from './keys.js';
import { badge, button, clear, errorBanner, field, formatTime, h, infoBanner, input, pageHeader, panel, table } from '../ui.js';

export interface CloudTrailEvent {
  eventTime: string;
  eventName: string;
  eventSource?: string;
  userIdentity?: { arn?: string; invokedBy?: string; type?: string };
  resources?: Array<{ ARN?: string; type?: string }>;
  requestParameters?: Record<string, unknown> & { encryptionContext?: Record<string, string> };
  errorCode?: string;
  errorMessage?: string;
  sourceIPAddress?: string;
  requestID?: string;
}

const FILTERS = ['principal', 'key', 'bucket', 'event', 'error', 'since', 'until'] as const;

export function notAvailable(e: unknown, what: string): HTMLElement | undefined {
  if (e instanceof ApiError && e.code === 'UnknownOperation') return infoBanner(`${what} is not available on this server (it has no ${e.message.match(/\/_coffer\/api\/\S+/)?.[0]?.replace(/\.$/, '') ?? 'route for it'}). Upgrade Coffer to use it.`);
  return undefined;
}

export async function renderAudit(main: HTMLElement, route: Route): Promise<void> {
  const q = route.params;
  const form = h(
    'form',
    { class: 'filters card', 'data-testid': 'audit-filters' },
    field('Principal ARN', input('principal', { value: q.get('principal') ?? '', placeholder: 'arn:aws:iam::\u2026:user/alice' })),
    field('Key', input('key', { value: q.get('key') ?? '', placeholder: 'key id or ARN' })),
    field('Bucket', input('bucket', { value: q.get('bucket') ?? '' })),
    field('Event', input('event', { value: q.get('event') ?? '', placeholder: 'e.g. Decrypt' })),
    field('Result', input('error', { value: q.get('error') ?? '', list: 'audit-error-kinds', placeholder: 'any, none or an error code' })),
    h('datalist', { id: 'audit-error-kinds' }, h('option', { value: 'any' }, 'only failures'), h('option', { value: 'none' }, 'only successes'), h('option', { value: 'AccessDeniedException' }), h('option', { value: 'DisabledException' })),
    field('Since', input('since', { value: q.get('since') ?? '', placeholder: '24h, 7d or ISO time' })),
    field('Until', input('until', { value: q.get('until') ?? '', placeholder: 'ISO time' })),
    h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'), h('a', { href: '#/audit', class: 'btn btn-plain' }, 'Reset')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = new FormData(form);
    const next = new URLSearchParams();
    for (const f of FILTERS) {
      const s = String(v.get(f) ?? '').trim();
      if (s) next.set(f, s);
    }
    location.hash = `#/audit?${next.toString()}`;
  });
  const body = h('div', {});
  clear(main, pageHeader('Audit', 'Every KMS request \u2014 by people, applications and by S3 on their behalf \u2014 newest first.'), form, body);
  const tokens: Array<string | undefined> = [undefined];
  let page = 0;
  const load = async (): Promise<void> => {
    const query: Record<string, string | undefined> = { limit: '50', nextToken: tokens[page] };
    for (const f of FILTERS) query[f] = q.get(f) ?? undefined;
    // Key ARNs read better as their aliases (when this principal may list keys).
  const keys = await loadKeys().catch(() => [] as KeyRow[]);
  const resourceName = (arn: string): string => {
    const k = keys.find((x) => x.meta.Arn === arn);
    if (k?.aliases[0]) return k.aliases[0];
    return arn.replace(/^arn:aws:kms:[^:]*:\d{12}:/, '').replace(/^(key\/[0-9a-f]{8})[0-9a-f-]{28}$/, '$1\u2026');
  };
  let r: { events: CloudTrailEvent[]; nextToken?: string };
    try {
      r = await admin('GET', 'audit/events', query);
    } catch (e) {
      return clear(body, notAvailable(e, 'The audit view') ?? errorBanner(e));
    }
    tokens[page + 1] = r.nextToken;
    clear(
      body,
      table(
        r.events,
        [
          { title: 'Time', cell: (e) => h('span', { class: 'nowrap' }, formatTime(e.eventTime)) },
          { title: 'Event', cell: (e) => h('a', { href: '#', class: 'link strong', onclick: (ev: Event) => (ev.preventDefault(), showEvent(e)) }, e.eventName) },
          { title: 'Principal', cell: (e) => h('span', { title: e.userIdentity?.arn ?? '' }, principalName(e), e.userIdentity?.invokedBy ? h('div', { class: 'muted small' }, `via ${e.userIdentity.invokedBy}`) : null) },
          {
            title: 'Resource',
            // Several keys (UpdateAlias, ReEncrypt): one per line, separated by a comma for copying and screen readers.
            cell: (e) => h('span', { 'data-testid': 'audit-resources' }, ...(e.resources ?? []).filter((x) => x.ARN).flatMap((x, i) => [i > 0 ? h('span', { class: 'sep' }, ', ') : null, h('span', { class: 'mono small resource', title: x.ARN! }, resourceName(x.ARN!))])),
          },
          { title: 'Result', cell: (e) => (e.errorCode ? h('span', { title: e.errorMessage ?? '' }, badge(e.errorCode, 'bad')) : badge('OK', 'ok')) },
          { title: 'Source IP', cell: (e) => e.sourceIPAddress ?? '' },
        ],
        'No events match these filters.',
        'audit-table',
      ),
      h(
        'div',
        { class: 'pager' },
        button('Previous', () => ((page -= 1), void load()), 'plain', { disabled: page === 0 }),
        h('span', { class: 'muted' }, `Page ${page + 1}`),
        button('Next', () => ((page += 1), void load()), 'plain', { disabled: !r.nextToken }),
      ),
    );
  };
  await load();
}

function principalName(e: CloudTrailEvent): string {
  const arn = e.userIdentity?.arn;
  if (!arn) return e.userIdentity?.invokedBy ?? e.userIdentity?.type ?? '';
  return arn.replace(/^arn:aws:(iam|sts)::\d{12}:/, '');
}

function showEvent(e: CloudTrailEvent): void {
  const p = panel(`${e.eventName} at ${formatTime(e.eventTime)}`);
  clear(p.body, h('pre', { class: 'code-block' }, JSON.stringify(e, null, 2)));
}
