// SigV2 against AWS's published examples (test/vectors/sigv2/, from the S3 page "Signing
// and authenticating REST requests"), then the checks around them: the Authorization
// form, dates, keys, session tokens, sub-resources, presigned URLs and POST forms.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { authenticateV2, isSigV2Request, sigV2AccessKeyId, type SigV2Request } from '../../src/auth/sigv2.js';
import { canonicalResourceV2, signatureV2 } from '../../src/auth/sigv2-canonical.js';
import { isSigV2Form, verifyPostPolicyV2, withoutSigV2Fields } from '../../src/auth/post-policy-v2.js';
import { isServiceError, type ServiceError } from '../../src/errors.js';
import { S3_DOC_KEY, S3_DOC_SECRET, lookupOf, record } from './fixtures.js';

const VECTORS = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'test', 'vectors', 'sigv2');
const lookup = lookupOf(record(S3_DOC_KEY, S3_DOC_SECRET));

interface Vector {
  description: string;
  expect: string;
  now: string;
  virtualBucket?: string;
  request: { method: string; url: string; headers: [string, string][] };
  stringToSign: string;
  signature: string;
}

/** Headers as Node's parser gives them: lower-case names, repeated lines joined by ', ', and apart in headersDistinct. */
function requestOf(method: string, url: string, lines: [string, string][]): SigV2Request {
  const headers: IncomingHttpHeaders = {};
  const distinct: Record<string, string[]> = {};
  for (const [name, value] of lines) {
    const n = name.toLowerCase();
    (distinct[n] ??= []).push(value);
    headers[n] = headers[n] === undefined ? value : `${headers[n] as string}, ${value}`;
  }
  return { method, rawUrl: url, headers, headersDistinct: distinct };
}

