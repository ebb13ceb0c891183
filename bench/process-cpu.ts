// CPU time of processes from /proc (Linux): a server child's, and a process tree's (a
// PostgreSQL postmaster with its backends and background workers), for CPU per operation
// in the cluster bench. Elsewhere (no /proc) every reading is 0 and the columns say n/a.

import { readFileSync, readdirSync } from 'node:fs';

/** Linux USER_HZ: /proc/<pid>/stat times are in 1/100 s on every Linux ABI Node runs on. */
const USER_HZ = 100;

/** Fields of /proc/<pid>/stat from the state on (field 3), or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: cut after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A process's CPU seconds (all its threads); with `reaped`, plus those of its children it has waited for. */
export function processCpuSeconds(pid: number, reaped = false): number {
  const f = statFields(pid);
  if (f === undefined) return 0;
  // utime, stime, cutime, cstime: fields 14–17, here 11–14.
  const own = Number(f[11]) + Number(f[12]);
  return (reaped ? own + Number(f[13]) + Number(f[14]) : own) / USER_HZ;
}

/**
 * CPU seconds of `root` and its children, living and exited: a child that exits between two
 * readings moves from the living sum to the root's reaped time, so differences stay right.
 */
export function treeCpuSeconds(root: number): number {
  let total = processCpuSeconds(root, true);
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return total;
  }
  for (const p of pids) {
    const f = statFields(Number(p));
    if (f !== undefined && Number(f[1]) === root) total += (Number(f[11]) + Number(f[12])) / USER_HZ; // ppid is field 4
  }
  return total;
}
