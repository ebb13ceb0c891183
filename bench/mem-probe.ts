// Bench-only memory probe, loaded into the server child by node flags, never by the
// product: the soak (bench/soak.ts) always loads it; for other runs give
//   BENCH_SERVER_NODE_OPTIONS='--expose-gc --import=<dist>/bench/mem-probe.js'
// (not to the soak too, or it logs twice). Every BENCH_MEM_PROBE_MS (30 s) it appends one
// JSON line to BENCH_MEM_LOG: process.memoryUsage(), RssAnon/RssFile and, from the main
// thread, anonymous RSS by kind (anonByKind). Every BENCH_MEM_PROBE_GC_EVERY'th line
// (default 4) it first runs a full GC (needs --expose-gc), so `postGc: true` lines show
// what is still reachable. --import runs in the server's worker threads too: each thread
// logs its own heap (`thread`, 0 = main). BENCH_HEAPSNAPSHOT_AT="240,840" has the main
// thread write heap snapshots (v8.writeHeapSnapshot collects garbage first) at those
// seconds into BENCH_HEAPSNAPSHOT_DIR (default the log's directory); compare two with
// bench/heap-diff.ts. A snapshot leaves tens of MB of malloc'd memory in RSS afterwards.

import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';

const log = process.env.BENCH_MEM_LOG;
if (log) {
  const every = Number(process.env.BENCH_MEM_PROBE_MS || 30_000);
  const gcEvery = Math.max(1, Number(process.env.BENCH_MEM_PROBE_GC_EVERY || 4));
  const t0 = performance.now();
  const gc = (globalThis as { gc?: () => void }).gc;
  let n = 0;
  const kb = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const probe = () => {
    const postGc = gc !== undefined && n++ % gcEvery === gcEvery - 1;
    if (postGc) gc!();
    const status = readFileSync('/proc/self/status', 'utf8');
    const h = v8.getHeapStatistics();
    // JIT-compiled code grows as more functions are optimised; retained objects are the rest.
    const heapCode = v8.getHeapSpaceStatistics().filter((sp) => sp.space_name.startsWith('code_')).reduce((a, sp) => a + sp.space_used_size, 0);
    const line = {
      t: Math.round((performance.now() - t0) / 1000),
      thread: threadId,
      postGc,
      ...process.memoryUsage(),
      heapCode,
      mallocedMemory: h.malloced_memory,
      anon: kb(status, 'RssAnon'),
      file: kb(status, 'RssFile'),
      ...(isMainThread ? anonByKind() : {}),
    };
    appendFileSync(log, JSON.stringify(line) + '\n');
  };
  setInterval(probe, every).unref();
  const dir = process.env.BENCH_HEAPSNAPSHOT_DIR || dirname(log);
  if (isMainThread) for (const s of (process.env.BENCH_HEAPSNAPSHOT_AT ?? '').split(',').filter(Boolean).map(Number)) {
    setTimeout(() => {
      const file = v8.writeHeapSnapshot(join(dir, `server-${s}s.heapsnapshot`));
      appendFileSync(log, JSON.stringify({ t: Math.round((performance.now() - t0) / 1000), snapshot: file }) + '\n');
    }, s * 1000).unref();
  }
}

/**
 * Resident anonymous memory by kind, from /proc/self/smaps: `brkHeap` is glibc's main
 * malloc arena ([heap], the main thread's malloc and Buffers below the mmap threshold),
 * `arenas` the other threads' malloc arenas (64 MiB-aligned regions of 64 MiB with their
 * reserve), `anonOther` the rest (V8's heap pages, large mmapped Buffers, stacks).
 */
function anonByKind(): { brkHeap: number; arenas: number; anonOther: number } {
  const ARENA = 64 * 1024 * 1024;
  const out = { brkHeap: 0, arenas: 0, anonOther: 0 };
  let kind: keyof typeof out | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      const lo = parseInt(m[1]!, 16);
      const name = m[4]!.trim();
      if (name === '[heap]') kind = 'brkHeap';
      else if (m[3] !== '0' || name !== '') kind = undefined;
      else kind = lo % ARENA === 0 && isArena(lo) ? 'arenas' : 'anonOther';
      continue;
    }
    if (kind !== undefined && line.startsWith('Rss:')) out[kind] += Number(line.split(/\s+/)[1]) * 1024;
  }
  return out;
}

let arenaStarts: Set<number> | undefined;
/** Arena starts: an anonymous region at a 64 MiB boundary whose mapping (rw + PROT_NONE reserve) spans exactly 64 MiB. */
function isArena(lo: number): boolean {
  if (arenaStarts === undefined || !arenaStarts.has(lo)) {
    arenaStarts = new Set();
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)).filter((f) => f.length >= 5);
    for (let i = 0; i < maps.length; i++) {
      const [range, perm, , , inode] = maps[i]!;
      const [a, b] = range!.split('-').map((x) => parseInt(x, 16)) as [number, number];
      if (inode !== '0' || perm !== 'rw-p' || a % (64 * 1024 * 1024) !== 0) continue;
      const next = maps[i + 1];
      const end = next && next[1] === '---p' && parseInt(next[0]!.split('-')[0]!, 16) === b ? parseInt(next[0]!.split('-')[1]!, 16) : b;
      if (end - a === 64 * 1024 * 1024) arenaStarts.add(a);
    }
  }
  return arenaStarts.has(lo);
}
