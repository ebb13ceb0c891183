// Action, Resource and Principal matching, NotAction/NotResource/NotPrincipal, and
// policy variables, through evaluatePolicy on one-statement documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatePolicy } from '../../src/iam/policy/evaluate.js';
import type { RequestPrincipal } from '../../src/iam/policy/context.js';
import { ACCT, ALICE, KEY_ARN, OTHER, ROOT, ctx, doc, root, session, user } from './policy-fixtures.js';

function identityApplies(statement: object, action: string, resource: string, principal: RequestPrincipal = user('alice'), version = '2012-10-17'): boolean {
  const d = doc({ Effect: 'Allow', ...statement }, 'identity', version);
  return evaluatePolicy(d, ctx(principal, action, resource), { kind: 'identity' }).result === 'Allow';
}

type ActionCase = [name: string, pattern: string | string[], action: string, expected: boolean];
const actionCases: ActionCase[] = [
  ['"*" matches every action', '*', 'kms:Decrypt', true],
  ['an exact action matches', 'kms:Decrypt', 'kms:Decrypt', true],
  ['action names are case-insensitive', 'KMS:decrypt', 'kms:Decrypt', true],
  ['a service wildcard matches its actions', 'kms:*', 'kms:GenerateDataKey', true],
  ['a service wildcard does not match another service', 'kms:*', 's3:GetObject', false],
  ['a prefix wildcard matches', 'kms:GenerateDataKey*', 'kms:GenerateDataKeyWithoutPlaintext', true],
  ['a prefix wildcard does not match other actions', 'kms:Describe*', 'kms:Decrypt', false],
  ['? matches exactly one character', 's3:GetObject?cl', 's3:GetObjectAcl', true],
  ['one matching entry in a list is enough', ['s3:GetObject', 'kms:Decrypt'], 'kms:Decrypt', true],
];
for (const [name, pattern, action, expected] of actionCases) {
  test(`Action: ${name}`, () => assert.equal(identityApplies({ Action: pattern, Resource: '*' }, action, KEY_ARN), expected));
}

test('NotAction applies to every action not listed', () => {
  assert.equal(identityApplies({ NotAction: 'kms:ScheduleKeyDeletion', Resource: '*' }, 'kms:Decrypt', KEY_ARN), true);
  assert.equal(identityApplies({ NotAction: 'kms:Schedule*', Resource: '*' }, 'kms:ScheduleKeyDeletion', KEY_ARN), false);
});

type ResourceCase = [name: string, pattern: string, resource: string, expected: boolean];
const resourceCases: ResourceCase[] = [
  ['"*" matches every resource', '*', KEY_ARN, true],
  ['an exact ARN matches', KEY_ARN, KEY_ARN, true],
  ['ARNs are case-sensitive', 'arn:aws:s3:::Bucket/a', 'arn:aws:s3:::bucket/a', false],
  ['a trailing * matches every object in a bucket', 'arn:aws:s3:::bucket/*', 'arn:aws:s3:::bucket/a/b/c.txt', true],
  ['a trailing * does not match the bucket itself', 'arn:aws:s3:::bucket/*', 'arn:aws:s3:::bucket', false],
  ['a * ending a segment may run past colons', 'arn:aws:kms:*', KEY_ARN, true],
  ['a * inside a segment does not cross a colon', 'arn:aws:kms:us-*-1:111122223333:key/*', 'arn:aws:kms:us-east-1:111122223333:key/k', true],
  ['a * inside a segment cannot swallow the next segment', 'arn:aws:kms:us-*1:key/*', 'arn:aws:kms:us-east-1:111122223333:key/k', false],
  ['? matches one character within a segment', 'arn:aws:kms:us-east-?:111122223333:key/*', 'arn:aws:kms:us-east-1:111122223333:key/k', true],
  ['a key ARN pattern does not match an alias ARN', 'arn:aws:kms:*:111122223333:key/*', 'arn:aws:kms:us-east-1:111122223333:alias/x', false],
];
for (const [name, pattern, resource, expected] of resourceCases) {
  test(`Resource: ${name}`, () => assert.equal(identityApplies({ Action: '*', Resource: pattern }, 'kms:Decrypt', resource), expected));
}

test('NotResource applies to every resource not listed', () => {
  assert.equal(identityApplies({ Action: '*', NotResource: 'arn:aws:s3:::secret/*' }, 's3:GetObject', 'arn:aws:s3:::public/a'), true);
  assert.equal(identityApplies({ Action: '*', NotResource: 'arn:aws:s3:::secret/*' }, 's3:GetObject', 'arn:aws:s3:::secret/a'), false);
});

// Policy variables
test('${aws:username} in Resource expands to the caller name', () => {
  const st = { Action: 's3:*', Resource: 'arn:aws:s3:::home/${aws:username}/*' };
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/alice/x'), true);
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/bob/x'), false);
});

