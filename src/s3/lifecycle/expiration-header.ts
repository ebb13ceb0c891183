// x-amz-expiration: what GET, HEAD, PUT, CopyObject and CompleteMultipartUpload tell a client
// about the current version they read or wrote when an enabled Expiration rule (Days or Date)
// of its bucket applies to it — when it expires and by which rule:
//
//   x-amz-expiration: expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"
//
// The rule id is URL-encoded, as AWS documents; with several rules the earliest expiry wins
// (AWS applies the least costly, earliest action). ExpiredObjectDeleteMarker rules, noncurrent
// rules and upload rules say nothing here.

import type { BucketRecord, ObjectRecord } from '../../storage/types.js';
import { s3UrlEncode } from '../url-encoding.js';
import { expiryOf, filterMatches, lifecycleOf } from './rules.js';

export function expirationHeaders(b: Pick<BucketRecord, 'config'>, rec: Pick<ObjectRecord, 'key' | 'size' | 'tags' | 'lastModified' | 'deleteMarker'>): Record<string, string> {
  const config = lifecycleOf(b);
  if (!config || rec.deleteMarker) return {};
  let best: { at: number; id: string } | undefined;
  for (const r of config.rules) {
    if (!r.enabled || !filterMatches(r.filter, rec)) continue;
    const at = expiryOf(r, rec.lastModified);
    if (at !== undefined && (best === undefined || at < best.at)) best = { at, id: r.id };
  }
  if (!best) return {};
  return { 'x-amz-expiration': `expiry-date="${new Date(best.at).toUTCString()}", rule-id="${s3UrlEncode(best.id)}"` };
}
