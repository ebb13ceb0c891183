// Review of the kms-get merge (17338e0), the envelope memo (src/s3/sse/kms-envelope-memo.ts):
// an entry must be exactly what its envelope string decodes to, never serve another object,
// and stay bounded. Checked against the real server:
// - what a PUT remembered equals the decode of the string it stored (every field, the
//   context's pairs and their order, DSSE-KMS's kind), for simple and multipart writes,
//   CopyObject and UploadPartCopy; a client's own context with the decoder's order of pairs;
// - a stored envelope changed in any one byte fails exactly as it does with no memo;
// - a PUT that fails after its GenerateDataKey leaves the previous object readable and
//   its entry matches no stored record; a copy gets its own envelope string;
// - SSE-S3, SSE-C and bucket-key objects remember nothing here;
// - a client's context pair named "__proto__" is kept (x-amz-server-side-encryption-context's
//   parser dropped it before the review's fix: the data key was not bound to it);
// - bounded: an envelope string over MAX_ENVELOPE_CHARS (a client's large encryption
//   context) is remembered by neither memo — 4,096 of them held ~180 MB before the review's
//   fix — while every envelope of the place alone (an object key of 1,024 bytes) still is.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand,
  UploadPartCommand, UploadPartCopyCommand, type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { encodeEnvelope, newObjectId } from '../../src/crypto/index.js';
import { decodeStoredEnvelope } from '../../src/s3/sse/object-key-memo.js';
import { forgetKmsEnvelopes, kmsEnvelopesHeld, MAX_ENVELOPE_CHARS, rememberedKmsEnvelope, rememberKmsEnvelope } from '../../src/s3/sse/kms-envelope-memo.js';
import { openedCiphertextsOf } from '../../src/kms/ops/crypto.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { customerKey, ssec, withMetadataDb } from '../helpers/sse.js';
import { kmsEventsOf, refusal } from '../helpers/sse-principals.js';

