// POST policies as @aws-sdk/s3-presigned-post signs them: the signature, expiry and
// every condition form (exact match, eq, starts-with, content-length-range), and
// AWS's refusal of form fields the policy does not name.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { checkContentLengthRange, checkPostPolicyConditions, verifyPostPolicy } from '../../src/auth/post-policy.js';
import { deriveSigningKey } from '../../src/auth/canonical.js';
import { createHmac } from 'node:crypto';
import { lookupOf, record } from './fixtures.js';

const KEY = 'AKIAPOSTPOLICYTEST01';
const SECRET = 'post-policy-secret';
const lookup = lookupOf(record(KEY, SECRET));
const client = new S3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: { accessKeyId: KEY, secretAccessKey: SECRET } });

function lower(fields: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v]));
}

async function sdkPost(key = 'uploads/${filename}', expires = 600) {
  const post = await createPresignedPost(client, {
    Bucket: 'bkt',
    Key: key,
    Expires: expires,
    Conditions: [['content-length-range', 10, 100], ['starts-with', '$Content-Type', 'image/'], ['eq', '$x-amz-meta-tag', 'blue']],
    Fields: { 'Content-Type': 'image/png', 'x-amz-meta-tag': 'blue' },
  });
  return lower(post.fields);
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'ok';
}

describe('POST policy from @aws-sdk/s3-presigned-post', () => {
  it('verifies, and its conditions hold for the key it allows', async () => {
    const fields = await sdkPost();
    const { credential, policy } = verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt' });
    assert.equal(credential.accessKeyId, KEY);
    checkPostPolicyConditions(policy, fields, 'bkt', 'uploads/cat.png');
    checkContentLengthRange(policy, 50);
  });

  it('SignatureDoesNotMatch when the policy is altered', async () => {
    const fields = await sdkPost();
    const doc = JSON.parse(Buffer.from(fields['policy']!, 'base64').toString());
    doc.conditions.push(['starts-with', '$key', '']);
    fields['policy'] = Buffer.from(JSON.stringify(doc)).toString('base64');
    assert.equal(code(() => verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt' })), 'SignatureDoesNotMatch');
  });

  it('AccessDenied "Policy expired." after its expiration', async () => {
    const fields = await sdkPost('k', 60);
    assert.throws(() => verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt', now: new Date(Date.now() + 120_000) }), {
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy expired.',
    });
  });

  it('InvalidAccessKeyId, wrong region and missing fields are refused', async () => {
    const fields = await sdkPost();
    assert.equal(code(() => verifyPostPolicy(fields, { region: 'us-east-1', lookup: lookupOf(), bucket: 'bkt' })), 'InvalidAccessKeyId');
    assert.equal(code(() => verifyPostPolicy(fields, { region: 'eu-west-1', lookup, bucket: 'bkt' })), 'AuthorizationQueryParametersError');
    const { 'x-amz-credential': _, ...rest } = fields;
    void _;
    assert.equal(code(() => verifyPostPolicy(rest, { region: 'us-east-1', lookup, bucket: 'bkt' })), 'InvalidArgument');
    assert.equal(code(() => verifyPostPolicy({ key: 'k' }, { region: 'us-east-1', lookup, bucket: 'bkt' })), 'AccessDenied');
  });

  it('a key outside the starts-with prefix fails with the condition in the message', async () => {
    const fields = await sdkPost();
    const { policy } = verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt' });
    assert.throws(() => checkPostPolicyConditions(policy, fields, 'bkt', 'elsewhere/cat.png'), {
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]',
    });
  });

  it('an exact-match key, bucket, eq and starts-with conditions fail on other values', async () => {
    const fields = await sdkPost('fixed.txt');
    const { policy } = verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt' });
    assert.throws(() => checkPostPolicyConditions(policy, fields, 'bkt', 'other.txt'), { message: 'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "fixed.txt"]' });
    assert.throws(() => checkPostPolicyConditions(policy, fields, 'other-bucket', 'fixed.txt'), { message: 'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "bkt"]' });
    assert.equal(code(() => checkPostPolicyConditions(policy, { ...fields, 'x-amz-meta-tag': 'red' }, 'bkt', 'fixed.txt')), 'AccessDenied');
    assert.equal(code(() => checkPostPolicyConditions(policy, { ...fields, 'content-type': 'text/html' }, 'bkt', 'fixed.txt')), 'AccessDenied');
  });

  it('fields the policy does not name are refused, except x-ignore-*, file, policy and x-amz-signature', async () => {
    const fields = await sdkPost('fixed.txt');
    const { policy } = verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt' });
    checkPostPolicyConditions(policy, { ...fields, 'x-ignore-me': '1' }, 'bkt', 'fixed.txt');
    assert.throws(() => checkPostPolicyConditions(policy, { ...fields, acl: 'public-read' }, 'bkt', 'fixed.txt'), {
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Extra input fields: acl',
    });
  });

  it('content-length-range: EntityTooLarge above, EntityTooSmall below', async () => {
    const fields = await sdkPost();
    const { policy } = verifyPostPolicy(fields, { region: 'us-east-1', lookup, bucket: 'bkt' });
    assert.throws(() => checkContentLengthRange(policy, 101), (e: { code: string; status: number; fields: Record<string, string> }) => {
      assert.equal(e.code, 'EntityTooLarge');
      assert.equal(e.status, 400);
      assert.equal(e.fields['MaxSizeAllowed'], '100');
      return true;
    });
    assert.equal(code(() => checkContentLengthRange(policy, 9)), 'EntityTooSmall');
    assert.equal(code(() => checkPostPolicyConditions(policy, fields, 'bkt', 'uploads/x', 9)), 'EntityTooSmall');
  });
});

describe('hand-written POST policies', () => {
  function sign(doc: unknown): Record<string, string> {
    const policy = Buffer.from(JSON.stringify(doc)).toString('base64');
    const sig = createHmac('sha256', deriveSigningKey(SECRET, '20240301', 'us-east-1', 's3')).update(policy).digest('hex');
    return {
      policy,
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
      'x-amz-credential': `${KEY}/20240301/us-east-1/s3/aws4_request`,
      'x-amz-date': '20240301T000000Z',
      'x-amz-signature': sig,
    };
  }
  const now = new Date('2024-03-01T00:05:00Z');

  it('InvalidPolicyDocument for a policy without expiration or with bad JSON conditions', () => {
    assert.equal(code(() => verifyPostPolicy(sign({ conditions: [] }), { region: 'us-east-1', lookup, bucket: 'b', now })), 'InvalidPolicyDocument');
    assert.equal(code(() => verifyPostPolicy(sign({ expiration: '2024-03-02T00:00:00Z', conditions: [['nope']] }), { region: 'us-east-1', lookup, bucket: 'b', now })), 'InvalidPolicyDocument');
  });

  it('starts-with "" allows any value of a named field; condition names are case-insensitive', () => {
    const fields = sign({
      expiration: '2024-03-02T00:00:00.000Z',
      conditions: [{ Bucket: 'b' }, ['starts-with', '$key', ''], ['starts-with', '$Content-Type', ''], { 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256' }, { 'x-amz-credential': `${KEY}/20240301/us-east-1/s3/aws4_request` }, { 'x-amz-date': '20240301T000000Z' }],
    });
    const all = { ...fields, key: 'anything', 'content-type': 'text/plain', bucket: 'b' };
    const { policy } = verifyPostPolicy(all, { region: 'us-east-1', lookup, bucket: 'b', now });
    checkPostPolicyConditions(policy, all, 'b', 'anything');
  });
});
