// The S3 request path: parse the URL, route to one Endpoint, authenticate, authorize
// once from the action table, then one switch dispatches to the operation's file.
// Errors become S3 XML here and nowhere else.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, signingAccessKeyId } from '../auth/sigv4.js';
import { authenticateV2, isSigV2Request, sigV2AccessKeyId } from '../auth/sigv2.js';
import { ServiceError, isServiceError } from '../errors.js';
import { isStorageFull } from '../storage/storage-full.js';
import { isBlobTierUnavailable } from '../storage/blob-unavailable.js';
import { isDatabaseUnavailable } from '../storage/postgres/unavailable.js';
import type { RequestReads } from '../storage/request-reads.js';
import { transportOf } from '../http/transport.js';
import { releaseBody } from '../http/continue.js';
import { noteAccess } from '../http/access-log.js';
import { refuseMisroutedVirtualHost } from './misrouted-host.js';
import { refuseMinioAdmin } from './minio-admin.js';
import { authorizeRequest } from './authorization.js';
import { requestFacts } from '../http/request-facts.js';
import { type S3Context, type S3Services, ownerFor } from './context.js';
import { notImplemented, s3Error } from './errors.js';
import { route, splitAddress, virtualHostBucket, type Endpoint } from './router.js';
import { errorDocument } from './xml.js';
import * as objectLock from './ops/object-lock.js';
import * as buckets from './ops/buckets.js';
import * as list from './ops/list-objects.js';
import * as put from './ops/put-object.js';
import * as get from './ops/get-object.js';
import * as del from './ops/delete-object.js';
import * as copy from './ops/copy-object.js';
import * as multipart from './ops/multipart.js';
import * as complete from './ops/complete-multipart.js';
import * as tagging from './ops/tagging.js';
import * as acl from './ops/acl.js';
import * as post from './ops/post-object.js';
import * as attributes from './ops/object-attributes.js';
import * as encryption from './ops/bucket-encryption.js';
import * as bucketPolicy from './ops/bucket-policy.js';
import * as versions from './ops/list-object-versions.js';
import * as bucketCors from './ops/bucket-cors.js';
import * as bucketTagging from './ops/bucket-tagging.js';
import * as bucketLifecycle from './ops/bucket-lifecycle.js';
import { applyCors, preflight } from './cors.js';
import * as ownership from './ops/ownership-controls.js';
import * as publicAccess from './ops/public-access-block.js';

export interface S3HandlerOptions {
  services: S3Services;
  /** Prometheus (metering/metrics.ts): observes the request when it ends; the handler names its operation once routed. */
  metrics?: { begin(req: IncomingMessage, res: ServerResponse): { op: string } };
}

