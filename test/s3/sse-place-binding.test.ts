// The sealed key is bound to its place (docs/spec/object-encryption.md): every reader compares
// the envelope context's aws:s3:arn with the object it reads — the object's ARN, or the
// bucket's for an SSE-KMS bucket key — and refuses another place as a damaged object (500
// InternalError, logged without key material). Against the real server, with the records
// moved in its SQLite metadata database as an operator of that database could:
// - a record (envelope, parts, checksum, ETag) moved onto another key does not open there, for
//   every kind of SSE, on every read path: GET whole, ranged and by part number, CopyObject
//   and UploadPartCopy sources, the re-wrap route; an upload's envelope moved onto another
//   upload does not seal its parts;
// - an envelope without aws:s3:arn (none is written today) reads as before;
// - every legitimate write still reads: copies across keys and buckets (SSE-S3, SSE-KMS with
//   and without bucket keys, DSSE-KMS, SSE-C), a copy onto itself, older versions and copies
//   of them, UploadPartCopy, multipart uploads, the client's own encryption context, and bucket
//   keys switched on or off between the write and the read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  GetObjectCommand, PutBucketEncryptionCommand, PutBucketVersioningCommand, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
  type PutObjectCommandInput, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { decodeEnvelope, encodeEnvelope, sealedKeyAad } from '../../src/crypto/index.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { adminCall } from '../helpers/admin.js';
import { customerKey, getBody, markedBody, ssec, withMetadataDb } from '../helpers/sse.js';

let srv: TestServer;
let s3: S3Client;
let kmsKey: string;
const logLines: Record<string, unknown>[] = [];
const bucket = uniqueBucket('place');
const other = uniqueBucket('place-other');
const marker = `COFFER-PLACE-${randomBytes(8).toString('hex')}`;
const cKey = customerKey();

before(async () => {
  const log = pino({ level: 'info' }, { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) });
  srv = await startTestServer({}, { log });
  s3 = srv.s3;
  kmsKey = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: other }));
});
after(async () => {
  await srv?.stop();
});

const withDb = <T>(fn: (db: Database.Database) => T): T => withMetadataDb(srv.dataDir, fn);

/** Every column of a record that its bytes and encryption depend on (not its bucket and key). */
const COLS = ['size', 'etag', 'checksum', 'parts', 'sys'];
type Row = Record<string, unknown>;
const readRow = (b: string, key: string): Row =>
  withDb((db) => db.prepare(`SELECT ${COLS.join(', ')} FROM objects WHERE bucket = ? AND key = ?`).get(b, key)) as Row;
function writeRow(b: string, key: string, row: Row): void {
  withDb((db) => assert.equal(db.prepare(`UPDATE objects SET ${COLS.map((c) => `${c} = ?`).join(', ')} WHERE bucket = ? AND key = ?`).run(...COLS.map((c) => row[c]), b, key).changes, 1));
}
const envOf = (row: Row) => decodeEnvelope(Buffer.from((JSON.parse(row.sys as string) as { sse: { env: string } }).sse.env, 'base64'));

async function readAll(input: ConstructorParameters<typeof GetObjectCommand>[0]): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand(input));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** The request fails with 500 InternalError (a damaged object), delivering no bytes. */
async function assertDamaged(what: string, send: () => Promise<unknown>): Promise<void> {
  await assert.rejects(send, (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'InternalError', `${what}: ${e.name}`);
    assert.equal(e.$metadata?.httpStatusCode, 500, what);
    return true;
  }, what);
}

interface Kind {
  name: string;
  put: Partial<PutObjectCommandInput>;
  read: Record<string, unknown>;
  copySource?: Record<string, unknown>;
}
const KINDS: Kind[] = [
  { name: 'SSE-S3', put: { ServerSideEncryption: 'AES256' }, read: {} },
  { name: 'SSE-KMS', put: { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: '' }, read: {} },
  { name: 'SSE-KMS with a bucket key', put: { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: '', BucketKeyEnabled: true }, read: {} },
  { name: 'DSSE-KMS', put: { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: '' }, read: {} },
  {
    name: 'SSE-C', put: ssec(cKey), read: ssec(cKey),
    copySource: { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: cKey.key as unknown as string },
  },
];
const putInput = (k: Kind): Partial<PutObjectCommandInput> => (k.put.SSEKMSKeyId === '' ? { ...k.put, SSEKMSKeyId: kmsKey } : k.put);

