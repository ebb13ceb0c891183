// Review of the SSE-S3 object-key memo (object-key-memo.ts) on the real server, each case
// with the key already remembered (by its PUT, then its first GET), so the GET path that
// skips the envelope decode and the unwrap is the one under test:
// - an envelope string copied onto another object (another bucket, another key, another
//   version) does not open that object's bytes: not whole, ranged, by part number, nor as
//   the source of CopyObject or UploadPartCopy;
// - a changed byte anywhere in the stored envelope (every header field, the wrapped key's
//   length and bytes) fails the GET, whole and ranged (SSE-C too: its AAD also comes from
//   the stored bytes);
// - after a root-key rotation that retires the key it was remembered under, a stored
//   envelope still under the old key fails as the unwrap would (no answer from memory);
// - SSE-C and DSSE-KMS objects never enter the memo; an overwrite stores a new envelope.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand,
  UploadPartCopyCommand, AbortMultipartUploadCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { RootKeyRing } from '../../src/custody/root-key-ring.js';
import { SoftwareRootKey } from '../../src/custody/software-root-key.js';
import { rememberedSseS3Object, sseS3KeysHeld } from '../../src/s3/sse/object-key-memo.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { createKeyVia } from '../kms/harness.js';
import { customerKey, getBody, markedBody, ssec, withMetadataDb } from '../helpers/sse.js';

let srv: TestServer;
let s3: S3Client;
/** Reads without the SDK's response-checksum check: wrong bytes served must show as a success, not a client error. */
let reader: S3Client;
const bucket = uniqueBucket('memo-review');
const other = uniqueBucket('memo-review-other');
const marker = `COFFER-MEMO-${randomBytes(8).toString('hex')}`;

before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  reader = srv.client({ responseChecksumValidation: 'WHEN_REQUIRED' });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new CreateBucketCommand({ Bucket: other }));
});
after(async () => {
  reader?.destroy();
  await srv?.stop();
});

interface Row { parts: { blobId: string; size: number }[]; sys: { sse: { env: string; alg: string } } }

const withDb = <T>(fn: (db: Database.Database) => T): T => withMetadataDb(srv.dataDir, fn);

/** The current version's row (table objects), or a noncurrent one's (object_versions). */
function objectRow(b: string, key: string, table: 'objects' | 'object_versions' = 'objects'): Row {
  const r = withDb((db) => db.prepare(`SELECT parts, sys FROM ${table} WHERE bucket = ? AND key = ?`).get(b, key)) as { parts: string; sys: string };
  return { parts: JSON.parse(r.parts), sys: JSON.parse(r.sys) };
}

function setSys(b: string, key: string, sys: unknown): void {
  withDb((db) => assert.equal(db.prepare('UPDATE objects SET sys = ? WHERE bucket = ? AND key = ?').run(JSON.stringify(sys), b, key).changes, 1));
}

/** A GET (or a copy) that must not deliver `expect` or any other bytes: an error response. */
async function assertFails(what: string, send: () => Promise<unknown>): Promise<void> {
  let result: unknown;
  try {
    result = await send();
  } catch (e) {
    const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    assert.ok(status === undefined || status >= 400, `${what}: an error, not a success (${status})`);
    return;
  }
  assert.fail(`${what}: succeeded (${typeof result === 'object' ? 'a response' : String(result)})`);
}
const readAll = async (input: ConstructorParameters<typeof GetObjectCommand>[0]) =>
  Buffer.from(await (await reader.send(new GetObjectCommand(input))).Body!.transformToByteArray());

/** Puts a small SSE-S3 object and reads it once, so its key is remembered (by the PUT, and the GET's hit). */
async function putRemembered(b: string, key: string, body: Buffer): Promise<Row> {
  await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: body, ServerSideEncryption: 'AES256' }));
  const row = objectRow(b, key);
  assert.ok(rememberedSseS3Object(srv.coffer.rootKey, row.sys.sse.env) !== undefined, `${key}: remembered by its PUT`);
  assert.ok((await getBody(s3, { Bucket: b, Key: key })).equals(body), `${key}: reads`);
  return row;
}

test('an envelope string copied onto another object opens none of its bytes, in any read path, while the key is remembered', async () => {
  const a = markedBody(4096, marker, 1);
  const rowA = await putRemembered(bucket, 'a', a);
  // Targets with bodies of their own: another bucket, another key, the same size and a larger (file) one.
  const targets: [string, string, Buffer][] = [
    [other, 'a', markedBody(4096, marker, 2)],
    [bucket, 'b', markedBody(4096, marker, 3)],
    [bucket, 'c-large', markedBody(300_000, marker, 4)],
  ];
  for (const [b, key, body] of targets) {
    const row = await putRemembered(b, key, body);
    setSys(b, key, { ...row.sys, sse: rowA.sys.sse });
    assert.ok(rememberedSseS3Object(srv.coffer.rootKey, rowA.sys.sse.env) !== undefined, 'the copied string is a memo hit');
    await assertFails(`${b}/${key} whole`, () => readAll({ Bucket: b, Key: key }));
    await assertFails(`${b}/${key} ranged`, () => readAll({ Bucket: b, Key: key, Range: 'bytes=10-99' }));
    await assertFails(`${b}/${key} part 1`, () => readAll({ Bucket: b, Key: key, PartNumber: 1 }));
    await assertFails(`${b}/${key} as CopyObject source`, () => s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `copy-of-${key}`, CopySource: `${b}/${key}` })));
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `upc-of-${key}` }));
    await assertFails(`${b}/${key} as UploadPartCopy source`, () =>
      s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: `upc-of-${key}`, UploadId: up.UploadId, PartNumber: 1, CopySource: `${b}/${key}` })));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: `upc-of-${key}`, UploadId: up.UploadId }));
    setSys(b, key, row.sys);
    assert.ok((await getBody(s3, { Bucket: b, Key: key })).equals(body), `${b}/${key} reads again once restored`);
  }
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'a' })).equals(a), 'the source object is untouched');
});

