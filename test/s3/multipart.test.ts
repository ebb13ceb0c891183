// Multipart uploads through @aws-sdk/client-s3 and @aws-sdk/lib-storage against the real
// server: the happy paths, every S3 error of the family, UploadPartCopy, listings and
// the two kinds of multipart checksums (values recomputed here, not taken from Coffer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand,
  UploadPartCommand, UploadPartCopyCommand, type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { assertFails } from '../helpers/failure.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

let srv: TestServer;
let s3: S3Client;
let bucket: string;
before(async () => {
  srv = await startTestServer();
  s3 = srv.s3;
  bucket = uniqueBucket('mpu');
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
after(async () => srv?.stop());

const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const crc32Digest = (b: Buffer) => { const d = Buffer.alloc(4); d.writeUInt32BE(crc32(b) >>> 0); return d; };
async function crc64nvme(b: Buffer): Promise<string> {
  const h = new Crc64Nvme();
  h.update(b);
  return Buffer.from(await h.digest()).toString('base64');
}
/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, "-N". */
function multipartEtag(parts: Buffer[]): string {
  return `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-${parts.length}"`;
}

async function body(key: string, extra: { PartNumber?: number } = {}): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function create(key: string, extra: Partial<ConstructorParameters<typeof CreateMultipartUploadCommand>[0]> = {}): Promise<string> {
  const r = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...extra }));
  assert.equal(r.Bucket, bucket);
  assert.equal(r.Key, key);
  assert.match(r.UploadId!, /^[A-Za-z0-9_-]{32,}$/);
  return r.UploadId!;
}

async function part(key: string, uploadId: string, n: number, data: Buffer, extra: Partial<ConstructorParameters<typeof UploadPartCommand>[0]> = {}) {
  return s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: data, ...extra }));
}

async function complete(key: string, uploadId: string, parts: CompletedPart[], extra: Partial<ConstructorParameters<typeof CompleteMultipartUploadCommand>[0]> = {}) {
  return s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...extra }));
}

test('lib-storage Upload of 17 MiB in 5 MiB parts: bytes, "-N" ETag, PartNumber reads and the CRC32 composite checksum', async () => {
  const data = randomBytes(17 * MiB);
  const key = 'big/seventeen.bin';
  const res = await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: data, ContentType: 'application/x-test' }, partSize: 5 * MiB, queueSize: 2 }).done();
  const parts = [0, 1, 2, 3].map((i) => data.subarray(i * 5 * MiB, Math.min((i + 1) * 5 * MiB, data.length)));
  assert.equal(res.ETag, multipartEtag(parts));
  assert.equal(res.Location, `${srv.url}/${bucket}/${key}`);

  assert.ok((await body(key)).equals(data));
  const second = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, PartNumber: 2 }));
  assert.equal(second.PartsCount, 4);
  assert.equal(second.ContentLength, 5 * MiB);
  assert.ok(Buffer.from(await second.Body!.transformToByteArray()).equals(parts[1]!));

  // lib-storage declares CRC32 on create; the object checksum is CRC32 over the parts' CRC32s.
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  assert.equal(head.ContentType, 'application/x-test');
  assert.equal(head.ContentLength, data.length);
  assert.equal(head.ETag, res.ETag);
  const composite = `${crc32Digest(Buffer.concat(parts.map(crc32Digest))).toString('base64')}-4`;
  assert.equal(head.ChecksumCRC32, composite);
  assert.equal(head.ChecksumType, 'COMPOSITE');
});

test('NoSuchUpload on UploadPart, ListParts, CompleteMultipartUpload and AbortMultipartUpload', async () => {
  const key = 'missing-upload';
  const UploadId = 'no-such-upload-id';
  const cases = [
    () => s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.from('x') })),
    () => s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId })),
    () => complete(key, UploadId, [{ PartNumber: 1, ETag: '"00"' }]),
    () => s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })),
  ];
  for (const c of cases) {
    const f = await assertFails(c(), 404, 'NoSuchUpload');
    assert.equal(f.fields.UploadId, UploadId);
  }
  // An upload id of another key is no upload of this key.
  const other = await create('other-key');
  await assertFails(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: other })), 404, 'NoSuchUpload');
  // NoSuchBucket comes first.
  await assertFails(s3.send(new ListPartsCommand({ Bucket: uniqueBucket('gone'), Key: key, UploadId: other })), 404, 'NoSuchBucket');
});

