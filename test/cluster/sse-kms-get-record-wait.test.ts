// An SSE-KMS GET on a cluster node reads and opens the body while its KMS Decrypt's audit row
// is being inserted (s3/ops/get-object.ts, openObjectForRead; audit/pg-audit-store.ts), and
// answers nothing before that row is committed. Shown by holding the INSERT back: a second
// connection takes an EXCLUSIVE lock on audit_events, so the node's batch waits for it.
// - Nothing of the answer arrives while the row waits; once it is committed the GET is
//   answered in full, its Decrypt row already in the table.
// - An error the opened key implies (here a KMS plaintext of the wrong length, a tampered
//   envelope) is answered after the row too, as before the overlap.
// - A GET whose row is refused (its INSERT's connection terminated: 503, as before) or whose
//   client goes away while the row waits leaves no blob file open and no decrypt job behind.
// - A body that fails while the row waits (a damaged segment in the second read of a
//   worker-decrypted file, found a moment after the first) must not take the process down:
//   the stream's 'error' then had no listener (the first chunk's were gone, the response's
//   not yet there), an uncaught exception that killed the node.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { SEALED_SEGMENT_SIZE } from '../../src/crypto/layout.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/crypto/envelope.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function filesUnder(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push({ path: p, size: (await stat(p)).size });
  }
  return out;
}

/** What a promise did within `ms`: settled (with its outcome) or still pending. */
async function within<T>(p: Promise<T>, ms: number): Promise<'pending' | 'settled'> {
  return Promise.race([p.then(() => 'settled' as const, () => 'settled' as const), sleep(ms).then(() => 'pending' as const)]);
}

