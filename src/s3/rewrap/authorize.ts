// S3's authorization of a re-wrap, outside an S3 request: s3/authorization.ts's one
// decision, for the S3 actions a re-wrap stands for. A re-wrap reads the object's key
// (s3:GetObject, or s3:GetObjectVersion for a named version, with the object's tags as s3:ExistingObjectTag/*) and stores it again
// under another KMS key (s3:PutObject, with the SSE condition keys a PutObject under
// that key would carry), so a bucket policy that pins the KMS key of new objects also
// pins re-wraps; the signing facts (s3:signatureversion, ...) are those of the request
// that asked for the re-wrap.

import type { Caller } from '../../kms/service.js';
import { authorizeS3, type S3PolicySources } from '../authorization.js';
import type { StoredSse } from '../sse/object-keys.js';
import type { RequestFacts } from '../../http/request-facts.js';

/** Throws AccessDenied (403, S3's wording naming the action) unless the signer may both read and rewrite the object. */
export async function authorizeRewrap(
  sources: S3PolicySources, caller: Caller, target: { bucket: string; key: string; toKeyId: string; versionId?: string }, sse: StoredSse | undefined,
  facts?: RequestFacts,
): Promise<void> {
  await authorizeS3(sources, {
    principal: caller.principal,
    bucket: target.bucket,
    key: target.key,
    versionId: target.versionId,
    transport: { secure: caller.secureTransport, sourceIp: caller.sourceIp },
    facts,
    checks: [
      // A named version is read as S3 reads one: s3:GetObjectVersion.
      { action: target.versionId === undefined ? 's3:GetObject' : 's3:GetObjectVersion', existingObjectTags: true },
      {
        action: 's3:PutObject',
        conditions: {
          's3:x-amz-server-side-encryption': sse?.alg === 'aws:kms:dsse' ? 'aws:kms:dsse' : 'aws:kms',
          's3:x-amz-server-side-encryption-aws-kms-key-id': target.toKeyId,
        },
      },
    ],
  });
}
