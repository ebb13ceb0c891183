// Condition operators, one behaviour per case: match, non-match, absent key,
// ...IfExists, Null, set qualifiers, multiple values and keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditionHolds } from './policy-fixtures.js';
import type { ContextValue } from '../../src/iam/policy/context.js';

type Case = [name: string, condition: object, context: Record<string, ContextValue>, expected: boolean];

const cases: Case[] = [
  // String
  ['StringEquals matches the exact value', { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } }, { 'kms:ViaService': 's3.us-east-1.amazonaws.com' }, true],
  ['StringEquals is case-sensitive on values', { StringEquals: { 'aws:username': 'Alice' } }, { 'aws:username': 'alice' }, false],
  ['StringEquals with an absent key is false', { StringEquals: { 'kms:ViaService': 'x' } }, {}, false],
  ['StringEquals treats * literally', { StringEquals: { 's3:prefix': 'a*' } }, { 's3:prefix': 'abc' }, false],
  ['StringEquals: several policy values are ORed', { StringEquals: { 's3:prefix': ['a', 'b'] } }, { 's3:prefix': 'b' }, true],
  ['StringNotEquals matches a different value', { StringNotEquals: { 's3:prefix': 'a' } }, { 's3:prefix': 'b' }, true],
  ['StringNotEquals fails on the same value', { StringNotEquals: { 's3:prefix': 'a' } }, { 's3:prefix': 'a' }, false],
  ['StringNotEquals: several policy values are NORed', { StringNotEquals: { 's3:prefix': ['a', 'b'] } }, { 's3:prefix': 'b' }, false],
  ['StringNotEquals with an absent key is true', { StringNotEquals: { 's3:prefix': 'a' } }, {}, true],
  ['StringEqualsIgnoreCase ignores case', { StringEqualsIgnoreCase: { 'aws:username': 'ALICE' } }, { 'aws:username': 'alice' }, true],
  ['StringEqualsIgnoreCase non-match', { StringEqualsIgnoreCase: { 'aws:username': 'bob' } }, { 'aws:username': 'alice' }, false],
  ['StringNotEqualsIgnoreCase fails on a case variant', { StringNotEqualsIgnoreCase: { 'aws:username': 'ALICE' } }, { 'aws:username': 'alice' }, false],
  ['StringNotEqualsIgnoreCase matches another value', { StringNotEqualsIgnoreCase: { 'aws:username': 'bob' } }, { 'aws:username': 'alice' }, true],
  ['StringLike * matches any run', { StringLike: { 's3:prefix': 'home/*' } }, { 's3:prefix': 'home/alice/x' }, true],
  ['StringLike ? matches one character', { StringLike: { 's3:prefix': 'v?' } }, { 's3:prefix': 'v1' }, true],
  ['StringLike ? does not match two characters', { StringLike: { 's3:prefix': 'v?' } }, { 's3:prefix': 'v12' }, false],
  ['StringLike is case-sensitive', { StringLike: { 's3:prefix': 'Home/*' } }, { 's3:prefix': 'home/x' }, false],
  ['StringNotLike matches a non-matching value', { StringNotLike: { 's3:prefix': 'home/*' } }, { 's3:prefix': 'tmp/x' }, true],
  ['StringNotLike fails on a matching value', { StringNotLike: { 's3:prefix': 'home/*' } }, { 's3:prefix': 'home/x' }, false],
  ['StringNotLike with an absent key is true', { StringNotLike: { 's3:prefix': 'home/*' } }, {}, true],
  // Condition keys are case-insensitive, including the encryption-context key suffix
  ['condition key names are case-insensitive', { StringEquals: { 'KMS:VIASERVICE': 'x' } }, { 'kms:ViaService': 'x' }, true],
  ['kms:EncryptionContext:<key> matches regardless of key case', { StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }, { 'kms:encryptioncontext:department': 'IT' }, true],
  ['kms:EncryptionContext:<key> value is case-sensitive', { StringEquals: { 'kms:EncryptionContext:Department': 'IT' } }, { 'kms:EncryptionContext:Department': 'it' }, false],
  // Numeric
  ['NumericEquals matches equal numbers in different forms', { NumericEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10.0' }, true],
  ['NumericEquals non-match', { NumericEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '11' }, false],
  ['NumericNotEquals matches a different number', { NumericNotEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '11' }, true],
  ['NumericNotEquals fails on an equal number', { NumericNotEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': 10 }, false],
  ['NumericLessThan matches a smaller number', { NumericLessThan: { 's3:max-keys': 10 } }, { 's3:max-keys': '9' }, true],
  ['NumericLessThan fails on an equal number', { NumericLessThan: { 's3:max-keys': 10 } }, { 's3:max-keys': '10' }, false],
  ['NumericLessThanEquals matches an equal number', { NumericLessThanEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '10' }, true],
  ['NumericLessThanEquals fails on a larger number', { NumericLessThanEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '11' }, false],
  ['NumericGreaterThan matches a larger number', { NumericGreaterThan: { 's3:max-keys': 10 } }, { 's3:max-keys': '11' }, true],
  ['NumericGreaterThan fails on an equal number', { NumericGreaterThan: { 's3:max-keys': 10 } }, { 's3:max-keys': '10' }, false],
  ['NumericGreaterThanEquals matches an equal number', { NumericGreaterThanEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '10' }, true],
  ['NumericGreaterThanEquals fails on a smaller number', { NumericGreaterThanEquals: { 's3:max-keys': 10 } }, { 's3:max-keys': '9' }, false],
  ['Numeric with a non-numeric request value does not match', { NumericLessThan: { 's3:max-keys': 10 } }, { 's3:max-keys': 'ten' }, false],
  ['Numeric with an absent key is false', { NumericLessThan: { 's3:max-keys': 10 } }, {}, false],
  // Date
  ['DateEquals matches the same instant in another zone', { DateEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2024-01-01T01:00:00+01:00' }, true],
  ['DateEquals non-match', { DateEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2024-01-01T00:00:01Z' }, false],
  ['DateNotEquals matches a different instant', { DateNotEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2024-01-02T00:00:00Z' }, true],
  ['DateNotEquals fails on the same instant', { DateNotEquals: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, { 'aws:CurrentTime': '2024-01-01T00:00:00Z' }, false],
  ['DateLessThan matches an earlier time', { DateLessThan: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2024-01-01T00:00:00Z' }, true],
  ['DateLessThan fails on a later time', { DateLessThan: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2025-01-01T00:00:00Z' }, false],
  ['DateLessThanEquals matches the same time', { DateLessThanEquals: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2024-06-30T00:00:00Z' }, true],
  ['DateGreaterThan matches a later time', { DateGreaterThan: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2025-01-01T00:00:00Z' }, true],
  ['DateGreaterThan fails on the same time', { DateGreaterThan: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2024-06-30T00:00:00Z' }, false],
  ['DateGreaterThanEquals matches the same time', { DateGreaterThanEquals: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2024-06-30T00:00:00Z' }, true],
  ['DateGreaterThanEquals fails on an earlier time', { DateGreaterThanEquals: { 'aws:CurrentTime': '2024-06-30T00:00:00Z' } }, { 'aws:CurrentTime': '2024-06-29T00:00:00Z' }, false],
  ['Date compares epoch seconds with ISO 8601', { DateGreaterThan: { 'aws:EpochTime': '2024-01-01T00:00:00Z' } }, { 'aws:EpochTime': String(Date.UTC(2024, 0, 2) / 1000) }, true],
  // Bool
  ['Bool true matches "true"', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': 'true' }, true],
  ['Bool accepts JSON booleans on both sides', { Bool: { 'aws:SecureTransport': false } }, { 'aws:SecureTransport': false }, true],
  ['Bool true does not match "false"', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': 'false' }, false],
  ['Bool with an absent key is false', { Bool: { 'aws:SecureTransport': 'false' } }, {}, false],
  ['BoolIfExists with an absent key is true', { BoolIfExists: { 'aws:SecureTransport': 'true' } }, {}, true],
  // IP
  ['IpAddress matches an address inside the IPv4 block', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.113.77' }, true],
  ['IpAddress does not match outside the IPv4 block', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.114.1' }, false],
  ['IpAddress: a bare address is a /32', { IpAddress: { 'aws:SourceIp': '192.0.2.1' } }, { 'aws:SourceIp': '192.0.2.1' }, true],
  ['IpAddress matches inside an IPv6 block', { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '2001:db8:1234::1' }, true],
  ['IpAddress does not match outside an IPv6 block', { IpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '2001:db9::1' }, false],
  ['IpAddress: IPv4-mapped IPv6 request address counts as IPv4', { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:SourceIp': '::ffff:10.1.2.3' }, true],
  ['IpAddress: IPv4 block never matches a native IPv6 address', { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }, { 'aws:SourceIp': '2001:db8::1' }, false],
  ['NotIpAddress matches outside the block', { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:SourceIp': '192.168.1.1' }, true],
  ['NotIpAddress fails inside the block', { NotIpAddress: { 'aws:SourceIp': ['192.168.0.0/16', '10.0.0.0/8'] } }, { 'aws:SourceIp': '10.9.9.9' }, false],
  ['NotIpAddress with an absent key is true', { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, {}, true],
  // ARN
  ['ArnEquals matches the same ARN', { ArnEquals: { 'aws:SourceArn': 'arn:aws:s3:::bucket' } }, { 'aws:SourceArn': 'arn:aws:s3:::bucket' }, true],
  ['ArnLike matches component wildcards', { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/admin-*' } }, { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/admin-ops' }, true],
  ['ArnLike: a * in the account component does not cross colons', { ArnLike: { 'aws:SourceArn': 'arn:aws:s3:*:bucket' } }, { 'aws:SourceArn': 'arn:aws:s3:us-east-1:111122223333:bucket' }, false],
  ['ArnLike: the resource component may contain colons', { ArnLike: { 'aws:SourceArn': 'arn:aws:logs:*:*:log-group:*' } }, { 'aws:SourceArn': 'arn:aws:logs:us-east-1:111122223333:log-group:a:b' }, true],
  ['ArnLike does not match a different service', { ArnLike: { 'aws:SourceArn': 'arn:aws:s3:::*' } }, { 'aws:SourceArn': 'arn:aws:sqs:us-east-1:111122223333:q' }, false],
  ['ArnNotEquals matches a different ARN', { ArnNotEquals: { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:user/bob' } }, {}, true],
  ['ArnNotLike fails on a matching ARN', { ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:user/*' } }, {}, false],
  // ...IfExists
  ['StringEqualsIfExists with an absent key is true', { StringEqualsIfExists: { 'kms:ViaService': 'x' } }, {}, true],
  ['StringEqualsIfExists with a present non-matching key is false', { StringEqualsIfExists: { 'kms:ViaService': 'x' } }, { 'kms:ViaService': 'y' }, false],
  ['NumericLessThanIfExists with an absent key is true', { NumericLessThanIfExists: { 's3:max-keys': 5 } }, {}, true],
  ['StringNotEqualsIfExists with an absent key is true', { StringNotEqualsIfExists: { 'kms:ViaService': 'x' } }, {}, true],
  ['StringNotEqualsIfExists with the listed value is false', { StringNotEqualsIfExists: { 'kms:ViaService': 'x' } }, { 'kms:ViaService': 'x' }, false],
  // Null
  ['Null true holds when the key is absent', { Null: { 'kms:EncryptionContextKeys': 'true' } }, {}, true],
  ['Null true fails when the key is present', { Null: { 'kms:EncryptionContextKeys': 'true' } }, { 'kms:EncryptionContextKeys': ['a'] }, false],
  ['Null false holds when the key is present', { Null: { 'kms:EncryptionContextKeys': 'false' } }, { 'kms:EncryptionContextKeys': ['a'] }, true],
  ['Null false fails when the key is absent', { Null: { 'kms:EncryptionContextKeys': false } }, {}, false],
  ['Null: an empty multivalued key counts as absent', { Null: { 'kms:EncryptionContextKeys': 'true' } }, { 'kms:EncryptionContextKeys': [] }, true],
  // Set qualifiers
  ['ForAllValues: every request value in the policy set', { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['a', 'b'] } }, { 'kms:EncryptionContextKeys': ['a', 'b'] }, true],
  ['ForAllValues: one request value outside the set fails', { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['a', 'b'] } }, { 'kms:EncryptionContextKeys': ['a', 'c'] }, false],
  ['ForAllValues over an absent key is true', { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['a'] } }, {}, true],
  ['ForAllValues over an empty set is true', { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['a'] } }, { 'kms:EncryptionContextKeys': [] }, true],
  ['ForAnyValue: one request value in the set is enough', { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } }, { 'kms:GrantOperations': ['Encrypt', 'Decrypt'] }, true],
  ['ForAnyValue: no request value in the set fails', { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } }, { 'kms:GrantOperations': ['Encrypt'] }, false],
  ['ForAnyValue over an absent key is false', { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } }, {}, false],
  ['ForAnyValue over an empty set is false', { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': ['Decrypt'] } }, { 'kms:GrantOperations': [] }, false],
  ['ForAnyValue:StringEqualsIfExists over an absent key is true', { 'ForAnyValue:StringEqualsIfExists': { 'kms:GrantOperations': ['Decrypt'] } }, {}, true],
  ['ForAllValues:StringLike with wildcards', { 'ForAllValues:StringLike': { 'aws:TagKeys': 'Created*' } }, { 'aws:TagKeys': ['CreatedBy', 'CreatedAt'] }, true],
  ['ForAllValues:StringNotLike: no value like the pattern holds', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, { 'aws:TagKeys': ['key2:audit'] }, true],
  ['ForAllValues:StringNotLike: a value like the pattern fails', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, { 'aws:TagKeys': ['key1:legal'] }, false],
  ['ForAllValues:StringNotLike over an absent key is true', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, {}, true],
  ['ForAnyValue:StringNotEquals: one value outside the set holds', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:TagKeys': ['a', 'z'] }, true],
  ['ForAnyValue:StringNotEquals: all values inside the set fails', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:TagKeys': ['a', 'b'] }, false],
  // Combining
  ['several keys under one operator are ANDed', { StringEquals: { 'kms:ViaService': 'x', 'kms:CallerAccount': '111122223333' } }, { 'kms:ViaService': 'x', 'kms:CallerAccount': '999999999999' }, false],
  ['several operators are ANDed', { StringEquals: { 'kms:ViaService': 'x' }, Bool: { 'aws:SecureTransport': 'true' } }, { 'kms:ViaService': 'x', 'aws:SecureTransport': 'true' }, true],
  ['a plain operator on a multivalued key needs one matching value', { StringEquals: { 'aws:TagKeys': 'a' } }, { 'aws:TagKeys': ['b', 'a'] }, true],
  ['a plain negated operator on a multivalued key needs no value to match', { StringNotEquals: { 'aws:TagKeys': 'a' } }, { 'aws:TagKeys': ['b', 'a'] }, false],
  // Keys derived from the principal
  ['aws:PrincipalArn comes from the principal', { ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:user/alice' } }, {}, true],
  ['aws:PrincipalAccount comes from the principal', { StringEquals: { 'aws:PrincipalAccount': '111122223333' } }, {}, true],
  ['aws:username comes from the principal', { StringEquals: { 'aws:username': 'alice' } }, {}, true],
];

for (const [name, condition, context, expected] of cases) {
  test(name, () => {
    assert.equal(conditionHolds(condition, context), expected);
  });
}

test('aws:PrincipalTag/<key> comes from the principal tags, key case-insensitive', () => {
  const p = { arn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333', tags: { Team: 'blue' } };
  assert.equal(conditionHolds({ StringEquals: { 'aws:PrincipalTag/team': 'blue' } }, {}, '2012-10-17', p), true);
  assert.equal(conditionHolds({ StringEquals: { 'aws:PrincipalTag/team': 'Blue' } }, {}, '2012-10-17', p), false);
});

test('aws:PrincipalArn of an assumed-role session is the role ARN', () => {
  const p = { arn: 'arn:aws:sts::111122223333:assumed-role/ops/bob', accountId: '111122223333' };
  assert.equal(conditionHolds({ ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/ops' } }, {}, '2012-10-17', p), true);
});

test('a caller-supplied context key overrides the derived one', () => {
  assert.equal(conditionHolds({ StringEquals: { 'aws:username': 'mallory' } }, { 'AWS:UserName': 'mallory' }), true);
});