// Not from the memo change: every read path compares the envelope's aws:s3:arn (authenticated
// by the wrap) with the object being read, so a record's envelope and parts moved together onto
// another key do not open there, with or without the memo (docs/spec/object-encryption.md).
// More cases (each kind, each read path, the legitimate copies): sse-place-binding.test.ts.
test('an envelope moved onto another key together with its parts is refused (the sealed key is bound to its place)', async () => {
  const a = markedBody(4096, marker, 13);
  const b = markedBody(4096, marker, 14);
  await putRemembered(bucket, 'place-a', a);
  await putRemembered(other, 'place-b', b);
  // Every column of A's record but its bucket and key (so the client's checksum check passes too).
  const cols = ['size', 'etag', 'checksum', 'parts', 'sys'];
  const saved = withDb((db) => db.prepare(`SELECT ${cols.join(', ')} FROM objects WHERE bucket = ? AND key = ?`).get(other, 'place-b')) as Record<string, unknown>;
  const moved = withDb((db) => db.prepare(`SELECT ${cols.join(', ')} FROM objects WHERE bucket = ? AND key = ?`).get(bucket, 'place-a')) as Record<string, unknown>;
  const put = (row: Record<string, unknown>) => withDb((db) =>
    assert.equal(db.prepare(`UPDATE objects SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE bucket = ? AND key = ?`).run(...cols.map((c) => row[c]), other, 'place-b').changes, 1));
  put(moved);
  try {
    await assertFails('another key\'s record', () => readAll({ Bucket: other, Key: 'place-b' }));
  } finally {
    put(saved);
  }
  assert.ok((await getBody(s3, { Bucket: other, Key: 'place-b' })).equals(b));
});

test('an envelope string copied onto another version of the same key opens none of its bytes', async () => {
  const b = uniqueBucket('memo-review-ver');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
  const v1 = markedBody(4096, marker, 5);
  const v2 = markedBody(4096, marker, 6);
  const p1 = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: v1, ServerSideEncryption: 'AES256' }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: v2, ServerSideEncryption: 'AES256' }));
  const row1 = objectRow(b, 'k', 'object_versions');
  const row2 = objectRow(b, 'k');
  assert.notEqual(row1.sys.sse.env, row2.sys.sse.env, 'an overwrite stores a new envelope string');
  assert.ok((await getBody(s3, { Bucket: b, Key: 'k', VersionId: p1.VersionId })).equals(v1));
  assert.ok((await getBody(s3, { Bucket: b, Key: 'k' })).equals(v2));
  assert.ok(rememberedSseS3Object(srv.coffer.rootKey, row1.sys.sse.env) !== undefined, 'the old version\'s key is remembered');
  setSys(b, 'k', { ...row2.sys, sse: row1.sys.sse });
  await assertFails('the current version under the old version\'s envelope', () => readAll({ Bucket: b, Key: 'k' }));
  await assertFails('ranged', () => readAll({ Bucket: b, Key: 'k', Range: 'bytes=0-9' }));
  setSys(b, 'k', row2.sys);
  assert.ok((await getBody(s3, { Bucket: b, Key: 'k' })).equals(v2));
});

test('a changed byte anywhere in a remembered object\'s envelope fails the GET, whole and ranged', async () => {
  const body = markedBody(4096, marker, 7);
  const row = await putRemembered(bucket, 'flip', body);
  const env = Buffer.from(row.sys.sse.env, 'base64');
  for (let at = 0; at < env.length; at++) {
    for (const mask of [0x01, 0x80]) {
      const changed = Buffer.from(env);
      changed[at]! ^= mask;
      setSys(bucket, 'flip', { ...row.sys, sse: { ...row.sys.sse, env: changed.toString('base64') } });
      await assertFails(`byte ${at} ^ ${mask} whole`, () => readAll({ Bucket: bucket, Key: 'flip' }));
      await assertFails(`byte ${at} ^ ${mask} ranged`, () => readAll({ Bucket: bucket, Key: 'flip', Range: 'bytes=100-199' }));
    }
  }
  // Trailing bytes after the wrapped key, and the envelope cut short.
  for (const changed of [Buffer.concat([env, Buffer.of(0)]), env.subarray(0, env.length - 1)]) {
    setSys(bucket, 'flip', { ...row.sys, sse: { ...row.sys.sse, env: changed.toString('base64') } });
    await assertFails(`${changed.length - env.length} bytes longer`, () => readAll({ Bucket: bucket, Key: 'flip' }));
  }
  setSys(bucket, 'flip', row.sys);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'flip' })).equals(body), 'reads again once restored');
});

