// SigV2 (S3's "Signing and authenticating REST requests") string to sign:
//
//   StringToSign = VERB '\n' Content-MD5 '\n' Content-Type '\n' Date '\n'
//                  CanonicalizedAmzHeaders CanonicalizedResource
//   Signature    = base64(HMAC-SHA1(secret, UTF-8(StringToSign)))
//
// CanonicalizedAmzHeaders: every x-amz-* header, name lower-cased, sorted by name, values
// of repeated lines joined by ',' (no space), each value trimmed with folded whitespace
// as one space, one 'name:value\n' per header.
// CanonicalizedResource: '/' + bucket when the bucket is named by the Host header
// (virtual-hosted style), then the request path exactly as on the wire (not decoded),
// then the sub-resources the request carries, sorted by name, '?'-joined with '&', their
// values percent-decoded. Any other query parameter is not signed.

import { createHmac } from 'node:crypto';
import { percentDecode } from './canonical.js';

/**
 * The sub-resources clients sign: AWS's list in the SigV2 page plus those botocore's
 * HmacV1Auth signs (botocore is what AWS answers SigV2 requests from every day).
 */
export const SUBRESOURCES: ReadonlySet<string> = new Set([
  'accelerate', 'acl', 'analytics', 'cors', 'defaultObjectAcl', 'delete', 'inventory', 'lifecycle', 'location',
  'logging', 'metrics', 'notification', 'object-lock', 'partNumber', 'policy', 'replication', 'requestPayment',
  'response-cache-control', 'response-content-disposition', 'response-content-encoding', 'response-content-language',
  'response-content-type', 'response-expires', 'restore', 'select', 'select-type', 'storageClass', 'tagging', 'torrent',
  'uploadId', 'uploads', 'versionId', 'versioning', 'versions', 'website',
]);

/**
 * Sub-resources of newer S3 APIs that some SigV2 signers include (MinIO's clients, older
 * s3cmd) and botocore does not: a signature is accepted with them or without them.
 */
export const EXTENDED_SUBRESOURCES: ReadonlySet<string> = new Set([
  'attributes', 'encryption', 'legal-hold', 'ownershipControls', 'policyStatus', 'publicAccessBlock', 'retention',
]);

export interface StringToSignV2Parts {
  method: string;
  contentMd5: string;
  contentType: string;
  /** The Date header, '' when x-amz-date stands in for it, or a presigned URL's Expires. */
  date: string;
  /** lower-case x-amz-* name -> the values of each of its lines */
  amzHeaders: Map<string, string[]>;
  resource: string;
}

export function stringToSignV2(p: StringToSignV2Parts): string {
  let amz = '';
  for (const name of [...p.amzHeaders.keys()].sort()) {
    amz += `${name}:${p.amzHeaders.get(name)!.map(headerValue).join(',')}\n`;
  }
  return `${p.method}\n${p.contentMd5}\n${p.contentType}\n${p.date}\n${amz}${p.resource}`;
}

/** A header value as signed: folded and inner runs of whitespace become one space, ends trimmed. */
function headerValue(v: string): string {
  return v.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/**
 * The canonicalized resource of a raw request path and raw query string. `virtualBucket`
 * is the bucket a virtual-hosted Host header names; `extended` also signs
 * EXTENDED_SUBRESOURCES.
 */
export function canonicalResourceV2(rawPath: string, rawQuery: string, virtualBucket: string | undefined, extended: boolean): string {
  let out = (virtualBucket !== undefined ? '/' + virtualBucket : '') + (rawPath === '' ? '/' : rawPath);
  const subs: Array<[string, string]> = [];
  for (const part of rawQuery === '' ? [] : rawQuery.split('&')) {
    const eq = part.indexOf('=');
    // The name as the router reads it (decoded): an encoded `%76ersionId` must not escape the
    // signature while still acting as versionId.
    const name = percentDecode(eq < 0 ? part : part.slice(0, eq)).toString('utf8');
    if (!SUBRESOURCES.has(name) && !(extended && EXTENDED_SUBRESOURCES.has(name))) continue;
    subs.push([name, eq < 0 ? name : `${name}=${percentDecode(part.slice(eq + 1)).toString('utf8')}`]);
  }
  if (subs.length > 0) {
    // Stable sort by name only, as the signers do.
    subs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    out += '?' + subs.map((s) => s[1]).join('&');
  }
  return out;
}

/** True when the raw query names a sub-resource that only the extended list signs. */
export function hasExtendedSubresource(rawQuery: string): boolean {
  if (rawQuery === '') return false;
  return rawQuery.split('&').some((part) => EXTENDED_SUBRESOURCES.has(percentDecode(part.split('=', 1)[0]!).toString('utf8')));
}

export function signatureV2(secret: string, toSign: string): string {
  return createHmac('sha1', secret).update(toSign, 'utf8').digest('base64');
}
