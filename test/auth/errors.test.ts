// Each way authenticate() refuses a request, with AWS S3's code, status and the
// fields clients read (Region for a wrong region, StringToSign for a bad signature ...).

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { createHmac } from 'node:crypto';
import { canonicalRequest, deriveSigningKey, stringToSign } from '../../src/auth/canonical.js';
import { presignUrl, signRequest } from '../../src/auth/sign.js';
import { authenticate } from '../../src/auth/sigv4.js';
import type { AuthOptions, SignedRequest } from '../../src/auth/types.js';
import { lookupOf, record } from './fixtures.js';

const NOW = new Date('2024-03-01T12:00:00Z');
const lookup = lookupOf(
  record('AKIDOK', 'secret-ok'),
  record('ASIATEMP', 'secret-temp', { sessionToken: 'tok', expiresAt: new Date('2024-03-01T13:00:00Z') }),
  record('ASIAOLD', 'secret-old', { sessionToken: 'old', expiresAt: new Date('2024-03-01T11:00:00Z') }),
);
const opts: AuthOptions = { region: 'us-east-1', service: 's3', lookup, now: NOW };

function signed(over: { key?: string; secret?: string; token?: string; now?: Date; headers?: Record<string, string>; url?: string; region?: string } = {}): SignedRequest {
  const s = signRequest({
    method: 'GET',
    rawUrl: over.url ?? '/bkt/key',
    headers: { host: 'localhost:9000', ...over.headers },
    accessKeyId: over.key ?? 'AKIDOK',
    secretAccessKey: over.secret ?? 'secret-ok',
    sessionToken: over.token,
    region: over.region ?? 'us-east-1',
    service: 's3',
    now: over.now ?? NOW,
  });
  return { method: 'GET', rawUrl: over.url ?? '/bkt/key', headers: s.headers };
}

function presigned(over: { expires?: number; now?: Date; key?: string; secret?: string } = {}): SignedRequest {
  const rawUrl = presignUrl({
    method: 'GET',
    rawUrl: '/bkt/key',
    headers: { host: 'localhost:9000' },
    accessKeyId: over.key ?? 'AKIDOK',
    secretAccessKey: over.secret ?? 'secret-ok',
    region: 'us-east-1',
    service: 's3',
    now: over.now ?? NOW,
    expires: over.expires ?? 3600,
  });
  return { method: 'GET', rawUrl, headers: { host: 'localhost:9000' } };
}

function fails(req: SignedRequest, code: string, status: number, check?: (e: { message: string; fields: Record<string, string> }) => void, o: AuthOptions = opts): void {
  assert.throws(
    () => authenticate(req, o),
    (e: { code: string; status: number; message: string; fields: Record<string, string> }) => {
      assert.equal(e.code, code);
      assert.equal(e.status, status);
      check?.(e);
      return true;
    },
  );
}

function withHeaders(req: SignedRequest, h: IncomingHttpHeaders): SignedRequest {
  return { ...req, headers: { ...req.headers, ...h } };
}