test('SSE-C (its sealed-key AAD also taken from the stored bytes): a changed byte anywhere in the envelope fails the GET, whole and ranged', async () => {
  const k = customerKey();
  const body = markedBody(4096, marker, 12);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'flip-c', Body: body, ...ssec(k) }));
  const row = objectRow(bucket, 'flip-c');
  const env = Buffer.from(row.sys.sse.env, 'base64');
  for (let at = 0; at < env.length; at++) {
    const changed = Buffer.from(env);
    changed[at]! ^= 0x01;
    setSys(bucket, 'flip-c', { ...row.sys, sse: { ...row.sys.sse, env: changed.toString('base64') } });
    await assertFails(`byte ${at} whole`, () => readAll({ Bucket: bucket, Key: 'flip-c', ...ssec(k) }));
    await assertFails(`byte ${at} ranged`, () => readAll({ Bucket: bucket, Key: 'flip-c', Range: 'bytes=100-199', ...ssec(k) }));
  }
  setSys(bucket, 'flip-c', row.sys);
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'flip-c', ...ssec(k) })).equals(body), 'reads again once restored');
});

test('a PUT that fails after its key was remembered leaves an entry no stored envelope matches; the key stays absent, the old object readable', async () => {
  const body = markedBody(4096, marker, 15);
  const row = await putRemembered(bucket, 'failed-put', body);
  const held = sseS3KeysHeld(srv.coffer.rootKey);
  // A wrong Content-MD5: the key is sealed (and remembered) before the body is read and refused.
  await assertFails('a PUT with a wrong Content-MD5', () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'failed-put', Body: markedBody(4096, marker, 16), ServerSideEncryption: 'AES256', ContentMD5: Buffer.alloc(16).toString('base64') })));
  assert.equal(sseS3KeysHeld(srv.coffer.rootKey), held + 1, 'the failed PUT remembered the key it sealed');
  assert.equal(objectRow(bucket, 'failed-put').sys.sse.env, row.sys.sse.env, 'the stored envelope is the first PUT\'s');
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'failed-put' })).equals(body), 'the previous object reads');
  await assertFails('a new key\'s failed PUT', () => s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'never', Body: body, ServerSideEncryption: 'AES256', ContentMD5: Buffer.alloc(16).toString('base64') })));
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'never' })), { name: 'NoSuchKey' });
});

test('SSE-C and DSSE-KMS objects never enter the SSE-S3 memo', async () => {
  const keyId = (await createKeyVia(srv.kms)).KeyId!;
  const k = customerKey();
  const held = sseS3KeysHeld(srv.coffer.rootKey);
  const c = markedBody(4096, marker, 8);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec', Body: c, ...ssec(k) }));
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'ssec', ...ssec(k) })).equals(c));
  const d = markedBody(4096, marker, 9);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dsse', Body: d, ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: keyId }));
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'dsse' })).equals(d));
  assert.equal(sseS3KeysHeld(srv.coffer.rootKey), held, 'nothing remembered for SSE-C or DSSE-KMS');
  // An SSE-C envelope string under an SSE-S3 record: not a memo hit, and no key without the customer's.
  const row = objectRow(bucket, 'ssec');
  setSys(bucket, 'ssec', { ...row.sys, sse: { alg: 'AES256', env: row.sys.sse.env } });
  await assertFails('an SSE-C envelope read as SSE-S3', () => readAll({ Bucket: bucket, Key: 'ssec' }));
  setSys(bucket, 'ssec', row.sys);
});

// Last: it retires the server's root key.
test('after a rotation retires the root key, a stored envelope still under it fails as its unwrap would, though its key was remembered', async () => {
  const ring = srv.coffer.rootKey as RootKeyRing;
  assert.ok(ring instanceof RootKeyRing);
  const body = markedBody(4096, marker, 10);
  const row = await putRemembered(bucket, 'retired', body);
  ring.standBy(new SoftwareRootKey('key', randomBytes(32)));
  assert.equal(rememberedSseS3Object(ring, row.sys.sse.env), undefined, 'a standby key held: no answer from the memo');
  assert.ok((await getBody(s3, { Bucket: bucket, Key: 'retired' })).equals(body), 'readable while the old key still seals');
  ring.beginRotation();
  ring.finishRotation();
  // Nothing re-sealed this envelope: the old key is gone, so it must not open.
  await assertFails('whole', () => readAll({ Bucket: bucket, Key: 'retired' }));
  await assertFails('ranged', () => readAll({ Bucket: bucket, Key: 'retired', Range: 'bytes=0-9' }));
  const fresh = markedBody(4096, marker, 11);
  await putRemembered(bucket, 'after-rotation', fresh);
});