test('part numbers outside 1..10000 are InvalidArgument', async () => {
  const key = 'bad-part-number';
  const id = await create(key);
  for (const n of [0, 10001]) {
    const f = await assertFails(part(key, id, n, Buffer.from('x')), 400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    assert.equal(f.fields.ArgumentName, 'partNumber');
  }
});

test('Complete refuses an empty list, a descending list, unknown parts, wrong ETags and small non-last parts', async () => {
  const key = 'complete-errors';
  const id = await create(key);
  const p1 = await part(key, id, 1, Buffer.from('first'));
  const p2 = await part(key, id, 2, Buffer.from('second'));

  await assertFails(complete(key, id, []), 400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');

  await assertFails(complete(key, id, [{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 1, ETag: p1.ETag }]), 400, 'InvalidPartOrder');

  await assertFails(complete(key, id, [{ PartNumber: 3, ETag: p2.ETag }]), 400, 'InvalidPart');
  const wrongEtag = await assertFails(complete(key, id, [{ PartNumber: 1, ETag: p2.ETag }]), 400, 'InvalidPart');
  assert.equal(wrongEtag.fields.PartNumber, '1');

  const small = await assertFails(complete(key, id, [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }]), 400, 'EntityTooSmall');
  assert.equal(small.fields.ProposedSize, '5');
  assert.equal(small.fields.MinSizeAllowed, String(5 * MiB));
  assert.equal(small.fields.PartNumber, '1');
  assert.equal(small.fields.ETag, md5(Buffer.from('first')).toString('hex'));

  // The upload survives failed completions; a single small part is a valid object, and ETag quotes are optional.
  const done = await complete(key, id, [{ PartNumber: 2, ETag: p2.ETag!.replace(/"/g, '') }]);
  assert.equal(done.ETag, multipartEtag([Buffer.from('second')]));
  assert.equal((await body(key)).toString(), 'second');
  await assertFails(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: id })), 404, 'NoSuchUpload');
});

test('UploadPartCopy copies ranges of an object into parts, with copy-source conditions and errors', async () => {
  const src = randomBytes(6 * MiB + 123);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/src', Body: src }));
  const key = 'copy/dst';
  const id = await create(key);
  const source = `${bucket}/copy/src`;
  const first = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: 1, CopySource: source, CopySourceRange: `bytes=0-${5 * MiB - 1}` }));
  assert.equal(first.CopyPartResult?.ETag, `"${md5(src.subarray(0, 5 * MiB)).toString('hex')}"`);
  assert.ok(first.CopyPartResult?.LastModified instanceof Date);
  const second = await s3.send(new UploadPartCopyCommand({
    Bucket: bucket, Key: key, UploadId: id, PartNumber: 2, CopySource: `/${encodeURIComponent(bucket)}/copy%2Fsrc`,
    CopySourceRange: `bytes=${5 * MiB}-${src.length - 1}`, CopySourceIfMatch: put.ETag,
  }));

  await assertFails(s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: 3, CopySource: source, CopySourceRange: 'bytes=5-' })), 400, 'InvalidArgument');
  await assertFails(s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: 3, CopySource: source, CopySourceRange: `bytes=0-${src.length}` })), 400, 'InvalidArgument', `Range specified is not valid for source object of size: ${src.length}`);
  await assertFails(s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: 3, CopySource: source, CopySourceIfMatch: '"0123"' })), 412, 'PreconditionFailed');
  await assertFails(s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: 3, CopySource: `${bucket}/copy/nothing` })), 404, 'NoSuchKey');

  await complete(key, id, [{ PartNumber: 1, ETag: first.CopyPartResult!.ETag }, { PartNumber: 2, ETag: second.CopyPartResult!.ETag }]);
  assert.ok((await body(key)).equals(src));
  // The copy owns its bytes: replacing the source leaves it intact.
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy/src', Body: 'replaced' }));
  assert.ok((await body(key)).equals(src));
});

test('ListParts pages with max-parts and part-number-marker', async () => {
  const key = 'list/parts';
  const id = await create(key, { StorageClass: 'STANDARD_IA' });
  const datas = [Buffer.from('one'), Buffer.from('two two'), Buffer.from('three')];
  for (const [i, d] of datas.entries()) await part(key, id, i + 1, d);

  const p1 = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: id, MaxParts: 2 }));
  assert.equal(p1.IsTruncated, true);
  assert.equal(p1.MaxParts, 2);
  assert.equal(p1.NextPartNumberMarker, '2');
  assert.deepEqual(p1.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]), [
    [1, 3, `"${md5(datas[0]!).toString('hex')}"`],
    [2, 7, `"${md5(datas[1]!).toString('hex')}"`],
  ]);
  assert.ok(p1.Parts![0]!.LastModified instanceof Date);
  assert.equal(p1.StorageClass, 'STANDARD_IA');
  assert.ok(p1.Owner?.ID && p1.Initiator?.ID);

  const p2 = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumberMarker: p1.NextPartNumberMarker }));
  assert.equal(p2.IsTruncated, false);
  assert.deepEqual(p2.Parts?.map((p) => p.PartNumber), [3]);

  await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }));
  await assertFails(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: id })), 404, 'NoSuchUpload');
});

