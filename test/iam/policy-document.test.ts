// Parsing and validation of policy documents: accepted shapes, normalization, and
// rejections whose messages name the statement and element.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyDocument, PolicyDocumentError, type ParseOptions } from '../../src/iam/policy/document.js';

const RES: ParseOptions = { kind: 'resource' };
const ID: ParseOptions = { kind: 'identity' };

function rejects(text: string, opts: ParseOptions, message: RegExp, element?: string): void {
  assert.throws(
    () => parsePolicyDocument(text, opts),
    (e: unknown) => {
      assert.ok(e instanceof PolicyDocumentError, `expected PolicyDocumentError, got ${String(e)}`);
      assert.match(e.message, message);
      if (element !== undefined) assert.equal(e.element, element);
      return true;
    },
  );
}

const stmt = (s: object, version = '2012-10-17'): string => JSON.stringify({ Version: version, Statement: s });

test('a single statement object is accepted as well as an array', () => {
  const d = parsePolicyDocument(stmt({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }), ID);
  assert.equal(d.statements.length, 1);
  assert.deepEqual(d.statements[0]!.action, ['kms:Decrypt']);
  assert.deepEqual(d.statements[0]!.resource, ['*']);
});

test('Version, Id and Sid are kept; a missing Version means 2008-10-17', () => {
  const d = parsePolicyDocument(JSON.stringify({ Id: 'p1', Statement: [{ Sid: 'A b', Effect: 'Deny', NotAction: ['s3:*'], NotResource: 'arn:aws:s3:::b/*' }] }), ID);
  assert.equal(d.version, '2008-10-17');
  assert.equal(d.id, 'p1');
  assert.equal(d.statements[0]!.sid, 'A b');
  assert.deepEqual(d.statements[0]!.notAction, ['s3:*']);
});

test('an account-id principal is normalized to the account root ARN', () => {
  const d = parsePolicyDocument(stmt({ Effect: 'Allow', Principal: { AWS: ['111122223333', 'arn:aws:iam::444455556666:user/bob'] }, Action: '*', Resource: '*' }), RES);
  assert.deepEqual(d.statements[0]!.principal!.aws, ['arn:aws:iam::111122223333:root', 'arn:aws:iam::444455556666:user/bob']);
});

test('Principal "*" and {"AWS": "*"} both mean everyone', () => {
  for (const principal of ['*', { AWS: '*' }]) {
    const d = parsePolicyDocument(stmt({ Effect: 'Allow', Principal: principal, Action: '*', Resource: '*' }), RES);
    assert.equal(d.statements[0]!.principal!.any, true);
  }
});

test('Service and CanonicalUser principals are kept by type', () => {
  const d = parsePolicyDocument(stmt({ Effect: 'Allow', Principal: { Service: 's3.amazonaws.com', CanonicalUser: 'abc' }, Action: '*', Resource: '*' }), RES);
  assert.deepEqual(d.statements[0]!.principal!.service, ['s3.amazonaws.com']);
  assert.deepEqual(d.statements[0]!.principal!.canonicalUser, ['abc']);
});

test('condition values may be strings, numbers or booleans and become strings', () => {
  const d = parsePolicyDocument(stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NumericLessThan: { 's3:max-keys': 10 }, Bool: { 'aws:SecureTransport': true } } }), ID);
  assert.deepEqual(d.statements[0]!.conditions.map((c) => c.values), [['10'], ['true']]);
  assert.equal(d.statements[0]!.conditions[1]!.keyLower, 'aws:securetransport');
});