function fails(fn: () => unknown, code: string): ServiceError {
  try {
    fn();
  } catch (e) {
    assert.ok(isServiceError(e), String(e));
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('SigV2: AWS published examples', () => {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.json')).sort();
  it('has the vectors', () => assert.ok(files.length >= 12));
  for (const file of files) {
    const v = JSON.parse(readFileSync(path.join(VECTORS, file), 'utf8')) as Vector;
    const req = () => requestOf(v.request.method, v.request.url, v.request.headers);
    const opts = { lookup, now: new Date(v.now), virtualBucket: v.virtualBucket };
    it(`${file}: ${v.description}`, () => {
      assert.equal(signatureV2(S3_DOC_SECRET, v.stringToSign), v.signature, 'the documented signature of the documented string');
      if (v.expect === 'success') {
        const r = authenticateV2(req(), opts);
        assert.equal(r.anonymous, false);
        assert.equal(!r.anonymous && r.credential.accessKeyId, S3_DOC_KEY);
        assert.equal(!r.anonymous && r.presigned, v.request.url.includes('Signature='));
        // With another secret the server reports the string it signed: the documented one
        // (the DELETE example signs x-amz-date in the Date position, an accepted variant).
        if (!v.request.headers.some(([n]) => n.toLowerCase() === 'x-amz-date')) {
          const e = fails(() => authenticateV2(req(), { ...opts, lookup: lookupOf(record(S3_DOC_KEY, 'another-secret-key-0000')) }), 'SignatureDoesNotMatch');
          assert.equal(e.fields?.StringToSign, v.stringToSign);
        }
      } else {
        fails(() => authenticateV2(req(), opts), v.expect);
      }
    });
  }
});

describe('SigV2: header form', () => {
  const now = new Date('2007-03-27T19:36:42Z');
  const date = 'Tue, 27 Mar 2007 19:36:42 +0000';
  const signed = (toSign: string, extra: [string, string][] = [], url = '/b/k', secret = S3_DOC_SECRET, key = S3_DOC_KEY) =>
    requestOf('GET', url, [['Date', date], ...extra, ['Authorization', `AWS ${key}:${signatureV2(secret, toSign)}`]]);

  it('a malformed Authorization header is InvalidArgument naming the expected form', () => {
    const e = fails(() => authenticateV2(requestOf('GET', '/', [['Date', date], ['Authorization', 'AWS nocolon']]), { lookup, now }), 'InvalidArgument');
    assert.equal(e.message, 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature');
    assert.equal(e.status, 400);
  });
  it('no Date and no x-amz-date is AccessDenied', () => {
    const e = fails(() => authenticateV2(requestOf('GET', '/', [['Authorization', `AWS ${S3_DOC_KEY}:x`]]), { lookup, now }), 'AccessDenied');
    assert.match(e.message, /valid Date or x-amz-date/);
  });
  it('an unknown key is InvalidAccessKeyId', () => {
    fails(() => authenticateV2(signed('x', [], '/b/k', S3_DOC_SECRET, 'AKIANOSUCHKEY0000000'), { lookup, now }), 'InvalidAccessKeyId');
  });
  it('more than 15 minutes of skew is RequestTimeTooSkewed; 14 is fine', () => {
    const req = signed(`GET\n\n\n${date}\n/b/k`);
    fails(() => authenticateV2(req, { lookup, now: new Date(now.getTime() + 15 * 60_000 + 1000) }), 'RequestTimeTooSkewed');
    authenticateV2(req, { lookup, now: new Date(now.getTime() - 14 * 60_000) });
  });
  it('x-amz-date overrides Date: the Date position is empty and the skew is measured from x-amz-date', () => {
    const amz = 'Tue, 27 Mar 2007 20:36:42 +0000';
    const req = signed(`GET\n\n\n\nx-amz-date:${amz}\n/b/k`, [['x-amz-date', amz]]);
    authenticateV2(req, { lookup, now: new Date('2007-03-27T20:36:42Z') });
    fails(() => authenticateV2(req, { lookup, now }), 'RequestTimeTooSkewed');
  });
  it('a signature over another path, method or header does not match', () => {
    const toSign = `GET\n\n\n${date}\n/b/k`;
    fails(() => authenticateV2(signed(toSign, [], '/b/other'), { lookup, now }), 'SignatureDoesNotMatch');
    fails(() => authenticateV2(signed(toSign, [['x-amz-acl', 'public-read']]), { lookup, now }), 'SignatureDoesNotMatch');
    fails(() => authenticateV2(signed(toSign, [['content-type', 'text/plain']]), { lookup, now }), 'SignatureDoesNotMatch');
  });
  it('sub-resources are signed with decoded values, other parameters are not', () => {
    assert.equal(canonicalResourceV2('/b/k', 'uploadId=a%2Fb&partNumber=2&foo=bar', undefined, false), '/b/k?partNumber=2&uploadId=a/b');
    assert.equal(canonicalResourceV2('/b/k', 'response-content-type=text%2Fplain&versionId=3', undefined, false), '/b/k?response-content-type=text/plain&versionId=3');
    const req = signed(`GET\n\n\n${date}\n/b/?acl`, [], '/b/?acl&max-keys=3');
    authenticateV2(req, { lookup, now });
    // Not signing ?acl lets a signature for the list be replayed as GetBucketAcl: refused.
    fails(() => authenticateV2(signed(`GET\n\n\n${date}\n/b/`, [], '/b/?acl'), { lookup, now }), 'SignatureDoesNotMatch');
  });
  it('newer sub-resources (?encryption) are accepted signed or unsigned, as clients differ', () => {
    authenticateV2(signed(`GET\n\n\n${date}\n/b/`, [], '/b/?encryption'), { lookup, now });
    authenticateV2(signed(`GET\n\n\n${date}\n/b/?encryption`, [], '/b/?encryption'), { lookup, now });
  });
  it('a virtual-hosted bucket starts the resource', () => {
    authenticateV2(signed(`GET\n\n\n${date}\n/b/k`, [], '/k'), { lookup, now, virtualBucket: 'b' });
    fails(() => authenticateV2(signed(`GET\n\n\n${date}\n/k`, [], '/k'), { lookup, now, virtualBucket: 'b' }), 'SignatureDoesNotMatch');
  });
  it('temporary credentials need their x-amz-security-token (signed); an expired session is ExpiredToken', () => {
    const sts = lookupOf(record('ASIATEMPORARY0000001', 'temporary-secret', { sessionToken: 'tok', expiresAt: new Date('2007-03-28T00:00:00Z') }));
    const ok = signed(`GET\n\n\n${date}\nx-amz-security-token:tok\n/b/k`, [['x-amz-security-token', 'tok']], '/b/k', 'temporary-secret', 'ASIATEMPORARY0000001');
    authenticateV2(ok, { lookup: sts, now });
    fails(() => authenticateV2(signed(`GET\n\n\n${date}\n/b/k`, [], '/b/k', 'temporary-secret', 'ASIATEMPORARY0000001'), { lookup: sts, now }), 'InvalidToken');
    fails(() => authenticateV2(ok, { lookup: sts, now: new Date('2007-03-28T00:00:01Z'), maxSkewMs: 86_400_000 }), 'ExpiredToken');
  });
  it('a SHA-256 in x-amz-content-sha256 is still checked against the body', () => {
    const sha = 'a'.repeat(64);
    const r = authenticateV2(signed(`GET\n\n\n${date}\nx-amz-content-sha256:${sha}\n/b/k`, [['x-amz-content-sha256', sha]]), { lookup, now });
    assert.deepEqual(r.payload, { kind: 'sha256', expected: sha });
  });
});

describe('SigV2: presigned URLs', () => {
  const now = new Date('2007-03-29T03:00:00Z');
  const url = (toSign: string, extra = '') =>
    `/b/k?AWSAccessKeyId=${S3_DOC_KEY}&Expires=1175139620&Signature=${encodeURIComponent(signatureV2(S3_DOC_SECRET, toSign))}${extra}`;
  it('missing parameters are AccessDenied', () => {
    const e = fails(() => authenticateV2(requestOf('GET', `/b/k?AWSAccessKeyId=${S3_DOC_KEY}&Signature=x`, []), { lookup, now }), 'AccessDenied');
    assert.equal(e.message, 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters');
  });
  it('an expired URL is AccessDenied "Request has expired" with Expires and ServerTime', () => {
    const e = fails(() => authenticateV2(requestOf('GET', url('GET\n\n\n1175139620\n/b/k'), []), { lookup, now: new Date('2007-03-30T00:00:00Z') }), 'AccessDenied');
    assert.equal(e.message, 'Request has expired');
    assert.equal(e.fields?.Expires, '2007-03-29T03:40:20.000Z');
    assert.equal(e.fields?.ServerTime, '2007-03-30T00:00:00.000Z');
  });
  it('x-amz-* query parameters (a session token) sign as headers', () => {
    const sts = lookupOf(record('ASIATEMPORARY0000001', S3_DOC_SECRET, { sessionToken: 'to ken', expiresAt: new Date('2008-01-01T00:00:00Z') }));
    const toSign = 'GET\n\n\n1175139620\nx-amz-security-token:to ken\n/b/k';
    const u = url(toSign, '&x-amz-security-token=to%20ken').replace(S3_DOC_KEY, 'ASIATEMPORARY0000001');
    const r = authenticateV2(requestOf('GET', u, []), { lookup: sts, now });
    assert.equal(!r.anonymous && r.presigned, true);
  });
  it('a presigned PUT signs the Content-Type the client sends', () => {
    const u = url('PUT\n\ntext/plain\n1175139620\n/b/k');
    authenticateV2(requestOf('PUT', u, [['Content-Type', 'text/plain']]), { lookup, now });
    fails(() => authenticateV2(requestOf('PUT', u, [['Content-Type', 'image/png']]), { lookup, now }), 'SignatureDoesNotMatch');
  });
});

describe('SigV2: which requests are SigV2', () => {
  it('tells the forms apart; mixed forms go to SigV4, which refuses them', () => {
    assert.equal(isSigV2Request('AWS K:s', '/b'), true);
    assert.equal(isSigV2Request(undefined, '/b?AWSAccessKeyId=K&Signature=s&Expires=1'), true);
    assert.equal(isSigV2Request('AWS4-HMAC-SHA256 Credential=K/...', '/b'), false);
    assert.equal(isSigV2Request(undefined, '/b?X-Amz-Algorithm=AWS4-HMAC-SHA256&Signature=s'), false);
    assert.equal(isSigV2Request('AWS K:s', '/b?Signature=s'), false);
    assert.equal(isSigV2Request(undefined, '/b'), false);
    assert.equal(sigV2AccessKeyId('AWS AKIAX:sig', '/'), 'AKIAX');
    assert.equal(sigV2AccessKeyId(undefined, '/b?AWSAccessKeyId=AKIAY&Signature=s'), 'AKIAY');
  });
});

describe('SigV2: POST forms', () => {
  const policy = Buffer.from(JSON.stringify({ expiration: '2007-12-01T12:00:00.000Z', conditions: [{ bucket: 'b' }, ['starts-with', '$key', 'u/']] })).toString('base64');
  const now = new Date('2007-11-01T00:00:00Z');
  const form = (sig = signatureV2(S3_DOC_SECRET, policy)) => ({ key: 'u/x', awsaccesskeyid: S3_DOC_KEY, policy, signature: sig });
  it('verifies the policy signature and leaves the auth fields out of the condition check', () => {
    assert.equal(isSigV2Form(form()), true);
    const { credential, policy: p } = verifyPostPolicyV2(form(), { lookup, now });
    assert.equal(credential.accessKeyId, S3_DOC_KEY);
    assert.equal(p.parsed.length, 2);
    assert.deepEqual(Object.keys(withoutSigV2Fields(form())).sort(), ['key', 'policy']);
  });
  it('a wrong signature is SignatureDoesNotMatch; an expired policy AccessDenied', () => {
    fails(() => verifyPostPolicyV2(form('AAAAAAAAAAAAAAAAAAAAAAAAAAA='), { lookup, now }), 'SignatureDoesNotMatch');
    fails(() => verifyPostPolicyV2(form(), { lookup, now: new Date('2008-01-01T00:00:00Z') }), 'AccessDenied');
  });
  it('a missing field is InvalidArgument naming it', () => {
    const f: Record<string, string> = form();
    delete f['signature'];
    const e = fails(() => verifyPostPolicyV2(f, { lookup, now }), 'InvalidArgument');
    assert.match(e.message, /'signature'/);
  });
});
