// Which policy SimulatePrincipalPolicy takes as a resource's own (src/iam/resource-policies.ts):
// a KMS key ARN names its key policy, an S3 bucket or object ARN its bucket's policy, and
// anything else (or a key or bucket without one) none.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resourcePolicyLookup } from '../../src/iam/resource-policies.js';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const asked: string[] = [];
const lookup = resourcePolicyLookup({
  async keyPolicy(keyId) {
    asked.push(`key ${keyId}`);
    return keyId === KEY_ID ? 'key policy' : undefined;
  },
  async bucketPolicy(bucket) {
    asked.push(`bucket ${bucket}`);
    return bucket === 'with-policy' ? 'bucket policy' : undefined;
  },
});

test('a KMS key ARN names the key policy, evaluated as KMS does', async () => {
  asked.length = 0;
  assert.deepEqual(await lookup(`arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`), { text: 'key policy', mode: 'kms' });
  assert.equal(await lookup('arn:aws:kms:us-east-1:111122223333:key/no-such-key'), undefined);
  assert.deepEqual(asked, [`key ${KEY_ID}`, 'key no-such-key']);
});

test("a bucket or object ARN names the bucket's policy", async () => {
  asked.length = 0;
  assert.deepEqual(await lookup('arn:aws:s3:::with-policy'), { text: 'bucket policy', mode: 's3' });
  assert.deepEqual(await lookup('arn:aws:s3:::with-policy/some/key'), { text: 'bucket policy', mode: 's3' });
  assert.equal(await lookup('arn:aws:s3:::without-policy'), undefined);
  assert.deepEqual(asked, ['bucket with-policy', 'bucket with-policy', 'bucket without-policy']);
});

test('an alias ARN, an IAM ARN or "*" has no resource policy and reads no store', async () => {
  asked.length = 0;
  for (const arn of ['arn:aws:kms:us-east-1:111122223333:alias/mine', 'arn:aws:iam::111122223333:user/alice', '*']) assert.equal(await lookup(arn), undefined);
  assert.deepEqual(asked, []);
});
