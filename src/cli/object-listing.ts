// ListObjectsV2 pages of a bucket for CLI commands, over a SignedClient: keys come
// url-encoded (encoding-type=url) so any key survives XML, and a failure becomes a
// CliError that says what to fix.

import { XMLParser } from 'fast-xml-parser';
import { CliError } from './output.js';
import type { HttpReply, SignedClient } from './signed-client.js';

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
}

const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: true, isArray: (name) => name === 'Contents' });

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
    yield (result.Contents ?? []).map((c) => ({ key: decodeURIComponent(String(c.Key).replace(/\+/g, ' ')), size: Number(c.Size), etag: String(c.ETag) }));
    if (result.IsTruncated !== 'true' || !result.NextContinuationToken) return;
    token = result.NextContinuationToken;
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
  AccessDenied: 'the principal needs s3:ListBucket on the bucket to list what to re-wrap',
  InvalidAccessKeyId: 'AWS_ACCESS_KEY_ID is not an access key of this server',
  SignatureDoesNotMatch: 'check AWS_SECRET_ACCESS_KEY, and --region if the server does not run in us-east-1',
  ExpiredToken: 'the temporary credentials expired: get new ones',
};

function listingError(bucket: string, reply: HttpReply): CliError {
  const { code, message } = s3ErrorOf(reply);
  return new CliError(`cannot list s3://${bucket}: ${code}: ${message}`, LISTING_HINTS[code]);
}