export async function handleS3(opts: S3HandlerOptions, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const { services } = opts;
  const probe = opts.metrics?.begin(req, res);
  const rawUrl = req.url ?? '/';
  const qi = rawUrl.indexOf('?');
  const rawPath = qi < 0 ? rawUrl : rawUrl.slice(0, qi);
  let path = rawPath;
  const query = new URLSearchParams(qi < 0 ? '' : rawUrl.slice(qi + 1));
  let endpoint: Endpoint | undefined;
  try {
    path = decodePath(rawPath);
    // CORS (cors.ts): a preflight is answered from the bucket's CORS rules alone, unsigned;
    // any other request with an Origin gets the matching rule's headers, errors included.
    const address = splitAddress({ method: req.method ?? 'GET', path, query, host: req.headers.host, headers: req.headers }, { domain: services.config.domain });
    if (req.method === 'OPTIONS') {
      if (probe) probe.op = 'OptionsObject';
      noteAccess(res, { operation: 'OptionsObject', bucket: address.bucket, key: address.key });
      return await preflight(services.meta, req, res, address.bucket, address.key);
    }
    await applyCors(services.meta, req, res, address.bucket);
    await refuseMinioAdmin(path, virtualHostBucket(req.headers.host, services.config.domain), async (b) => (await services.meta.getBucket(b)) !== undefined);
    endpoint = route({ method: req.method ?? 'GET', path, query, host: req.headers.host, headers: req.headers }, { domain: services.config.domain });
    if (probe) probe.op = endpoint.op;
    noteAccess(res, { operation: endpoint.op, bucket: 'bucket' in endpoint ? endpoint.bucket : undefined, key: 'key' in endpoint ? endpoint.key : undefined });
    // SigV2 (unless --no-sigv2; then SigV4's authenticate refuses it as AWS does).
    const v2 = services.config.sigv2 && isSigV2Request(req.headers.authorization, rawUrl);
    const accessKeyId = v2 ? sigV2AccessKeyId(req.headers.authorization, rawUrl) : signingAccessKeyId(req.headers.authorization, rawUrl);
    const reads = startReads(services, endpoint, query, accessKeyId);
    await services.prepareCredential(accessKeyId, reads?.iamVersion);
    const auth = v2
      ? authenticateV2(
        { method: req.method ?? 'GET', rawUrl, headers: req.headers, headersDistinct: req.headersDistinct },
        { lookup: services.lookup, virtualBucket: virtualHostBucket(req.headers.host, services.config.domain) },
      )
      : authenticate(
        { method: req.method ?? 'GET', rawUrl, headers: req.headers, rawHeaders: req.rawHeaders },
        { region: services.config.region, service: 's3', lookup: services.lookup },
      );
    await refuseMisroutedVirtualHost(req.headers.host, services.config.domain, async (b) => (await services.meta.getBucket(b)) !== undefined);
    const principal = auth.anonymous
      ? { arn: '*', accountId: '', userName: 'anonymous', kind: 'user' as const }
      : auth.credential.principal;
    noteAccess(res, { principal: principal.arn });
    const ctx: S3Context = {
      services, req, res, requestId, transport: transportOf(req), endpoint, query, path, auth, facts: requestFacts(req, query, auth, v2), principal, owner: ownerFor(services.accountId), reads,
    };
    await authorizeRequest(ctx); // anonymous requests too: a public bucket policy may allow them
    releaseBody(res); // Expect: 100-continue — only an authenticated, authorized request gets to send its body
    await dispatch(ctx, endpoint);
  } catch (e) {
    sendError(services, req, res, requestId, path, e);
  }
}

/**
 * A request on a bucket starts its first reads at once (PostgreSQL only: one round trip for
 * IAM's version, the bucket and, for a GET or HEAD of the current version, the object;
 * storage/request-reads.ts). Authentication and authorization still come first in what the
 * client is told: the reads only save the round trips.
 */
function startReads(services: S3Services, ep: Endpoint, query: URLSearchParams, accessKeyId: string | undefined): RequestReads | undefined {
  if (!services.requestReads || !('bucket' in ep) || ep.bucket === undefined) return undefined;
  // The object's row (and its bytes) only for an access key this node knows (the root's, or
  // one a request prepared before): an unknown key or an unsigned request, refused or not,
  // costs the database no object read ahead of its authentication.
  const known = accessKeyId !== undefined && services.lookup(accessKeyId) !== undefined;
  const object = known && (ep.op === 'GetObject' || ep.op === 'HeadObject') && !query.has('versionId') ? { key: ep.key, inline: ep.op === 'GetObject' } : undefined;
  return services.requestReads.start(ep.bucket, object);
}

/**
 * The request path, percent-decoded. A malformed escape (%ZZ) or bytes that are not UTF-8
 * (%FF) are AWS's InvalidURI: keeping the escape text as the key would write over the
 * object really named "bad%FF".
 */
function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    throw s3Error('InvalidURI');
  }
}