const ARN = 'arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('the envelope memo is what its string decodes to, and bounded', () => {
  let srv: TestServer;
  let keyArn: string;
  const bucket = uniqueBucket('t-env');
  const body = randomBytes(2048);
  before(async () => {
    srv = await startTestServer();
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    keyArn = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  });
  after(async () => {
    await srv?.stop();
  });

  const slab = () => openedCiphertextsOf(srv.coffer.kms);
  const sysOf = (key: string) => withMetadataDb(srv.dataDir, (db) => (db.prepare('SELECT sys FROM objects WHERE bucket = ? AND key = ?').get(bucket, key) as { sys: string }).sys);
  const setSys = (key: string, sys: string) => withMetadataDb(srv.dataDir, (db) => assert.equal(db.prepare('UPDATE objects SET sys = ? WHERE bucket = ? AND key = ?').run(sys, bucket, key).changes, 1));
  const envOf = (key: string) => (JSON.parse(sysOf(key)) as { sse?: { env: string } }).sse?.env;
  const put = (Key: string, extra: Partial<PutObjectCommandInput> = {}, Body: Buffer = body) =>
    srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn, ...extra }));
  async function get(Key: string, extra: object = {}): Promise<Buffer> {
    const r = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key, ...extra }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }
  /** What is remembered for the stored envelope of `key` is its decode, pairs in the same order. */
  function rememberedIsDecode(key: string): void {
    const env = envOf(key)!;
    const remembered = rememberedKmsEnvelope(env);
    assert.ok(remembered, `${key}: remembered`);
    const decoded = decodeStoredEnvelope(env);
    assert.deepStrictEqual(remembered, decoded, key);
    assert.deepEqual(Object.keys(remembered.context), Object.keys(decoded.context), `${key}: the pairs in the decoder's order`);
  }

  it('SSE-KMS and DSSE-KMS, with the place alone or a client\'s context: the entry equals the decode of the stored string', async () => {
    for (const sse of ['aws:kms', 'aws:kms:dsse'] as const) {
      await put(`plain-${sse}`, { ServerSideEncryption: sse });
      rememberedIsDecode(`plain-${sse}`);
      assert.equal(decodeStoredEnvelope(envOf(`plain-${sse}`)!).kind, sse === 'aws:kms' ? 'sse-kms' : 'dsse-kms');
      const own = Buffer.from(JSON.stringify({ zeta: 'z', 'aws:s3:arn': `arn:aws:s3:::${bucket}/own-${sse}`, alpha: 'a', 'é': '\u{1F600}' })).toString('base64');
      forgetKmsEnvelopes();
      await put(`own-${sse}`, { ServerSideEncryption: sse, SSEKMSEncryptionContext: own });
      // Remembered already by the PUT's own response (its key-id header decodes the envelope):
      // from a decode, so in the decoder's order (sse-kms-first-get.test.ts's "not remembered at
      // the write" holds only because its memo is full by then).
      assert.equal(kmsEnvelopesHeld(), 1);
      rememberedIsDecode(`own-${sse}`);
      assert.ok((await get(`own-${sse}`)).equals(body));
      rememberedIsDecode(`own-${sse}`);
      assert.ok((await get(`own-${sse}`)).equals(body), 'and read from the entry');
    }
  });

  it('a client\'s context pair named "__proto__" is a pair like any other: sealed into the envelope, in KMS\'s record, remembered as decoded', async () => {
    const own = Buffer.from('{"__proto__":"v","tenant":"t"}').toString('base64');
    const r = await put('proto', { SSEKMSEncryptionContext: own });
    const expected = JSON.parse(`{"__proto__":"v","tenant":"t","aws:s3:arn":"arn:aws:s3:::${bucket}/proto"}`) as Record<string, string>;
    const sealed = decodeStoredEnvelope(envOf('proto')!).context;
    assert.deepEqual(Object.entries(sealed).sort(), Object.entries(expected).sort(), 'the envelope binds every pair the client sent');
    const [generated] = await kmsEventsOf(srv, r.$metadata.requestId);
    assert.equal(generated!.eventName, 'GenerateDataKey');
    assert.deepEqual(Object.entries((generated!.requestParameters as { encryptionContext: object }).encryptionContext).sort(), Object.entries(expected).sort());
    assert.ok((await get('proto')).equals(body));
    rememberedIsDecode('proto');
    assert.ok((await get('proto')).equals(body));
  });

  it('multipart uploads, UploadPartCopy and CopyObject: each object its own string, each entry its decode, each first GET from the slab', async () => {
    const part = randomBytes(5 * 1024 * 1024);
    for (const sse of ['aws:kms', 'aws:kms:dsse'] as const) {
      const Key = `mpu-${sse}`;
      await put(`copy-src-${sse}`, { ServerSideEncryption: sse });
      const { UploadId } = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, ServerSideEncryption: sse, SSEKMSKeyId: keyArn }));
      const p1 = await srv.s3.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: 1, Body: part }));
      const p2 = await srv.s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key, UploadId, PartNumber: 2, CopySource: `${bucket}/copy-src-${sse}` }));
      await srv.s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag }] } }));
      rememberedIsDecode(Key);
      const hits = slab().stats.hits;
      const got = await get(Key);
      assert.equal(slab().stats.hits, hits + 1, `${sse}: the completed object's first GET answered from the slab`);
      assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(Buffer.concat([part, body])).digest('hex'));

      await srv.s3.send(new CopyObjectCommand({ Bucket: bucket, Key: `copy-dst-${sse}`, CopySource: `${bucket}/copy-src-${sse}`, ServerSideEncryption: sse, SSEKMSKeyId: keyArn }));
      assert.notEqual(envOf(`copy-dst-${sse}`), envOf(`copy-src-${sse}`), 'a copy gets its own envelope string');
      rememberedIsDecode(`copy-dst-${sse}`);
      assert.equal(decodeStoredEnvelope(envOf(`copy-dst-${sse}`)!).context['aws:s3:arn'], `arn:aws:s3:::${bucket}/copy-dst-${sse}`);
      assert.ok((await get(`copy-dst-${sse}`)).equals(body));
    }
  });

  it('a stored envelope changed in any one byte fails exactly as it does with no memo', async () => {
    await put('tamper');
    const saved = sysOf('tamper');
    const sys = JSON.parse(saved) as { sse: { env: string } };
    const bytes = Buffer.from(sys.sse.env, 'base64');
    const outcome = async (): Promise<string> => {
      try {
        return (await get('tamper')).equals(body) ? 'ok' : 'other body';
      } catch (e) {
        return `${(e as Error).name}/${(e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode}`;
      }
    };
    const seen = new Set<string>();
    await put('plain-aws:kms');
    for (let at = 0; at < bytes.length; at++) {
      const changed = Buffer.from(bytes);
      changed[at]! ^= 0x10;
      setSys('tamper', JSON.stringify({ ...sys, sse: { ...sys.sse, env: changed.toString('base64') } }));
      rememberedIsDecode('plain-aws:kms'); // other entries are there
      const withMemos = await outcome();
      forgetKmsEnvelopes();
      slab().clear();
      const without = await outcome();
      assert.equal(withMemos, without, `byte ${at} of ${bytes.length}`);
      assert.notEqual(without, 'other body', `byte ${at}`);
      seen.add(without);
      await put('plain-aws:kms'); // the next round again with a write's entries in both memos
    }
    assert.ok(seen.has('InternalError/500'), [...seen].join());
    setSys('tamper', saved);
    assert.ok((await get('tamper')).equals(body));
  });

  it('a PUT that fails after its GenerateDataKey leaves the previous object readable; its entry matches no stored record', async () => {
    await put('failed');
    const before = envOf('failed');
    forgetKmsEnvelopes();
    const e = await refusal(put('failed', { ContentMD5: createHash('md5').update('something else').digest('base64') }, randomBytes(2048)));
    assert.equal(e.name, 'BadDigest');
    assert.equal(envOf('failed'), before, 'the previous record stands');
    assert.equal(kmsEnvelopesHeld(), 1, 'the failed PUT sealed, and remembered its envelope (the only entry)');
    assert.equal(rememberedKmsEnvelope(before!), undefined, 'which is not the stored record\'s');
    assert.ok((await get('failed')).equals(body), 'the previous object reads, with its own envelope');
    assert.equal(kmsEnvelopesHeld(), 2);
    rememberedIsDecode('failed');
  });

  it('SSE-S3, SSE-C and bucket-key objects remember nothing in either memo', async () => {
    const held = kmsEnvelopesHeld();
    const size = slab().size;
    const ck = customerKey();
    await put('s3', { ServerSideEncryption: 'AES256', SSEKMSKeyId: undefined });
    await put('c', { ServerSideEncryption: undefined, SSEKMSKeyId: undefined, ...ssec(ck) });
    await put('bk', { BucketKeyEnabled: true });
    assert.ok((await get('s3')).equals(body));
    assert.ok((await get('c', ssec(ck))).equals(body));
    assert.ok((await get('bk')).equals(body));
    assert.equal(kmsEnvelopesHeld(), held);
    assert.equal(slab().size, size);
    for (const k of ['s3', 'c', 'bk']) assert.equal(rememberedKmsEnvelope(envOf(k)!), undefined, k);
  });

  it('bounded: an object with a large client context is remembered by neither memo; the largest envelope of the place alone is', async () => {
    const context: Record<string, string> = {};
    for (let i = 0; i < 120; i++) context[`pair-${i}`] = randomBytes(30).toString('hex');
    const header = Buffer.from(JSON.stringify(context)).toString('base64');
    assert.ok(header.length > 8 * MAX_ENVELOPE_CHARS / 2, `a large context: ${header.length} chars`);
    const held = kmsEnvelopesHeld();
    const size = slab().size;
    await put('large-context', { SSEKMSEncryptionContext: header });
    assert.ok((await get('large-context')).equals(body));
    assert.ok((await get('large-context')).equals(body));
    assert.equal(kmsEnvelopesHeld(), held, 'no envelope entry');
    assert.equal(slab().size, size, 'no data key entry, from the PUT or the GETs');

    // The longest place: a 1,024-byte object key in a 63-character bucket, DSSE's 153-byte blob.
    const key = '\u20ac'.repeat(341) + 'a';
    const fields = { objectId: newObjectId(), kind: 'dsse-kms' as const, keyId: ARN, context: { 'aws:s3:arn': `arn:aws:s3:::${'b'.repeat(63)}/${key}` }, wrappedKey: randomBytes(153) };
    const env = encodeEnvelope(fields).toString('base64');
    assert.ok(env.length <= MAX_ENVELOPE_CHARS, `${env.length} chars`);
    rememberKmsEnvelope(env, fields, false);
    assert.deepStrictEqual(rememberedKmsEnvelope(env), decodeStoredEnvelope(env));
    await put(key.slice(0, 300), {});
    rememberedIsDecode(key.slice(0, 300));
  });
});
