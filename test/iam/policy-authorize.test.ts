// authorize(): explicit deny across policies, the KMS key-policy delegation rule, S3
// identity-or-bucket-policy, cross-account, session policies as a limit, grants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessDeniedMessage, authorize, type AuthorizeInput, type NamedPolicy } from '../../src/iam/policy/evaluate.js';
import { defaultKeyPolicy } from '../../src/iam/policy/default-key-policy.js';
import type { RequestPrincipal } from '../../src/iam/policy/context.js';
import { ACCT, ALICE, KEY_ARN, OTHER, ROOT, ctx, doc, root, session, user } from './policy-fixtures.js';

const named = (name: string, statements: object | object[], kind: 'identity' | 'resource'): NamedPolicy => ({ name, document: doc(statements, kind) });
const allowDecrypt = named('alice-kms', { Sid: 'UseKey', Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }, 'identity');
const denyDecrypt = named('deny-kms', { Sid: 'NoDecrypt', Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' }, 'identity');
const keyPolicyRootOnly: NamedPolicy = { name: 'default', document: defaultKeyPolicy(ACCT) };
const keyPolicyAdminsOnly = named('default', { Sid: 'Admins', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:user/admin` }, Action: 'kms:*', Resource: '*' }, 'resource');
const keyPolicyAlice = named('default', { Sid: 'Alice', Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:Decrypt', Resource: '*' }, 'resource');

function kms(principal: RequestPrincipal, identityPolicies: NamedPolicy[], resourcePolicies: NamedPolicy[], extra: Partial<AuthorizeInput> = {}) {
  return authorize({ identityPolicies, resourcePolicies, ctx: ctx(principal), resourceAccountId: ACCT, resourcePolicyMode: 'kms', ...extra });
}

function s3(principal: RequestPrincipal, identityPolicies: NamedPolicy[], resourcePolicies: NamedPolicy[], extra: Partial<AuthorizeInput> = {}) {
  return authorize({ identityPolicies, resourcePolicies, ctx: ctx(principal, 's3:GetObject', 'arn:aws:s3:::bucket/key'), resourceAccountId: ACCT, resourcePolicyMode: 's3', ...extra });
}

// KMS delegation rule
test('kms: key policy with only the root statement + identity allow -> Allow', () => {
  const d = kms(user('alice'), [allowDecrypt], [keyPolicyRootOnly]);
  assert.equal(d.effect, 'Allow');
  assert.deepEqual(d.matched, [{ policy: 'default', sid: 'Enable IAM User Permissions' }, { policy: 'alice-kms', sid: 'UseKey' }]);
});

test('kms: key policy with only the root statement and no identity allow -> ImplicitDeny, no identity-based policy', () => {
  const d = kms(user('alice'), [], [keyPolicyRootOnly]);
  assert.equal(d.effect, 'ImplicitDeny');
  assert.equal(d.reason, 'because no identity-based policy allows the kms:Decrypt action');
});

test('kms: without the root statement an identity allow is ignored -> ImplicitDeny, no resource-based policy', () => {
  const d = kms(user('alice'), [allowDecrypt], [keyPolicyAdminsOnly]);
  assert.equal(d.effect, 'ImplicitDeny');
  assert.equal(d.reason, 'because no resource-based policy allows the kms:Decrypt action');
});

test('kms: a key policy statement naming the user allows without any identity policy', () => {
  const d = kms(user('alice'), [], [keyPolicyAlice]);
  assert.equal(d.effect, 'Allow');
  assert.deepEqual(d.matched, [{ policy: 'default', sid: 'Alice' }]);
});

test('kms: the root statement allows the root user directly', () => {
  assert.equal(kms(root(), [], [keyPolicyRootOnly]).effect, 'Allow');
});

test('kms: the root user is denied by a key policy that does not name it', () => {
  assert.equal(kms(root(), [], [keyPolicyAdminsOnly]).effect, 'ImplicitDeny');
});

test('kms: the root statement enables identity policies only for actions it covers', () => {
  const describeOnly = named('default', { Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:Describe*', Resource: '*' }, 'resource');
  assert.equal(kms(user('alice'), [allowDecrypt], [describeOnly]).effect, 'ImplicitDeny');
});

test('kms: conditions on the root statement apply to delegated callers', () => {
  const viaS3 = named('default', { Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } }, 'resource');
  assert.equal(kms(user('alice'), [allowDecrypt], [viaS3]).effect, 'ImplicitDeny');
  const d = authorize({ identityPolicies: [allowDecrypt], resourcePolicies: [viaS3], ctx: ctx(user('alice'), 'kms:Decrypt', KEY_ARN, { 'kms:ViaService': 's3.us-east-1.amazonaws.com' }), resourceAccountId: ACCT, resourcePolicyMode: 'kms' });
  assert.equal(d.effect, 'Allow');
});

test('kms: a role in the key policy allows its sessions', () => {
  const rolePolicy = named('default', { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:role/app` }, Action: 'kms:Decrypt', Resource: '*' }, 'resource');
  assert.equal(kms(session('app', 'i-123'), [], [rolePolicy]).effect, 'Allow');
});

