// The object encryption format as the S3 path uses it, checked on the real server's data
// directory: nothing written under any kind of SSE is on disk in the clear (every file,
// metadata.sqlite and its WAL included); stored bytes or encryption metadata changed
// behind the server's back make a GET fail — never answer wrong bytes; and a 1-byte
// ranged GET from the middle of a large object opens at most 2 segments.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketEncryptionCommand,
  PutObjectCommand, UploadPartCommand, type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3';
import { retainSqlite } from '../../src/storage/sqlite-database.js';
import { cipherStats } from '../../src/s3/sse/body-cipher.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { createKeyVia } from '../kms/harness.js';
import { customerKey, getBody, markedBody, ssec } from '../helpers/sse.js';
import { rememberedSseS3Object } from '../../src/s3/sse/object-key-memo.js';

const MiB = 1024 * 1024;
let srv: TestServer;
let s3: S3Client;
const bucket = uniqueBucket('sseformat');
const bkBucket = uniqueBucket('sseformat-bk');
let keyId: string;
const marker = `COFFER-CLEARTEXT-${randomBytes(8).toString('hex')}`;

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: bkBucket }));
  keyId = (await createKeyVia(srv.kms)).KeyId!;
  await s3.send(new PutBucketEncryptionCommand({ Bucket: bkBucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyId }, BucketKeyEnabled: true }] } }));
});
after(async () => srv?.stop());

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out.sort();
}

