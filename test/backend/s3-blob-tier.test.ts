// End to end: a Coffer server whose blob tier (`COFFER_BLOBS=s3://…`) is a second, real
// Coffer server. Objects of every size through the AWS SDK (single PUTs, SDK multipart,
// ranged GETs, SSE-S3 and SSE-KMS), overwrite and delete removing blobs at the backend,
// no plaintext at the backend, and the backend going away (503) and coming back.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { Upload } from '@aws-sdk/lib-storage';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';

const TIER_BUCKET = 'blob-tier';
const PREFIX = 'node-blobs/';
const MARKER = Buffer.from('PLAINTEXT-MARKER-7f3a9c-coffer-blob-tier|');
const KiB = 1024;
const MiB = 1024 * KiB;

/** The marker over and over, cut to `size` and tagged so each object differs. */
function markedBody(size: number, tag: string): Buffer {
  const unit = Buffer.concat([MARKER, Buffer.from(tag)]);
  const b = Buffer.alloc(size);
  for (let off = 0; off < size; off += unit.length) unit.copy(b, off);
  return b;
}

/** The backend: a Coffer server on a data directory that survives a restart on the same port. */
class Backend {
  coffer!: RunningCoffer;
  s3!: S3Client;
  private port = 0;
  constructor(readonly dataDir: string) {}
  async start(): Promise<void> {
    const config = loadConfig({ port: this.port, dataDir: this.dataDir, fsync: false }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET });
    this.coffer = await startCoffer(config, pino({ level: 'silent' }));
    this.port = Number(new URL(this.coffer.url).port);
    this.s3 = new S3Client({ endpoint: this.coffer.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
  }
  async stop(): Promise<void> {
    this.s3.destroy();
    await this.coffer.close();
  }
  async keys(): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: TIER_BUCKET, Prefix: PREFIX, ContinuationToken: token }));
      out.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return out.sort();
  }
  /** Every stored byte of the tier's objects (and anything under `extraPrefix`) searched for the marker. */
  async holdsMarker(prefix = PREFIX): Promise<string[]> {
    const page = await this.s3.send(new ListObjectsV2Command({ Bucket: TIER_BUCKET, Prefix: prefix }));
    const found: string[] = [];
    for (const c of page.Contents ?? []) {
      const body = Buffer.from(await (await this.s3.send(new GetObjectCommand({ Bucket: TIER_BUCKET, Key: c.Key! }))).Body!.transformToByteArray());
      if (body.includes(MARKER)) found.push(c.Key!);
    }
    return found;
  }
}

let dir = '';
let backend: Backend;
let front: TestServer;
const BUCKET = 'data';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-tier-'));
  backend = new Backend(join(dir, 'backend'));
  await backend.start();
  await backend.s3.send(new CreateBucketCommand({ Bucket: TIER_BUCKET }));
  front = await startTestServer({
    COFFER_BLOBS: `s3://${TIER_BUCKET}/${PREFIX}?endpoint=${encodeURIComponent(backend.coffer.url)}&forcePathStyle=true&partSizeMiB=5`,
    COFFER_BLOB_S3_ACCESS_KEY_ID: ROOT_KEY_ID,
    COFFER_BLOB_S3_SECRET_ACCESS_KEY: ROOT_SECRET,
  });
  await front.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
after(async () => {
  await front?.stop();
  await backend?.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const get = async (key: string, range?: string) => Buffer.from(await (await front.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: range }))).Body!.transformToByteArray());
const put = (key: string, body: Buffer, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}) => front.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ...extra }));

/** Waits for the backend's key count to reach `n` (garbage collection runs after the answer). */
async function keyCountBecomes(n: number): Promise<string[]> {
  let keys: string[] = [];
  for (let i = 0; i < 100; i++) {
    keys = await backend.keys();
    if (keys.length === n) return keys;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`the backend holds ${keys.length} blobs, expected ${n}`);
}

