// SimulatePrincipalPolicy answers "can alice kms:Decrypt key K, and why not" with the
// resource's own policy when no ResourcePolicy is given (a Coffer addition to AWS's
// simulator, which looks at identity policies only): the key policy, evaluated as KMS
// evaluates it, and a bucket's policy.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateUserCommand, PutUserPolicyCommand, SimulatePrincipalPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { iamClient, policy } from './iam-helpers.js';

describe('SimulatePrincipalPolicy with resource policies', () => {
  let srv: TestServer;
  let iam: IAMClient;
  let acct: string;
  let alice: string;

  before(async () => {
    srv = await startTestServer();
    iam = iamClient(srv);
    acct = srv.coffer.root.accountId;
    alice = `arn:aws:iam::${acct}:user/sim-alice`;
    await iam.send(new CreateUserCommand({ UserName: 'sim-alice' }));
    await iam.send(new PutUserPolicyCommand({ UserName: 'sim-alice', PolicyName: 'all', PolicyDocument: policy([{ Effect: 'Allow', Action: ['kms:Decrypt', 's3:GetObject'], Resource: '*' }]) }));
  });
  after(() => srv.stop());

  const decide = async (action: string, resource: string, resourcePolicy?: string) => {
    const r = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: alice, ActionNames: [action], ResourceArns: [resource], ResourcePolicy: resourcePolicy }));
    return r.EvaluationResults![0]!;
  };

  it('a key with the default key policy delegates to IAM: her identity policy allows kms:Decrypt', async () => {
    const key = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    assert.equal((await decide('kms:Decrypt', key.Arn!)).EvalDecision, 'allowed');
  });

  it('a key policy that does not delegate to IAM and does not name her: implicit deny, whatever her identity policy says', async () => {
    const own = policy([{ Sid: 'root only', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalArn': `arn:aws:iam::${acct}:root` } } }]);
    const key = (await srv.kms.send(new CreateKeyCommand({ Policy: own, BypassPolicyLockoutSafetyCheck: true }))).KeyMetadata!;
    assert.equal((await decide('kms:Decrypt', key.Arn!)).EvalDecision, 'implicitDeny');
  });

  it('a key policy statement denying her: explicit deny, and the key policy is named as the reason', async () => {
    const deny = policy([
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'not alice', Effect: 'Deny', Principal: { AWS: alice }, Action: 'kms:Decrypt', Resource: '*' },
    ]);
    const key = (await srv.kms.send(new CreateKeyCommand({ Policy: deny }))).KeyMetadata!;
    const r = await decide('kms:Decrypt', key.Arn!);
    assert.equal(r.EvalDecision, 'explicitDeny');
    assert.ok(r.MatchedStatements!.some((m) => m.SourcePolicyId === 'ResourcePolicy'), JSON.stringify(r.MatchedStatements));
  });

  it("a bucket's policy counts for its objects; a ResourcePolicy given in the request takes its place", async () => {
    const bucket = uniqueBucket('sim');
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const object = `arn:aws:s3:::${bucket}/report.csv`;
    assert.equal((await decide('s3:GetObject', object)).EvalDecision, 'allowed');
    await srv.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy([{ Effect: 'Deny', Principal: { AWS: alice }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }]) }));
    assert.equal((await decide('s3:GetObject', object)).EvalDecision, 'explicitDeny');
    const permissive = policy([{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: '*' }]);
    assert.equal((await decide('s3:GetObject', object, permissive)).EvalDecision, 'allowed');
  });
});