test('a variable value is literal: a user name with * is no wildcard', () => {
  const st = { Action: 's3:*', Resource: 'arn:aws:s3:::home/${aws:username}' };
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/anything', user('*')), false);
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/*', user('*')), true);
});

test('${*} is a literal asterisk, not a wildcard', () => {
  const st = { Action: 's3:*', Resource: 'arn:aws:s3:::b/${*}' };
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::b/*'), true);
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::b/x'), false);
});

test('${?} and ${$} are literal characters', () => {
  assert.equal(identityApplies({ Action: '*', Resource: 'arn:aws:s3:::b/a${?}${$}' }, 's3:GetObject', 'arn:aws:s3:::b/a?$'), true);
});

test('an unresolved variable matches nothing', () => {
  const st = { Action: 's3:*', Resource: 'arn:aws:s3:::home/${aws:username}/*' };
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/x/y', session('ops', 'bob')), false);
});

test('a variable default applies when the key is absent', () => {
  const st = { Action: 's3:*', Resource: "arn:aws:s3:::home/${aws:username, 'shared'}/*" };
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/shared/y', session('ops', 'bob')), true);
});

test('variables are not expanded in 2008-10-17 documents', () => {
  const st = { Action: 's3:*', Resource: 'arn:aws:s3:::home/${aws:username}/*' };
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/alice/x', user('alice'), '2008-10-17'), false);
  assert.equal(identityApplies(st, 's3:GetObject', 'arn:aws:s3:::home/${aws:username}/x', user('alice'), '2008-10-17'), true);
});

test('${aws:PrincipalTag/team} and ${aws:userid} expand in condition values', () => {
  const p = user('alice', ACCT, { tags: { team: 'blue' } });
  const st = { Action: '*', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:team': '${aws:PrincipalTag/team}', 'kms:EncryptionContext:owner': '${aws:userid}' } } };
  const d = doc({ Effect: 'Allow', ...st });
  const run = (team: string): string => evaluatePolicy(d, ctx(p, 'kms:Decrypt', KEY_ARN, { 'kms:EncryptionContext:team': team, 'kms:EncryptionContext:owner': 'AIDAALICE' }), { kind: 'identity' }).result;
  assert.equal(run('blue'), 'Allow');
  assert.equal(run('red'), 'NotApplicable');
});

test('a variable in StringLike keeps the pattern wildcards around it', () => {
  const d = doc({ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*', Condition: { StringLike: { 's3:prefix': 'home/${aws:username}/*' } } });
  const run = (prefix: string): string => evaluatePolicy(d, ctx(user('alice'), 's3:ListBucket', 'arn:aws:s3:::b', { 's3:prefix': prefix }), { kind: 'identity' }).result;
  assert.equal(run('home/alice/docs'), 'Allow');
  assert.equal(run('home/bob/docs'), 'NotApplicable');
});

test('an unresolved variable in a condition makes the condition false', () => {
  const d = doc({ Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringNotEquals: { 's3:prefix': '${aws:username}' } } });
  assert.equal(evaluatePolicy(d, ctx(session('ops', 'bob'), 's3:ListBucket', 'arn:aws:s3:::b', { 's3:prefix': 'x' }), { kind: 'identity' }).result, 'NotApplicable');
});

// Principal
function resourceMatch(principal: object | string, caller: RequestPrincipal, effect: 'Allow' | 'Deny' = 'Allow', not = false): string | undefined {
  const d = doc({ Effect: effect, [not ? 'NotPrincipal' : 'Principal']: principal, Action: '*', Resource: '*' }, 'resource');
  const e = evaluatePolicy(d, ctx(caller), { kind: 'resource' });
  const m = [...e.allows, ...e.denies][0];
  return m ? m.principalMatch : undefined;
}

type PrincipalCase = [name: string, principal: object | string, caller: RequestPrincipal, expected: string | undefined];
const principalCases: PrincipalCase[] = [
  ['"*" matches any caller', '*', user('bob', OTHER), 'any'],
  ['an exact user ARN matches that user', { AWS: ALICE }, user('alice'), 'self'],
  ['a user ARN does not match another user', { AWS: ALICE }, user('bob'), undefined],
  ['the account root matches the root user itself', { AWS: ROOT }, root(), 'self'],
  ['the account root names other principals of the account only by delegation', { AWS: ROOT }, user('bob'), 'account'],
  ['an account id works like the root ARN', { AWS: ACCT }, user('bob'), 'account'],
  ['another account root does not match', { AWS: OTHER }, user('bob'), undefined],
  ['a role ARN matches its assumed-role sessions', { AWS: `arn:aws:iam::${ACCT}:role/ops` }, session('ops', 'bob'), 'role'],
  ['a role ARN does not match sessions of another role', { AWS: `arn:aws:iam::${ACCT}:role/ops` }, session('dev', 'bob'), undefined],
  ['a session ARN matches that session', { AWS: `arn:aws:sts::${ACCT}:assumed-role/ops/bob` }, session('ops', 'bob'), 'session'],
  ['a service principal matches that service', { Service: 's3.amazonaws.com' }, { arn: 's3.amazonaws.com', accountId: '', service: 's3.amazonaws.com' }, 'service'],
  ['a service principal does not match a user', { Service: 's3.amazonaws.com' }, user('alice'), undefined],
];
for (const [name, principal, caller, expected] of principalCases) {
  test(`Principal: ${name}`, () => assert.equal(resourceMatch(principal, caller), expected));
}

test('a Deny naming the account root applies to every principal of the account', () => {
  assert.equal(resourceMatch({ AWS: ROOT }, user('bob'), 'Deny'), 'account');
});

test('NotPrincipal with Allow applies to everyone not listed', () => {
  assert.equal(resourceMatch({ AWS: ALICE }, user('bob'), 'Allow', true), 'any');
  assert.equal(resourceMatch({ AWS: ALICE }, user('alice'), 'Allow', true), undefined);
});

test('NotPrincipal with Deny exempts a user only if its account is listed too', () => {
  assert.equal(resourceMatch({ AWS: ALICE }, user('alice'), 'Deny', true), 'any');
  assert.equal(resourceMatch({ AWS: [ALICE, ROOT] }, user('alice'), 'Deny', true), undefined);
  assert.equal(resourceMatch({ AWS: [ALICE, ROOT] }, user('bob'), 'Deny', true), 'any');
});
