// A bucket's S3 Object Ownership, stored in its config ("ownership") as
// {"v":1,"objectOwnership":"ObjectWriter"} — or {"v":1,"objectOwnership":null} once
// DeleteBucketOwnershipControls removed it, which AWS treats as ObjectWriter (ACLs on).
// Buckets made before Coffer stored ownership have no item: they were BucketOwnerEnforced
// and stay so. Under BucketOwnerEnforced ACLs are disabled: only the owner-only ACL is
// accepted and no ACL grants anything (acl-grants.ts).

import type { BucketRecord } from '../storage/types.js';
import { s3Error } from './errors.js';
import { childArray, childText, parseXmlRoot } from './xml.js';

export type ObjectOwnership = 'BucketOwnerEnforced' | 'BucketOwnerPreferred' | 'ObjectWriter';
export const OWNERSHIP_ITEM = 'ownership';
const SETTINGS: ReadonlySet<string> = new Set<ObjectOwnership>(['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter']);

export function isObjectOwnership(v: string): v is ObjectOwnership {
  return SETTINGS.has(v);
}

/** The stored setting; null after DeleteBucketOwnershipControls. */
export function ownershipOf(b: BucketRecord): ObjectOwnership | null {
  const raw = b.config[OWNERSHIP_ITEM];
  if (raw === undefined) return 'BucketOwnerEnforced';
  const v = JSON.parse(raw) as { v?: number; objectOwnership?: string | null };
  if (v.v !== 1) throw new Error('unknown stored ownership version');
  return v.objectOwnership === null || v.objectOwnership === undefined || !isObjectOwnership(v.objectOwnership) ? null : v.objectOwnership;
}

/** Do ACLs apply on this bucket (any ownership but BucketOwnerEnforced)? */
export function aclsEnabled(b: BucketRecord): boolean {
  return ownershipOf(b) !== 'BucketOwnerEnforced';
}

export function storedOwnership(o: ObjectOwnership | null): string {
  return JSON.stringify({ v: 1, objectOwnership: o });
}

/** PutBucketOwnershipControls' body: exactly one rule naming a known setting; MalformedXML otherwise. */
export function parseOwnershipControls(body: Buffer): ObjectOwnership {
  const doc = parseXmlRoot(body, 'OwnershipControls');
  const rules = childArray(doc, 'Rule');
  if (rules.length !== 1) throw s3Error('MalformedXML');
  const v = childText(rules[0]!, 'ObjectOwnership');
  if (v === undefined || !isObjectOwnership(v)) throw s3Error('MalformedXML');
  return v;
}
