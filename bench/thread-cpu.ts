// Per-thread CPU of a process between two points (Linux /proc/<pid>/task): which thread of
// the server was busy during a workload (main, libuv pool, worker threads).

import { readFileSync, readdirSync } from 'node:fs';

export type ThreadTimes = Map<string, { name: string; cpu: number }>;

export function threadTimes(pid: number): ThreadTimes {
  const out: ThreadTimes = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, cpu: (Number(f[11]) + Number(f[12])) / 100 });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** CPU seconds per thread between two snapshots, busiest first; the main thread (tid = pid) is called `main`. */
export function threadDelta(pid: number, a: ThreadTimes, b: ThreadTimes): [string, number][] {
  const out: [string, number][] = [];
  for (const [tid, t] of b) out.push([tid === String(pid) ? 'main' : `${t.name}/${tid}`, t.cpu - (a.get(tid)?.cpu ?? 0)]);
  return out.filter(([, s]) => s > 0).sort((x, y) => y[1] - x[1]);
}
