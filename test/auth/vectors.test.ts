// SigV4 against AWS's published vectors: the SigV4 test suite (get-vanilla ...), the
// S3 "Signature Calculations for the Authorization Header" examples, the S3 presigned
// URL example and the aws-chunked PUT example. Each case must verify through
// authenticate(), and our own signer must produce the documented signature.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePayload } from '../../src/auth/chunked.js';
import { canonicalRequest, canonicalUri, deriveSigningKey, stringToSign } from '../../src/auth/canonical.js';
import { presignUrl, signRequest } from '../../src/auth/sign.js';
import { authenticate } from '../../src/auth/sigv4.js';
import { S3_DOC_KEY, S3_DOC_SECRET, SUITE_KEY, SUITE_SECRET, docLookup, readAll, pieces } from './fixtures.js';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const DOC_NOW = new Date('2013-05-24T00:00:00Z');
const SUITE_NOW = new Date('2015-08-30T12:36:00Z');

function authz(key: string, scope: string, signed: string, sig: string): string {
  return `AWS4-HMAC-SHA256 Credential=${key}/${scope},SignedHeaders=${signed},Signature=${sig}`;
}

describe('SigV4 test suite (service "service", us-east-1)', () => {
  const scope = '20150830/us-east-1/service/aws4_request';
  const opts = { region: 'us-east-1', service: 'service', lookup: docLookup, now: SUITE_NOW };
  const cases = [
    { name: 'get-vanilla', method: 'GET', url: '/', headers: {}, sig: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31', signed: 'host;x-amz-date' },
    {
      name: 'get-vanilla-query-order-key-case',
      method: 'GET',
      url: '/?Param2=value2&Param1=value1',
      headers: {},
      sig: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
      signed: 'host;x-amz-date',
    },
    { name: 'post-vanilla', method: 'POST', url: '/', headers: {}, sig: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b', signed: 'host;x-amz-date' },
    {
      name: 'post-x-www-form-urlencoded',
      method: 'POST',
      url: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Param1=value1',
      sig: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
      signed: 'content-type;host;x-amz-date',
    },
  ];
  for (const c of cases) {
    it(`${c.name} verifies`, () => {
      const headers = { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z', ...c.headers, authorization: authz(SUITE_KEY, scope, c.signed, c.sig) };
      const r = authenticate({ method: c.method, rawUrl: c.url, headers, body: c.body ? Buffer.from(c.body) : undefined }, opts);
      assert.equal(r.anonymous, false);
      if (!r.anonymous) assert.equal(r.credential.accessKeyId, SUITE_KEY);
    });
  }

  it('get-vanilla canonical request and string to sign match the suite', () => {
    const cr = canonicalRequest({
      method: 'GET',
      uri: '/',
      query: '',
      headers: [
        ['host', 'example.amazonaws.com'],
        ['x-amz-date', '20150830T123600Z'],
      ],
      signedHeaders: 'host;x-amz-date',
      payloadHash: EMPTY,
    });
    assert.equal(cr, `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY}`);
    assert.equal(
      stringToSign('20150830T123600Z', scope, cr),
      'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
    );
  });

  it('non-S3 paths are normalized and encoded twice (get-space, get-relative-relative)', () => {
    assert.equal(canonicalUri('/example%20space/', 'service'), '/example%2520space/');
    assert.equal(canonicalUri('/example1/example2/../..', 'service'), '/');
    assert.equal(canonicalUri('/example/..//./x', 'service'), '/x');
    assert.equal(canonicalUri('/example%20space/', 's3'), '/example%20space/');
  });

  it('our signer reproduces get-vanilla', () => {
    const s = signRequest({
      method: 'GET',
      rawUrl: '/',
      headers: { host: 'example.amazonaws.com' },
      accessKeyId: SUITE_KEY,
      secretAccessKey: SUITE_SECRET,
      region: 'us-east-1',
      service: 'service',
      now: SUITE_NOW,
    });
    assert.equal(s.signature, '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });
});

describe('S3 Authorization header examples (examplebucket, 20130524)', () => {
  const scope = '20130524/us-east-1/s3/aws4_request';
  const opts = { region: 'us-east-1', service: 's3', lookup: docLookup, now: DOC_NOW };
  const host = 'examplebucket.s3.amazonaws.com';
  const cases: Array<{ name: string; method: string; urls: string[]; headers: Record<string, string>; sig: string }> = [
    {
      name: 'GET Object with Range',
      method: 'GET',
      urls: ['/test.txt'],
      headers: { host, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
      sig: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    },
    {
      name: 'PUT Object',
      method: 'PUT',
      // The key is "test$file.text": clients may or may not escape '$' on the wire.
      urls: ['/test%24file.text', '/test$file.text'],
      headers: {
        host,
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      },
      sig: '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    },
    {
      name: 'GET Bucket Lifecycle',
      method: 'GET',
      urls: ['/?lifecycle', '/?lifecycle='],
      headers: { host, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
      sig: 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
    },
    {
      name: 'Get Bucket (List Objects)',
      method: 'GET',
      urls: ['/?max-keys=2&prefix=J', '/?prefix=J&max-keys=2'],
      headers: { host, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
      sig: '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
    },
  ];
  for (const c of cases) {
    it(`${c.name} verifies`, () => {
      const signed = Object.keys(c.headers).sort().join(';');
      for (const url of c.urls) {
        const r = authenticate({ method: c.method, rawUrl: url, headers: { ...c.headers, authorization: authz(S3_DOC_KEY, scope, signed, c.sig) } }, opts);
        assert.equal(r.anonymous, false, url);
      }
    });
    it(`${c.name}: our signer gives the documented signature`, () => {
      const { 'x-amz-date': _d, 'x-amz-content-sha256': hash, ...rest } = c.headers;
      void _d;
      const s = signRequest({
        method: c.method,
        rawUrl: c.urls[0]!,
        headers: rest,
        accessKeyId: S3_DOC_KEY,
        secretAccessKey: S3_DOC_SECRET,
        region: 'us-east-1',
        service: 's3',
        now: DOC_NOW,
        payloadHash: hash,
      });
      assert.equal(s.signature, c.sig);
    });
  }

  it('the documented payload mode is kept: a sha256 PUT must be verified while streaming', () => {
    const c = cases[1]!;
    const signed = Object.keys(c.headers).sort().join(';');
    const r = authenticate({ method: 'PUT', rawUrl: c.urls[0]!, headers: { ...c.headers, authorization: authz(S3_DOC_KEY, scope, signed, c.sig) } }, opts);
    assert.deepEqual(r.payload, { kind: 'sha256', expected: '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072' });
  });
});

describe('S3 presigned URL example', () => {
  const url =
    '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
    '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
    '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
  const headers = { host: 'examplebucket.s3.amazonaws.com' };

  it('verifies within its 86400 seconds', () => {
    const r = authenticate({ method: 'GET', rawUrl: url, headers }, { region: 'us-east-1', service: 's3', lookup: docLookup, now: new Date('2013-05-24T23:00:00Z') });
    assert.equal(r.anonymous, false);
    if (!r.anonymous) {
      assert.equal(r.presigned, true);
      assert.deepEqual(r.payload, { kind: 'unsigned' });
    }
  });

  it('our presigner produces the same URL', () => {
    const got = presignUrl({
      method: 'GET',
      rawUrl: '/test.txt',
      headers,
      accessKeyId: S3_DOC_KEY,
      secretAccessKey: S3_DOC_SECRET,
      region: 'us-east-1',
      service: 's3',
      now: DOC_NOW,
      expires: 86400,
    });
    assert.equal(got, url);
  });
});

describe('S3 aws-chunked PUT example (66560 bytes of "a" in 64 KiB + 1 KiB chunks)', () => {
  const seed = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
  const chunkSigs = [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
  ];
  const headers = {
    host: 's3.amazonaws.com',
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560',
    'content-length': '66824',
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
      'SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,' +
      `Signature=${seed}`,
  };
  const body = Buffer.concat([
    Buffer.from(`10000;chunk-signature=${chunkSigs[0]}\r\n`),
    Buffer.alloc(65536, 'a'),
    Buffer.from(`\r\n400;chunk-signature=${chunkSigs[1]}\r\n`),
    Buffer.alloc(1024, 'a'),
    Buffer.from(`\r\n0;chunk-signature=${chunkSigs[2]}\r\n\r\n`),
  ]);

  it('the seed signature verifies and yields the chunked-signed mode', () => {
    assert.equal(body.length, 66824);
    const r = authenticate({ method: 'PUT', rawUrl: '/examplebucket/chunkObject.txt', headers }, { region: 'us-east-1', service: 's3', lookup: docLookup, now: DOC_NOW });
    assert.equal(r.payload.kind, 'chunked-signed');
    if (r.payload.kind === 'chunked-signed') {
      assert.equal(r.payload.seedSignature, seed);
      assert.equal(r.payload.scope, '20130524/us-east-1/s3/aws4_request');
      assert.equal(r.payload.trailer, false);
      assert.deepEqual(r.payload.signingKey, deriveSigningKey(S3_DOC_SECRET, '20130524', 'us-east-1', 's3'));
    }
  });

  for (const piece of [body.length, 65536, 4096, 7, 1]) {
    it(`every chunk signature verifies and the body decodes (input in ${piece}-byte pieces)`, async () => {
      const r = authenticate({ method: 'PUT', rawUrl: '/examplebucket/chunkObject.txt', headers }, { region: 'us-east-1', service: 's3', lookup: docLookup, now: DOC_NOW });
      const decoded = decodePayload(pieces(body, piece), headers, r.payload);
      const out = await readAll(decoded.body);
      assert.equal(out.length, 66560);
      assert.ok(out.equals(Buffer.alloc(66560, 'a')));
      assert.deepEqual(decoded.trailers(), {});
    });
  }
});
