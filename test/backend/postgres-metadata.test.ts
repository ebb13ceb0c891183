// End to end: a Coffer server started with COFFER_METADATA=postgres://… keeps its metadata
// (the inline tier of small blobs included), KMS, IAM and usage in a real PostgreSQL
// (test/helpers/postgres.ts) and serves the AWS SDK from it: PUT, GET, LIST, DELETE of
// inline and data-directory objects, SSE-KMS with a key made through KMS, and everything
// still there after a restart on the same database. Plus the config: --metadata is
// checked and its password never shown.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { explainConfig, loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/errors.js';
import { describePostgres, postgresServer } from '../helpers/postgres.js';
import { startTestServer } from '../helpers/server.js';

const KiB = 1024;

describe('--metadata (COFFER_METADATA)', () => {
  it('takes a postgres:// or postgresql:// URL, refuses anything else, and shows the URL with its password masked', () => {
    const url = 'postgres://coffer:s3cret@db.example:5432/coffer';
    assert.equal(loadConfig({ dataDir: '/tmp/x' }, { COFFER_METADATA: url }).metadata, url);
    assert.equal(loadConfig({ dataDir: '/tmp/x', metadata: 'postgresql://db/coffer' }, {}).metadata, 'postgresql://db/coffer');
    assert.equal(loadConfig({ dataDir: '/tmp/x' }, {}).metadata, undefined);
    for (const bad of ['mysql://db/coffer', 'db.example:5432', 'postgres://']) {
      assert.throws(() => loadConfig({ dataDir: '/tmp/x' }, { COFFER_METADATA: bad }), (e: unknown) => e instanceof ConfigError && /metadata/.test(e.message), bad);
    }
    const { rows } = explainConfig({ dataDir: '/tmp/x' }, { COFFER_METADATA: url });
    const row = rows.find((r) => r.env === 'COFFER_METADATA');
    assert.equal(row?.value, 'postgres://coffer:****@db.example:5432/coffer');
    assert.ok(!JSON.stringify(rows).includes('s3cret'));
  });

  it('takes COFFER_AUDIT_BUCKET beside it (the job leader delivers the trail); COFFER_AUDIT_RETENTION_DAYS only beside it', () => {
    const c = loadConfig({ dataDir: '/tmp/x' }, { COFFER_METADATA: 'postgres://db/coffer', COFFER_AUDIT_BUCKET: 'audit-logs/coffer', COFFER_AUDIT_RETENTION_DAYS: '90' });
    assert.deepEqual([c.auditBucket, c.auditPrefix, c.auditRetentionDays], ['audit-logs', 'coffer', 90]);
    assert.equal(loadConfig({ dataDir: '/tmp/x' }, { COFFER_AUDIT_BUCKET: 'audit-logs' }).auditBucket, 'audit-logs');
    assert.equal(loadConfig({ dataDir: '/tmp/x' }, {}).auditRetentionDays, 0, 'keeps everything unless set');
    // The file log keeps files, not days.
    assert.throws(() => loadConfig({ dataDir: '/tmp/x' }, { COFFER_AUDIT_RETENTION_DAYS: '90' }), (e: unknown) => e instanceof ConfigError && /COFFER_AUDIT_RETENTION_DAYS/.test(e.message) && /COFFER_AUDIT_MAX_FILES/.test((e as ConfigError).hint ?? ''));
    assert.throws(() => loadConfig({ dataDir: '/tmp/x' }, { COFFER_METADATA: 'postgres://db/coffer', COFFER_AUDIT_RETENTION_DAYS: '-1' }), (e: unknown) => e instanceof ConfigError && /auditRetentionDays/.test(e.message));
  });
});

describePostgres('a Coffer server on PostgreSQL (COFFER_METADATA)', () => {
  it('serves PUT, GET, LIST and DELETE through the SDK from PostgreSQL, and keeps it all across a restart', async () => {
    const url = await (await postgresServer()).freshDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'coffer-pgmeta-'));
    const db = new pg.Pool({ connectionString: url, max: 1 });
    try {
      let server = await startTestServer({ COFFER_METADATA: url }, { dataDir });
      const bodies = new Map<string, Buffer>([
        ['small/one-kib', Buffer.alloc(KiB, 'a')],
        ['large/200-kib', Buffer.alloc(200 * KiB, 'b')],
        ['é-utf8', Buffer.from('accent')],
        ['Z-upper', Buffer.from('upper')],
      ]);
      try {
        await server.s3.send(new CreateBucketCommand({ Bucket: 'pg-data' }));
        const { KeyMetadata } = await server.kms.send(new CreateKeyCommand({}));
        for (const [Key, Body] of bodies) await server.s3.send(new PutObjectCommand({ Bucket: 'pg-data', Key, Body }));
        await server.s3.send(new PutObjectCommand({ Bucket: 'pg-data', Key: 'kms', Body: 'sealed', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KeyMetadata!.KeyId }));
        bodies.set('kms', Buffer.from('sealed'));
        for (const [Key, body] of bodies) {
          const got = Buffer.from(await (await server.s3.send(new GetObjectCommand({ Bucket: 'pg-data', Key }))).Body!.transformToByteArray());
          assert.ok(got.equals(body), Key);
        }
        const listed = (await server.s3.send(new ListObjectsV2Command({ Bucket: 'pg-data' }))).Contents!.map((c) => c.Key!);
        assert.deepEqual(listed, ['Z-upper', 'kms', 'large/200-kib', 'small/one-kib', 'é-utf8'], 'UTF-8 byte order');
        // The state is in PostgreSQL: the objects, the small body inline, the KMS key.
        const objects = await db.query("SELECT key FROM meta_objects WHERE bucket = 'pg-data' ORDER BY key");
        assert.equal(objects.rowCount, 5);
        assert.ok(((await db.query('SELECT count(*)::int AS n FROM meta_inline_blobs')).rows[0] as { n: number }).n >= 1);
        assert.equal((await db.query('SELECT key_id FROM kms_keys WHERE key_id = $1', [KeyMetadata!.KeyId])).rowCount, 1);
        await server.s3.send(new DeleteObjectCommand({ Bucket: 'pg-data', Key: 'Z-upper' }));
        bodies.delete('Z-upper');
        await assert.rejects(server.s3.send(new HeadObjectCommand({ Bucket: 'pg-data', Key: 'Z-upper' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404);
      } finally {
        await server.stop();
      }
      server = await startTestServer({ COFFER_METADATA: url }, { dataDir });
      try {
        const listed = (await server.s3.send(new ListObjectsV2Command({ Bucket: 'pg-data' }))).Contents!.map((c) => c.Key!);
        assert.deepEqual(listed, ['kms', 'large/200-kib', 'small/one-kib', 'é-utf8']);
        for (const [Key, body] of bodies) {
          const got = Buffer.from(await (await server.s3.send(new GetObjectCommand({ Bucket: 'pg-data', Key }))).Body!.transformToByteArray());
          assert.ok(got.equals(body), `${Key} after the restart`);
        }
      } finally {
        await server.stop();
      }
    } finally {
      await db.end();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
