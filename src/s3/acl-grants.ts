// ACL grants as a source of S3 authorization, after AWS's "Mapping of ACL permissions and
// access policy permissions": which ACL permission, on the bucket's ACL or the object's,
// stands for each S3 action; and which grantees a caller is. authorization.ts asks only when
// no policy allowed the action and none denied it explicitly (explicit deny wins).
//
//   bucket ACL  READ       s3:ListBucket, s3:ListBucketVersions, s3:ListBucketMultipartUploads
//               WRITE      s3:PutObject, s3:DeleteObject, s3:DeleteObjectVersion (on the bucket's objects)
//               READ_ACP   s3:GetBucketAcl
//               WRITE_ACP  s3:PutBucketAcl
//   object ACL  READ       s3:GetObject, s3:GetObjectVersion
//               READ_ACP   s3:GetObjectAcl, s3:GetObjectVersionAcl
//               WRITE_ACP  s3:PutObjectAcl, s3:PutObjectVersionAcl
//   (an object version's own ACL for the version actions)
//   FULL_CONTROL stands for all four permissions of its ACL.
//
// ACLs grant nothing on a BucketOwnerEnforced bucket; under IgnorePublicAcls grants to
// AllUsers and AuthenticatedUsers grant nothing. Grantees: AllUsers is everyone;
// AuthenticatedUsers any signed caller; a canonical user id the principal it names
// (iam/canonical-user.ts) — the account's own id is the root's (as in AWS, a grant to the
// account does not reach its IAM users without their own policies).

import type { Principal } from '../auth/types.js';
import { principalCanonicalId } from '../iam/canonical-user.js';
import type { BucketRecord, MetadataStore } from '../storage/types.js';
import { ACL_ITEM, ALL_USERS, AUTHENTICATED_USERS, type AclGrant, type AclPermission, grantsOf, isPublicGrantee } from './acl.js';
import { aclsEnabled } from './ownership.js';
import { publicAccessBlockOf } from './public-access-block.js';

const ON_BUCKET: Record<string, AclPermission> = {
  's3:ListBucket': 'READ', 's3:ListBucketVersions': 'READ', 's3:ListBucketMultipartUploads': 'READ',
  's3:PutObject': 'WRITE', 's3:DeleteObject': 'WRITE', 's3:DeleteObjectVersion': 'WRITE', 's3:GetBucketAcl': 'READ_ACP', 's3:PutBucketAcl': 'WRITE_ACP',
};
const ON_OBJECT: Record<string, AclPermission> = {
  's3:GetObject': 'READ', 's3:GetObjectAcl': 'READ_ACP', 's3:PutObjectAcl': 'WRITE_ACP',
  's3:GetObjectVersion': 'READ', 's3:GetObjectVersionAcl': 'READ_ACP', 's3:PutObjectVersionAcl': 'WRITE_ACP',
};

/**
 * The reason an ACL allows `action` on the bucket (key undefined) or one of its objects,
 * or undefined when none does. Reads the object's record only for object permissions.
 */
export async function aclAllows(
  meta: Pick<MetadataStore, 'getObjectVersion'>, bucket: BucketRecord, principal: Principal | undefined, action: string, key: string | undefined,
  versionId?: string,
): Promise<string | undefined> {
  if (!aclsEnabled(bucket)) return undefined;
  const onObject = key !== undefined ? ON_OBJECT[action] : undefined;
  const permission = onObject ?? ON_BUCKET[action];
  if (permission === undefined) return undefined;
  let grants: AclGrant[] | undefined;
  if (onObject) {
    const obj = await meta.getObjectVersion(bucket.name, key!, versionId);
    if (!obj || obj.deleteMarker) return undefined;
    grants = grantsOf(obj.sys[ACL_ITEM]);
  } else {
    grants = grantsOf(bucket.config[ACL_ITEM]);
  }
  if (!grants) return undefined; // private: the owner only, and the owner is the root
  const ignorePublic = publicAccessBlockOf(bucket)?.ignorePublicAcls === true;
  const me = principal && principalCanonicalId(principal);
  const granted = grants.some((g) => {
    if (g.permission !== permission && g.permission !== 'FULL_CONTROL') return false;
    if (ignorePublic && isPublicGrantee(g.grantee)) return false;
    if (g.grantee.type === 'CanonicalUser') return g.grantee.id === me;
    return g.grantee.uri === ALL_USERS || (g.grantee.uri === AUTHENTICATED_USERS && principal !== undefined);
  });
  return granted ? `allowed by the ${onObject ? 'object' : 'bucket'} ACL's ${permission} grant` : undefined;
}
