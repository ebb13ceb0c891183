// Every error the auth layer can send, with AWS S3's wire code, HTTP status and
// message, in one place. Callers serialize them (S3 XML, KMS JSON); nothing here
// ever carries a secret or a signing key.

import { ServiceError } from '../errors.js';

export const MAX_SKEW_MS = 900_000;

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your key and signing method.';

export function invalidAccessKeyId(accessKeyId: string): ServiceError {
  return new ServiceError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403, { AWSAccessKeyId: accessKeyId });
}

export function signatureDoesNotMatch(accessKeyId: string, stringToSign: string, provided: string, canonicalRequest: string): ServiceError {
  return new ServiceError('SignatureDoesNotMatch', SIGNATURE_MISMATCH, 403, {
    AWSAccessKeyId: accessKeyId,
    StringToSign: stringToSign,
    SignatureProvided: provided,
    StringToSignBytes: hexBytes(stringToSign),
    CanonicalRequest: canonicalRequest,
  });
}

/** A chunk or trailer of an aws-chunked body whose signature is wrong (no canonical request exists for it). */
export function chunkSignatureDoesNotMatch(stringToSign: string, provided: string): ServiceError {
  return new ServiceError('SignatureDoesNotMatch', SIGNATURE_MISMATCH, 403, { StringToSign: stringToSign, SignatureProvided: provided });
}

export function requestTimeTooSkewed(requestTime: string, now: Date, maxSkewMs: number): ServiceError {
  return new ServiceError('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', 403, {
    RequestTime: requestTime,
    ServerTime: now.toISOString(),
    MaxAllowedSkewMilliseconds: String(maxSkewMs),
  });
}

export function accessDenied(message = 'Access Denied', fields: Record<string, string> = {}): ServiceError {
  return new ServiceError('AccessDenied', message, 403, fields);
}

export function headersNotSigned(names: string[]): ServiceError {
  return accessDenied('There were headers present in the request which were not signed', { HeadersNotSigned: names.join(', ') });
}

export function authorizationHeaderMalformed(detail: string, fields: Record<string, string> = {}): ServiceError {
  return new ServiceError('AuthorizationHeaderMalformed', `The authorization header is malformed; ${detail}`, 400, fields);
}

export function authorizationQueryParametersError(message: string, fields: Record<string, string> = {}): ServiceError {
  return new ServiceError('AuthorizationQueryParametersError', message, 400, fields);
}

export function invalidArgument(message: string, name: string, value: string): ServiceError {
  return new ServiceError('InvalidArgument', message, 400, { ArgumentName: name, ArgumentValue: value });
}

export function invalidRequest(message: string): ServiceError {
  return new ServiceError('InvalidRequest', message, 400);
}

export function unsupportedAuthorization(): ServiceError {
  return invalidRequest('The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
}

export function invalidToken(): ServiceError {
  return new ServiceError('InvalidToken', 'The provided token is malformed or otherwise invalid.', 400);
}

export function expiredToken(): ServiceError {
  return new ServiceError('ExpiredToken', 'The provided token has expired.', 400);
}

export function contentSha256Mismatch(clientComputed: string, s3Computed: string): ServiceError {
  return new ServiceError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400, {
    ClientComputedContentSHA256: clientComputed,
    S3ComputedContentSHA256: s3Computed,
  });
}

export function incompleteBody(): ServiceError {
  return new ServiceError('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header', 400);
}

export function invalidChunkSize(chunk: number, badChunkSize: number): ServiceError {
  return new ServiceError('InvalidChunkSizeError', 'Only the last chunk is allowed to have a size less than 8192 bytes', 403, {
    Chunk: String(chunk),
    BadChunkSize: String(badChunkSize),
  });
}

export function malformedTrailer(): ServiceError {
  return new ServiceError('MalformedTrailerError', 'The request contained trailing data that was not well-formed or did not conform to our published schema.', 400);
}

/** aws-chunked framing that cannot be parsed; the message names what was wrong. */
export function malformedChunk(detail: string): ServiceError {
  return invalidRequest(`Malformed aws-chunked body: ${detail}`);
}

function hexBytes(s: string): string {
  const b = Buffer.from(s, 'utf8');
  let out = '';
  for (let i = 0; i < b.length; i++) out += (i ? ' ' : '') + b[i]!.toString(16).padStart(2, '0');
  return out;
}

// ---- SigV2 (sigv2.ts, post-policy-v2.ts) ----------------------------------------

/** A SigV2 mismatch: AWS returns the string it signed, its bytes and the signature given (no canonical request in V2). */
export function signatureDoesNotMatchV2(accessKeyId: string, stringToSign: string, provided: string): ServiceError {
  return new ServiceError('SignatureDoesNotMatch', SIGNATURE_MISMATCH, 403, {
    AWSAccessKeyId: accessKeyId,
    StringToSign: stringToSign,
    SignatureProvided: provided,
    StringToSignBytes: hexBytes(stringToSign),
  });
}

export function sigV2HeaderMalformed(authorization: string): ServiceError {
  return invalidArgument('AWS authorization header is invalid.  Expected AwsAccessKeyId:signature', 'Authorization', authorization);
}

export function sigV2QueryIncomplete(): ServiceError {
  return accessDenied('Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters');
}

export function sigV2InvalidExpires(expires: string): ServiceError {
  return accessDenied(`Invalid date (should be seconds since epoch): ${expires}`);
}
