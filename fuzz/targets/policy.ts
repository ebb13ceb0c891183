// Fuzz target "policy": parsePolicyDocument over arbitrary text, then, when it parses,
// evaluatePolicy against a fixed request (so condition operators, variables and ARN
// patterns see the values the parser let through). Byte 0 chooses the kind (bit 0:
// identity or resource policy) and whether Sids must be unique (bit 1); the rest is the
// document. The only error allowed is PolicyDocumentError.

import { PolicyDocumentError, evaluatePolicy, parsePolicyDocument, type RequestContext } from '../../src/iam/policy/index.js';
import type { FuzzTarget } from '../engine.js';
import { outcomeLabel } from '../engine.js';
import { mutateJson } from '../structured.js';

const CONTEXT: RequestContext = {
  principal: { arn: 'arn:aws:iam::123456789012:user/alice', accountId: '123456789012', userName: 'alice', userId: 'AIDAEXAMPLE', tags: { team: 'storage' } },
  action: 's3:GetObject',
  resource: 'arn:aws:s3:::bucket/a/b.txt',
  conditions: {
    'aws:SourceIp': '192.0.2.10',
    'aws:CurrentTime': '2026-01-01T00:00:00Z',
    'aws:EpochTime': '1767225600',
    'aws:SecureTransport': false,
    's3:max-keys': 10,
    'kms:EncryptionContextKeys': ['a', 'b'],
    'kms:EncryptionContext:a': 'x',
  },
};

const KEYS = [
  'Version', 'Id', 'Statement', 'Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition', 'AWS', 'Service',
  'Federated', 'CanonicalUser', 'Allow', 'Deny', '2012-10-17', '2008-10-17', 's3:GetObject', 'kms:*', 'arn:aws:s3:::bucket/*', '123456789012', 'StringEquals',
  'StringLike', 'StringNotEquals', 'StringEqualsIgnoreCase', 'NumericLessThan', 'NumericEquals', 'DateLessThan', 'DateGreaterThan', 'Bool', 'BinaryEquals',
  'IpAddress', 'NotIpAddress', 'ArnLike', 'ArnEquals', 'Null', 'ForAnyValue:StringLike', 'ForAllValues:StringEquals', 'StringLikeIfExists', 'aws:SourceIp',
  'aws:CurrentTime', 'aws:EpochTime', 'aws:SecureTransport', 's3:max-keys', 'kms:EncryptionContextKeys', 'kms:EncryptionContext:a', 'aws:username',
  'aws:PrincipalTag/team', '192.0.2.0/24', '2001:db8::/32', '2026-01-01T00:00:00Z', '1767225600', 'true', 'false', '5',
];

export const target: FuzzTarget = {
  name: 'policy',
  maxLen: 8192,
  dictionary: [
    '{', '}', '[', ']', ',', ':', '"', '"Version":"2012-10-17"', '"Version":"2008-10-17"', '"Statement":', '"Sid":"s"', '"Effect":"Allow"', '"Effect":"Deny"',
    '"Principal":"*"', '"Principal":{"AWS":"123456789012"}', '"NotPrincipal":', '"Action":"s3:*"', '"NotAction":', '"Resource":"arn:aws:s3:::bucket/*"',
    '"NotResource":', '"Condition":{', '"StringEquals":', '"StringLike":', '"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}', '"NotIpAddress":', '"DateLessThan":',
    '"NumericLessThan":{"s3:max-keys":"5"}', '"Bool":{"aws:SecureTransport":"true"}', '"Null":', '"ArnLike":', '"ForAnyValue:StringEquals":', '"ForAllValues:StringLike":',
    'IfExists', '"BinaryEquals":', '"${aws:username}"', '${', '${*}', '${?}', '${$}', '"*"', '"?"', '"::/0"', '"1.2.3.4/33"', '"2026-01-01T00:00:00Z"', '"1e400"', 'null',
    'true', '-0', '"__proto__"', '"constructor"', '\\u0000', '\\ud800', '"kms:EncryptionContext:a"', '"aws:PrincipalTag/team"', '"Service":"s3.amazonaws.com"',
  ],
  mutate(rng, input) {
    if (input.length === 0) return undefined;
    const doc = mutateJson(rng, input.subarray(1).toString('utf8'), KEYS);
    return doc === undefined ? undefined : Buffer.concat([input.subarray(0, 1), Buffer.from(doc, 'utf8')]);
  },
  run(data) {
    if (data.length === 0) return 'empty input';
    const kind = data[0]! & 1 ? 'resource' : 'identity';
    try {
      const doc = parsePolicyDocument(data.subarray(1).toString('utf8'), { kind, requireUniqueSids: (data[0]! & 2) !== 0 });
      return `ok: ${kind} ${evaluatePolicy(doc, CONTEXT, { kind }).result}`;
    } catch (e) {
      if (e instanceof PolicyDocumentError) return outcomeLabel(`${kind} ${e.name}`, e.message, data.toString('utf8'));
      throw e;
    }
  },
};