describe('authenticate: accepted', () => {
  it('no Authorization header and no X-Amz-Algorithm is anonymous', () => {
    assert.deepEqual(authenticate({ method: 'GET', rawUrl: '/bkt/key', headers: { host: 'x' } }, opts), { anonymous: true, payload: { kind: 'unsigned' } });
  });
  it('a request signed with a Date header instead of x-amz-date', () => {
    const date = NOW.toUTCString();
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    const cr = canonicalRequest({
      method: 'GET',
      uri: '/bkt/key',
      query: '',
      headers: [['date', date], ['host', 'h'], ['x-amz-content-sha256', empty]],
      signedHeaders: 'date;host;x-amz-content-sha256',
      payloadHash: empty,
    });
    const sig = createHmac('sha256', deriveSigningKey('secret-ok', '20240301', 'us-east-1', 's3')).update(stringToSign('20240301T120000Z', '20240301/us-east-1/s3/aws4_request', cr)).digest('hex');
    const headers = {
      date,
      host: 'h',
      'x-amz-content-sha256': empty,
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDOK/20240301/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature=${sig}`,
    };
    assert.equal(authenticate({ method: 'GET', rawUrl: '/bkt/key', headers }, opts).anonymous, false);
  });
  it('temporary credentials with their token', () => {
    assert.equal(authenticate(signed({ key: 'ASIATEMP', secret: 'secret-temp', token: 'tok' }), opts).anonymous, false);
  });
});

describe('authenticate: refused', () => {
  it('InvalidAccessKeyId for an unknown key', () => {
    fails(signed({ key: 'AKIDNOPE' }), 'InvalidAccessKeyId', 403, (e) => {
      assert.equal(e.message, 'The AWS Access Key Id you provided does not exist in our records.');
      assert.equal(e.fields['AWSAccessKeyId'], 'AKIDNOPE');
    });
  });

  it('SignatureDoesNotMatch for a wrong secret, with the canonical request and string to sign', () => {
    fails(signed({ secret: 'wrong' }), 'SignatureDoesNotMatch', 403, (e) => {
      assert.equal(e.message, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
      assert.equal(e.fields['AWSAccessKeyId'], 'AKIDOK');
      assert.match(e.fields['StringToSign']!, /^AWS4-HMAC-SHA256\n20240301T120000Z\n20240301\/us-east-1\/s3\/aws4_request\n[0-9a-f]{64}$/);
      assert.match(e.fields['CanonicalRequest']!, /^GET\n\/bkt\/key\n\nhost:localhost:9000\n/);
      assert.match(e.fields['SignatureProvided']!, /^[0-9a-f]{64}$/);
    });
  });

  it('SignatureDoesNotMatch when a signed header changes', () => {
    fails(withHeaders(signed({ headers: { range: 'bytes=0-1' } }), { range: 'bytes=0-2' }), 'SignatureDoesNotMatch', 403);
  });

  it('RequestTimeTooSkewed beyond 15 minutes', () => {
    fails(signed({ now: new Date(NOW.getTime() - 16 * 60_000) }), 'RequestTimeTooSkewed', 403, (e) => {
      assert.equal(e.message, 'The difference between the request time and the current time is too large.');
      assert.equal(e.fields['MaxAllowedSkewMilliseconds'], '900000');
      assert.equal(e.fields['RequestTime'], '20240301T114400Z');
      assert.equal(e.fields['ServerTime'], NOW.toISOString());
    });
    assert.equal(authenticate(signed({ now: new Date(NOW.getTime() + 14 * 60_000) }), opts).anonymous, false);
  });

  it('AccessDenied without a usable date', () => {
    const s = signed();
    fails(withHeaders(s, { 'x-amz-date': 'yesterday' }), 'AccessDenied', 403, (e) => assert.equal(e.message, 'AWS authentication requires a valid Date or x-amz-date header'));
  });

  it('AuthorizationHeaderMalformed for a wrong region, naming the expected one', () => {
    fails(signed({ region: 'us-west-2' }), 'AuthorizationHeaderMalformed', 400, (e) => {
      assert.equal(e.message, "The authorization header is malformed; the region 'us-west-2' is wrong; expecting 'us-east-1'");
      assert.equal(e.fields['Region'], 'us-east-1');
    });
  });

  it('AuthorizationHeaderMalformed for a scope date other than x-amz-date, a missing component, a bad credential, another service', () => {
    const s = signed();
    const auth = s.headers['authorization'] as string;
    fails(withHeaders(s, { authorization: auth.replace('/20240301/', '/20240302/') }), 'AuthorizationHeaderMalformed', 400, (e) => assert.match(e.message, /Date is not the same as X-Amz-Date/));
    fails(withHeaders(s, { authorization: auth.replace(/, Signature=.*$/, '') }), 'AuthorizationHeaderMalformed', 400, (e) => assert.match(e.message, /requires three components/));
    fails(withHeaders(s, { authorization: auth.replace('/us-east-1/s3/aws4_request', '/us-east-1/s3') }), 'AuthorizationHeaderMalformed', 400, (e) => assert.match(e.message, /Credential is mal-formed/));
    fails(withHeaders(s, { authorization: auth.replace('/s3/', '/kms/') }), 'AuthorizationHeaderMalformed', 400, (e) => assert.match(e.message, /incorrect service "kms"/));
  });

  it('InvalidRequest without x-amz-content-sha256, and for SigV2', () => {
    const s = signed();
    const { 'x-amz-content-sha256': _, ...rest } = s.headers;
    void _;
    fails({ ...s, headers: rest }, 'InvalidRequest', 400, (e) => assert.equal(e.message, 'Missing required header for this request: x-amz-content-sha256'));
    fails(withHeaders(s, { authorization: 'AWS AKIDOK:c2lnbmF0dXJl' }), 'InvalidRequest', 400);
  });

  it('InvalidArgument for an unsupported x-amz-content-sha256 value, both auth mechanisms, an unknown scheme', () => {
    const s = signed();
    fails(withHeaders(s, { 'x-amz-content-sha256': 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' }), 'InvalidArgument', 400, (e) => {
      assert.equal(e.fields['ArgumentName'], 'x-amz-content-sha256');
    });
    fails({ ...s, rawUrl: '/bkt/key?X-Amz-Algorithm=AWS4-HMAC-SHA256' }, 'InvalidArgument', 400, (e) => assert.match(e.message, /^Only one auth mechanism allowed/));
    fails(withHeaders(s, { authorization: 'Bearer abc' }), 'InvalidArgument', 400, (e) => assert.equal(e.message, 'Unsupported Authorization Type'));
  });

  it('AccessDenied when an x-amz-* header or host is not signed', () => {
    fails(withHeaders(signed(), { 'x-amz-meta-color': 'red' }), 'AccessDenied', 403, (e) => {
      assert.equal(e.message, 'There were headers present in the request which were not signed');
      assert.equal(e.fields['HeadersNotSigned'], 'x-amz-meta-color');
    });
    const s = signed();
    fails(withHeaders(s, { authorization: (s.headers['authorization'] as string).replace('SignedHeaders=host;', 'SignedHeaders=') }), 'AccessDenied', 403, (e) =>
      assert.equal(e.fields['HeadersNotSigned'], 'host'),
    );
  });

  it('InvalidToken for a missing or wrong session token, or a token with a permanent key', () => {
    fails(signed({ key: 'ASIATEMP', secret: 'secret-temp' }), 'InvalidToken', 400);
    fails(signed({ key: 'ASIATEMP', secret: 'secret-temp', token: 'other' }), 'InvalidToken', 400);
    fails(signed({ token: 'stray' }), 'InvalidToken', 400);
  });

  it('ExpiredToken once the temporary credential has expired', () => {
    fails(signed({ key: 'ASIAOLD', secret: 'secret-old', token: 'old' }), 'ExpiredToken', 400, (e) => assert.equal(e.message, 'The provided token has expired.'));
  });
});

describe('authenticate: presigned URLs', () => {
  it('a valid presigned URL is presigned and unsigned-payload', () => {
    const r = authenticate(presigned(), opts);
    assert.equal(!r.anonymous && r.presigned, true);
  });

  it('AccessDenied "Request has expired" after X-Amz-Expires', () => {
    fails(presigned({ expires: 60, now: new Date(NOW.getTime() - 61_000) }), 'AccessDenied', 403, (e) => {
      assert.equal(e.message, 'Request has expired');
      assert.equal(e.fields['X-Amz-Expires'], '60');
      assert.equal(e.fields['Expires'], '2024-03-01T11:59:59.000Z');
      assert.equal(e.fields['ServerTime'], NOW.toISOString());
    });
  });

  it('AccessDenied "Request is not valid yet" when dated in the future', () => {
    fails(presigned({ now: new Date(NOW.getTime() + 3600_000) }), 'AccessDenied', 403, (e) => assert.equal(e.message, 'Request is not valid yet'));
  });

  it('AuthorizationQueryParametersError for X-Amz-Expires over a week, a missing parameter, another algorithm, a wrong region', () => {
    fails(presigned({ expires: 604_801 }), 'AuthorizationQueryParametersError', 400, (e) =>
      assert.equal(e.message, 'X-Amz-Expires must be less than a week (in seconds) that is 604800'),
    );
    assert.equal(authenticate(presigned({ expires: 604_800 }), opts).anonymous, false);
    const p = presigned();
    fails({ ...p, rawUrl: p.rawUrl.replace(/&X-Amz-SignedHeaders=[^&]*/, '') }, 'AuthorizationQueryParametersError', 400, (e) => assert.match(e.message, /^Query-string authentication version 4 requires/));
    fails({ ...p, rawUrl: p.rawUrl.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA1') }, 'AuthorizationQueryParametersError', 400);
    fails({ ...p, rawUrl: p.rawUrl.replace('%2Fus-east-1%2F', '%2Feu-west-1%2F') }, 'AuthorizationQueryParametersError', 400, (e) => {
      assert.equal(e.message, "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting 'us-east-1'");
      assert.equal(e.fields['Region'], 'us-east-1');
    });
  });

  it('SignatureDoesNotMatch when a query parameter is added after signing', () => {
    const p = presigned();
    fails({ ...p, rawUrl: p.rawUrl + '&response-content-type=text%2Fhtml' }, 'SignatureDoesNotMatch', 403);
  });

  it('InvalidAccessKeyId for an unknown key', () => {
    fails(presigned({ key: 'AKIDNOPE' }), 'InvalidAccessKeyId', 403);
  });
});
