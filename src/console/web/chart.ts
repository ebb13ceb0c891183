// Hand-written SVG charts for the usage page: stacked bars over time, one colour per
// group (key, principal), with axes, gridlines, a legend and a title per bar.

const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#64748b'];

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...kids: Array<SVGElement | string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const k of kids) el.append(k);
  return el;
}

export interface Point {
  time: string;
  group: string;
  requests: number;
}

/** Nice round axis maximum and step for a maximum value. */
function niceScale(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 1, step: 1 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const top = Math.max(step, Math.ceil(max / step) * step);
  return { top, step: Math.max(1, step) };
}

/**
 * Stacked bars per time bucket. Groups beyond the largest `maxGroups` are summed as
 * "other". `label` names a group for the legend (e.g. a key's alias).
 */
export function stackedBars(points: Point[], opts: { label?: (g: string) => string; maxGroups?: number; title: string; since?: string; until?: string; granularity?: string }): HTMLElement {
  const maxGroups = opts.maxGroups ?? 7;
  const totals = new Map<string, number>();
  for (const p of points) totals.set(p.group, (totals.get(p.group) ?? 0) + p.requests);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
  const shown = ranked.slice(0, maxGroups);
  const groupOf = (g: string): string => (shown.includes(g) ? g : 'other');
  const groups = ranked.length > maxGroups ? [...shown, 'other'] : shown;
  const times = timeAxis(points.map((p) => p.time), opts);
  const cell = new Map<string, number>();
  for (const p of points) {
    const k = `${p.time}\u0000${groupOf(p.group)}`;
    cell.set(k, (cell.get(k) ?? 0) + p.requests);
  }
  const stackTotal = (t: string): number => groups.reduce((s, g) => s + (cell.get(`${t}\u0000${g}`) ?? 0), 0);
  const max = Math.max(0, ...times.map(stackTotal));
  const { top, step } = niceScale(max);
  const W = 600;
  const H = 240;
  const L = 48;
  const R = 12;
  const T = 12;
  const B = 40;
  const plotW = W - L - R;
  const plotH = H - T - B;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': opts.title });
  root.append(svg('title', {}, opts.title));
  for (let v = 0; v <= top; v += step) {
    const y = T + plotH - (v / top) * plotH;
    root.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }), svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, v.toLocaleString('en-US')));
  }
  const slot = times.length ? plotW / times.length : plotW;
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const labelEvery = Math.max(1, Math.ceil(times.length / 8));
  let labelEnd = -Infinity;
  times.forEach((t, i) => {
    const x = L + i * slot + (slot - barW) / 2;
    let y = T + plotH;
    groups.forEach((g, gi) => {
      const n = cell.get(`${t}\u0000${g}`) ?? 0;
      if (n === 0) return;
      const hgt = (n / top) * plotH;
      y -= hgt;
      const name = g === 'other' ? 'other' : (opts.label?.(g) ?? g);
      root.append(svg('rect', { x, y, width: barW, height: Math.max(hgt, 0.5), fill: PALETTE[gi % PALETTE.length]!, class: 'bar', 'data-group': g }, svg('title', {}, `${shortTime(t)} \u2014 ${name}: ${n} request${n === 1 ? '' : 's'}`)));
    });
    if (i % labelEvery === 0) {
      // Labels near the edges are anchored inside the plot so they are not cut off, and a
      // label that would overlap the previous one is left out.
      const text = shortTime(t);
      const width = text.length * 6.6;
      const cx = L + i * slot + slot / 2;
      const x0 = Math.min(Math.max(cx - width / 2, L), W - R - width);
      if (x0 >= labelEnd + 8) {
        root.append(svg('text', { x: x0, y: H - B + 16, 'text-anchor': 'start', class: 'axis' }, text));
        labelEnd = x0 + width;
      }
    }
  });
  root.append(svg('line', { x1: L, x2: W - R, y1: T + plotH, y2: T + plotH, class: 'axis-line' }));
  const legend = document.createElement('ul');
  legend.className = 'legend';
  groups.forEach((g, gi) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch swatch-${gi % PALETTE.length}`;
    li.append(sw, `${g === 'other' ? 'other' : (opts.label?.(g) ?? g)} (${g === 'other' ? ranked.slice(maxGroups).reduce((s, x) => s + (totals.get(x) ?? 0), 0) : totals.get(g)})`);
    legend.append(li);
  });
  const wrap = document.createElement('figure');
  wrap.className = 'chart-wrap';
  const cap = document.createElement('figcaption');
  cap.textContent = opts.title;
  wrap.append(cap, root, legend);
  if (times.length === 0) wrap.dataset.empty = 'true';
  return wrap;
}

/**
 * Every bucket from the first to the last (or since to until), so quiet hours show as
 * gaps; the series only carries buckets with requests.
 */
function timeAxis(seen: string[], opts: { since?: string; until?: string; granularity?: string }): string[] {
  const step = opts.granularity === 'hour' ? 3_600_000 : opts.granularity === 'day' ? 86_400_000 : 0;
  const ms = seen.map((t) => Date.parse(t));
  // Buckets not on UTC step boundaries (or unparsable times): only the buckets seen.
  if (!step || ms.some((t) => Number.isNaN(t) || t % step !== 0)) return [...new Set(seen)].sort();
  const floor = (t: number): number => t - (t % step);
  const lo = Date.parse(opts.since ?? '');
  const hi = Date.parse(opts.until ?? '');
  const start = floor(Number.isNaN(lo) ? Math.min(...ms) : Math.min(lo, ...ms));
  const end = floor(Number.isNaN(hi) ? Math.max(...ms) : Math.max(hi - 1, ...ms));
  if (ms.length === 0 && (Number.isNaN(lo) || Number.isNaN(hi))) return [];
  if ((end - start) / step > 800) return [...new Set(seen)].sort();
  // Series times are ISO strings; the axis keys must match them exactly.
  const byMs = new Map(seen.map((t) => [Date.parse(t), t]));
  const out: string[] = [];
  for (let t = start; t <= end; t += step) out.push(byMs.get(t) ?? new Date(t).toISOString());
  return out;
}

function shortTime(t: string): string {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return t;
  const iso = d.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(5, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}