async function putAs(k: Kind, b: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: body, ...putInput(k) }));
}

for (const k of KINDS) {
  test(`${k.name}: a record moved onto another key is refused on every read path, and logged without key material`, async () => {
    const a = markedBody(70_000, marker, 1);
    const b = markedBody(70_000, marker, 2);
    const src = `src-${k.name}`;
    const dst = `dst-${k.name}`;
    await putAs(k, bucket, src, a);
    await putAs(k, other, dst, b);
    // SSE-S3: the first GET remembers the key (object-key-memo.ts), so the moved record is a memo hit too.
    assert.ok((await readAll({ Bucket: bucket, Key: src, ...k.read })).equals(a));
    const saved = readRow(other, dst);
    writeRow(other, dst, readRow(bucket, src));
    const logged = logLines.length;
    try {
      await assertDamaged('whole', () => readAll({ Bucket: other, Key: dst, ...k.read }));
      await assertDamaged('ranged', () => readAll({ Bucket: other, Key: dst, Range: 'bytes=10-99', ...k.read }));
      await assertDamaged('part 1', () => readAll({ Bucket: other, Key: dst, PartNumber: 1, ...k.read }));
      await assertDamaged('CopyObject source', () => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `copy-${dst}`, CopySource: `${other}/${dst}`, ...k.copySource })));
      const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `upc-${dst}` }));
      await assertDamaged('UploadPartCopy source', () => s3.send(new UploadPartCopyCommand({
        Bucket: bucket, Key: `upc-${dst}`, UploadId: up.UploadId, PartNumber: 1, CopySource: `${other}/${dst}`, ...k.copySource,
      })));
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: `upc-${dst}`, UploadId: up.UploadId }));
      if (k.name !== 'SSE-C') {
        // The re-wrap route (SSE-KMS and DSSE-KMS; SSE-S3 when converted to SSE-KMS).
        const second = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
        const r = await adminCall(srv, 'POST', 'objects/rewrap', { body: { bucket: other, key: dst, toKeyId: second, convertSseS3: true } });
        assert.equal(r.status, 500, `re-wrap: ${JSON.stringify(r.body)}`);
      }
      const lines = logLines.slice(logged).filter((l) => (l.err as { type?: string } | undefined)?.type === 'EnvelopePlaceError');
      assert.ok(lines.length >= (k.name === 'SSE-C' ? 5 : 6), `each refusal is logged (${lines.length})`);
      const text = JSON.stringify(lines);
      assert.ok(text.includes(`arn:aws:s3:::${bucket}`) && text.includes(`arn:aws:s3:::${other}`), 'the log names both places');
      const wrapped = envOf(readRow(bucket, src)).wrappedKey.toString('base64');
      assert.ok(!text.includes(wrapped) && !text.includes(cKey.key.toString('base64')), 'no key (not even wrapped) in the log');
    } finally {
      writeRow(other, dst, saved);
    }
    assert.ok((await readAll({ Bucket: other, Key: dst, ...k.read })).equals(b), 'the key reads its own object again');
    assert.ok((await readAll({ Bucket: bucket, Key: src, ...k.read })).equals(a), 'the source is untouched');
  });
}

test('a bucket-key envelope is bound to its bucket (its context is the bucket ARN, as in AWS): moved within the bucket it opens, into another bucket it does not', async () => {
  const k = KINDS[2]!;
  const a = markedBody(4096, marker, 3);
  await putAs(k, bucket, 'bk-a', a);
  await putAs(k, bucket, 'bk-b', markedBody(4096, marker, 4));
  await putAs(k, other, 'bk-c', markedBody(4096, marker, 5));
  assert.equal(envOf(readRow(bucket, 'bk-a')).context['aws:s3:arn'], `arn:aws:s3:::${bucket}`);
  writeRow(bucket, 'bk-b', readRow(bucket, 'bk-a'));
  assert.ok((await readAll({ Bucket: bucket, Key: 'bk-b' })).equals(a), 'same bucket: the place a bucket key names is the bucket');
  writeRow(other, 'bk-c', readRow(bucket, 'bk-a'));
  await assertDamaged('another bucket', () => readAll({ Bucket: other, Key: 'bk-c' }));
});

