// The versioning section of `npm run bench` (`--only versions`): what a long history costs.
// One server, one versioning-enabled bucket; key "one" has 1 version and key "hot" 10,000
// (BENCH_VERSIONS) before the timed runs. Then, side by side:
//
//   GET of the current version of each key (4 KiB), then PUT of a new version onto each
//   ListObjectVersions over the hot key's whole history, 1,000 entries a page
//
// The metadata store keeps each key's current version in its own row (storage/types.ts), so
// a GET or PUT of "hot" should run at the rate of "one" (ratio about 1×), and a page of the
// history costs the same wherever it starts.

import { randomBytes } from 'node:crypto';
import { measure, runOps } from './measure.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { fmtInt, fmtSize, type Row } from './report.js';
import { cpuOpsRow, errorRow, type Sizes } from './scenarios.js';
import { ROOT_KEY_ID, ROOT_SECRET, type ServerOptions, type ServerProcess } from './server-process.js';

const CREDS = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const BUCKET = 'versions';
export const FEW = '1 version';
export const MANY = `${fmtInt(Number(process.env.BENCH_VERSIONS) || 10_000)} versions`;

export interface VersionsBenchOptions {
  sizes: Sizes;
  fsync: boolean;
  start(opts: ServerOptions): Promise<ServerProcess>;
}

export async function benchVersions(opts: VersionsBenchOptions): Promise<Row[]> {
  const history = Math.round(Number(process.env.BENCH_VERSIONS) || 10_000);
  const { smallSize, smallConcurrency: c } = opts.sizes;
  const n = Math.min(opts.sizes.smallOps, 5_000);
  const get = `Versions: GET current ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight`;
  const put = `Versions: PUT new version ${fmtSize(smallSize)} ×${fmtInt(n)}, ${c} in flight`;
  const list = `Versions: ListObjectVersions of ${fmtInt(history)}+ versions, 1,000 a page`;
  const server = await opts.start({ fsync: opts.fsync });
  const client = new RawS3Client(server.url, CREDS);
  try {
    await client.createBucket(BUCKET);
    await client.enableVersioning(BUCKET);
    const body = randomBytes(smallSize);
    const hash = payloadHash(body);
    await client.putSmall(BUCKET, 'one', body, hash);
    process.stderr.write(`bench: versions: writing ${fmtInt(history)} versions of one key\n`);
    await runOps(history, c, () => client.putSmall(BUCKET, 'hot', body, hash));
    const rows: Row[] = [];
    for (const [variant, key] of [[FEW, 'one'], [MANY, 'hot']] as const) {
      await runOps(200, c, () => client.get(BUCKET, key, smallSize).then(() => undefined)); // warm
      rows.push(cpuOpsRow(get, variant, await measure(server.pid, () => runOps(n, c, () => client.get(BUCKET, key, smallSize).then(() => undefined)))));
    }
    for (const [variant, key] of [[FEW, 'one'], [MANY, 'hot']] as const) {
      rows.push(cpuOpsRow(put, variant, await measure(server.pid, () => runOps(n, c, () => client.putSmall(BUCKET, key, body, hash)))));
    }
    let pages = 0;
    let entries = 0;
    const m = await measure(server.pid, async () => {
      let marker: { key: string; versionId?: string } | undefined;
      do {
        const page = await client.listVersionsPage(BUCKET, 1000, marker);
        pages++;
        entries += page.entries;
        marker = page.next;
      } while (marker);
    });
    rows.push({
      scenario: list, variant: 'all pages',
      result: `${(pages / m.seconds).toFixed(1)} pages/s (${fmtInt(entries / m.seconds)} entries/s, ${pages} pages), server ${(m.serverCpu * 100).toFixed(0)}% CPU`,
      target: '—', value: pages / m.seconds,
    });
    return rows;
  } catch (e) {
    process.stderr.write(`bench: versions failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    return [errorRow({ variant: FEW }, get, '—', e)];
  } finally {
    client.close();
    await server.stop();
  }
}