async function dispatch(ctx: S3Context, ep: Endpoint): Promise<void> {
  switch (ep.op) {
    case 'ListBuckets': return buckets.listBuckets(ctx);
    case 'CreateBucket': return buckets.createBucket(ctx, ep.bucket);
    case 'HeadBucket': return buckets.headBucket(ctx, ep.bucket);
    case 'DeleteBucket': return buckets.deleteBucket(ctx, ep.bucket);
    case 'GetBucketLocation': return buckets.getBucketLocation(ctx, ep.bucket);
    case 'GetBucketVersioning': return buckets.getBucketVersioning(ctx, ep.bucket);
    case 'PutBucketVersioning': return buckets.putBucketVersioning(ctx, ep.bucket);
    case 'GetBucketOwnershipControls': return ownership.getBucketOwnershipControls(ctx, ep.bucket);
    case 'PutBucketOwnershipControls': return ownership.putBucketOwnershipControls(ctx, ep.bucket);
    case 'DeleteBucketOwnershipControls': return ownership.deleteBucketOwnershipControls(ctx, ep.bucket);
    case 'PutPublicAccessBlock': return publicAccess.putPublicAccessBlock(ctx, ep.bucket);
    case 'GetPublicAccessBlock': return publicAccess.getPublicAccessBlock(ctx, ep.bucket);
    case 'DeletePublicAccessBlock': return publicAccess.deletePublicAccessBlock(ctx, ep.bucket);
    case 'PutBucketEncryption': return encryption.putBucketEncryption(ctx, ep.bucket);
    case 'GetBucketEncryption': return encryption.getBucketEncryption(ctx, ep.bucket);
    case 'DeleteBucketEncryption': return encryption.deleteBucketEncryption(ctx, ep.bucket);
    case 'PutBucketPolicy': return bucketPolicy.putBucketPolicy(ctx, ep.bucket);
    case 'GetBucketPolicy': return bucketPolicy.getBucketPolicy(ctx, ep.bucket);
    case 'DeleteBucketPolicy': return bucketPolicy.deleteBucketPolicy(ctx, ep.bucket);
    case 'GetBucketPolicyStatus': return bucketPolicy.getBucketPolicyStatus(ctx, ep.bucket);
    case 'PutBucketCors': return bucketCors.putBucketCors(ctx, ep.bucket);
    case 'GetBucketCors': return bucketCors.getBucketCors(ctx, ep.bucket);
    case 'DeleteBucketCors': return bucketCors.deleteBucketCors(ctx, ep.bucket);
    case 'PutBucketTagging': return bucketTagging.putBucketTagging(ctx, ep.bucket);
    case 'GetBucketTagging': return bucketTagging.getBucketTagging(ctx, ep.bucket);
    case 'DeleteBucketTagging': return bucketTagging.deleteBucketTagging(ctx, ep.bucket);
    case 'PutBucketLifecycleConfiguration': return bucketLifecycle.putBucketLifecycleConfiguration(ctx, ep.bucket);
    case 'GetBucketLifecycleConfiguration': return bucketLifecycle.getBucketLifecycleConfiguration(ctx, ep.bucket);
    case 'DeleteBucketLifecycle': return bucketLifecycle.deleteBucketLifecycle(ctx, ep.bucket);
    case 'GetBucketAcl': return acl.getBucketAcl(ctx, ep.bucket);
    case 'PutBucketAcl': return acl.putBucketAcl(ctx, ep.bucket);
    case 'PutObjectLockConfiguration': return objectLock.putObjectLockConfiguration(ctx, ep.bucket);
    case 'GetObjectLockConfiguration': return objectLock.getObjectLockConfiguration(ctx, ep.bucket);
    case 'PutObjectRetention': return objectLock.putObjectRetention(ctx, ep.bucket, ep.key);
    case 'GetObjectRetention': return objectLock.getObjectRetention(ctx, ep.bucket, ep.key);
    case 'PutObjectLegalHold': return objectLock.putObjectLegalHold(ctx, ep.bucket, ep.key);
    case 'GetObjectLegalHold': return objectLock.getObjectLegalHold(ctx, ep.bucket, ep.key);
    case 'ListObjects': return list.listObjects(ctx, ep.bucket);
    case 'ListObjectsV2': return list.listObjectsV2(ctx, ep.bucket);
    case 'ListMultipartUploads': return multipart.listMultipartUploads(ctx, ep.bucket);
    case 'ListObjectVersions': return versions.listObjectVersions(ctx, ep.bucket);
    case 'DeleteObjects': return del.deleteObjects(ctx, ep.bucket);
    case 'PostObject': return post.postObject(ctx, ep.bucket);
    case 'PutObject': return put.putObject(ctx, ep.bucket, ep.key);
    case 'CopyObject': return copy.copyObject(ctx, ep.bucket, ep.key);
    case 'GetObject': return get.getObject(ctx, ep.bucket, ep.key);
    case 'HeadObject': return get.headObject(ctx, ep.bucket, ep.key);
    case 'DeleteObject': return del.deleteObject(ctx, ep.bucket, ep.key);
    case 'GetObjectTagging': return tagging.getObjectTagging(ctx, ep.bucket, ep.key);
    case 'PutObjectTagging': return tagging.putObjectTagging(ctx, ep.bucket, ep.key);
    case 'DeleteObjectTagging': return tagging.deleteObjectTagging(ctx, ep.bucket, ep.key);
    case 'GetObjectAcl': return acl.getObjectAcl(ctx, ep.bucket, ep.key);
    case 'PutObjectAcl': return acl.putObjectAcl(ctx, ep.bucket, ep.key);
    case 'GetObjectAttributes': return attributes.getObjectAttributes(ctx, ep.bucket, ep.key);
    case 'CreateMultipartUpload': return multipart.createMultipartUpload(ctx, ep.bucket, ep.key);
    case 'UploadPart': return multipart.uploadPart(ctx, ep.bucket, ep.key, ep.uploadId, ep.partNumber);
    case 'UploadPartCopy': return multipart.uploadPartCopy(ctx, ep.bucket, ep.key, ep.uploadId, ep.partNumber);
    case 'CompleteMultipartUpload': return complete.completeMultipartUpload(ctx, ep.bucket, ep.key, ep.uploadId);
    case 'AbortMultipartUpload': return multipart.abortMultipartUpload(ctx, ep.bucket, ep.key, ep.uploadId);
    case 'ListParts': return multipart.listParts(ctx, ep.bucket, ep.key, ep.uploadId);
    case 'NotImplemented': throw notImplemented(ep.name);
    default: {
      // An Endpoint op without its case above is not `never` here: a compile error, not a request left unanswered.
      const unhandled: never = ep;
      throw new Error(`no dispatch for ${JSON.stringify(unhandled)}`);
    }
  }
}

