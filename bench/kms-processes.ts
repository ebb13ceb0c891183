// What several server processes could give the KMS on this machine, before building them:
// GenerateDataKey+Decrypt pairs from the Go client (bench/go-kms-load.ts) against one Coffer
// (32 in flight) and, interleaved, against two independent Coffers at once (16 in flight
// each; each its own data directory, its own audit log and group commit — the most a
// two-process server could do, with no state shared between them). fsync on. Prints each
// round and the medians of the two-server ÷ one-server rate and of the machine's CPU use.
//
//   npm run build && node dist/bench/kms-processes.js [rounds] [pairs per round]

import { loadavg } from 'node:os';
import { goKmsLoad, runGoKmsLoad } from './go-kms-load.js';
import { median } from './measure.js';
import { processCpuSeconds } from './process-cpu.js';
import { startServer } from './server-process.js';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 6);
  const pairs = Number(process.argv[3] ?? 6000);
  const bin = await goKmsLoad();
  const a = await startServer({ fsync: true });
  const b = await startServer({ fsync: true });
  const load0 = loadavg()[0]!;
  const ratios: number[] = [];
  const one: number[] = [];
  const two: number[] = [];
  try {
    // Warm both servers' request paths.
    await Promise.all([runGoKmsLoad(bin, a.url, { pairs: 2000, concurrency: 16 }), runGoKmsLoad(bin, b.url, { pairs: 2000, concurrency: 16 })]);
    for (let r = 0; r < rounds; r++) {
      const runOne = async () => {
        const c0 = processCpuSeconds(a.pid);
        const x = await runGoKmsLoad(bin, a.url, { pairs, concurrency: 32 });
        return { rate: x.rate, serverCpu: (processCpuSeconds(a.pid) - c0) / x.seconds, clientCpu: x.clientCpu };
      };
      const runTwo = async () => {
        const c0 = processCpuSeconds(a.pid) + processCpuSeconds(b.pid);
        const [x, y] = await Promise.all([runGoKmsLoad(bin, a.url, { pairs: pairs / 2, concurrency: 16 }), runGoKmsLoad(bin, b.url, { pairs: pairs / 2, concurrency: 16 })]);
        const secs = Math.max(x.seconds, y.seconds);
        return { rate: (2 * pairs) / secs, serverCpu: (processCpuSeconds(a.pid) + processCpuSeconds(b.pid) - c0) / secs, clientCpu: (x.clientCpu * x.seconds + y.clientCpu * y.seconds) / secs };
      };
      // The first alternates.
      let oneR: Awaited<ReturnType<typeof runOne>>;
      let t: Awaited<ReturnType<typeof runTwo>>;
      if (r % 2 === 0) {
        oneR = await runOne();
        t = await runTwo();
      } else {
        t = await runTwo();
        oneR = await runOne();
      }
      one.push(oneR.rate);
      two.push(t.rate);
      ratios.push(t.rate / oneR.rate);
      const fmt = (s: { rate: number; serverCpu: number; clientCpu: number }) => `${s.rate.toFixed(0)} req/s (servers ${(s.serverCpu * 100).toFixed(0)}% CPU, client ${(s.clientCpu * 100).toFixed(0)}%)`;
      console.log(`round ${r + 1}: one server ${fmt(oneR)}; two servers ${fmt(t)}; ratio ${(t.rate / oneR.rate).toFixed(2)}×`);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
  console.log(`${rounds} rounds of ${pairs} pairs, load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}: one server ${median(one).toFixed(0)} req/s, two servers ${median(two).toFixed(0)} req/s, two ÷ one ${median(ratios).toFixed(2)}× (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×)`);
}

await main();
