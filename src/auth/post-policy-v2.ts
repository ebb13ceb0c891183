// Browser POST uploads signed with SigV2 ("Browser-based uploads using POST (AWS
// signature version 2)"), as boto3's generate_presigned_post makes them with
// signature_version 's3': the form carries AWSAccessKeyId, policy (base64 JSON) and
// signature = base64(HMAC-SHA1(secret, policy-as-base64)); temporary credentials add
// x-amz-security-token. The policy itself (expiration, conditions) is the same document
// as SigV4's: post-policy.ts parses and checks it.

import { accessDenied, invalidAccessKeyId, invalidArgument, signatureDoesNotMatchV2 } from './errors.js';
import { parsePolicy, type PostPolicy } from './post-policy.js';
import { checkToken } from './sigv2.js';
import { signatureV2 } from './sigv2-canonical.js';
import { constantTimeEqual } from './sigv4.js';
import type { CredentialLookup, CredentialRecord } from './types.js';

/** The form fields (lower-case) that carry a SigV2 signature and need no policy condition. */
export const SIGV2_FORM_FIELDS: readonly string[] = ['awsaccesskeyid', 'signature'];

/** A form signed with SigV2: AWSAccessKeyId or signature without SigV4's x-amz-algorithm. */
export function isSigV2Form(fields: Record<string, string>): boolean {
  return fields['x-amz-algorithm'] === undefined && (fields['signature'] !== undefined || fields['awsaccesskeyid'] !== undefined);
}

export function verifyPostPolicyV2(
  fields: Record<string, string>,
  opts: { lookup: CredentialLookup; now?: Date },
): { credential: CredentialRecord; policy: PostPolicy } {
  for (const name of ['awsaccesskeyid', 'policy', 'signature']) {
    if (fields[name] === undefined) {
      const shown = name === 'awsaccesskeyid' ? 'AWSAccessKeyId' : name;
      throw invalidArgument(`Bucket POST must contain a field named '${shown}'.  If it is specified, please check the order of the fields.`, shown, '');
    }
  }
  const accessKeyId = fields['awsaccesskeyid']!;
  const policyB64 = fields['policy']!;
  const provided = fields['signature']!;
  const credential = opts.lookup(accessKeyId);
  if (!credential) throw invalidAccessKeyId(accessKeyId);
  const now = opts.now ?? new Date();
  checkToken(credential, fields['x-amz-security-token'], now);
  if (!constantTimeEqual(signatureV2(credential.secretAccessKey, policyB64), provided)) {
    throw signatureDoesNotMatchV2(accessKeyId, policyB64, provided);
  }
  const policy = parsePolicy(policyB64);
  if (now.getTime() > policy.expiration.getTime()) throw accessDenied('Invalid according to Policy: Policy expired.');
  return { credential, policy };
}

/** The fields a SigV2 form's policy conditions are checked against: its own auth fields need none. */
export function withoutSigV2Fields(fields: Record<string, string>): Record<string, string> {
  const out = { ...fields };
  for (const name of SIGV2_FORM_FIELDS) delete out[name];
  return out;
}
