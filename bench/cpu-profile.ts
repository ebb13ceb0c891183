// Summarizes a V8 .cpuprofile (from `node --cpu-prof`) as the functions with the
// most self time, aggregated by function and source location.

import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
  /** The caller that accounts for most of this self time (skipping anonymous frames and node internals), with its share. */
  caller: string;
}

export async function topSelfTime(file: string, limit: number): Promise<{ totalMs: number; top: SelfTime[] }> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i, i.e. time spent in sample i-1's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'}${f.url ? ` ${shorten(f.url)}:${f.lineNumber + 1}` : ''}`;
  };
  // The first caller up the stack that is our code or a dependency, not node internals.
  const callerOf = (id: number): string => {
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const f = byId.get(p)!.callFrame;
      if (f.functionName && f.url && !f.url.startsWith('node:')) return label(p);
    }
    return '';
  };
  const agg = new Map<string, SelfTime & { callers: Map<string, number> }>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    total += us;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shorten(f.url)}:${f.lineNumber + 1}` : '';
    const k = `${name} ${where}`;
    const e = agg.get(k) ?? { name, where, ms: 0, share: 0, caller: '', callers: new Map<string, number>() };
    e.ms += us / 1000;
    const c = callerOf(id);
    e.callers.set(c, (e.callers.get(c) ?? 0) + us / 1000);
    agg.set(k, e);
  }
  const top = [...agg.values()].sort((a, b) => b.ms - a.ms).slice(0, limit);
  for (const t of top) {
    t.share = (t.ms * 1000) / total;
    const [best, ms] = [...t.callers].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
    t.caller = best ? `${best} (${Math.round((ms / t.ms) * 100)}%)` : '';
  }
  return { totalMs: total / 1000, top: top.map(({ callers: _, ...t }) => t) };
}

function shorten(url: string): string {
  const s = url.replace(/^file:\/\//, '');
  const i = s.indexOf('/dist/');
  if (i >= 0) return s.slice(i + 1);
  const nm = s.lastIndexOf('/node_modules/');
  return nm >= 0 ? s.slice(nm + 1) : s;
}