test('ListMultipartUploads with prefix, delimiter, key and upload-id markers', async () => {
  const b = uniqueBucket('mpu-list');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  const keys = ['a/1', 'a/2', 'b/1', 'c', 'c', 'd'];
  const ids: string[] = [];
  for (const k of keys) ids.push((await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: k }))).UploadId!);
  const list = (extra: Partial<ConstructorParameters<typeof ListMultipartUploadsCommand>[0]>) => s3.send(new ListMultipartUploadsCommand({ Bucket: b, ...extra }));

  const all = await list({});
  assert.equal(all.IsTruncated, false);
  assert.deepEqual(all.Uploads?.map((u) => u.Key), keys);
  assert.deepEqual(new Set(all.Uploads?.map((u) => u.UploadId)), new Set(ids));
  assert.ok(all.Uploads![0]!.Initiated instanceof Date);

  const prefixed = await list({ Prefix: 'a/' });
  assert.deepEqual(prefixed.Uploads?.map((u) => u.Key), ['a/1', 'a/2']);
  assert.equal(prefixed.Prefix, 'a/');

  const grouped = await list({ Delimiter: '/' });
  assert.deepEqual(grouped.CommonPrefixes?.map((p) => p.Prefix), ['a/', 'b/']);
  assert.deepEqual(grouped.Uploads?.map((u) => u.Key), ['c', 'c', 'd']);

  // Page one entry at a time, with and without the delimiter: every entry once, in order.
  for (const Delimiter of [undefined, '/']) {
    const seen: string[] = [];
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await list({ MaxUploads: 1, Delimiter, KeyMarker, UploadIdMarker });
      for (const u of page.Uploads ?? []) seen.push(`${u.Key}:${u.UploadId}`);
      for (const p of page.CommonPrefixes ?? []) seen.push(`${p.Prefix}`);
      if (!page.IsTruncated) break;
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
    const expected: string[] = Delimiter
      ? ['a/', 'b/', ...all.Uploads!.slice(3).map((u) => `${u.Key}:${u.UploadId}`)]
      : all.Uploads!.map((u) => `${u.Key}:${u.UploadId}`);
    assert.deepEqual(seen, expected, `delimiter ${Delimiter}`);
  }

  // A key-marker alone skips every upload of that key.
  const afterC = await list({ KeyMarker: 'c' });
  assert.deepEqual(afterC.Uploads?.map((u) => u.Key), ['d']);

  const encoded = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'sp ace/k' }));
  const enc = await list({ Prefix: 'sp ace', EncodingType: 'url' });
  assert.equal(enc.EncodingType, 'url');
  assert.deepEqual(enc.Uploads?.map((u) => u.UploadId), [encoded.UploadId]);
  assert.equal(enc.Uploads?.[0]?.Key, 'sp%20ace/k', 'a space is %20, as AWS encodes it');
});

test('CRC32 COMPOSITE: part checksums echoed, composite object checksum, missing, wrong and mismatched checksums refused', async () => {
  const key = 'sum/crc32';
  const r = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC32' }));
  assert.equal(r.ChecksumAlgorithm, 'CRC32');
  assert.equal(r.ChecksumType, 'COMPOSITE');
  const id = r.UploadId!;
  const d1 = randomBytes(5 * MiB);
  const d2 = Buffer.from('tail of the object');
  const p1 = await part(key, id, 1, d1, { ChecksumAlgorithm: 'CRC32' });
  const p2 = await part(key, id, 2, d2, { ChecksumAlgorithm: 'CRC32' });
  assert.equal(p1.ChecksumCRC32, crc32Digest(d1).toString('base64'));
  assert.equal(p2.ChecksumCRC32, crc32Digest(d2).toString('base64'));

  await assertFails(part(key, id, 3, d2, { ChecksumAlgorithm: 'SHA256' }), 400, 'InvalidRequest', 'Checksum Type mismatch occurred, expected checksum Type: crc32, actual checksum Type: sha256');

  await assertFails(complete(key, id, [{ PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 }, { PartNumber: 2, ETag: p2.ETag }]), 400, 'InvalidRequest', 'The upload was created using a crc32 checksum. The complete request must include the checksum for each part. It was missing for part 2 in the request.');
  await assertFails(complete(key, id, [{ PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p2.ChecksumCRC32 }, { PartNumber: 2, ETag: p2.ETag, ChecksumCRC32: p2.ChecksumCRC32 }]), 400, 'InvalidPart');

  const done = await complete(key, id, [{ PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 }, { PartNumber: 2, ETag: p2.ETag, ChecksumCRC32: p2.ChecksumCRC32 }]);
  const expected = `${crc32Digest(Buffer.concat([crc32Digest(d1), crc32Digest(d2)])).toString('base64')}-2`;
  assert.equal(done.ChecksumCRC32, expected);
  assert.equal(done.ChecksumType, 'COMPOSITE');
  assert.equal(done.ETag, multipartEtag([d1, d2]));
});