test('an upload\'s envelope moved onto another upload (another key) seals no part there', async () => {
  const ua = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'upload-a' }));
  const ub = await s3.send(new CreateMultipartUploadCommand({ Bucket: other, Key: 'upload-b' }));
  const sysOf = (id: string) => withDb((db) => (db.prepare('SELECT sys FROM uploads WHERE upload_id = ?').get(id) as { sys: string }).sys);
  const setSys = (id: string, sys: string) => withDb((db) => assert.equal(db.prepare('UPDATE uploads SET sys = ? WHERE upload_id = ?').run(sys, id).changes, 1));
  const saved = sysOf(ub.UploadId!);
  setSys(ub.UploadId!, sysOf(ua.UploadId!));
  await assertDamaged('UploadPart', () => s3.send(new UploadPartCommand({ Bucket: other, Key: 'upload-b', UploadId: ub.UploadId, PartNumber: 1, Body: Buffer.alloc(100, 1) })));
  setSys(ub.UploadId!, saved);
  const body = Buffer.alloc(100, 2);
  const p = await s3.send(new UploadPartCommand({ Bucket: other, Key: 'upload-b', UploadId: ub.UploadId, PartNumber: 1, Body: body }));
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: other, Key: 'upload-b', UploadId: ub.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] } }));
  assert.ok((await readAll({ Bucket: other, Key: 'upload-b' })).equals(body));
  await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'upload-a', UploadId: ua.UploadId }));
});

/** The SSE-S3 record of bucket/key re-sealed (same object key) with `context`: a new envelope string, so no memo entry. */
async function resealWith(key: string, context: Record<string, string>): Promise<void> {
  const row = readRow(bucket, key);
  const sys = JSON.parse(row.sys as string) as { sse: { env: string } };
  const env = envOf(row);
  const root = srv.coffer.rootKey;
  const inner = await root.unwrap(env.wrappedKey, sealedKeyAad(env));
  const fields = { ...env, context, wrappedKey: Buffer.alloc(0) };
  const wrappedKey = await root.wrap(inner, sealedKeyAad(fields));
  inner.fill(0);
  sys.sse.env = encodeEnvelope({ ...fields, wrappedKey }).toString('base64');
  writeRow(bucket, key, { ...row, sys: JSON.stringify(sys) });
}

test('SSE-S3 without the memo: an envelope naming another place, authenticated by the root key, is refused', async () => {
  const body = markedBody(4096, marker, 12);
  await putAs(KINDS[0]!, bucket, 'elsewhere-named', body);
  await resealWith('elsewhere-named', { 'aws:s3:arn': `arn:aws:s3:::${bucket}/elsewhere` });
  await assertDamaged('whole', () => readAll({ Bucket: bucket, Key: 'elsewhere-named' }));
  await assertDamaged('ranged', () => readAll({ Bucket: bucket, Key: 'elsewhere-named', Range: 'bytes=5-50' }));
  await resealWith('elsewhere-named', { 'aws:s3:arn': `arn:aws:s3:::${bucket}/elsewhere-named` });
  assert.ok((await readAll({ Bucket: bucket, Key: 'elsewhere-named' })).equals(body), 'its own place reads');
});

test('an envelope without aws:s3:arn reads as before (the check applies only when the context names a place)', async () => {
  const body = markedBody(4096, marker, 6);
  await putAs(KINDS[0]!, bucket, 'no-place', body);
  await resealWith('no-place', {});
  assert.ok((await readAll({ Bucket: bucket, Key: 'no-place' })).equals(body));
  assert.ok((await readAll({ Bucket: bucket, Key: 'no-place', Range: 'bytes=5-50' })).equals(body.subarray(5, 51)));
  await s3.send(new CopyObjectCommand({ Bucket: other, Key: 'no-place-copy', CopySource: `${bucket}/no-place` }));
  assert.ok((await getBody(s3, { Bucket: other, Key: 'no-place-copy' })).equals(body));
});

