// Pending blobs on a cluster: a node's start must never take another node's write in
// flight (before, every start reclaimed every pending blob of the database), and a node
// SIGKILLed mid-upload loses nothing it acknowledged while its leftovers (its pending blobs
// and their bytes) are reclaimed by the job leader once the node's writer times out.
//
// To hold a write between its blob commit and its metadata commit — the moment a wrong
// reclamation destroys it — the test locks meta_objects from its own PostgreSQL session: the
// PUT's blob is then durable and pending, its metadata transaction waiting.
//
// Also: a node's temporaries in the shared blob directory carry its node id.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, UploadPartCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { startCluster, type ClusterNode, type TestCluster } from '../helpers/cluster.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { openBackend } from '../../src/backend/open-backend.js';

const KiB = 1024;
/** Lease 2 s: a writer is dead after 8 s of silence; the sweeper runs every 2 s. */
const LEASE_SECONDS = 2;

describePostgres('a cluster\'s pending blobs', () => {
  let cluster: TestCluster;
  let db: pg.Client;
  before(async () => {
    cluster = await startCluster({ nodes: 2, env: { COFFER_CLUSTER_LEASE_SECONDS: String(LEASE_SECONDS) } });
    db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
    await cluster.nodes[0]!.s3().send(new CreateBucketCommand({ Bucket: 'pending' }));
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
  });

  const read = async (c: S3Client, Key: string): Promise<Buffer> => Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: 'pending', Key }))).Body!.transformToByteArray());
  const until = async (what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<number> => {
    const t0 = Date.now();
    while (!(await ok())) {
      if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Date.now() - t0;
  };

  /** Runs `during` while every metadata write into `table` (meta_objects by default) waits (reads go on), once `start`'s write waits. */
  /** Runs start(), then during() while a statement matching `waiter` (LIKE) waits on `table`'s lock. */
  const withObjectsLocked = async (start: () => void, during: () => Promise<void>, table = 'meta_objects', waiter = '%'): Promise<void> => {
    const locker = new pg.Client({ connectionString: cluster.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
      start();
      await until('a PUT waits on the locked table', async () =>
        (await db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() AND query LIKE $1", [waiter])).rows[0].n > 0);
      await during();
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }
  };

  const nodeId = (n: ClusterNode) => readFileSync(join(n.dataDir, 'node-id'), 'utf8').trim();
  const instanceOf = async (n: ClusterNode): Promise<string> =>
    (await db.query('SELECT instance FROM meta_blob_writers WHERE node = $1 ORDER BY started_at DESC LIMIT 1', [nodeId(n)])).rows[0].instance;
  const blobFile = (id: string) => {
    const hex = id.startsWith('i') ? id.slice(1) : id;
    return join(cluster.blobDir!, hex.slice(0, 2), hex.slice(2, 4), hex);
  };

  it('a PUT in flight on node A completes intact while node B restarts (B\'s start spares A\'s pending blob)', async () => {
    const [a, b] = cluster.nodes;
    const body = randomBytes(1024 * KiB);
    let put: Promise<unknown> | undefined;
    await withObjectsLocked(() => {
      put = a!.s3().send(new PutObjectCommand({ Bucket: 'pending', Key: 'in-flight', Body: body }));
      put.catch(() => undefined);
    }, async () => {
      const pending = (await db.query('SELECT count(*)::int AS n FROM meta_pending_blobs')).rows[0].n;
      assert.ok(pending >= 1, 'A\'s blob is written and pending');
      await b!.kill();
      await b!.start();
    });
    await put;
    assert.ok((await read(b!.s3(), 'in-flight')).equals(body), 'B serves A\'s object intact');
    assert.ok((await read(a!.s3(), 'in-flight')).equals(body), 'and so does A');
  });

  it('an UploadPart in flight on node A survives node B\'s restart, and the multipart upload completes intact', async () => {
    const [a, b] = cluster.nodes;
    const s3a = a!.s3();
    const { UploadId } = await s3a.send(new CreateMultipartUploadCommand({ Bucket: 'pending', Key: 'multi' }));
    const parts = [randomBytes(5 * 1024 * KiB), randomBytes(700 * KiB)];
    const first = await s3a.send(new UploadPartCommand({ Bucket: 'pending', Key: 'multi', UploadId, PartNumber: 1, Body: parts[0] }));
    let held: Promise<{ ETag?: string }> | undefined;
    await withObjectsLocked(() => {
      held = s3a.send(new UploadPartCommand({ Bucket: 'pending', Key: 'multi', UploadId, PartNumber: 2, Body: parts[1] }));
      held.catch(() => undefined);
    }, async () => {
      await b!.kill();
      await b!.start();
    }, 'meta_parts');
    const second = await held!;
    await b!.s3().send(new CompleteMultipartUploadCommand({
      Bucket: 'pending', Key: 'multi', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.ETag }, { PartNumber: 2, ETag: second.ETag }] },
    }));
    assert.ok((await read(b!.s3(), 'multi')).equals(Buffer.concat(parts)), 'the object is both parts, intact');
  });

  it('a node SIGKILLed mid-upload loses nothing it acknowledged; the leader reclaims its pending blobs and their bytes', async () => {
    const [a, b] = cluster.nodes;
    const acked = new Map<string, Buffer>();
    for (let i = 0; i < 4; i++) {
      const body = randomBytes(i % 2 === 0 ? 300 * KiB : 2 * KiB);
      await a!.s3().send(new PutObjectCommand({ Bucket: 'pending', Key: `acked-${i}`, Body: body }));
      acked.set(`acked-${i}`, body);
    }
    const victim = await instanceOf(a!);
    const before = randomBytes(2 * KiB);
    const { ETag } = await a!.s3().send(new PutObjectCommand({ Bucket: 'pending', Key: 'cut-off', Body: before }));
    let leftovers: string[] = [];
    // The PUT is held at its metadata write's first read (its writer row, FOR KEY SHARE): held
    // at the upsert, the COMMIT sent with it would land the write after A's death. So it is an
    // If-Match overwrite: a new key's write goes with its COMMIT in one statement (it would
    // land, whole, once the lock is gone), a conditional overwrite's first read goes alone.
    await withObjectsLocked(() => {
      void a!.s3().send(new PutObjectCommand({ Bucket: 'pending', Key: 'cut-off', Body: randomBytes(512 * KiB), IfMatch: ETag })).catch(() => undefined);
    }, async () => {
      leftovers = (await db.query('SELECT blob_id FROM meta_pending_blobs WHERE writer = $1', [victim])).rows.map((r: { blob_id: string }) => r.blob_id);
      assert.equal(leftovers.length, 1, 'the cut-off PUT\'s blob is pending under A\'s writer');
      assert.ok(existsSync(blobFile(leftovers[0]!)), 'and its bytes are in the shared blob directory');
      await a!.kill();
    }, 'meta_blob_writers', '%FOR KEY SHARE%');
    // Dead after 4 leases of silence, then the leader's next sweep (every lease).
    const took = await until('A\'s pending blobs are reclaimed', async () =>
      (await db.query('SELECT count(*)::int AS n FROM meta_pending_blobs WHERE writer = $1', [victim])).rows[0].n === 0 && !existsSync(blobFile(leftovers[0]!)));
    assert.ok(took <= 4 * LEASE_SECONDS * 1000 + 20_000, `reclaimed after ${took} ms`);
    assert.equal((await db.query('SELECT count(*)::int AS n FROM meta_blob_writers WHERE instance = $1', [victim])).rows[0].n, 0, 'A\'s writer is retired');
    for (const [Key, body] of acked) assert.ok((await read(b!.s3(), Key)).equals(body), `${Key} survives intact`);
    assert.ok((await read(b!.s3(), 'cut-off')).equals(before), 'the cut-off overwrite never landed');
    await a!.start();
    assert.ok((await read(a!.s3(), 'acked-0')).equals(acked.get('acked-0')!), 'A back, serving');
  });

  it('a node paused past the writer timeout mid-upload is retired: its PUT fails on resume, nothing broken is published, readiness says writer, a restart heals', async () => {
    const [a, b] = cluster.nodes;
    const writerOfA = await instanceOf(a!);
    const total = 400 * KiB;
    let push!: (chunk: Buffer | null) => void;
    const body = new Readable({ read() {} });
    push = (c) => void body.push(c);
    const put = a!.s3().send(new PutObjectCommand({ Bucket: 'pending', Key: 'paused', Body: body, ContentLength: total }));
    put.catch(() => undefined);
    push(randomBytes(200 * KiB));
    await until('the upload is pending on A', async () =>
      (await db.query('SELECT count(*)::int AS n FROM meta_pending_blobs WHERE writer = $1', [writerOfA])).rows[0].n === 1);
    a!.child()!.proc.kill('SIGSTOP');
    try {
      await until('the leader retires A and reclaims its pending blob', async () =>
        (await db.query('SELECT count(*)::int AS n FROM meta_blob_writers WHERE instance = $1', [writerOfA])).rows[0].n === 0 &&
        (await db.query('SELECT count(*)::int AS n FROM meta_pending_blobs WHERE writer = $1', [writerOfA])).rows[0].n === 0, 40_000);
    } finally {
      a!.child()!.proc.kill('SIGCONT');
    }
    push(randomBytes(total - 200 * KiB));
    push(null);
    await assert.rejects(put, (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 500, 'the retired node refuses to publish');
    await assert.rejects(b!.s3().send(new HeadObjectCommand({ Bucket: 'pending', Key: 'paused' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404);
    const ready = await fetch(`${a!.url()}/health/ready`);
    assert.equal(ready.status, 503);
    assert.deepEqual((await ready.json() as { failed: string[] }).failed, ['writer']);
    await a!.kill();
    await a!.start();
    assert.equal((await fetch(`${a!.url()}/health/ready`)).status, 200);
    const again = randomBytes(300 * KiB);
    await a!.s3().send(new PutObjectCommand({ Bucket: 'pending', Key: 'paused', Body: again }));
    assert.ok((await read(b!.s3(), 'paused')).equals(again));
  });
});

describePostgres('a cluster node\'s temporaries in a shared blob directory', () => {
  it('are named by the node id of its data directory (not the host name, which containers may share)', async () => {
    const temp = await mkdtemp(join(tmpdir(), 'coffer-node-temps-'));
    await mkdir(join(temp, 'node'));
    const backend = await openBackend({
      dataDir: join(temp, 'node'), fsync: false, region: 'us-east-1', auditMaxFileBytes: 1 << 20, auditMaxFiles: 2,
      metadata: await (await postgresServer()).freshDatabase(), blobs: { kind: 'file', path: join(temp, 'shared') },
    }).catch(async (e: unknown) => {
      await rm(temp, { recursive: true, force: true });
      throw e;
    });
    try {
      const w = await backend.blobs.create();
      await w.write(randomBytes(100 * KiB)); // past the inline tier: a temporary file
      const names = await readdir(join(temp, 'shared', 'tmp'));
      const node = readFileSync(join(temp, 'node', 'node-id'), 'utf8').trim();
      assert.deepEqual(names.map((n) => n.split('.', 2).join('.')), [`${node}.${process.pid}`]);
      assert.equal(backend.cluster?.writer.node, node);
      await w.abort();
    } finally {
      await backend.close();
      await rm(temp, { recursive: true, force: true });
    }
  });
});
