// POST /_coffer/api/objects/rewrap: re-wraps one object's key under another KMS key
// (rewrap-object.ts), for `coffer rekey`. The route needs no administration action of
// its own: what it does is authorized as S3 (s3:GetObject and s3:PutObject on the
// object) and as KMS (kms:ReEncryptFrom on the current key, kms:ReEncryptTo on the
// target, via S3), for the signer, and KMS audits the ReEncrypt under the signer.
//
//   request   {"bucket": B, "key": K, "versionId"?: V, "toKeyId": T, "fromKeyId"?: F, "expectedETag"?: E, "convertSseS3"?: bool,
//              "bypassGovernanceRetention"?: bool}
//   response  {"status": "rewrapped" | "converted" | "unchanged" | "skipped" | "changed", "size": n,
//              "keyId"?: ARN, "previousKeyId"?: ARN, "reason"?: "unencrypted" | "sse-s3" | "sse-c" | "other-source-key" | "object-lock"}
//   lock      a version under a legal hold or an unexpired COMPLIANCE retention is "skipped" with
//             reason "object-lock" (not re-wrapped, not converted); under an unexpired GOVERNANCE
//             retention too, unless bypassGovernanceRetention: true and the signer is allowed
//             s3:BypassGovernanceRetention, and with the flag but not that permission it is S3's
//             AccessDenied ("Access Denied because object protected by object lock."), as a delete
//             with the bypass header answers (lock.ts). Checked again in the commit's transaction.
//   preflight {"check": true, "toKeyId": T, "fromKeyId"?: F} → {"toKeyId": ARN, "fromKeyId"?: ARN}:
//             the keys resolved and the target usable, authorized as kms:DescribeKey on each
//             key for the signer (see resolveRewrapKeys): without it, AccessDeniedException
//             whether or not the key exists
//   errors    {"__type": code, "message": text}: KMS's codes as KMS answers them
//             (AccessDeniedException naming the kms action, NotFoundException, DisabledException ...),
//             S3's AccessDenied, NoSuchBucket, NoSuchKey, NoSuchVersion; ValidationException for a bad body

import { ServiceError } from '../../errors.js';
import type { Caller } from '../../kms/service.js';
import type { RequestFacts } from '../../http/request-facts.js';
import { resolveRewrapKeys, rewrapObject, type RewrapDeps, type RewrapRequest } from './rewrap-object.js';

export const REWRAP_ROUTE_PATH = 'objects/rewrap';

/**
 * The route as the administration API (src/admin/, an AdminRoute there) takes it: s3/ does
 * not import the layer above it, so this states only what the route uses, and the
 * compiler checks the fit where app.ts adds it.
 */
export interface RewrapRoute {
  method: 'POST';
  path: string;
  action: string | null;
  run(r: { caller: Caller; facts: RequestFacts; json(): Record<string, unknown> }): Promise<unknown>;
}

export function rewrapRoute(deps: RewrapDeps): RewrapRoute {
  return {
    method: 'POST',
    path: REWRAP_ROUTE_PATH,
    action: null,
    async run(r) {
      const body = r.json();
      if (body.check === true) {
        const req = parseRequest({ ...body, bucket: '-', key: '-' });
        return resolveRewrapKeys(deps, r.caller, req.toKeyId, req.fromKeyId);
      }
      return rewrapObject(deps, r.caller, parseRequest(body), r.facts);
    },
  };
}

const invalid = (message: string): ServiceError => new ServiceError('ValidationException', message, 400);

function parseRequest(body: Record<string, unknown>): RewrapRequest {
  const str = (name: string, required: boolean): string | undefined => {
    const v = body[name];
    if (v === undefined || v === null) {
      if (required) throw invalid(`${name} is required.`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) throw invalid(`${name} must be a non-empty string.`);
    return v;
  };
  const req: RewrapRequest = { bucket: str('bucket', true)!, key: str('key', true)!, toKeyId: str('toKeyId', true)! };
  const from = str('fromKeyId', false);
  if (from !== undefined) req.fromKeyId = from;
  const etag = str('expectedETag', false);
  if (etag !== undefined) req.expectedETag = etag;
  const versionId = str('versionId', false);
  if (versionId !== undefined) req.versionId = versionId;
  if (body.convertSseS3 !== undefined) {
    if (typeof body.convertSseS3 !== 'boolean') throw invalid('convertSseS3 must be true or false.');
    req.convertSseS3 = body.convertSseS3;
  }
  if (body.bypassGovernanceRetention !== undefined) {
    if (typeof body.bypassGovernanceRetention !== 'boolean') throw invalid('bypassGovernanceRetention must be true or false.');
    req.bypassGovernanceRetention = body.bypassGovernanceRetention;
  }
  return req;
}