for (const k of KINDS) {
  test(`${k.name}: copies across keys and buckets, onto itself, and UploadPartCopy still read`, async () => {
    const body = markedBody(50_000, marker, 7);
    const src = `legit-${k.name}`;
    await putAs(k, bucket, src, body);
    // To another key and another bucket, first keeping the source's kind, then as each kind.
    for (const target of KINDS) {
      for (const b of [bucket, other]) {
        const key = `copy-${k.name}-to-${target.name}`;
        await s3.send(new CopyObjectCommand({ Bucket: b, Key: key, CopySource: `${bucket}/${src}`, ...k.copySource, ...putInput(target) }));
        assert.ok((await readAll({ Bucket: b, Key: key, ...target.read })).equals(body), `${b}/${key}`);
        assert.ok((await readAll({ Bucket: b, Key: key, Range: 'bytes=100-40000', ...target.read })).equals(body.subarray(100, 40001)), `${b}/${key} ranged`);
      }
    }
    // Onto itself (metadata replaced, same encryption).
    await s3.send(new CopyObjectCommand({
      Bucket: bucket, Key: src, CopySource: `${bucket}/${src}`, MetadataDirective: 'REPLACE', Metadata: { m: '1' }, ...k.copySource, ...putInput(k),
    }));
    assert.ok((await readAll({ Bucket: bucket, Key: src, ...k.read })).equals(body), 'copied onto itself');
    // UploadPartCopy into an upload at another key in another bucket.
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: other, Key: `mpu-${src}`, ...putInput(k) }));
    const part = await s3.send(new UploadPartCopyCommand({
      Bucket: other, Key: `mpu-${src}`, UploadId: up.UploadId, PartNumber: 1, CopySource: `${bucket}/${src}`, ...k.copySource, ...k.read,
    }));
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: other, Key: `mpu-${src}`, UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult!.ETag }] }, ...k.read,
    }));
    assert.ok((await readAll({ Bucket: other, Key: `mpu-${src}`, ...k.read })).equals(body), 'UploadPartCopy');
    assert.ok((await readAll({ Bucket: other, Key: `mpu-${src}`, PartNumber: 1, ...k.read })).equals(body), 'UploadPartCopy, part 1');
  });
}

test('versions: an older version reads, and copies onto the current key and into another bucket', async () => {
  const b = uniqueBucket('place-versions');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  for (const k of KINDS) {
    const v1 = markedBody(5000, marker, 8);
    const v2 = markedBody(5000, marker, 9);
    const key = `ver-${k.name}`;
    const p1 = await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: v1, ...putInput(k) }));
    await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: v2, ...putInput(k) }));
    assert.ok((await readAll({ Bucket: b, Key: key, VersionId: p1.VersionId, ...k.read })).equals(v1), `${k.name}: version 1`);
    await s3.send(new CopyObjectCommand({ Bucket: b, Key: key, CopySource: `${b}/${key}?versionId=${p1.VersionId}`, ...k.copySource, ...putInput(k) }));
    assert.ok((await readAll({ Bucket: b, Key: key, ...k.read })).equals(v1), `${k.name}: version 1 copied over the current one`);
    await s3.send(new CopyObjectCommand({ Bucket: other, Key: key, CopySource: `${b}/${key}?versionId=${p1.VersionId}`, ...k.copySource, ...putInput(k) }));
    assert.ok((await readAll({ Bucket: other, Key: key, ...k.read })).equals(v1), `${k.name}: version 1 copied into another bucket`);
  }
});

