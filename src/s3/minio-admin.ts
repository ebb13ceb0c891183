// `mc admin ...` calls MinIO's administration API under /minio/admin/ (signed with an empty
// region, which SigV4 verification would answer as a malformed credential). Coffer does not
// implement it; the client is told so, and where users and policies are managed instead.
// Only when no bucket is named `minio`: otherwise the path is an ordinary object key.

import { s3Error } from './errors.js';

const PREFIX = '/minio/admin/';

/** Refuses a path-style request under /minio/admin/ as NotImplemented, unless bucket `minio` exists. */
export async function refuseMinioAdmin(path: string, virtualBucket: string | undefined, bucketExists: (name: string) => Promise<boolean>): Promise<void> {
  if (virtualBucket !== undefined || !path.startsWith(PREFIX) || (await bucketExists('minio'))) return;
  throw s3Error(
    'NotImplemented',
    {},
    'The MinIO administration API (mc admin, /minio/admin/) is not implemented by Coffer: manage users, groups and policies with the AWS IAM API (aws iam ...), the coffer user command or the web console at /console.',
  );
}
