// The default KMS key policy and the policy lockout safety check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultKeyPolicy, defaultKeyPolicyJson, defaultKeyPolicyText } from '../../src/iam/policy/default-key-policy.js';
import { checkPolicyLockout, LOCKOUT_MESSAGE } from '../../src/iam/policy/lockout-check.js';
import { parsePolicyDocument } from '../../src/iam/policy/document.js';
import { ACCT, ALICE, ROOT, ctx, doc, root, session, user } from './policy-fixtures.js';

test('the default key policy has the one "Enable IAM User Permissions" statement', () => {
  assert.deepEqual(defaultKeyPolicyJson(ACCT), {
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' }],
  });
});

test('the default key policy text parses back as a key policy', () => {
  const d = parsePolicyDocument(defaultKeyPolicyText(ACCT), { kind: 'resource' });
  assert.deepEqual(d.statements[0]!.principal!.aws, [ROOT]);
  assert.deepEqual(defaultKeyPolicy(ACCT), d);
});

test('the default key policy follows the partition', () => {
  assert.deepEqual(defaultKeyPolicy('111122223333', 'aws-cn').statements[0]!.principal!.aws, ['arn:aws-cn:iam::111122223333:root']);
});

test('lockout check passes for the default key policy (IAM user caller)', () => {
  assert.deepEqual(checkPolicyLockout(defaultKeyPolicy(ACCT), ctx(user('alice'), 'kms:CreateKey')), { ok: true });
});

test('lockout check passes for the default key policy (root caller)', () => {
  assert.deepEqual(checkPolicyLockout(defaultKeyPolicy(ACCT), ctx(root(), 'kms:PutKeyPolicy')), { ok: true });
});

test('lockout check passes when the caller is named with kms:PutKeyPolicy', () => {
  const p = doc({ Effect: 'Allow', Principal: { AWS: ALICE }, Action: ['kms:PutKeyPolicy', 'kms:Decrypt'], Resource: '*' }, 'resource');
  assert.deepEqual(checkPolicyLockout(p, ctx(user('alice'), 'kms:PutKeyPolicy')), { ok: true });
});

test('lockout check fails when the policy names only someone else', () => {
  const p = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:user/bob` }, Action: 'kms:*', Resource: '*' }, 'resource');
  assert.deepEqual(checkPolicyLockout(p, ctx(user('alice'), 'kms:PutKeyPolicy')), { ok: false, message: LOCKOUT_MESSAGE });
});

test('lockout check fails when the caller may use the key but not PutKeyPolicy', () => {
  const p = doc({ Effect: 'Allow', Principal: { AWS: ALICE }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' }, 'resource');
  assert.equal(checkPolicyLockout(p, ctx(user('alice'), 'kms:PutKeyPolicy')).ok, false);
});

test('lockout check fails on an explicit deny of PutKeyPolicy for the caller', () => {
  const p = doc([
    { Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' },
    { Effect: 'Deny', Principal: '*', Action: 'kms:PutKeyPolicy', Resource: '*' },
  ], 'resource');
  assert.equal(checkPolicyLockout(p, ctx(root(), 'kms:PutKeyPolicy')).ok, false);
});

test('lockout check honours a role named in the policy for its sessions', () => {
  const p = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:role/admin` }, Action: 'kms:*', Resource: '*' }, 'resource');
  assert.equal(checkPolicyLockout(p, ctx(session('admin', 'ops'), 'kms:PutKeyPolicy')).ok, true);
});

test('the lockout message is KMS\'s text', () => {
  assert.equal(LOCKOUT_MESSAGE, 'The new key policy will not allow you to update the key policy in the future.');
});