describePostgres('SSE-KMS GET on a cluster node: answered after its Decrypt row, the body read meanwhile', () => {
  let cluster: TestCluster;
  let db: pg.Pool;
  before(async () => {
    cluster = await startCluster({ nodes: 1 });
    db = new pg.Pool({ connectionString: cluster.databaseUrl, max: 3 });
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
  });

  /** Runs `fn` while audit_events is locked against INSERTs; the lock goes with the returned function. */
  async function holdAuditInserts(): Promise<() => Promise<void>> {
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query('LOCK TABLE audit_events IN EXCLUSIVE MODE');
    return async () => {
      await c.query('COMMIT');
      c.release();
    };
  }

  it('nothing is answered while the Decrypt row waits; a body failing meanwhile does not kill the node', async () => {
    const node = cluster.nodes[0]!;
    const s3 = node.s3();
    const keyId = (await node.kms().send(new CreateKeyCommand({ Description: 'record wait' }))).KeyMetadata!.KeyId!;
    const Bucket = 'record-wait';
    await s3.send(new CreateBucketCommand({ Bucket }));
    const intact = randomBytes(6 * MiB);
    await s3.send(new PutObjectCommand({ Bucket, Key: 'intact', Body: intact, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    const before = new Set((await filesUnder(cluster.blobDir!)).map((f) => f.path));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'damaged', Body: randomBytes(6 * MiB), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    const blob = (await filesUnder(cluster.blobDir!)).filter((f) => !before.has(f.path) && f.size > 6 * MiB);
    assert.equal(blob.length, 1, `the damaged object's blob file: ${JSON.stringify(blob)}`);
    // Segment 20: in the worker's second read (16 segments each); the first read is intact.
    const h = await open(blob[0]!.path, 'r+');
    try {
      const at = 20 * SEALED_SEGMENT_SIZE + 100;
      const b = Buffer.alloc(1);
      await h.read(b, 0, 1, at);
      b[0] = b[0]! ^ 0xff;
      await h.write(b, 0, 1, at);
      await h.sync();
    } finally {
      await h.close();
    }

    // 1. Held back while the row waits; answered in full once it is committed, row first.
    let release = await holdAuditInserts();
    const get = s3.send(new GetObjectCommand({ Bucket, Key: 'intact' }));
    try {
      assert.equal(await within(get, 800), 'pending', 'the GET was answered while its Decrypt row could not be inserted');
    } finally {
      await release();
    }
    const got = await get;
    const requestId = got.$metadata.requestId!;
    const rows = await db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_events WHERE event_name = 'Decrypt' AND error_code IS NULL AND strpos(record, $1) > 0`, [requestId]);
    assert.equal(rows.rows[0]!.n, '1', 'the Decrypt row of the GET answered is in the table');
    assert.equal(sha(await got.Body!.transformToByteArray()), sha(intact));

    // 2. The damaged body fails while the row waits: the node lives on, the GET fails as before
    // the overlap (headers, then a cut connection: the damage is past the first read).
    release = await holdAuditInserts();
    const bad = s3.send(new GetObjectCommand({ Bucket, Key: 'damaged' })).then(async (r) => r.Body!.transformToByteArray());
    bad.catch(() => undefined);
    try {
      const early = await within(bad, 800);
      if (early === 'settled') {
        const how = await bad.then((b) => `a body of ${b.length} bytes`, (e: Error) => `${e.name}: ${e.message}`);
        await sleep(300); // the child's exit, if it died
        assert.fail(`the damaged GET ended (${how}) while its Decrypt row could not be inserted; node exit code ${node.child()?.proc.exitCode}\n${node.child()?.stderr().slice(-2000)}`);
      }
      assert.equal(node.child()?.proc.exitCode, null, 'the node lives while the row waits');
    } finally {
      await release();
    }
    await assert.rejects(bad, 'a body damaged past its first read is a cut connection');
    await sleep(100);
    assert.equal(node.child()?.proc.exitCode, null, `the node died:\n${node.child()?.stderr().slice(-2000)}`);
    assert.doesNotMatch(node.child()!.stderr(), /Unhandled|uncaught|ERR_UNHANDLED_ERROR/i);
    const again = await s3.send(new GetObjectCommand({ Bucket, Key: 'intact' }));
    assert.equal(sha(await again.Body!.transformToByteArray()), sha(intact), 'the node still answers');
  });

  it('an error the opened key implies (a data key of the wrong length) waits for the row too', async () => {
    const node = cluster.nodes[0]!;
    const s3 = node.s3();
    const kms = node.kms();
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'short key' }))).KeyMetadata!.KeyId!;
    const Bucket = 'record-wait-short';
    await s3.send(new CreateBucketCommand({ Bucket }));
    for (const [Key, ServerSideEncryption] of [['kms', 'aws:kms'], ['dsse', 'aws:kms:dsse']] as const) {
      await s3.send(new PutObjectCommand({ Bucket, Key, Body: randomBytes(100_000), ServerSideEncryption, SSEKMSKeyId: keyId }));
      // The envelope's KMS blob replaced by one of 16 bytes under the same key and context:
      // KMS Decrypt succeeds (and is recorded), the object key it yields is unusable.
      const { rows } = await db.query<{ sys: string }>('SELECT sys FROM meta_objects WHERE bucket = $1 AND key = $2', [Bucket, Key]);
      const sys = JSON.parse(rows[0]!.sys) as { sse: { env: string } };
      const env = decodeEnvelope(Buffer.from(sys.sse.env, 'base64'));
      const blob = (await kms.send(new EncryptCommand({ KeyId: env.keyId, Plaintext: randomBytes(16), EncryptionContext: { ...env.context } }))).CiphertextBlob!;
      sys.sse.env = encodeEnvelope({ ...env, wrappedKey: Buffer.from(blob) }).toString('base64');
      await db.query('UPDATE meta_objects SET sys = $3 WHERE bucket = $1 AND key = $2', [Bucket, Key, JSON.stringify(sys)]);

      const release = await holdAuditInserts();
      const get = s3.send(new GetObjectCommand({ Bucket, Key }));
      get.catch(() => undefined);
      try {
        if ((await within(get, 800)) === 'settled') {
          const how = await get.then(() => 'a success', (err: Error) => `${err.name}: ${err.message}`);
          assert.fail(`${Key}: answered (${how}) while the Decrypt row could not be inserted`);
        }
      } finally {
        await release();
      }
      const e = await get.then(() => assert.fail(`${Key}: a GET with an unusable key succeeded`), (err: Error & { $metadata?: { httpStatusCode?: number } }) => err);
      assert.equal(e.name, 'InternalError', `${Key}: ${e.message}`);
      assert.equal(e.$metadata?.httpStatusCode, 500);
    }
  });

  it('refused (its row cannot be inserted) or abandoned while the row waits: 503 as before, no blob file left open', async () => {
    const node = cluster.nodes[0]!;
    const s3 = node.s3();
    const keyId = (await node.kms().send(new CreateKeyCommand({ Description: 'refused' }))).KeyMetadata!.KeyId!;
    const Bucket = 'record-wait-refused';
    await s3.send(new CreateBucketCommand({ Bucket }));
    const bodies = { big: randomBytes(6 * MiB), mid: randomBytes(200 * 1024), dsse: randomBytes(MiB) };
    const before = new Set((await filesUnder(cluster.blobDir!)).map((f) => f.path));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'big', Body: bodies.big, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'mid', Body: bodies.mid, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'dsse', Body: bodies.dsse, ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyId }));
    const blobs = new Set((await filesUnder(cluster.blobDir!)).filter((f) => !before.has(f.path) && f.size > 200 * 1024).map((f) => f.path));
    assert.equal(blobs.size, 3, `the objects' blob files: ${JSON.stringify([...blobs])}`);
    // A worker reading the file (6 MiB, and a range of it), a file read decrypted here (200 KiB), two layers (DSSE-KMS).
    const reads = [{ Key: 'big' }, { Key: 'big', Range: 'bytes=100-2000000' }, { Key: 'mid' }, { Key: 'dsse' }];
    const pid = node.child()!.proc.pid!;
    /** The node's descriptors on the objects' blob files. */
    const blobFilesOpen = async (): Promise<number> => {
      let n = 0;
      for (const fd of await readdir(`/proc/${pid}/fd`)) {
        const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        if (blobs.has(target)) n++;
      }
      return n;
    };
    /** The node's audit INSERT waiting on the lock: its backend. */
    const waitingInsert = async (): Promise<number> => {
      for (let i = 0; i < 200; i++) {
        const { rows } = await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_events%'`);
        if (rows.length > 0) return rows[0]!.pid;
        await sleep(10);
      }
      assert.fail('no audit INSERT waited on the lock');
    };
    const recovered = async (): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        try {
          const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'mid' }));
          assert.equal(sha(await got.Body!.transformToByteArray()), sha(bodies.mid));
          return;
        } catch {
          await sleep(100);
        }
      }
      assert.fail('the audit trail did not recover');
    };
    await recovered();
    await sleep(200);
    assert.equal(await blobFilesOpen(), 0, 'the blob files are closed after a GET');
    for (const r of reads) {
      const release = await holdAuditInserts();
      const get = s3.send(new GetObjectCommand({ Bucket, ...r }));
      get.catch(() => undefined);
      try {
        await sleep(50); // the body's first read done meanwhile
        await db.query('SELECT pg_terminate_backend($1)', [await waitingInsert()]);
      } finally {
        await release();
      }
      const e = await get.then(() => assert.fail(`${JSON.stringify(r)}: a GET whose Decrypt row was refused succeeded`), (err: Error & { $metadata?: { httpStatusCode?: number } }) => err);
      assert.equal(e.$metadata?.httpStatusCode, 503, `${JSON.stringify(r)}: ${e.name}: ${e.message}`);
      await recovered();
    }
    for (const r of reads) {
      const release = await holdAuditInserts();
      const abort = new AbortController();
      const get = s3.send(new GetObjectCommand({ Bucket, ...r }), { abortSignal: abort.signal });
      get.catch(() => undefined);
      try {
        await waitingInsert();
        await sleep(50); // the body's first read done meanwhile
        abort.abort();
        await get.catch(() => undefined);
      } finally {
        await release();
      }
    }
    await recovered();
    for (let i = 0; i < 50 && (await blobFilesOpen()) > 0; i++) await sleep(20);
    assert.equal(await blobFilesOpen(), 0, 'blob files left open by refused or abandoned GETs');
    assert.equal(node.child()?.proc.exitCode, null);
    assert.doesNotMatch(node.child()!.stderr(), /Unhandled|uncaught|ERR_UNHANDLED_ERROR/i);
  });
});