/** The files under `dir` that contain `needle` (as bytes, and as base64 of the bytes at any alignment). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const forms = [Buffer.from(needle, 'latin1'), ...[0, 1, 2].map((pad) => Buffer.from(Buffer.from('x'.repeat(pad) + needle, 'latin1').toString('base64').slice(4 * Math.ceil(pad / 3) + 4, -4)))];
  const hits: string[] = [];
  for (const f of await filesUnder(dir)) {
    const bytes = await readFile(f);
    if (forms.some((n) => n.length > 0 && bytes.includes(n))) hits.push(f);
  }
  return hits;
}

async function putMultipart(b: string, key: string, parts: Buffer[], extra: Record<string, unknown> = {}, perPart: Record<string, unknown> = {}) {
  const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key, ...extra }));
  const done: CompletedPart[] = [];
  for (const [i, body] of parts.entries()) {
    const r = await s3.send(new UploadPartCommand({ Bucket: b, Key: key, UploadId: c.UploadId, PartNumber: i + 1, Body: body, ...perPart }));
    done.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: b, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: done } }));
}

test('the marker scan finds cleartext: a server with at-rest encryption off stores the marker where the scan sees it', async () => {
  const plainSrv = await startTestServer({ COFFER_ENCRYPTION_AT_REST: 'off' });
  try {
    const b = uniqueBucket('sseformat-clear');
    await plainSrv.s3.send(new CreateBucketCommand({ Bucket: b }));
    await plainSrv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'small', Body: markedBody(1000, marker) }));
    await plainSrv.s3.send(new PutObjectCommand({ Bucket: b, Key: 'large', Body: markedBody(200_000, marker) }));
    const hits = await filesContaining(plainSrv.dataDir, marker);
    assert.ok(hits.some((f) => f.includes(join('blobs', ''))), `a blob file holds the marker: ${hits.join(', ')}`);
    assert.ok(hits.some((f) => /metadata\.sqlite(-wal)?$/.test(f)), `metadata.sqlite or its WAL holds the small object: ${hits.join(', ')}`);
  } finally {
    await plainSrv.stop();
  }
});

test('nothing on disk is plaintext: SSE-KMS, SSE-S3, SSE-C, DSSE-KMS and bucket-key objects of several sizes and multipart', async () => {
  const sizes = [marker.length, 4096, 65_000, 65_536, 65_537, 200_000, 1 * MiB + 17];
  const k = customerKey();
  const kinds: [string, string, Record<string, unknown>][] = [
    ['kms', bucket, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }],
    ['s3-default', bucket, {}],
    ['s3', bucket, { ServerSideEncryption: 'AES256' }],
    ['c', bucket, ssec(k)],
    ['dsse', bucket, { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyId }],
    ['bk', bkBucket, {}],
  ];
  const written: [string, string, Buffer, Record<string, unknown>][] = [];
  for (const [kind, b, headers] of kinds) {
    for (const [i, size] of sizes.entries()) {
      const body = markedBody(size, marker, i + 1);
      await s3.send(new PutObjectCommand({ Bucket: b, Key: `${kind}-${size}`, Body: body, ...headers }));
      written.push([b, `${kind}-${size}`, body, kind === 'c' ? ssec(k) : {}]);
    }
  }
  const parts = [markedBody(5 * MiB, marker, 7), markedBody(30_000, marker, 8)];
  await putMultipart(bucket, 'mpu-kms', parts, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId });
  await putMultipart(bucket, 'mpu-c', parts, ssec(k), ssec(k));
  await putMultipart(bkBucket, 'mpu-bk', parts);
  await putMultipart(bucket, 'mpu-dsse', parts, { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyId });
  for (const key of ['mpu-kms', 'mpu-dsse']) written.push([bucket, key, Buffer.concat(parts), {}]);
  written.push([bucket, 'mpu-c', Buffer.concat(parts), ssec(k)], [bkBucket, 'mpu-bk', Buffer.concat(parts), {}]);
  // The objects are readable, so the marker really went through the server.
  for (const [b, key, body, extra] of written) assert.ok((await getBody(s3, { Bucket: b, Key: key, ...extra })).equals(body), key);
  const files = await filesUnder(srv.dataDir);
  assert.ok(files.some((f) => f.endsWith('metadata.sqlite')), 'metadata.sqlite is scanned');
  assert.ok(files.some((f) => f.includes(join(srv.dataDir, 'blobs'))), 'blob files are scanned');
  assert.deepEqual(await filesContaining(srv.dataDir, marker), []);
});

// --- Tampering -------------------------------------------------------------------------

function metadataDb(): Database.Database {
  return retainSqlite(new Database(join(srv.dataDir, 'metadata.sqlite')));
}

function objectRow(b: string, key: string): { parts: { blobId: string; size: number }[]; sys: { sse: { env: string; alg: string } } } {
  const db = metadataDb();
  try {
    const row = db.prepare('SELECT parts, sys FROM objects WHERE bucket = ? AND key = ?').get(b, key) as { parts: string; sys: string };
    return { parts: JSON.parse(row.parts), sys: JSON.parse(row.sys) };
  } finally {
    db.close();
  }
}

function updateRow(b: string, key: string, column: 'parts' | 'sys', value: unknown): void {
  const db = metadataDb();
  try {
    assert.equal(db.prepare(`UPDATE objects SET ${column} = ? WHERE bucket = ? AND key = ?`).run(JSON.stringify(value), b, key).changes, 1);
  } finally {
    db.close();
  }
}

/** Flips one bit of a stored blob at `offset`, inline row or file; returns a function that undoes it. */
async function flipBlobByte(blobId: string, offset: number): Promise<() => Promise<void>> {
  const db = metadataDb();
  try {
    const row = db.prepare('SELECT data FROM inline_blobs WHERE blob_id = ?').get(blobId) as { data: Buffer } | undefined;
    if (row) {
      const data = Buffer.from(row.data);
      data[offset] ^= 0x01;
      db.prepare('UPDATE inline_blobs SET data = ? WHERE blob_id = ?').run(data, blobId);
      return async () => {
        data[offset] ^= 0x01;
        const again = metadataDb();
        try {
          again.prepare('UPDATE inline_blobs SET data = ? WHERE blob_id = ?').run(data, blobId);
        } finally {
          again.close();
        }
      };
    }
  } finally {
    db.close();
  }
  const hex = blobId.replace(/^i/, '');
  const file = (await filesUnder(join(srv.dataDir, 'blobs'))).find((f) => f.endsWith(join(hex.slice(0, 2), hex)));
  assert.ok(file, `blob ${blobId} is a row or a file`);
  const flip = async () => {
    const fh = await open(file, 'r+');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, offset);
      b[0] ^= 0x01;
      await fh.write(b, 0, 1, offset);
    } finally {
      await fh.close();
    }
  };
  await flip();
  return flip;
}

