// A bucket's S3 Block Public Access settings, stored in its config ("publicAccessBlock") as
// {"v":1,"blockPublicAcls":true,...}. New buckets get all four on, as AWS creates them;
// no item means no block (DeletePublicAccessBlock, or a bucket made before Coffer had it).
// What each setting does, and where:
//   BlockPublicAcls        refuse requests that set a public ACL (acl-request.ts)
//   IgnorePublicAcls       public grants allow nothing (acl-grants.ts)
//   BlockPublicPolicy      refuse PutBucketPolicy of a public policy (ops/bucket-policy.ts)
//   RestrictPublicBuckets  a public bucket policy allows no anonymous caller (authorization.ts)
// "Public" is AWS's meaning: isPublicAcl (acl.ts) and isPublicPolicy (bucket-policy.ts).

import type { PolicyDocument } from '../iam/policy/index.js';
import type { BucketRecord } from '../storage/types.js';
import { isPublicPolicy } from './bucket-policy.js';
import { s3Error } from './errors.js';
import { childText, parseXmlRoot, text, xmlDocument } from './xml.js';

export interface PublicAccessBlock {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}

export const PUBLIC_ACCESS_BLOCK_ITEM = 'publicAccessBlock';
export const NEW_BUCKET_BLOCK: PublicAccessBlock = { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true };

export function publicAccessBlockOf(b: BucketRecord): PublicAccessBlock | undefined {
  const raw = b.config[PUBLIC_ACCESS_BLOCK_ITEM];
  if (raw === undefined) return undefined;
  const { v, ...settings } = JSON.parse(raw) as PublicAccessBlock & { v?: number };
  if (v !== 1) throw new Error('unknown stored public access block version');
  return settings;
}

export function storedPublicAccessBlock(p: PublicAccessBlock): string {
  return JSON.stringify({ v: 1, ...p });
}

const ELEMENTS: [keyof PublicAccessBlock, string][] = [
  ['blockPublicAcls', 'BlockPublicAcls'], ['ignorePublicAcls', 'IgnorePublicAcls'],
  ['blockPublicPolicy', 'BlockPublicPolicy'], ['restrictPublicBuckets', 'RestrictPublicBuckets'],
];

/** PutPublicAccessBlock's body: each setting true or false, an omitted one false. */
export function parsePublicAccessBlock(body: Buffer): PublicAccessBlock {
  const doc = parseXmlRoot(body, 'PublicAccessBlockConfiguration');
  const out = { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false };
  for (const [field, name] of ELEMENTS) {
    const v = childText(doc, name)?.trim().toLowerCase();
    if (v === undefined) continue;
    if (v !== 'true' && v !== 'false') throw s3Error('MalformedXML');
    out[field] = v === 'true';
  }
  return out;
}

export function publicAccessBlockDocument(p: PublicAccessBlock): string {
  return xmlDocument('PublicAccessBlockConfiguration', ELEMENTS.map(([field, name]) => text(name, p[field])).join(''));
}

/**
 * The bucket policy as an anonymous caller is judged by it: under RestrictPublicBuckets a
 * public policy keeps only its Deny statements (they can still refuse; nothing allows).
 */
export function policyForAnonymous(b: BucketRecord, policy: PolicyDocument | undefined): PolicyDocument | undefined {
  if (!policy || !publicAccessBlockOf(b)?.restrictPublicBuckets || !isPublicPolicy(policy)) return policy;
  return { ...policy, statements: policy.statements.filter((s) => s.effect === 'Deny') };
}
