// The S3 condition keys of a request's signing and transport facts (http/request-facts.ts):
// s3:authType, s3:signatureversion, s3:signatureAge, s3:x-amz-content-sha256, s3:TlsVersion.

import type { RequestFacts } from '../http/request-facts.js';
import type { ContextValue } from '../iam/policy/index.js';

/** The condition keys of the facts (absent ones left out). */
export function factConditions(f: RequestFacts | undefined): Record<string, ContextValue> {
  if (!f) return {};
  return {
    's3:authType': f.authType,
    's3:signatureversion': f.signatureVersion,
    's3:signatureAge': f.signatureAge,
    's3:x-amz-content-sha256': f.contentSha256,
    's3:TlsVersion': f.tlsVersion,
  };
}
