// The authorization micro-benchmark: what one policy evaluation costs a request, in this
// process, with no I/O. One "request" is an SSE-KMS PutObject by an IAM user with three
// identity policies: the S3 decision (the three identity policies and the bucket
// policy, conditions on the SSE headers, aws:SecureTransport and aws:SourceIp) and the
// KMS decision S3 then needs for GenerateDataKey (the three identity policies and the
// key policy, with kms:ViaService and the encryption context). Each iteration builds
// its request contexts afresh, as the server does. Target: < 50 µs per request.

import { authorize, parsePolicyDocument, type NamedPolicy, type RequestContext } from '../src/iam/policy/index.js';
import { fmtInt, type Row } from './report.js';

const SCENARIO = 'authorization: 3 identity policies + bucket policy + key policy';
const TARGET_US = 50;
const ACCT = '111122223333';
const USER = `arn:aws:iam::${ACCT}:user/alice`;
const BUCKET = 'analytics';
const KEY = `arn:aws:kms:us-east-1:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

const doc = (kind: 'identity' | 'resource', ...statements: object[]) =>
  parsePolicyDocument(JSON.stringify({ Version: '2012-10-17', Statement: statements }), { kind });

function policies(): { identity: NamedPolicy[]; bucket: NamedPolicy; key: NamedPolicy } {
  const identity: NamedPolicy[] = [
    { name: 'read-only-elsewhere', document: doc('identity',
      { Effect: 'Allow', Action: ['s3:Get*', 's3:List*'], Resource: ['arn:aws:s3:::reports', 'arn:aws:s3:::reports/*'] },
      { Effect: 'Deny', Action: 's3:DeleteBucket', Resource: '*' },
    ) },
    { name: 'analytics-team', document: doc('identity',
      { Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/team/\${aws:username}/*`] },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${BUCKET}`, Condition: { StringLike: { 's3:prefix': 'team/*' } } },
    ) },
    { name: 'kms-use', document: doc('identity',
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: KEY, Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } },
      { Effect: 'Deny', Action: 'kms:ScheduleKeyDeletion', Resource: '*' },
    ) },
  ];
  const bucket: NamedPolicy = { name: 'bucket-policy', document: doc('resource',
    { Sid: 'TlsOnly', Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    { Sid: 'RequireKms', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${BUCKET}/*`, Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
    { Sid: 'RequireKey', Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${BUCKET}/*`, Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': KEY } } },
    { Sid: 'Office', Effect: 'Allow', Principal: { AWS: USER }, Action: ['s3:GetObject', 's3:PutObject'], Resource: `arn:aws:s3:::${BUCKET}/shared/*`, Condition: { IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '192.0.2.0/24'] } } },
  ) };
  const key: NamedPolicy = { name: 'default', document: doc('resource',
    { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'kms:*', Resource: '*' },
    { Sid: 'S3Only', Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { StringNotEqualsIfExists: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } },
  ) };
  return { identity, bucket, key };
}

/** One request's two decisions; returns whether both allowed (so the work cannot be optimized away). */
function oneRequest(p: ReturnType<typeof policies>, i: number): boolean {
  const principal = { arn: USER, accountId: ACCT, userName: 'alice', userId: 'AIDAEXAMPLEEXAMPLE1' };
  const now = new Date();
  const objectArn = `arn:aws:s3:::${BUCKET}/team/alice/part-${i & 1023}.parquet`;
  const s3: RequestContext = {
    principal,
    action: 's3:PutObject',
    resource: objectArn,
    conditions: {
      'aws:SecureTransport': 'true',
      'aws:SourceIp': '10.1.2.3',
      'aws:CurrentTime': now.toISOString(),
      'aws:EpochTime': Math.floor(now.getTime() / 1000),
      's3:x-amz-server-side-encryption': 'aws:kms',
      's3:x-amz-server-side-encryption-aws-kms-key-id': KEY,
    },
  };
  const a = authorize({ identityPolicies: p.identity, resourcePolicies: [p.bucket], ctx: s3, resourceAccountId: ACCT, resourcePolicyMode: 's3' });
  const kms: RequestContext = {
    principal,
    action: 'kms:GenerateDataKey',
    resource: KEY,
    conditions: { 'kms:ViaService': 's3.us-east-1.amazonaws.com', 'kms:CallerAccount': ACCT, 'kms:EncryptionContext:aws:s3:arn': objectArn, 'kms:EncryptionContextKeys': ['aws:s3:arn'] },
  };
  const b = authorize({ identityPolicies: p.identity, resourcePolicies: [p.key], ctx: kms, resourceAccountId: ACCT, resourcePolicyMode: 'kms' });
  return a.effect === 'Allow' && b.effect === 'Allow';
}

export function benchAuthz(opts: { quick?: boolean } = {}): Row[] {
  const p = policies();
  if (!oneRequest(p, 0)) throw new Error('bench/authz.ts: the benchmark request is not allowed; the policies are wrong');
  const n = opts.quick ? 50_000 : 200_000;
  for (let i = 0; i < 20_000; i++) oneRequest(p, i); // warm up the JIT
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) oneRequest(p, i);
    samples.push(Number(process.hrtime.bigint() - t) / 1000 / n);
  }
  samples.sort((x, y) => x - y);
  const median = samples[2]!;
  return [{
    scenario: SCENARIO,
    variant: 'in-process',
    result: `${median.toFixed(1)} µs per request (S3 + KMS decision; median of 5 × ${fmtInt(n)}; best ${samples[0]!.toFixed(1)} µs)`,
    target: `< ${TARGET_US} µs`,
    met: median < TARGET_US,
    value: median,
    lowerIsBetter: true,
  }];
}
