// Compares two V8 heap snapshots (.heapsnapshot JSON, e.g. from bench/mem-probe.ts) by
// node type and constructor name: count and self size in each, largest growth first,
// and for the top growers the edges that retain them (retainer name + edge name).
//
//   node dist/bench/heap-diff.js before.heapsnapshot after.heapsnapshot [top=25]

import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Parsed {
  groups: Map<string, { count: number; size: number }>;
  totalSize: number;
  /** For a group: "retainerGroup --edge--> " counts. */
  retainers(group: string, limit: number): [string, number][];
}

function parse(path: string): Parsed {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const types = s.snapshot.meta.node_types[0];
  const etypes = s.snapshot.meta.edge_types[0];
  const N = nf.length;
  const E = ef.length;
  const iType = nf.indexOf('type'), iName = nf.indexOf('name'), iSize = nf.indexOf('self_size'), iEdges = nf.indexOf('edge_count');
  const eType = ef.indexOf('type'), eName = ef.indexOf('name_or_index'), eTo = ef.indexOf('to_node');
  const count = s.nodes.length / N;
  const group = (n: number) => {
    const t = types[s.nodes[n * N + iType]!]!;
    const name = t === 'object' || t === 'closure' || t === 'native' || t === 'hidden' || t === 'synthetic' ? s.strings[s.nodes[n * N + iName]!]! : '';
    return `${t}:${name.slice(0, 60)}`;
  };
  const groups = new Map<string, { count: number; size: number }>();
  let totalSize = 0;
  for (let n = 0; n < count; n++) {
    const g = group(n);
    const size = s.nodes[n * N + iSize]!;
    totalSize += size;
    const e = groups.get(g) ?? { count: 0, size: 0 };
    e.count++;
    e.size += size;
    groups.set(g, e);
  }
  return {
    groups,
    totalSize,
    retainers(target, limit) {
      const out = new Map<string, number>();
      let edge = 0;
      for (let n = 0; n < count; n++) {
        const ec = s.nodes[n * N + iEdges]!;
        for (let k = 0; k < ec; k++, edge += E) {
          const et = etypes[s.edges[edge + eType]!]!;
          if (et === 'weak') continue;
          const to = s.edges[edge + eTo]! / N;
          if (group(to) !== target) continue;
          const nameOrIndex = s.edges[edge + eName]!;
          const ename = et === 'element' || et === 'hidden' ? `[${et}]` : s.strings[nameOrIndex]!;
          const key = `${group(n)} --${ename.slice(0, 40)}-->`;
          out.set(key, (out.get(key) ?? 0) + 1);
        }
      }
      return [...out].sort((a, b) => b[1] - a[1]).slice(0, limit);
    },
  };
}

const [a, b, topArg] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: heap-diff before.heapsnapshot after.heapsnapshot [top]');
const top = Number(topArg ?? 25);
const before = parse(a);
const after = parse(b);
const mb = (n: number) => (n / 1e6).toFixed(2);
console.log(`total self size: ${mb(before.totalSize)} MB -> ${mb(after.totalSize)} MB`);
const rows = [...new Set([...before.groups.keys(), ...after.groups.keys()])].map((g) => {
  const x = before.groups.get(g) ?? { count: 0, size: 0 };
  const y = after.groups.get(g) ?? { count: 0, size: 0 };
  return { g, dc: y.count - x.count, ds: y.size - x.size, c0: x.count, c1: y.count, s1: y.size };
});
console.log('\nby size growth:');
for (const r of rows.sort((p, q) => q.ds - p.ds).slice(0, top)) console.log(`${mb(r.ds).padStart(8)} MB  ${String(r.dc).padStart(8)} (${r.c0} -> ${r.c1})  ${r.g}`);
console.log('\nby count growth:');
const byCount = rows.sort((p, q) => q.dc - p.dc).slice(0, top);
for (const r of byCount) console.log(`${String(r.dc).padStart(8)} (${r.c0} -> ${r.c1})  ${mb(r.ds).padStart(8)} MB  ${r.g}`);
console.log('\nretainers (after) of the top count growers:');
for (const r of byCount.slice(0, 6)) {
  console.log(`  ${r.g}:`);
  for (const [k, n] of after.retainers(r.g, 6)) console.log(`    ${String(n).padStart(7)}  ${k}`);
}