// Explicit deny
test('explicit deny in an identity policy beats a key policy allow', () => {
  const d = kms(user('alice'), [denyDecrypt], [keyPolicyAlice]);
  assert.equal(d.effect, 'Deny');
  assert.equal(d.reason, 'with an explicit deny in an identity-based policy');
  assert.deepEqual(d.matched, [{ policy: 'deny-kms', sid: 'NoDecrypt' }]);
});

test('explicit deny in a resource policy beats an identity allow', () => {
  const kp = named('default', [
    { Sid: 'Enable', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' },
    { Sid: 'NoAlice', Effect: 'Deny', Principal: { AWS: ALICE }, Action: 'kms:Decrypt', Resource: '*' },
  ], 'resource');
  const d = kms(user('alice'), [allowDecrypt], [kp]);
  assert.equal(d.effect, 'Deny');
  assert.equal(d.reason, 'with an explicit deny in a resource-based policy');
});

test('explicit deny in one identity policy beats an allow in another', () => {
  assert.equal(s3(user('alice'), [named('a', { Effect: 'Allow', Action: 's3:*', Resource: '*' }, 'identity'), named('b', { Effect: 'Deny', Action: 's3:Get*', Resource: '*' }, 'identity')], []).effect, 'Deny');
});

test('explicit deny beats a grant (extraAllow)', () => {
  assert.equal(kms(user('alice'), [denyDecrypt], [keyPolicyRootOnly], { extraAllow: { reason: 'grant g1' } }).effect, 'Deny');
});

test('a grant (extraAllow) allows when no policy does', () => {
  const d = kms(user('alice'), [], [keyPolicyAdminsOnly], { extraAllow: { reason: 'allowed by grant g1' } });
  assert.deepEqual(d, { effect: 'Allow', reason: 'allowed by grant g1' });
});

// S3 mode
test('s3: an identity allow suffices without a bucket policy', () => {
  assert.equal(s3(user('alice'), [named('p', { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }, 'identity')], []).effect, 'Allow');
});

test('s3: a bucket policy naming the user suffices without an identity policy', () => {
  const bp = named('bucket-policy', { Effect: 'Allow', Principal: { AWS: ALICE }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }, 'resource');
  assert.equal(s3(user('alice'), [], [bp]).effect, 'Allow');
});

test('s3: a bucket policy naming only the account does not allow an IAM user by itself', () => {
  const bp = named('bucket-policy', { Effect: 'Allow', Principal: { AWS: ACCT }, Action: 's3:GetObject', Resource: '*' }, 'resource');
  const d = s3(user('alice'), [], [bp]);
  assert.equal(d.effect, 'ImplicitDeny');
  assert.equal(d.reason, 'because no identity-based policy allows the s3:GetObject action');
});

test('s3: nothing allows -> ImplicitDeny with the identity-based reason', () => {
  assert.equal(s3(user('alice'), [], []).reason, 'because no identity-based policy allows the s3:GetObject action');
});

test('s3: the account root user needs no identity policy', () => {
  assert.equal(s3(root(), [], []).effect, 'Allow');
});

test('s3: a bucket policy deny stops the account root user too', () => {
  const bp = named('bucket-policy', { Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: '*' }, 'resource');
  assert.equal(s3(root(), [], [bp]).effect, 'Deny');
});

test('s3: a public-read bucket policy allows anonymous callers', () => {
  const bp = named('bucket-policy', { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }, 'resource');
  assert.equal(s3({ arn: '*', accountId: '', anonymous: true }, [], [bp]).effect, 'Allow');
});

// Cross-account
test('cross-account: the resource policy alone is not enough', () => {
  const bp = named('bucket-policy', { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:user/bob` }, Action: 's3:GetObject', Resource: '*' }, 'resource');
  const d = s3(user('bob', OTHER), [], [bp]);
  assert.equal(d.effect, 'ImplicitDeny');
  assert.equal(d.reason, 'because no identity-based policy allows the s3:GetObject action');
});

test('cross-account: identity allow + resource policy naming the other account -> Allow', () => {
  const bp = named('bucket-policy', { Effect: 'Allow', Principal: { AWS: OTHER }, Action: 's3:GetObject', Resource: '*' }, 'resource');
  const id = named('bob', { Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }, 'identity');
  assert.equal(s3(user('bob', OTHER), [id], [bp]).effect, 'Allow');
});

test('cross-account: an identity allow without a resource policy -> no resource-based policy', () => {
  const id = named('bob', { Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }, 'identity');
  assert.equal(kms(user('bob', OTHER), [id], [keyPolicyRootOnly]).reason, 'because no resource-based policy allows the kms:Decrypt action');
});

// Session policies
const sessionAllowS3: NamedPolicy = named('session', { Effect: 'Allow', Action: 's3:*', Resource: '*' }, 'identity');
const sessionAllowKms: NamedPolicy = named('session', { Effect: 'Allow', Action: 'kms:*', Resource: '*' }, 'identity');

test('session policy limits: identity allow but session policy silent -> ImplicitDeny', () => {
  const d = kms(session('app', 's1'), [allowDecrypt], [keyPolicyRootOnly], { sessionPolicy: sessionAllowS3 });
  assert.equal(d.effect, 'ImplicitDeny');
  assert.equal(d.reason, 'because no session policy allows the kms:Decrypt action');
});

test('session policy that allows too -> Allow', () => {
  assert.equal(kms(session('app', 's1'), [allowDecrypt], [keyPolicyRootOnly], { sessionPolicy: sessionAllowKms }).effect, 'Allow');
});

test('session policy alone grants nothing', () => {
  assert.equal(s3(session('app', 's1'), [], [], { sessionPolicy: sessionAllowS3 }).effect, 'ImplicitDeny');
});

test('session policy deny is an explicit deny', () => {
  const d = kms(session('app', 's1'), [allowDecrypt], [keyPolicyRootOnly], { sessionPolicy: named('session', { Effect: 'Deny', Action: '*', Resource: '*' }, 'identity') });
  assert.equal(d.reason, 'with an explicit deny in a session policy');
});

test('session policy limits a resource policy naming the role', () => {
  const kp = named('default', { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:role/app` }, Action: 'kms:Decrypt', Resource: '*' }, 'resource');
  assert.equal(kms(session('app', 's1'), [], [kp], { sessionPolicy: sessionAllowS3 }).effect, 'ImplicitDeny');
});