/** A GET that must not deliver the object: an error response, or a body cut short — never `body`'s or other bytes in full. */
async function assertUnreadable(b: string, key: string, expect: Buffer, extra: Record<string, unknown> = {}): Promise<void> {
  let got: Buffer;
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: b, Key: key, ...extra }));
    got = Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    assert.ok(status === undefined || status >= 400, `an error, not a success (${status})`);
    return;
  }
  assert.fail(`GET returned ${got.length} bytes of a tampered object (${got.equals(expect) ? 'the original bytes' : 'WRONG bytes'})`);
}

test('a flipped byte in a stored blob fails the GET: small (inline row) and large (file) objects, SSE-KMS, SSE-S3, SSE-C, DSSE', async () => {
  const k = customerKey();
  const cases: [string, number, Record<string, unknown>, Record<string, unknown>][] = [
    ['t-kms-small', 5000, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }, {}],
    ['t-kms-large', 300_000, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }, {}],
    ['t-s3-small', 5000, {}, {}],
    ['t-s3-large', 300_000, {}, {}],
    ['t-c-large', 300_000, ssec(k), ssec(k)],
    ['t-dsse-large', 300_000, { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyId }, {}],
  ];
  for (const [key, size, put, get] of cases) {
    const body = markedBody(size, marker, size);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...put }));
    const { parts } = objectRow(bucket, key);
    assert.equal(parts.length, 1);
    const offset = Math.floor(size / 2);
    const undo = await flipBlobByte(parts[0]!.blobId, offset);
    await assertUnreadable(bucket, key, body, get);
    if (size > 200_000) {
      // A range that needs the damaged segment fails too; one that does not is still served.
      await assertUnreadable(bucket, key, body, { ...get, Range: `bytes=${offset - 10}-${offset + 10}` });
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-99', ...get }));
      assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(body.subarray(0, 100)), `${key}: an untouched range`);
    }
    await undo();
    assert.ok((await getBody(s3, { Bucket: bucket, Key: key, ...get })).equals(body), `${key} reads again once restored`);
  }
});

test('a changed envelope in the object\'s sys JSON fails the GET, wherever the change is', async () => {
  const k = customerKey();
  for (const [key, put, get] of [
    ['e-kms', { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }, {}],
    ['e-s3', {}, {}],
    ['e-c', ssec(k), ssec(k)],
  ] as const) {
    const body = markedBody(100_000, marker, 3);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...put }));
    const { sys } = objectRow(bucket, key);
    const env = Buffer.from(sys.sse.env, 'base64');
    for (const at of [0, 1, 8, Math.floor(env.length / 3), Math.floor(env.length / 2), env.length - 20, env.length - 1]) {
      const changed = Buffer.from(env);
      changed[at] ^= 0x01;
      updateRow(bucket, key, 'sys', { ...sys, sse: { ...sys.sse, env: changed.toString('base64') } });
      await assertUnreadable(bucket, key, body, get);
    }
    updateRow(bucket, key, 'sys', sys);
    assert.ok((await getBody(s3, { Bucket: bucket, Key: key, ...get })).equals(body), `${key} reads again once restored`);
  }
});

