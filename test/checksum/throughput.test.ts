// Throughput of each checksum over 256 MiB in 64 KiB chunks (the upload path's chunk
// size). Skipped unless COFFER_BENCH=1, since timings say nothing on a loaded CI box:
//   COFFER_BENCH=1 node --test dist/test/checksum/throughput.test.js

import { createHash, randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { Crc64Nvme as AwsCrc64Nvme } from '@aws-sdk/crc64-nvme';
import { BodyDigest, CHECKSUM_ALGORITHMS, createHasher } from '../../src/checksum/index.js';
import { Crc64Nvme } from '../../src/checksum/crc64-nvme.js';

const TOTAL_MIB = 256;
const CHUNK = 64 * 1024;

function measure(name: string, update: (c: Buffer) => void, finish: () => unknown): string {
  // Several distinct chunks so the data is not one cached 64 KiB block.
  const chunks = Array.from({ length: 16 }, () => randomBytes(CHUNK));
  const n = (TOTAL_MIB * 1024 * 1024) / CHUNK;
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) update(chunks[i & 15]!);
  finish();
  const cpu = process.cpuUsage(cpu0);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  // On a shared machine the CPU rate is the steadier figure (the loop is single-threaded).
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  return `${name.padEnd(34)} ${(TOTAL_MIB / secs).toFixed(0).padStart(6)} MiB/s (${(TOTAL_MIB / cpuSecs).toFixed(0).padStart(6)} MiB per CPU second)`;
}

it('prints MiB/s per algorithm', { skip: process.env['COFFER_BENCH'] !== '1' }, async () => {
  const rows: string[] = [];
  // Warm up the JIT for the JS CRC64 before timing it.
  const warm = createHasher('CRC64NVME');
  for (let i = 0; i < 200; i++) warm.update(randomBytes(CHUNK));

  for (const alg of CHECKSUM_ALGORITHMS) {
    const h = createHasher(alg);
    rows.push(measure(alg, (c) => h.update(c), () => h.digest()));
  }
  const js = new Crc64Nvme();
  for (let i = 0; i < 200; i++) js.updateJs(randomBytes(CHUNK));
  rows.push(measure('CRC64NVME (JavaScript loop alone)', (c) => js.updateJs(c), () => js.digest()));
  const md5 = createHash('md5');
  rows.push(measure('MD5', (c) => md5.update(c), () => md5.digest()));
  const aws = new AwsCrc64Nvme();
  rows.push(measure('CRC64NVME (@aws-sdk/crc64-nvme)', (c) => aws.update(c), () => undefined));
  for (const checksum of ['CRC32', 'CRC64NVME'] as const) {
    const bd = new BodyDigest({ md5: true, checksum });
    rows.push(measure(`BodyDigest md5+${checksum}`, (c) => bd.update(c), () => bd.finish()));
  }
  const all = new BodyDigest({ md5: true, checksum: 'CRC64NVME', sha256: true });
  rows.push(measure('BodyDigest md5+CRC64NVME+sha256', (c) => all.update(c), () => all.finish()));
  process.stdout.write(`\n${rows.join('\n')}\n`);
});
