// Condition keys a client names that are special in JavaScript (__proto__, constructor,
// toString) are ordinary condition keys to IAM: SimulatePrincipalPolicy's ContextEntries
// bind them like any other, and a policy condition on one that the request does not carry
// sees it absent, never a member of Object.prototype.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateUserCommand, PutUserPolicyCommand, SimulatePrincipalPolicyCommand, type ContextEntry, type IAMClient } from '@aws-sdk/client-iam';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { iamClient } from './iam-helpers.js';

describe('SimulatePrincipalPolicy with condition keys named __proto__, constructor, toString', () => {
  let srv: TestServer;
  let iam: IAMClient;
  let user: string;

  before(async () => {
    srv = await startTestServer();
    iam = iamClient(srv);
    user = `arn:aws:iam::${srv.coffer.root.accountId}:user/special-names`;
    await iam.send(new CreateUserCommand({ UserName: 'special-names' }));
    // Written as JSON text: an object literal's "__proto__" member would set its prototype instead.
    const statement = (sid: string, action: string, condition: string) =>
      `{"Sid":"${sid}","Effect":"Allow","Action":"${action}","Resource":"*","Condition":${condition}}`;
    const doc = `{"Version":"2012-10-17","Statement":[${[
      statement('proto', 's3:GetObject', '{"StringEquals":{"__proto__":"yes"}}'),
      statement('protoList', 's3:PutObject', '{"ForAnyValue:StringEquals":{"__proto__":["b"]}}'),
      statement('ctor', 's3:DeleteObject', '{"StringEquals":{"constructor":"yes"}}'),
      statement('absent', 's3:ListBucket', '{"Null":{"constructor":"true","toString":"true","__proto__":"true"}}'),
    ].join(',')}]}`;
    await iam.send(new PutUserPolicyCommand({ UserName: 'special-names', PolicyName: 'special', PolicyDocument: doc }));
  });
  after(() => srv.stop());

  const decide = async (action: string, entries: ContextEntry[]) => {
    const r = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: user, ActionNames: [action], ContextEntries: entries }));
    return r.EvaluationResults![0]!.EvalDecision;
  };

  it('a context entry named __proto__ is bound: its condition holds with the value, not with another', async () => {
    assert.equal(await decide('s3:GetObject', [{ ContextKeyName: '__proto__', ContextKeyType: 'string', ContextKeyValues: ['yes'] }]), 'allowed');
    assert.equal(await decide('s3:GetObject', [{ ContextKeyName: '__proto__', ContextKeyType: 'string', ContextKeyValues: ['no'] }]), 'implicitDeny');
    assert.equal(await decide('s3:GetObject', []), 'implicitDeny');
  });

  it('a list-typed context entry named __proto__ is bound as a list (it used to become the record\'s prototype)', async () => {
    const entries: ContextEntry[] = [
      { ContextKeyName: '__proto__', ContextKeyType: 'stringList', ContextKeyValues: ['a', 'b'] },
      { ContextKeyName: 'aws:SourceVpc', ContextKeyType: 'string', ContextKeyValues: ['vpc-1'] },
    ];
    assert.equal(await decide('s3:PutObject', entries), 'allowed');
    assert.equal(await decide('s3:PutObject', [{ ContextKeyName: '__proto__', ContextKeyType: 'stringList', ContextKeyValues: ['a', 'c'] }]), 'implicitDeny');
  });

  it('a context entry named constructor is bound like any other', async () => {
    assert.equal(await decide('s3:DeleteObject', [{ ContextKeyName: 'constructor', ContextKeyType: 'string', ContextKeyValues: ['yes'] }]), 'allowed');
    assert.equal(await decide('s3:DeleteObject', [{ ContextKeyName: 'constructor', ContextKeyType: 'string', ContextKeyValues: ['no'] }]), 'implicitDeny');
  });

  it('condition keys constructor, toString and __proto__ that no entry names are absent (Null true holds)', async () => {
    assert.equal(await decide('s3:ListBucket', [{ ContextKeyName: 'aws:SourceVpc', ContextKeyType: 'string', ContextKeyValues: ['vpc-1'] }]), 'allowed');
    assert.equal(await decide('s3:ListBucket', [{ ContextKeyName: 'tostring', ContextKeyType: 'string', ContextKeyValues: ['x'] }]), 'implicitDeny');
  });
});