type Bad = [name: string, text: string, opts: ParseOptions, message: RegExp, element?: string];
const bad: Bad[] = [
  ['bad JSON', '{"Statement": [', ID, /not valid JSON/],
  ['a JSON array instead of an object', '[]', ID, /must be a JSON object/],
  ['an unknown Version', JSON.stringify({ Version: '2012-10-18', Statement: [] }), ID, /Version must be "2012-10-17" or "2008-10-17"/, 'Version'],
  ['no Statement', JSON.stringify({ Version: '2012-10-17' }), ID, /no Statement/, 'Statement'],
  ['an empty Statement array', stmt([]), ID, /Statement must not be empty/, 'Statement'],
  ['an unknown top-level element', JSON.stringify({ Version: '2012-10-17', Statements: [] }), ID, /unknown top-level element "Statements"/],
  ['a lower-case Effect', stmt({ Effect: 'allow', Action: '*', Resource: '*' }), ID, /^Statement\[0\]: Effect must be "Allow" or "Deny", got "allow"$/, 'Effect'],
  ['a missing Effect, named by Sid', stmt([{ Effect: 'Allow', Action: '*', Resource: '*' }, { Sid: 'Two', Action: '*', Resource: '*' }]), ID, /^Statement\[1\] \(Sid "Two"\): missing Effect$/, 'Effect'],
  ['a missing Action', stmt({ Effect: 'Allow', Resource: '*' }), ID, /missing Action \(or NotAction\)/, 'Action'],
  ['both Action and NotAction', stmt({ Effect: 'Allow', Action: '*', NotAction: 's3:*', Resource: '*' }), ID, /Action and NotAction cannot both be present/, 'Action'],
  ['a missing Resource', stmt({ Effect: 'Allow', Action: '*' }), ID, /missing Resource \(or NotResource\)/, 'Resource'],
  ['an action without a service prefix', stmt({ Effect: 'Allow', Action: 'Decrypt', Resource: '*' }), ID, /"Decrypt" is not an action/, 'Action'],
  ['a resource that is not an ARN', stmt({ Effect: 'Allow', Action: '*', Resource: 'bucket/*' }), ID, /"bucket\/\*" is not an ARN or "\*"/, 'Resource'],
  ['an empty Action array', stmt({ Effect: 'Allow', Action: [], Resource: '*' }), ID, /Action: must not be an empty array/, 'Action'],
  ['a non-string action', stmt({ Effect: 'Allow', Action: [1], Resource: '*' }), ID, /Action: must be a string or an array of strings/, 'Action'],
  ['an unknown statement element', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Conditions: {} }), ID, /unknown element "Conditions"/, 'Conditions'],
  ['a Principal in an identity policy', stmt({ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }), ID, /Principal is not allowed in an identity-based policy/, 'Principal'],
  ['no Principal in a resource policy', stmt({ Effect: 'Allow', Action: '*', Resource: '*' }), RES, /missing Principal \(or NotPrincipal\)/, 'Principal'],
  ['a partial wildcard principal', stmt({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/*' }, Action: '*', Resource: '*' }), RES, /wildcards are allowed only as the whole principal/, 'Principal'],
  ['a malformed principal', stmt({ Effect: 'Allow', Principal: { AWS: 'alice' }, Action: '*', Resource: '*' }), RES, /invalid principal "alice"/, 'Principal'],
  ['an unknown principal type', stmt({ Effect: 'Allow', Principal: { User: 'x' }, Action: '*', Resource: '*' }), RES, /unknown principal type "User"/, 'Principal'],
  ['an unknown condition operator', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEqual: { 'aws:username': 'a' } } }), ID, /Condition: unknown condition operator "StringEqual"/, 'Condition'],
  ['an unknown set qualifier', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { 'ForSomeValues:StringEquals': { k: 'a' } } }), ID, /unknown set qualifier "ForSomeValues"/, 'Condition'],
  ['Null with IfExists', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NullIfExists: { k: 'true' } } }), ID, /Null takes neither IfExists nor a set qualifier/, 'Condition'],
  ['a Null value other than true/false', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { Null: { k: 'yes' } } }), ID, /"yes" must be "true" or "false"/, 'Condition'],
  ['a non-numeric Numeric value', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NumericLessThan: { k: 'ten' } } }), ID, /"ten" is not a number/, 'Condition'],
  ['a bad date', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { DateLessThan: { 'aws:CurrentTime': 'tomorrow' } } }), ID, /"tomorrow" is not a date/, 'Condition'],
  ['a bad CIDR', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } }), ID, /"10.0.0.0\/33" is not an IP address or CIDR block/, 'Condition'],
  ['a condition value that is an object', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: { k: { a: 1 } } } }), ID, /values must be strings, numbers or booleans/, 'Condition'],
  ['an operator with no keys', stmt({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: {} } }), ID, /must map at least one condition key/, 'Condition'],
];

for (const [name, text, opts, message, element] of bad) {
  test(`rejects ${name}`, () => rejects(text, opts, message, element));
}

test('the error carries the statement index', () => {
  try {
    parsePolicyDocument(stmt([{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Nope', Action: '*', Resource: '*' }]), ID);
    assert.fail('expected a PolicyDocumentError');
  } catch (e) {
    assert.ok(e instanceof PolicyDocumentError);
    assert.equal(e.statement, 1);
  }
});

test('a document over the size limit is rejected before parsing', () => {
  const text = stmt({ Effect: 'Allow', Action: '*', Resource: '*', Sid: 'x'.repeat(200) });
  rejects(text, { kind: 'identity', maxBytes: 100 }, new RegExp(`policy document is ${Buffer.byteLength(text)} bytes; the limit is 100 bytes`));
});

test('the default size limit is 32 KiB (KMS)', () => {
  const pad = (n: number): string => stmt({ Effect: 'Allow', Action: '*', Resource: '*', Sid: 'x'.repeat(n) });
  const base = Buffer.byteLength(pad(0));
  assert.doesNotThrow(() => parsePolicyDocument(pad(32768 - base), ID));
  rejects(pad(32769 - base), ID, /limit is 32768 bytes/);
});

test('size is counted in UTF-8 bytes, not characters', () => {
  const text = stmt({ Effect: 'Allow', Action: '*', Resource: '*', Sid: 'é'.repeat(40) });
  rejects(text, { kind: 'identity', maxBytes: text.length }, /bytes; the limit is/);
});

test('duplicate Sids are rejected only when requireUniqueSids is set', () => {
  const text = stmt([{ Sid: 'A', Effect: 'Allow', Action: '*', Resource: '*' }, { Sid: 'A', Effect: 'Deny', Action: '*', Resource: '*' }]);
  assert.doesNotThrow(() => parsePolicyDocument(text, ID));
  rejects(text, { kind: 'identity', requireUniqueSids: true }, /Sid "A" is used by more than one statement/, 'Sid');
});