export function sendError(services: S3Services, req: IncomingMessage, res: ServerResponse, requestId: string, path: string, e: unknown): void {
  let err: ServiceError;
  if (isServiceError(e)) {
    err = e;
  } else if (isStorageFull(e)) {
    services.log.error({ err: e, requestId }, 'out of disk space');
    err = s3Error('InsufficientStorage');
  } else if (isBlobTierUnavailable(e)) {
    services.log.error({ err: e, requestId }, 'blob backend unavailable');
    err = s3Error('ServiceUnavailable');
  } else if (isDatabaseUnavailable(e)) {
    services.log.error({ err: e, requestId }, 'metadata database unavailable');
    err = s3Error('ServiceUnavailable');
  } else {
    services.log.error({ err: e, requestId }, 'internal error');
    err = s3Error('InternalError');
  }
  noteAccess(res, { errorCode: err.code });
  if (res.headersSent) {
    // The body is already streaming: the only honest signal left is to cut the connection.
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...err.headers };
  if (err.status === 304 || req.method === 'HEAD') {
    res.writeHead(err.status, headers);
    res.end();
    return;
  }
  // No <Resource>: AWS's S3 error documents carry none (aws-recordings/s3-encryption.json).
  const body = Buffer.from(errorDocument(err, undefined, requestId, res.getHeader('x-amz-id-2') as string), 'utf8');
  res.writeHead(err.status, { ...headers, 'content-type': 'application/xml', 'content-length': String(body.length) });
  res.end(body);
}