test('CRC64NVME FULL_OBJECT: the object checksum is the CRC of all bytes, a wrong full checksum is BadDigest', async () => {
  await assertFails(s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'sum/x', ChecksumAlgorithm: 'SHA256', ChecksumType: 'FULL_OBJECT' })), 400, 'InvalidRequest', 'The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.');

  const key = 'sum/crc64';
  const r = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' }));
  assert.equal(r.ChecksumType, 'FULL_OBJECT');
  const id = r.UploadId!;
  const d1 = randomBytes(5 * MiB);
  const d2 = randomBytes(1000);
  const p1 = await part(key, id, 1, d1, { ChecksumAlgorithm: 'CRC64NVME' });
  const p2 = await part(key, id, 2, d2, { ChecksumAlgorithm: 'CRC64NVME' });
  assert.equal(p1.ChecksumCRC64NVME, await crc64nvme(d1));
  const full = await crc64nvme(Buffer.concat([d1, d2]));
  const parts = [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }];

  await assertFails(complete(key, id, parts, { ChecksumCRC64NVME: await crc64nvme(d2), ChecksumType: 'FULL_OBJECT' }), 400, 'BadDigest');

  const done = await complete(key, id, parts, { ChecksumCRC64NVME: full, ChecksumType: 'FULL_OBJECT' });
  assert.equal(done.ChecksumCRC64NVME, full);
  assert.equal(done.ChecksumType, 'FULL_OBJECT');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  assert.equal(head.ChecksumCRC64NVME, full);
  assert.ok((await body(key)).equals(Buffer.concat([d1, d2])));
});

test('If-None-Match: * on Complete against an existing key is 412 and keeps the upload', async () => {
  const key = 'conditional';
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'existing' }));
  const id = await create(key);
  const p = await part(key, id, 1, Buffer.from('new'));
  await assertFails(complete(key, id, [{ PartNumber: 1, ETag: p.ETag }], { IfNoneMatch: '*' }), 412, 'PreconditionFailed');
  assert.equal((await body(key)).toString(), 'existing');
  await complete(key, id, [{ PartNumber: 1, ETag: p.ETag }]);
  assert.equal((await body(key)).toString(), 'new');
});

test('AbortMultipartUpload answers 204 and frees the upload', async () => {
  const key = 'aborted';
  const id = await create(key);
  await part(key, id, 1, Buffer.from('bytes'));
  const r = await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }));
  assert.equal(r.$metadata.httpStatusCode, 204);
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  assert.equal(uploads.Uploads, undefined);
});

test('an upload without a checksum algorithm gets S3 default CRC64NVME FULL_OBJECT when parts carry no checksum, on reads only', async () => {
  const plain = srv.client({ requestChecksumCalculation: 'WHEN_REQUIRED' });
  try {
    const key = 'sum/default';
    const { UploadId } = await plain.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const d1 = randomBytes(5 * MiB);
    const d2 = Buffer.from('last');
    const p1 = await plain.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: d1 }));
    const p2 = await plain.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: d2 }));
    assert.equal(p1.ChecksumCRC64NVME, undefined, 'a checksum the client did not ask for is not echoed');
    const done = await plain.send(new CompleteMultipartUploadCommand({
      Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
    }));
    // AWS leaves S3's default out of the Complete answer and gives it on reads (aws-recordings: test_s3_multipart_upload_sse).
    assert.equal(done.ChecksumCRC64NVME, undefined);
    const head = await plain.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    assert.equal(head.ChecksumCRC64NVME, await crc64nvme(Buffer.concat([d1, d2])));
    assert.equal(head.ChecksumType, 'FULL_OBJECT');
  } finally {
    plain.destroy();
  }
});
