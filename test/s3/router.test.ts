// Router table: request lines from the S3 API reference mapped to endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route } from '../../src/s3/router.js';

const cases: [string, string, Record<string, string>, string][] = [
  ['GET', '/', {}, 'ListBuckets'],
  ['PUT', '/b', {}, 'CreateBucket'],
  ['HEAD', '/b', {}, 'HeadBucket'],
  ['DELETE', '/b', {}, 'DeleteBucket'],
  ['GET', '/b?location', {}, 'GetBucketLocation'],
  ['GET', '/b?list-type=2&prefix=a', {}, 'ListObjectsV2'],
  ['GET', '/b?prefix=a', {}, 'ListObjects'],
  ['GET', '/b?uploads', {}, 'ListMultipartUploads'],
  ['POST', '/b?delete', {}, 'DeleteObjects'],
  ['POST', '/b', {}, 'PostObject'],
  ['GET', '/b?acl', {}, 'GetBucketAcl'],
  ['GET', '/b?versioning', {}, 'GetBucketVersioning'],
  ['PUT', '/b?versioning', {}, 'PutBucketVersioning'],
  ['GET', '/b?versions', {}, 'ListObjectVersions'],
  ['DELETE', '/b/k?versionId=null', {}, 'DeleteObject'],
  ['PUT', '/b?cors', {}, 'PutBucketCors'],
  ['GET', '/b?cors', {}, 'GetBucketCors'],
  ['DELETE', '/b?cors', {}, 'DeleteBucketCors'],
  ['PUT', '/b?tagging', {}, 'PutBucketTagging'],
  ['GET', '/b?tagging', {}, 'GetBucketTagging'],
  ['DELETE', '/b?tagging', {}, 'DeleteBucketTagging'],
  ['PUT', '/b/k', {}, 'PutObject'],
  ['PUT', '/b/k', { 'x-amz-copy-source': '/a/b' }, 'CopyObject'],
  ['GET', '/b/k', {}, 'GetObject'],
  ['HEAD', '/b/k', {}, 'HeadObject'],
  ['DELETE', '/b/k', {}, 'DeleteObject'],
  ['GET', '/b/k?tagging', {}, 'GetObjectTagging'],
  ['PUT', '/b/k?tagging', {}, 'PutObjectTagging'],
  ['DELETE', '/b/k?tagging', {}, 'DeleteObjectTagging'],
  ['GET', '/b/k?acl', {}, 'GetObjectAcl'],
  ['GET', '/b/k?attributes', {}, 'GetObjectAttributes'],
  ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
  ['PUT', '/b/k?partNumber=1&uploadId=u', {}, 'UploadPart'],
  ['PUT', '/b/k?partNumber=1&uploadId=u', { 'x-amz-copy-source': 'a/b' }, 'UploadPartCopy'],
  ['POST', '/b/k?uploadId=u', {}, 'CompleteMultipartUpload'],
  ['DELETE', '/b/k?uploadId=u', {}, 'AbortMultipartUpload'],
  ['GET', '/b/k?uploadId=u', {}, 'ListParts'],
  ['PUT', '/b?policy', {}, 'PutBucketPolicy'],
  ['GET', '/b?policy', {}, 'GetBucketPolicy'],
  ['DELETE', '/b?policy', {}, 'DeleteBucketPolicy'],
  ['GET', '/b?policyStatus', {}, 'GetBucketPolicyStatus'],
  ['GET', '/b?ownershipControls', {}, 'GetBucketOwnershipControls'],
  ['PUT', '/b?ownershipControls', {}, 'PutBucketOwnershipControls'],
  ['DELETE', '/b?ownershipControls', {}, 'DeleteBucketOwnershipControls'],
  ['PUT', '/b?publicAccessBlock', {}, 'PutPublicAccessBlock'],
  ['GET', '/b?publicAccessBlock', {}, 'GetPublicAccessBlock'],
  ['DELETE', '/b?publicAccessBlock', {}, 'DeletePublicAccessBlock'],
  ['GET', '/b?website', {}, 'NotImplemented'],
  ['PUT', '/b?lifecycle', {}, 'PutBucketLifecycleConfiguration'],
  ['GET', '/b?lifecycle', {}, 'GetBucketLifecycleConfiguration'],
  ['DELETE', '/b?lifecycle', {}, 'DeleteBucketLifecycle'],
  ['PUT', '/b?analytics', {}, 'NotImplemented'],
  ['POST', '/b/k?restore', {}, 'NotImplemented'],
];

for (const [method, url, headers, op] of cases) {
  test(`routes ${method} ${url} to ${op}`, () => {
    const u = new URL(url, 'http://localhost');
    const ep = route({ method, path: decodeURIComponent(u.pathname), query: u.searchParams, host: 'localhost:9000', headers });
    assert.equal(ep.op, op);
  });
}

test('names the unimplemented operation', () => {
  const ep = route({ method: 'GET', path: '/b', query: new URLSearchParams('website'), host: 'x', headers: {} });
  assert.deepEqual(ep, { op: 'NotImplemented', name: 'GetBucketWebsite', bucket: 'b' });
});

test('virtual-hosted style takes the bucket from the host', () => {
  const ep = route({ method: 'GET', path: '/dir/key', query: new URLSearchParams(), host: 'my-bucket.s3.example.com:9000', headers: {} }, { domain: 's3.example.com' });
  assert.deepEqual(ep, { op: 'GetObject', bucket: 'my-bucket', key: 'dir/key' });
});

test('path style keeps keys with slashes and a trailing slash', () => {
  const ep = route({ method: 'PUT', path: '/b/a/b/', query: new URLSearchParams(), host: 'localhost', headers: {} });
  assert.deepEqual(ep, { op: 'PutObject', bucket: 'b', key: 'a/b/' });
});
