// Fuzz target "sigv4": authenticate() over a request built from the input, with a
// credential lookup that knows one key and a fixed clock. Covers the Authorization
// header parser, presigned (query) authentication, the credential scope, the date and
// content-sha256 headers, and the canonical request (path and query decoding).
//
// Input, as text:  service \n method \n raw-url \n header-lines... \n \n body
// (a header line is "name: value"; a repeated name joins with ", " as Node does).
// Besides the corpus files, the seeds include requests signed with the known key, so
// mutations start from requests that pass every check up to the signature.

import type { IncomingHttpHeaders } from 'node:http';
import { authenticate } from '../../src/auth/sigv4.js';
import { presignUrl, signRequest } from '../../src/auth/sign.js';
import type { CredentialRecord } from '../../src/auth/types.js';
import type { FuzzTarget } from '../engine.js';
import { typedOutcome } from '../typed.js';

const KEY = 'AKIDEXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const REGION = 'us-east-1';
const NOW = new Date('2015-08-30T12:36:00Z');
const RECORD: CredentialRecord = {
  accessKeyId: KEY,
  secretAccessKey: SECRET,
  principal: { arn: 'arn:aws:iam::123456789012:root', accountId: '123456789012', userName: 'root', kind: 'root' },
};

export function parseRequest(data: Buffer): { service: string; method: string; rawUrl: string; headers: IncomingHttpHeaders; body?: Buffer } {
  const text = data.toString('latin1');
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text : text.slice(0, blank);
  const lines = head.split('\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(3)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return {
    service: lines[0] ?? '',
    method: lines[1] ?? '',
    rawUrl: lines[2] ?? '/',
    headers,
    body: blank < 0 ? undefined : data.subarray(Buffer.byteLength(head, 'latin1') + 2),
  };
}

function requestText(service: string, method: string, rawUrl: string, headers: Record<string, string>, body?: string): Buffer {
  const lines = [service, method, rawUrl, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(lines.join('\n') + (body === undefined ? '' : `\n\n${body}`), 'latin1');
}

function signedSeeds(): Buffer[] {
  const base = { accessKeyId: KEY, secretAccessKey: SECRET, region: REGION, now: NOW };
  const seeds: Buffer[] = [];
  for (const [service, method, rawUrl, payloadHash] of [
    ['s3', 'GET', '/bucket/key%20with%20space?list-type=2&prefix=a%2Fb', undefined],
    ['s3', 'PUT', '/bucket/object', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'],
    ['s3', 'PUT', '/bucket/object', 'UNSIGNED-PAYLOAD'],
    ['s3', 'PUT', '/bucket/object', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'],
  ] as const) {
    const s = signRequest({ ...base, method, rawUrl, service, headers: { host: 'example.amazonaws.com' }, payloadHash });
    seeds.push(requestText(service, method, rawUrl, s.headers));
  }
  const kms = signRequest({ ...base, method: 'POST', rawUrl: '/', service: 'kms', headers: { host: 'kms.example', 'x-amz-target': 'TrentService.ListKeys' } });
  seeds.push(requestText('kms', 'POST', '/', kms.headers, ''));
  const presigned = presignUrl({ ...base, method: 'GET', rawUrl: '/bucket/a/b.txt?versionId=null', service: 's3', headers: { host: 'example.amazonaws.com' }, expires: 3600 });
  seeds.push(requestText('s3', 'GET', presigned, { host: 'example.amazonaws.com' }));
  return seeds;
}

export const target: FuzzTarget = {
  name: 'sigv4',
  maxLen: 4096,
  seeds: signedSeeds,
  dictionary: [
    'AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256 ', 'Credential=', 'SignedHeaders=', 'Signature=', ', ', 'AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request',
    '/aws4_request', 'host;x-amz-date', ';', 'authorization: ', 'x-amz-date: ', '20150830T123600Z', 'x-amz-content-sha256: ', 'date: ',
    'UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'x-amz-security-token: ', 'host: ',
    'X-Amz-Algorithm=AWS4-HMAC-SHA256', '&X-Amz-Credential=', '&X-Amz-Date=', '&X-Amz-Expires=', '&X-Amz-SignedHeaders=host', '&X-Amz-Signature=',
    '&X-Amz-Security-Token=', '&X-Amz-Content-Sha256=', 'Signature=', 'AWSAccessKeyId=', '%2F', '%', '%zz', '%C3%A9', '+', '?', '&', '=', '/./', '/../', '//',
    '\n', '\n\n', 's3', 'kms', 'sts', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  ],
  run(data) {
    const r = parseRequest(data);
    try {
      const out = authenticate({ method: r.method, rawUrl: r.rawUrl, headers: r.headers, body: r.body }, { region: REGION, service: r.service, lookup: (id) => (id === KEY ? RECORD : undefined), now: NOW });
      return `ok: ${out.anonymous ? 'anonymous' : out.presigned ? 'presigned' : 'header'} ${out.payload.kind}`;
    } catch (e) {
      return typedOutcome(e, data.toString('latin1'));
    }
  },
};