test('SSE-KMS: the client\'s context (with or without its own aws:s3:arn), multipart, and bucket keys switched between write and read', async () => {
  const b = uniqueBucket('place-kms');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const body = markedBody(6000, marker, 10);
  const ctx = (c: Record<string, string>) => Buffer.from(JSON.stringify(c)).toString('base64');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'ctx', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey, SSEKMSEncryptionContext: ctx({ project: 'x' }) }));
  assert.ok((await readAll({ Bucket: b, Key: 'ctx' })).equals(body));
  await s3.send(new PutObjectCommand({
    Bucket: b, Key: 'ctx-arn', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey, SSEKMSEncryptionContext: ctx({ project: 'x', 'aws:s3:arn': `arn:aws:s3:::${b}/ctx-arn` }),
  }));
  assert.ok((await readAll({ Bucket: b, Key: 'ctx-arn' })).equals(body));
  await assert.rejects(s3.send(new PutObjectCommand({
    Bucket: b, Key: 'ctx-other', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey, SSEKMSEncryptionContext: ctx({ 'aws:s3:arn': `arn:aws:s3:::${b}/elsewhere` }),
  })), { name: 'InvalidArgument' }, 'a client context naming another place is refused at the write');
  await s3.send(new CopyObjectCommand({ Bucket: other, Key: 'ctx-copy', CopySource: `${b}/ctx`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey, SSEKMSEncryptionContext: ctx({ project: 'y' }) }));
  assert.ok((await readAll({ Bucket: other, Key: 'ctx-copy' })).equals(body));

  // Multipart with a bucket key: the upload's envelope names the bucket.
  const part = markedBody(5 * 1024 * 1024, marker, 11);
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'mpu', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey, BucketKeyEnabled: true }));
  const p1 = await s3.send(new UploadPartCommand({ Bucket: b, Key: 'mpu', UploadId: up.UploadId, PartNumber: 1, Body: part }));
  const p2 = await s3.send(new UploadPartCommand({ Bucket: b, Key: 'mpu', UploadId: up.UploadId, PartNumber: 2, Body: body }));
  await s3.send(new CompleteMultipartUploadCommand({
    Bucket: b, Key: 'mpu', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
  }));
  assert.ok((await readAll({ Bucket: b, Key: 'mpu', PartNumber: 2 })).equals(body));
  assert.ok((await readAll({ Bucket: b, Key: 'mpu', Range: `bytes=${part.length - 10}-${part.length + 9}` })).equals(Buffer.concat([part, body]).subarray(part.length - 10, part.length + 10)));

  // Bucket keys on at the write, off at the read (and the other way): each envelope keeps its own place.
  const setDefault = (bucketKey: boolean) => s3.send(new PutBucketEncryptionCommand({
    Bucket: b, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKey }, BucketKeyEnabled: bucketKey }] },
  }));
  await setDefault(true);
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'bk-on', Body: body }));
  await setDefault(false);
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'bk-off', Body: body }));
  assert.ok((await readAll({ Bucket: b, Key: 'bk-on' })).equals(body));
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'bk-on-copied', CopySource: `${b}/bk-on` }));
  await setDefault(true);
  assert.ok((await readAll({ Bucket: b, Key: 'bk-off' })).equals(body));
  assert.ok((await readAll({ Bucket: b, Key: 'bk-on-copied' })).equals(body));
  await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'bk-off-copied', CopySource: `${b}/bk-off` }));
  assert.ok((await readAll({ Bucket: b, Key: 'bk-off-copied' })).equals(body));
});

test('keys with spaces, unicode, slashes and escapes: the place of the write is the place of the read', async () => {
  const body = markedBody(3000, marker, 13);
  for (const k of KINDS) {
    const key = `dir/sub dir/ünï cödé+%2F&?=#~${k.name}.txt`;
    await putAs(k, bucket, key, body);
    assert.ok((await readAll({ Bucket: bucket, Key: key, ...k.read })).equals(body), `${k.name}: GET`);
    const copy = `copies/ü ${key}`;
    await s3.send(new CopyObjectCommand({ Bucket: other, Key: copy, CopySource: `${bucket}/${encodeURIComponent(key)}`, ...k.copySource, ...putInput(k) }));
    assert.ok((await readAll({ Bucket: other, Key: copy, ...k.read })).equals(body), `${k.name}: copy`);
  }
});