describe('a Coffer server with an S3 blob tier (another Coffer)', () => {
  const objects = new Map<string, Buffer>();

  it('stores 0 B, 1 KiB, 200 KiB, 6 MiB (multipart at the backend) and 10 MiB (SDK multipart), SSE-S3 and SSE-KMS, and reads them whole and in ranges', async () => {
    const { KeyMetadata } = await front.kms.send(new CreateKeyCommand({}));
    const cases: [string, number, Partial<ConstructorParameters<typeof PutObjectCommand>[0]>][] = [
      ['empty', 0, {}],
      ['one-kib', KiB, {}],
      ['small-file', 200 * KiB, {}],
      ['kms', 300 * KiB, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: KeyMetadata!.KeyId }],
      ['six-mib', 6 * MiB, { ServerSideEncryption: 'AES256' }],
    ];
    for (const [key, size, extra] of cases) {
      const body = markedBody(size, key);
      await put(key, body, extra);
      objects.set(key, body);
    }
    const big = markedBody(10 * MiB, 'sdk-multipart');
    await new Upload({ client: front.s3, params: { Bucket: BUCKET, Key: 'ten-mib', Body: big }, partSize: 5 * MiB, queueSize: 2 }).done();
    objects.set('ten-mib', big);
    for (const [key, body] of objects) assert.ok((await get(key)).equals(body), key);
    // Ranges inside one blob, across the SDK's part boundary and across the backend's part boundary.
    for (const [key, start, end] of [['ten-mib', 5 * MiB - 100, 5 * MiB + 100], ['ten-mib', 10 * MiB - 7, 10 * MiB - 1], ['six-mib', 5 * MiB - 3, 5 * MiB + 64 * KiB], ['kms', 1000, 2000]] as const) {
      assert.ok((await get(key, `bytes=${start}-${end}`)).equals(objects.get(key)!.subarray(start, end + 1)), `${key} ${start}-${end}`);
    }
    // Blobs over 64 KiB are at the backend: small-file, kms, six-mib, two parts of ten-mib; 0 B and 1 KiB stay inline.
    const keys = await backend.keys();
    assert.equal(keys.length, 5, keys.join(', '));
    for (const k of keys) assert.match(k, /^node-blobs\/[0-9a-f]{32}$/);
  });

  it('leaves no plaintext at the backend (encryption at rest), where a plain copy would be found', async () => {
    assert.deepEqual(await backend.holdsMarker(), []);
    // The scan itself finds the marker where it is stored in the clear.
    await backend.s3.send(new PutObjectCommand({ Bucket: TIER_BUCKET, Key: 'control/plain', Body: markedBody(100 * KiB, 'control') }));
    assert.deepEqual(await backend.holdsMarker('control/'), ['control/plain']);
  });

  it('removes the old blob at the backend on overwrite, and the blob on delete', async () => {
    const before = await backend.keys();
    await put('small-file', markedBody(150 * KiB, 'overwrite'));
    const afterOverwrite = await keyCountBecomes(before.length);
    assert.notDeepEqual(afterOverwrite, before, 'the blob was replaced');
    await front.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'small-file' }));
    await keyCountBecomes(before.length - 1);
    await front.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'ten-mib' }));
    await keyCountBecomes(before.length - 3);
  });

  it('answers 503 ServiceUnavailable while the backend is down, and serves again once it is back', async () => {
    await backend.stop();
    const unavailable = (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 503 && e.name === 'ServiceUnavailable';
    const noRetry = front.client({ maxAttempts: 1 });
    await assert.rejects(noRetry.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'six-mib' })), unavailable);
    await assert.rejects(noRetry.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'while-down', Body: markedBody(100 * KiB, 'down') })), unavailable);
    // A small object lives in the metadata store's inline tier: still served.
    assert.ok((await get('one-kib')).equals(objects.get('one-kib')!));
    noRetry.destroy();
    await backend.start();
    assert.ok((await get('six-mib')).equals(objects.get('six-mib')!));
    await put('after-return', markedBody(100 * KiB, 'back'));
    assert.ok((await get('after-return')).equals(markedBody(100 * KiB, 'back')));
  });
});
