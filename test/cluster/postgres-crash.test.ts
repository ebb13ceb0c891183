// PostgreSQL itself crashes (`pg_ctl stop -m immediate`) during a burst of small PUTs on a
// node, and comes back (crash recovery): every PUT the node acknowledged is readable
// byte-exact afterwards. This pins docs/CLUSTER.md ("Consistency" and
// storage/postgres/pg-inline-blobs.ts): a small object's bytes go to meta_inline_blobs in the
// transaction of its record (the object is acknowledged after that synchronous commit); the
// fallback past the bound on held bytes, a blob transaction committed asynchronously before
// the record's, is crashed the same way in test/storage/postgres/pg-inline-staging.test.ts.
// The server has PostgreSQL's durable defaults (fsync and synchronous_commit on), unlike the
// other tests' servers.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres, ownPostgresServer, type PgTestServer } from '../helpers/postgres.js';
import { waitFor } from '../interop/support.js';

const KiB = 1024;
const WRITERS = 8;

let lastBody = '';
function status(url: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(new URL(path, url), (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => {
        lastBody = b;
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', (e) => {
      lastBody = String(e);
      resolve(0);
    });
    req.end();
  });
}

describePostgres('PostgreSQL crashes during a burst of small PUTs', () => {
  let pgServer: PgTestServer;
  let cluster: TestCluster;
  let s3: S3Client;

  before(async () => {
    pgServer = await ownPostgresServer();
    cluster = await startCluster({ nodes: 1, databaseUrl: await pgServer.freshDatabase() });
    s3 = cluster.nodes[0]!.s3();
    await s3.send(new CreateBucketCommand({ Bucket: 'burst' }));
  });
  after(async () => {
    await cluster?.stop();
  });

  it('every acknowledged PUT is readable byte-exact after crash recovery', async () => {
    const acknowledged = new Map<string, Buffer>();
    let refused = 0;
    let stop = false;
    let n = 0;
    const writer = async (w: number) => {
      while (!stop) {
        const Key = `w${w}/o${n++}`;
        // Inline-tier sizes (up to 64 KiB), some of a few bytes.
        const Body = randomBytes(n % 5 === 0 ? 1 + (n % 50) : 1 * KiB + ((n * 7919) % (60 * KiB)));
        try {
          await s3.send(new PutObjectCommand({ Bucket: 'burst', Key, Body }));
          acknowledged.set(Key, Body);
        } catch {
          refused++;
          await sleep(20);
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    assert.ok(await waitFor(async () => acknowledged.size >= 200, 60_000, 20), `the burst is under way (${acknowledged.size} acknowledged)`);
    await pgServer.crash();
    const atCrash = acknowledged.size;
    await sleep(500);
    stop = true;
    await Promise.all(writers);
    assert.ok(refused > 0, 'PUTs were refused while PostgreSQL was down');

    await pgServer.start();
    const node = cluster.nodes[0]!;
    const ready = await waitFor(async () => (await status(node.url(), '/health/ready')) === 200, 60_000, 200);
    assert.ok(ready, `the node is ready again without a restart: ${lastBody}\n${(node.child()?.stderr() ?? '').split('\n').slice(-40).join('\n').slice(-6000)}`);
    const lost: string[] = [];
    for (const [Key, Body] of acknowledged) {
      try {
        const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'burst', Key }))).Body!.transformToByteArray());
        if (!got.equals(Body)) lost.push(`${Key}: other bytes`);
      } catch (e) {
        lost.push(`${Key}: ${(e as Error).name}`);
      }
    }
    assert.deepEqual(lost, [], `of ${acknowledged.size} acknowledged PUTs (${atCrash} before the crash), every one reads back byte-exact`);
  });
});