test('session policy does not limit a resource policy naming the session ARN', () => {
  const kp = named('default', { Effect: 'Allow', Principal: { AWS: `arn:aws:sts::${ACCT}:assumed-role/app/s1` }, Action: 'kms:Decrypt', Resource: '*' }, 'resource');
  assert.equal(kms(session('app', 's1'), [], [kp], { sessionPolicy: sessionAllowS3 }).effect, 'Allow');
});

// Messages
test('accessDeniedMessage reads like AWS', () => {
  const c = ctx(user('alice'));
  const d = kms(user('alice'), [], [keyPolicyAdminsOnly]);
  assert.equal(accessDeniedMessage(c, d), `User: ${ALICE} is not authorized to perform: kms:Decrypt on resource: ${KEY_ARN} because no resource-based policy allows the kms:Decrypt action`);
});

test('an Allow says which statement allowed', () => {
  assert.match(kms(user('alice'), [], [keyPolicyAlice]).reason, /^allowed by key policy "default" \(statement "Alice"\)$/);
});

test('an anonymous caller is not matched by a principal naming an account', () => {
  const bp = named('bucket-policy', { Effect: 'Allow', Principal: { AWS: ACCT }, Action: 's3:GetObject', Resource: '*' }, 'resource');
  assert.equal(s3({ arn: '*', accountId: ACCT, anonymous: true }, [], [bp]).effect, 'ImplicitDeny');
});