test('a small SSE-S3 object, its key remembered by its PUT: a changed envelope or changed inline bytes still fail the GET; restored, it reads', async () => {
  const key = 'e-s3-small';
  const body = markedBody(4096, marker, 5);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const { sys } = objectRow(bucket, key);
  assert.ok(rememberedSseS3Object(srv.coffer.rootKey, sys.sse.env) !== undefined, 'the PUT remembered the key it sealed');
  // Read from the memo filled by the PUT (no envelope decode, no unwrap).
  assert.ok((await getBody(s3, { Bucket: bucket, Key: key })).equals(body), 'the first GET after the PUT');
  const env = Buffer.from(sys.sse.env, 'base64');
  for (const at of [0, 8, 22, Math.floor(env.length / 2), env.length - 1]) {
    const changed = Buffer.from(env);
    changed[at] ^= 0x01;
    updateRow(bucket, key, 'sys', { ...sys, sse: { ...sys.sse, env: changed.toString('base64') } });
    await assertUnreadable(bucket, key, body, {});
  }
  updateRow(bucket, key, 'sys', sys);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: key })).equals(body), 'reads again once restored');
  // The key comes from the memo now; the segment must still authenticate, whole and ranged.
  const undo = await flipBlobByte(objectRow(bucket, key).parts[0]!.blobId, 2048);
  await assertUnreadable(bucket, key, body, {});
  await assertUnreadable(bucket, key, body, { Range: 'bytes=100-199' });
  await undo();
  assert.ok((await getBody(s3, { Bucket: bucket, Key: key })).equals(body), 'reads again once its bytes are restored');
});

test('swapped blobs fail the GET: parts reordered within a multipart object, a blob of another object of the same size', async () => {
  const parts = [markedBody(5 * MiB, marker, 11), markedBody(5 * MiB, marker, 12)];
  await putMultipart(bucket, 'swap-mpu', parts, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId });
  const row = objectRow(bucket, 'swap-mpu');
  const reordered = row.parts.map((p, i) => ({ ...p, blobId: row.parts[1 - i]!.blobId }));
  updateRow(bucket, 'swap-mpu', 'parts', reordered);
  await assertUnreadable(bucket, 'swap-mpu', Buffer.concat(parts));
  await assertUnreadable(bucket, 'swap-mpu', parts[1]!, { PartNumber: 1 });
  updateRow(bucket, 'swap-mpu', 'parts', row.parts);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'swap-mpu' })).equals(Buffer.concat(parts)));

  const a = markedBody(100_000, marker, 21);
  const b = markedBody(100_000, marker, 22);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'swap-a', Body: a, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'swap-b', Body: b, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  const rowB = objectRow(bucket, 'swap-b');
  updateRow(bucket, 'swap-b', 'parts', rowB.parts.map((p) => ({ ...p, blobId: objectRow(bucket, 'swap-a').parts[0]!.blobId })));
  await assertUnreadable(bucket, 'swap-b', a);
  updateRow(bucket, 'swap-b', 'parts', rowB.parts);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'swap-b' })).equals(b));
});

test('a 1-byte ranged GET from the middle of an 8 MiB SSE-KMS object opens at most 2 segments', async () => {
  const body = randomBytes(8 * MiB);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
  const opened = async (range: string): Promise<[number, Buffer]> => {
    const before = cipherStats.segmentsOpened;
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big', Range: range }));
    const got = Buffer.from(await r.Body!.transformToByteArray());
    return [cipherStats.segmentsOpened - before, got];
  };
  const mid = 4 * MiB + 12_345;
  const [n, one] = await opened(`bytes=${mid}-${mid}`);
  assert.ok(one.equals(body.subarray(mid, mid + 1)));
  assert.ok(n >= 1 && n <= 2, `segments opened for 1 byte: ${n}`);
  const [n2, two] = await opened('bytes=65535-65536');
  assert.ok(two.equals(body.subarray(65_535, 65_537)));
  assert.equal(n2, 2, 'two bytes across a segment boundary: 2 segments');
  const [all] = await opened('bytes=0-');
  assert.ok(all >= 128, `a whole 8 MiB read opens every segment (${all})`);
});
