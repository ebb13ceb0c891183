// The client side of SigV4, for tests and for Coffer's own outgoing requests: signs
// a request with an Authorization header, presigns a URL, and signs aws-chunked
// chunks. It shares every canonical form with the verifier, so the verifier's tests
// pin it against AWS's published vectors and against the AWS SDK's own signer.

import {
  ALGORITHM,
  EMPTY_SHA256,
  canonicalHeaderValue,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  deriveSigningKey,
  parseQuery,
  signatureHex,
  stringToSign,
  uriEncode,
} from './canonical.js';
import { formatAmzDate } from './sigv4.js';

export interface SigningInput {
  method: string;
  /** path + optional '?query', percent-encoded as it will go on the wire */
  rawUrl: string;
  /** headers to sign; must include host */
  headers: Record<string, string>;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  service: string;
  now: Date;
  /** x-amz-content-sha256 value; defaults to the empty-body hash */
  payloadHash?: string;
}

export interface SignedHeaders {
  headers: Record<string, string>;
  signature: string;
  signingKey: Buffer;
  scope: string;
  amzDate: string;
}

/** Adds x-amz-date, x-amz-content-sha256 (S3), x-amz-security-token and Authorization to the headers. */
export function signRequest(input: SigningInput): SignedHeaders {
  const amzDate = formatAmzDate(input.now);
  const date = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  headers['x-amz-date'] = amzDate;
  const payloadHash = input.payloadHash ?? EMPTY_SHA256;
  if (input.service === 's3') headers['x-amz-content-sha256'] = payloadHash;
  if (input.sessionToken !== undefined) headers['x-amz-security-token'] = input.sessionToken;
  const names = Object.keys(headers).sort();
  const qi = input.rawUrl.indexOf('?');
  const canonical = canonicalRequest({
    method: input.method,
    uri: canonicalUri(qi < 0 ? input.rawUrl : input.rawUrl.slice(0, qi), input.service),
    query: canonicalQuery(parseQuery(qi < 0 ? '' : input.rawUrl.slice(qi + 1))),
    headers: names.map((n) => [n, canonicalHeaderValue(headers[n])]),
    signedHeaders: names.join(';'),
    payloadHash,
  });
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const signingKey = deriveSigningKey(input.secretAccessKey, date, input.region, input.service);
  const signature = signatureHex(signingKey, stringToSign(amzDate, scope, canonical));
  headers['authorization'] = `${ALGORITHM} Credential=${input.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return { headers, signature, signingKey, scope, amzDate };
}

/** A presigned request target (path + query with X-Amz-Signature) valid for `expires` seconds; `contentSha256` goes in the query and is signed as the payload hash. */
export function presignUrl(input: Omit<SigningInput, 'payloadHash'> & { expires: number; contentSha256?: string }): string {
  const amzDate = formatAmzDate(input.now);
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  const names = Object.keys(headers).sort();
  const qi = input.rawUrl.indexOf('?');
  const path = qi < 0 ? input.rawUrl : input.rawUrl.slice(0, qi);
  let query = qi < 0 ? '' : input.rawUrl.slice(qi + 1);
  const add = (name: string, value: string) => (query += (query === '' ? '' : '&') + `${name}=${uriEncode(value)}`);
  add('X-Amz-Algorithm', ALGORITHM);
  add('X-Amz-Credential', `${input.accessKeyId}/${scope}`);
  add('X-Amz-Date', amzDate);
  add('X-Amz-Expires', String(input.expires));
  if (input.contentSha256 !== undefined) add('X-Amz-Content-Sha256', input.contentSha256);
  if (input.sessionToken !== undefined) add('X-Amz-Security-Token', input.sessionToken);
  add('X-Amz-SignedHeaders', names.join(';'));
  const canonical = canonicalRequest({
    method: input.method,
    uri: canonicalUri(path, input.service),
    query: canonicalQuery(parseQuery(query)),
    headers: names.map((n) => [n, canonicalHeaderValue(headers[n])]),
    signedHeaders: names.join(';'),
    payloadHash: input.contentSha256 ?? (input.service === 's3' ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256),
  });
  const signingKey = deriveSigningKey(input.secretAccessKey, date, input.region, input.service);
  add('X-Amz-Signature', signatureHex(signingKey, stringToSign(amzDate, scope, canonical)));
  return `${path}?${query}`;
}

/** Signature of one aws-chunked chunk (data may be empty for the final chunk). */
export function chunkSignature(signingKey: Buffer, amzDate: string, scope: string, previousSignature: string, dataSha256Hex: string): string {
  return signatureHex(signingKey, `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previousSignature}\n${EMPTY_SHA256}\n${dataSha256Hex}`);
}

/** Signature of the trailer section; `trailerSha256Hex` hashes every trailer as "name:value\n". */
export function trailerSignature(signingKey: Buffer, amzDate: string, scope: string, previousSignature: string, trailerSha256Hex: string): string {
  return signatureHex(signingKey, `AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previousSignature}\n${trailerSha256Hex}`);
}
