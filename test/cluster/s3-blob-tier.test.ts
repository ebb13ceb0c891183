// Three nodes on one PostgreSQL whose blob tier is an S3-compatible service — a second,
// embedded Coffer (test/helpers/server.ts), as docs/CLUSTER-BLOBS.md describes: objects of
// every size written through one node are read whole and in ranges through the others, a
// multipart upload's parts go through different nodes, SSE-S3 and SSE-KMS both, and every
// byte the backend stores is searched for a plaintext marker that must not be there.

import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3ServiceException, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';

const TIER_BUCKET = 'blob-tier';
const PREFIX = 'cluster/';
const MARKER = Buffer.from('PLAINTEXT-MARKER-c1u5t3r-coffer-blob-tier|');
const KiB = 1024;
const MiB = 1024 * KiB;

function markedBody(size: number, tag: string): Buffer {
  const unit = Buffer.concat([MARKER, Buffer.from(tag)]);
  const b = Buffer.alloc(size);
  for (let off = 0; off < size; off += unit.length) unit.copy(b, off);
  return b;
}

describePostgres('a three-node cluster on an S3 blob tier (another Coffer)', () => {
  let backend: TestServer;
  let cluster: TestCluster;
  let s3: S3Client[];
  const written = new Map<string, Buffer>();

  before(async () => {
    backend = await startTestServer();
    await backend.s3.send(new CreateBucketCommand({ Bucket: TIER_BUCKET }));
    cluster = await startCluster({
      nodes: 3,
      blobs: `s3://${TIER_BUCKET}/${PREFIX}?endpoint=${encodeURIComponent(backend.url)}&forcePathStyle=true&partSizeMiB=5`,
      env: { COFFER_BLOB_S3_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_BLOB_S3_SECRET_ACCESS_KEY: ROOT_SECRET },
    });
    s3 = cluster.nodes.map((n) => n.s3());
    await s3[0]!.send(new CreateBucketCommand({ Bucket: 'data' }));
  });
  after(async () => {
    await cluster?.stop();
    await backend?.stop();
  });

  const get = async (node: number, Key: string, Range?: string) =>
    Buffer.from(await (await s3[node]!.send(new GetObjectCommand({ Bucket: 'data', Key, Range }))).Body!.transformToByteArray());

  /** The backend's stored objects under the tier's prefix. */
  async function backendKeys(): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await backend.s3.send(new ListObjectsV2Command({ Bucket: TIER_BUCKET, Prefix: PREFIX, ContinuationToken: token }));
      out.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return out;
  }

  it('PUTs of every size through node 0, SSE-S3 and SSE-KMS, read whole and in ranges through nodes 1 and 2', async () => {
    const kmsKey = (await cluster.nodes[0]!.kms().send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const cases: [string, number, object][] = [
      ['small-s3', 1 * KiB, {}],
      ['mid-s3', 300 * KiB, {}],
      ['large-s3', 6 * MiB + 123, {}],
      ['mid-kms', 300 * KiB, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey }],
      ['large-kms', 6 * MiB + 7, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey, BucketKeyEnabled: true }],
    ];
    for (const [Key, size, sse] of cases) {
      const body = markedBody(size, Key);
      written.set(Key, body);
      await s3[0]!.send(new PutObjectCommand({ Bucket: 'data', Key, Body: body, ...sse }));
    }
    for (const [Key, size] of cases) {
      const body = written.get(Key)!;
      assert.ok((await get(1, Key)).equals(body), `${Key} whole through node 1`);
      const from = Math.floor(size / 3);
      const to = Math.min(size - 1, from + 70_000);
      assert.ok((await get(2, Key, `bytes=${from}-${to}`)).equals(body.subarray(from, to + 1)), `${Key} ranged through node 2`);
    }
    assert.ok((await backendKeys()).length >= 4, 'the blobs over 64 KiB are at the backend');
  });

  it('a multipart upload whose parts go through different nodes, completed on a third', async () => {
    const Key = 'multi';
    const { UploadId } = await s3[0]!.send(new CreateMultipartUploadCommand({ Bucket: 'data', Key }));
    const parts = [markedBody(5 * MiB, 'p1'), markedBody(1 * MiB + 5, 'p2')];
    const etags: string[] = [];
    for (const [i, Body] of parts.entries()) {
      etags.push((await s3[i]!.send(new UploadPartCommand({ Bucket: 'data', Key, UploadId, PartNumber: i + 1, Body }))).ETag!);
    }
    await s3[2]!.send(new CompleteMultipartUploadCommand({ Bucket: 'data', Key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    const whole = Buffer.concat(parts);
    written.set(Key, whole);
    assert.ok((await get(1, Key)).equals(whole));
    assert.ok((await get(0, Key, `bytes=${5 * MiB - 10}-${5 * MiB + 9}`)).equals(whole.subarray(5 * MiB - 10, 5 * MiB + 10)), 'a range across the part boundary');
  });

  it('no stored byte at the backend holds the plaintext marker', async () => {
    const keys = await backendKeys();
    assert.ok(keys.length > 0);
    const found: string[] = [];
    for (const k of keys) {
      const body = Buffer.from(await (await backend.s3.send(new GetObjectCommand({ Bucket: TIER_BUCKET, Key: k }))).Body!.transformToByteArray());
      if (body.includes(MARKER)) found.push(k);
    }
    assert.deepEqual(found, []);
    // And the scan would see it: the marker is in what the nodes serve.
    assert.ok((await get(2, 'large-s3')).includes(MARKER));
  });

  it('a delete through one node is seen by the others at once', async () => {
    await s3[1]!.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'large-s3' }));
    await assert.rejects(s3[2]!.send(new HeadObjectCommand({ Bucket: 'data', Key: 'large-s3' })), (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404);
    assert.ok((await get(0, 'large-kms')).equals(written.get('large-kms')!), 'the other objects stay');
  });
});
