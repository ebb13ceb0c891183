// ListObjectsV2 (current objects) and ListObjectVersions (every version) pages of a
// bucket for CLI commands, over a SignedClient: keys come url-encoded (encoding-type=url)
// so any key survives XML, and a failure becomes a CliError that says what to fix.

import { XMLParser } from 'fast-xml-parser';
import { CliError } from './output.js';
import type { HttpReply, SignedClient } from './signed-client.js';

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  /** Listed by listVersionPages: the version (delete markers are not listed). */
  versionId?: string;
}

/** A place in a version listing: after this key, and when given after this version of it. */
export interface VersionPosition {
  key: string;
  versionId?: string;
}

const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: true, isArray: (name) => name === 'Contents' || name === 'Version' });
const decodeKey = (k: string) => decodeURIComponent(String(k).replace(/\+/g, ' '));

/** Pages of objects under `prefix`, in S3's key order, strictly after `startAfter`. */
export async function* listObjectPages(client: SignedClient, bucket: string, prefix: string, startAfter?: string): AsyncGenerator<ListedObject[]> {
  let token: string | undefined;
  for (;;) {
    const reply = await client.s3('GET', [bucket], {
      'list-type': '2', 'encoding-type': 'url', prefix: prefix || undefined, 'max-keys': '1000',
      ...(token ? { 'continuation-token': token } : { 'start-after': startAfter }),
    });
    if (reply.status !== 200) throw listingError(bucket, reply);
    const doc = parser.parse(reply.body) as { ListBucketResult?: { Contents?: { Key: string; Size: string; ETag: string }[]; IsTruncated?: string; NextContinuationToken?: string } };
    const result = doc.ListBucketResult ?? {};
    yield (result.Contents ?? []).map((c) => ({ key: decodeKey(c.Key), size: Number(c.Size), etag: String(c.ETag) }));
    if (result.IsTruncated !== 'true' || !result.NextContinuationToken) return;
    token = result.NextContinuationToken;
  }
}

/** Pages of every object version under `prefix` (no delete markers), by key then newest first, strictly after `after`. */
export async function* listVersionPages(client: SignedClient, bucket: string, prefix: string, after?: VersionPosition): AsyncGenerator<ListedObject[]> {
  let marker = after;
  for (;;) {
    const reply = await client.s3('GET', [bucket], {
      versions: '', 'encoding-type': 'url', prefix: prefix || undefined, 'max-keys': '1000',
      'key-marker': marker?.key, 'version-id-marker': marker?.key !== undefined ? marker.versionId : undefined,
    });
    if (reply.status !== 200) throw listingError(bucket, reply);
    type Entry = { Key: string; VersionId: string; Size: string; ETag: string };
    const doc = parser.parse(reply.body) as { ListVersionsResult?: { Version?: Entry[]; IsTruncated?: string; NextKeyMarker?: string; NextVersionIdMarker?: string } };
    const result = doc.ListVersionsResult ?? {};
    yield (result.Version ?? []).map((v) => ({ key: decodeKey(v.Key), size: Number(v.Size), etag: String(v.ETag), versionId: String(v.VersionId) }));
    if (result.IsTruncated !== 'true' || result.NextKeyMarker === undefined) return;
    marker = { key: decodeKey(result.NextKeyMarker), ...(result.NextVersionIdMarker !== undefined ? { versionId: String(result.NextVersionIdMarker) } : {}) };
  }
}

/** S3's error body as code and message. */
export function s3ErrorOf(reply: HttpReply): { code: string; message: string } {
  try {
    const e = (parser.parse(reply.body) as { Error?: { Code?: string; Message?: string } }).Error;
    if (e?.Code) return { code: String(e.Code), message: String(e.Message ?? '') };
  } catch {
    /* not XML */
  }
  return { code: `HTTP ${reply.status}`, message: reply.body.slice(0, 200) };
}

const LISTING_HINTS: Record<string, string> = {
  NoSuchBucket: 'check the bucket name (coffer rekey --bucket NAME)',
  AccessDenied: 'the principal needs s3:ListBucketVersions on the bucket to list every version (s3:ListBucket with --current-only)',
  InvalidAccessKeyId: 'AWS_ACCESS_KEY_ID is not an access key of this server',
  SignatureDoesNotMatch: 'check AWS_SECRET_ACCESS_KEY, and --region if the server does not run in us-east-1',
  ExpiredToken: 'the temporary credentials expired: get new ones',
};

function listingError(bucket: string, reply: HttpReply): CliError {
  const { code, message } = s3ErrorOf(reply);
  return new CliError(`cannot list s3://${bucket}: ${code}: ${message}`, LISTING_HINTS[code]);
}
