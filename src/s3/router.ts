// Turns an HTTP request into one S3 Endpoint value. Addressing: path style
// (/bucket/key) and virtual-hosted style (bucket.<domain>/key) when a domain is set.
// The router only reads the method, host, path and query; handlers do the rest.

import { s3Error } from './errors.js';

export type Endpoint =
  | { op: 'ListBuckets' }
  | { op: 'CreateBucket'; bucket: string }
  | { op: 'HeadBucket'; bucket: string }
  | { op: 'DeleteBucket'; bucket: string }
  | { op: 'GetBucketLocation'; bucket: string }
  | { op: 'GetBucketAcl'; bucket: string }
  | { op: 'PutBucketAcl'; bucket: string }
  | { op: 'GetBucketOwnershipControls'; bucket: string }
  | { op: 'PutBucketOwnershipControls'; bucket: string }
  | { op: 'DeleteBucketOwnershipControls'; bucket: string }
  | { op: 'PutPublicAccessBlock'; bucket: string }
  | { op: 'GetPublicAccessBlock'; bucket: string }
  | { op: 'DeletePublicAccessBlock'; bucket: string }
  | { op: 'GetBucketVersioning'; bucket: string }
  | { op: 'PutBucketVersioning'; bucket: string }
  | { op: 'PutBucketEncryption'; bucket: string }
  | { op: 'GetBucketEncryption'; bucket: string }
  | { op: 'DeleteBucketEncryption'; bucket: string }
  | { op: 'PutBucketPolicy'; bucket: string }
  | { op: 'GetBucketPolicy'; bucket: string }
  | { op: 'DeleteBucketPolicy'; bucket: string }
  | { op: 'GetBucketPolicyStatus'; bucket: string }
  | { op: 'PutBucketCors'; bucket: string }
  | { op: 'GetBucketCors'; bucket: string }
  | { op: 'DeleteBucketCors'; bucket: string }
  | { op: 'PutBucketTagging'; bucket: string }
  | { op: 'PutObjectLockConfiguration'; bucket: string }
  | { op: 'GetObjectLockConfiguration'; bucket: string }
  | { op: 'GetBucketTagging'; bucket: string }
  | { op: 'DeleteBucketTagging'; bucket: string }
  | { op: 'ListObjects'; bucket: string }
  | { op: 'ListObjectsV2'; bucket: string }
  | { op: 'ListMultipartUploads'; bucket: string }
  | { op: 'ListObjectVersions'; bucket: string }
  | { op: 'DeleteObjects'; bucket: string }
  | { op: 'PostObject'; bucket: string }
  | { op: 'PutObject'; bucket: string; key: string }
  | { op: 'CopyObject'; bucket: string; key: string }
  | { op: 'GetObject'; bucket: string; key: string }
  | { op: 'HeadObject'; bucket: string; key: string }
  | { op: 'DeleteObject'; bucket: string; key: string }
  | { op: 'GetObjectTagging'; bucket: string; key: string }
  | { op: 'PutObjectTagging'; bucket: string; key: string }
  | { op: 'DeleteObjectTagging'; bucket: string; key: string }
  | { op: 'GetObjectAcl'; bucket: string; key: string }
  | { op: 'PutObjectAcl'; bucket: string; key: string }
  | { op: 'GetObjectAttributes'; bucket: string; key: string }
  | { op: 'PutObjectRetention'; bucket: string; key: string }
  | { op: 'GetObjectRetention'; bucket: string; key: string }
  | { op: 'PutObjectLegalHold'; bucket: string; key: string }
  | { op: 'GetObjectLegalHold'; bucket: string; key: string }
  | { op: 'CreateMultipartUpload'; bucket: string; key: string }
  | { op: 'UploadPart'; bucket: string; key: string; uploadId: string; partNumber: string }
  | { op: 'UploadPartCopy'; bucket: string; key: string; uploadId: string; partNumber: string }
  | { op: 'CompleteMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { op: 'AbortMultipartUpload'; bucket: string; key: string; uploadId: string }
  | { op: 'ListParts'; bucket: string; key: string; uploadId: string }
  | { op: 'PutBucketLifecycleConfiguration'; bucket: string }
  | { op: 'GetBucketLifecycleConfiguration'; bucket: string }
  | { op: 'DeleteBucketLifecycle'; bucket: string }
  | { op: 'NotImplemented'; name: string; bucket?: string; key?: string };

export type Operation = Endpoint['op'];

export interface RouteInput {
  method: string;
  /** Decoded path, e.g. "/bucket/some key". */
  path: string;
  query: URLSearchParams;
  host: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export interface RouterOptions {
  /** Base domain for virtual-hosted-style requests, e.g. "s3.example.com". */
  domain?: string;
}

// Bucket subresources S3 has but Coffer does not implement yet: they answer NotImplemented, never a silent success.
const BUCKET_SUBRESOURCES: Record<string, string> = {
  accelerate: 'BucketAccelerateConfiguration', analytics: 'BucketAnalyticsConfiguration', cors: 'BucketCors',
  encryption: 'BucketEncryption', intelligentTiering: 'BucketIntelligentTieringConfiguration',
  inventory: 'BucketInventoryConfiguration', lifecycle: 'BucketLifecycleConfiguration', logging: 'BucketLogging',
  metrics: 'BucketMetricsConfiguration', notification: 'BucketNotificationConfiguration', 'object-lock': 'ObjectLockConfiguration',
  ownershipControls: 'BucketOwnershipControls', policy: 'BucketPolicy', policyStatus: 'BucketPolicyStatus',
  publicAccessBlock: 'PublicAccessBlock', replication: 'BucketReplication', requestPayment: 'BucketRequestPayment',
  tagging: 'BucketTagging', versioning: 'BucketVersioning', versions: 'ObjectVersions', website: 'BucketWebsite',
  metadataTable: 'BucketMetadataTableConfiguration', session: 'Session',
};
const OBJECT_SUBRESOURCES: Record<string, string> = {
  retention: 'ObjectRetention', 'legal-hold': 'ObjectLegalHold', torrent: 'ObjectTorrent', restore: 'RestoreObject',
  select: 'SelectObjectContent', renameObject: 'RenameObject',
};

const METHOD_VERB: Record<string, string> = { GET: 'Get', PUT: 'Put', DELETE: 'Delete', POST: 'Post', HEAD: 'Head' };

/** The bucket a virtual-hosted-style Host header names (bucket.<domain>), if it names one. */
export function virtualHostBucket(hostHeader: string | undefined, domain: string | undefined): string | undefined {
  if (!domain) return undefined;
  const host = (hostHeader ?? '').toLowerCase().replace(/:\d+$/, '');
  const d = domain.toLowerCase();
  return host !== d && host.endsWith('.' + d) ? host.slice(0, -(d.length + 1)) : undefined;
}

export function splitAddress(input: RouteInput, opts: RouterOptions): { bucket?: string; key?: string } {
  const bucket = virtualHostBucket(input.host, opts.domain);
  if (bucket !== undefined) {
    const key = input.path.length > 1 ? input.path.slice(1) : undefined;
    return { bucket, key };
  }
  const p = input.path.startsWith('/') ? input.path.slice(1) : input.path;
  if (p === '') return {};
  const slash = p.indexOf('/');
  if (slash < 0) return { bucket: p };
  const key = p.slice(slash + 1);
  return { bucket: p.slice(0, slash), key: key === '' ? undefined : key };
}

export function route(input: RouteInput, opts: RouterOptions = {}): Endpoint {
  const { bucket, key } = splitAddress(input, opts);
  const q = input.query;
  const m = input.method.toUpperCase();

  if (bucket === undefined) {
    if (m === 'GET') return { op: 'ListBuckets' };
    throw s3Error('MethodNotAllowed', { Method: m, ResourceType: 'SERVICE' });
  }

  if (key === undefined) {
    for (const sub of Object.keys(BUCKET_SUBRESOURCES)) {
      if (!q.has(sub)) continue;
      if (sub === 'versioning' && m === 'GET') return { op: 'GetBucketVersioning', bucket };
      if (sub === 'versioning' && m === 'PUT') return { op: 'PutBucketVersioning', bucket };
      if (sub === 'ownershipControls' && m === 'GET') return { op: 'GetBucketOwnershipControls', bucket };
      if (sub === 'ownershipControls' && m === 'PUT') return { op: 'PutBucketOwnershipControls', bucket };
      if (sub === 'ownershipControls' && m === 'DELETE') return { op: 'DeleteBucketOwnershipControls', bucket };
      if (sub === 'publicAccessBlock' && m === 'PUT') return { op: 'PutPublicAccessBlock', bucket };
      if (sub === 'publicAccessBlock' && m === 'GET') return { op: 'GetPublicAccessBlock', bucket };
      if (sub === 'publicAccessBlock' && m === 'DELETE') return { op: 'DeletePublicAccessBlock', bucket };
      if (sub === 'encryption' && m === 'PUT') return { op: 'PutBucketEncryption', bucket };
      if (sub === 'encryption' && m === 'GET') return { op: 'GetBucketEncryption', bucket };
      if (sub === 'encryption' && m === 'DELETE') return { op: 'DeleteBucketEncryption', bucket };
      if (sub === 'policy' && m === 'PUT') return { op: 'PutBucketPolicy', bucket };
      if (sub === 'policy' && m === 'GET') return { op: 'GetBucketPolicy', bucket };
      if (sub === 'policy' && m === 'DELETE') return { op: 'DeleteBucketPolicy', bucket };
      if (sub === 'policyStatus' && m === 'GET') return { op: 'GetBucketPolicyStatus', bucket };
      if (sub === 'versions' && m === 'GET') return { op: 'ListObjectVersions', bucket };
      if (sub === 'cors' && m === 'PUT') return { op: 'PutBucketCors', bucket };
      if (sub === 'cors' && m === 'GET') return { op: 'GetBucketCors', bucket };
      if (sub === 'cors' && m === 'DELETE') return { op: 'DeleteBucketCors', bucket };
      if (sub === 'tagging' && m === 'PUT') return { op: 'PutBucketTagging', bucket };
      if (sub === 'object-lock' && m === 'PUT') return { op: 'PutObjectLockConfiguration', bucket };
      if (sub === 'object-lock' && m === 'GET') return { op: 'GetObjectLockConfiguration', bucket };
      if (sub === 'tagging' && m === 'GET') return { op: 'GetBucketTagging', bucket };
      if (sub === 'tagging' && m === 'DELETE') return { op: 'DeleteBucketTagging', bucket };
      if (sub === 'lifecycle' && m === 'PUT') return { op: 'PutBucketLifecycleConfiguration', bucket };
      if (sub === 'lifecycle' && m === 'GET') return { op: 'GetBucketLifecycleConfiguration', bucket };
      if (sub === 'lifecycle' && m === 'DELETE') return { op: 'DeleteBucketLifecycle', bucket };
      return { op: 'NotImplemented', name: `${METHOD_VERB[m] ?? m}${BUCKET_SUBRESOURCES[sub]}`, bucket };
    }
    switch (m) {
      case 'GET':
        if (q.has('location')) return { op: 'GetBucketLocation', bucket };
        if (q.has('acl')) return { op: 'GetBucketAcl', bucket };
        if (q.has('uploads')) return { op: 'ListMultipartUploads', bucket };
        if (q.get('list-type') === '2') return { op: 'ListObjectsV2', bucket };
        return { op: 'ListObjects', bucket };
      case 'HEAD':
        return { op: 'HeadBucket', bucket };
      case 'PUT':
        if (q.has('acl')) return { op: 'PutBucketAcl', bucket };
        return { op: 'CreateBucket', bucket };
      case 'DELETE':
        return { op: 'DeleteBucket', bucket };
      case 'POST':
        if (q.has('delete')) return { op: 'DeleteObjects', bucket };
        return { op: 'PostObject', bucket };
      default:
        throw s3Error('MethodNotAllowed', { Method: m, ResourceType: 'BUCKET' });
    }
  }

  for (const sub of Object.keys(OBJECT_SUBRESOURCES)) {
    if (!q.has(sub)) continue;
    if (sub === 'retention' && m === 'PUT') return { op: 'PutObjectRetention', bucket, key };
    if (sub === 'retention' && m === 'GET') return { op: 'GetObjectRetention', bucket, key };
    if (sub === 'legal-hold' && m === 'PUT') return { op: 'PutObjectLegalHold', bucket, key };
    if (sub === 'legal-hold' && m === 'GET') return { op: 'GetObjectLegalHold', bucket, key };
    return { op: 'NotImplemented', name: `${METHOD_VERB[m] ?? m}${OBJECT_SUBRESOURCES[sub]}`, bucket, key };
  }
  const uploadId = q.get('uploadId') ?? undefined;
  const copySource = input.headers['x-amz-copy-source'] !== undefined;
  switch (m) {
    case 'GET':
      if (uploadId !== undefined) return { op: 'ListParts', bucket, key, uploadId };
      if (q.has('tagging')) return { op: 'GetObjectTagging', bucket, key };
      if (q.has('acl')) return { op: 'GetObjectAcl', bucket, key };
      if (q.has('attributes')) return { op: 'GetObjectAttributes', bucket, key };
      return { op: 'GetObject', bucket, key };
    case 'HEAD':
      return { op: 'HeadObject', bucket, key };
    case 'PUT':
      if (q.has('tagging')) return { op: 'PutObjectTagging', bucket, key };
      if (q.has('acl')) return { op: 'PutObjectAcl', bucket, key };
      if (uploadId !== undefined || q.has('partNumber')) {
        const partNumber = q.get('partNumber') ?? '';
        if (uploadId === undefined) throw s3Error('InvalidRequest', {}, 'A partNumber was supplied without an uploadId');
        return copySource
          ? { op: 'UploadPartCopy', bucket, key, uploadId, partNumber }
          : { op: 'UploadPart', bucket, key, uploadId, partNumber };
      }
      return copySource ? { op: 'CopyObject', bucket, key } : { op: 'PutObject', bucket, key };
    case 'DELETE':
      if (q.has('tagging')) return { op: 'DeleteObjectTagging', bucket, key };
      if (uploadId !== undefined) return { op: 'AbortMultipartUpload', bucket, key, uploadId };
      return { op: 'DeleteObject', bucket, key };
    case 'POST':
      if (q.has('uploads')) return { op: 'CreateMultipartUpload', bucket, key };
      if (uploadId !== undefined) return { op: 'CompleteMultipartUpload', bucket, key, uploadId };
      throw s3Error('MethodNotAllowed', { Method: m, ResourceType: 'OBJECT' });
    default:
      throw s3Error('MethodNotAllowed', { Method: m, ResourceType: 'OBJECT' });
  }
}
