// Key policies through @aws-sdk/client-kms against the real server: GetKeyPolicy,
// PutKeyPolicy, ListKeyPolicies and CreateKey's Policy — the default policy, malformed
// documents, the lockout safety check with and without the bypass, key states, and a
// non-root user whom the key policy does not allow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, GetKeyPolicyCommand, KMSClient, ListKeyPoliciesCommand, PutKeyPolicyCommand,
  ScheduleKeyDeletionCommand, type CreateKeyCommandInput,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createKeyVia, failure } from './harness.js';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { defaultKeyPolicyText, LOCKOUT_MESSAGE } from '../../src/iam/policy/index.js';
import { callKms } from '../../src/kms/dispatch.js';
import { callerFor, createTestKey, keyPolicy, userPrincipal } from './fixtures.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

let srv: TestServer;
let kms: KMSClient;
let acct: string;
before(async () => {
  srv = await startTestServer();
  kms = srv.kms;
  acct = srv.coffer.kms.accountId;
});
after(async () => srv?.stop());


const newKey = (input: CreateKeyCommandInput = {}) => createKeyVia(kms, input);

const onlyFor = (principal: string, action: string | string[] = 'kms:*') =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'only', Effect: 'Allow', Principal: { AWS: principal }, Action: action, Resource: '*' }] });

test('a new key has the default policy, named "default", and ListKeyPolicies says so', async () => {
  const md = await newKey();
  const got = await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }));
  assert.equal(got.PolicyName, 'default');
  assert.equal(got.Policy, defaultKeyPolicyText(acct));
  assert.deepEqual(JSON.parse(got.Policy!).Statement[0].Principal, { AWS: `arn:aws:iam::${acct}:root` });
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: md.Arn, PolicyName: 'default' }))).Policy, got.Policy);
  const names = await kms.send(new ListKeyPoliciesCommand({ KeyId: md.KeyId }));
  assert.deepEqual(names.PolicyNames, ['default']);
  assert.equal(names.Truncated, false);
  assert.deepEqual(await failure(kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'other' }))), ['NotFoundException', 'No such policy exists']);
  assert.equal((await failure(kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'bad-name' }))))[0], 'ValidationException');
  assert.equal((await failure(kms.send(new ListKeyPoliciesCommand({ KeyId: md.KeyId, Marker: 'bogus' }))))[0], 'InvalidMarkerException');
});

test('PutKeyPolicy replaces the policy text exactly; GetKeyPolicy returns it', async () => {
  const md = await newKey();
  const text = keyPolicy(acct, { Sid: 'Let alice describe', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/alice` }, Action: 'kms:DescribeKey', Resource: '*' });
  await kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: text }));
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, text);
  assert.equal((await failure(kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, PolicyName: 'other', Policy: text }))))[0], 'UnsupportedOperationException');
});

test('malformed policies are MalformedPolicyDocumentException at PutKeyPolicy and CreateKey', async () => {
  const md = await newKey();
  const bad = ['{not json', '[]', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Principal: '*', Action: 'kms:*', Resource: '*' }] })];
  for (const text of bad) {
    const [code, message] = await failure(kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: text })));
    assert.equal(code, 'MalformedPolicyDocumentException', text);
    assert.ok(message.length > 0);
    assert.equal((await failure(kms.send(new CreateKeyCommand({ Policy: text }))))[0], 'MalformedPolicyDocumentException', text);
  }
  const huge = keyPolicy(acct, { Sid: 'x'.repeat(33_000), Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' });
  assert.equal((await failure(kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: huge }))))[0], 'MalformedPolicyDocumentException');
  assert.equal((await failure(kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: keyPolicy(acct).replace('Enable', 'Enable \u2603') }))))[0], 'ValidationException');
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, defaultKeyPolicyText(acct));
});

test('the lockout safety check refuses a policy that would shut the caller out, unless bypassed', async () => {
  const aliceOnly = onlyFor(`arn:aws:iam::${acct}:user/alice`);
  assert.deepEqual(await failure(kms.send(new CreateKeyCommand({ Policy: aliceOnly }))), ['MalformedPolicyDocumentException', LOCKOUT_MESSAGE]);
  assert.equal(LOCKOUT_MESSAGE, 'The new key policy will not allow you to update the key policy in the future.');
  const md = await newKey();
  assert.deepEqual(await failure(kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: aliceOnly }))), ['MalformedPolicyDocumentException', LOCKOUT_MESSAGE]);
  // A policy that lets the root everything but PutKeyPolicy fails the check too.
  const noPut = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, NotAction: 'kms:PutKeyPolicy', Resource: '*' }] });
  assert.deepEqual(await failure(kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: noPut }))), ['MalformedPolicyDocumentException', LOCKOUT_MESSAGE]);
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, defaultKeyPolicyText(acct));

  // With the bypass the policy is taken, and the root is then locked out of the key.
  await kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: aliceOnly, BypassPolicyLockoutSafetyCheck: true }));
  const [code, message] = await failure(kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId })));
  assert.equal(code, 'AccessDeniedException');
  assert.match(message, /is not authorized to perform: kms:GetKeyPolicy on resource: .* because no resource-based policy allows the kms:GetKeyPolicy action$/);
  const bypassed = await newKey({ Policy: aliceOnly, BypassPolicyLockoutSafetyCheck: true });
  assert.equal(bypassed.KeyState, 'Enabled');
  assert.equal((await failure(kms.send(new DescribeKeyCommand({ KeyId: bypassed.KeyId }))))[0], 'AccessDeniedException');
  // A policy naming the caller's account root passes the check.
  const rootOnly = await newKey({ Policy: onlyFor(`arn:aws:iam::${acct}:root`) });
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: rootOnly.KeyId }))).Policy, onlyFor(`arn:aws:iam::${acct}:root`));
});

test('the lockout check runs as the calling user: a user may hand herself the key', async () => {
  const alice = userPrincipal(acct, 'alice');
  const svc = srv.coffer.kms;
  const key = await createTestKey(svc, { policy: keyPolicy(acct, { Sid: 'alice admin', Effect: 'Allow', Principal: { AWS: alice.arn }, Action: 'kms:*', Resource: '*' }) });
  const caller = callerFor(alice);
  // A policy that names only bob would lock alice out; one naming her account's root
  // would not (it delegates to IAM policies, which could allow her).
  await assert.rejects(callKms(svc, caller, 'PutKeyPolicy', { KeyId: key.keyId, Policy: onlyFor(`arn:aws:iam::${acct}:user/bob`) }), { code: 'MalformedPolicyDocumentException', message: LOCKOUT_MESSAGE });
  await callKms(svc, caller, 'PutKeyPolicy', { KeyId: key.keyId, Policy: onlyFor(alice.arn) });
  assert.deepEqual(await callKms(svc, caller, 'GetKeyPolicy', { KeyId: key.keyId }), { Policy: onlyFor(alice.arn), PolicyName: 'default' });
});

test('key policies can be read and changed on disabled and pending-deletion keys; not on AWS managed keys', async () => {
  const md = await newKey();
  await kms.send(new DisableKeyCommand({ KeyId: md.KeyId }));
  const text = keyPolicy(acct, { Sid: 'more', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/dave` }, Action: 'kms:DescribeKey', Resource: '*' });
  await kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: text }));
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }));
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, text);
  await kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: defaultKeyPolicyText(acct) }));
  assert.deepEqual((await kms.send(new ListKeyPoliciesCommand({ KeyId: md.KeyId }))).PolicyNames, ['default']);
  const awsKey = await createTestKey(srv.coffer.kms, { keyManager: 'AWS' });
  assert.deepEqual(await failure(kms.send(new PutKeyPolicyCommand({ KeyId: awsKey.keyId, Policy: defaultKeyPolicyText(acct) }))), ['UnsupportedOperationException', `${awsKey.arn} key manager is AWS which is not valid for this operation.`]);
  assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: awsKey.keyId }))).PolicyName, 'default');
});

test('an IAM user whom the key policy does not allow is denied GetKeyPolicy and PutKeyPolicy; one it names may read', async () => {
  const admin = { dataDir: srv.dataDir, accountId: srv.coffer.root.accountId, rootKey: srv.coffer.rootKey, iam: srv.coffer.iam, close: async () => {}, changes: inProcessChanges(srv.coffer) };
  const erin = await createUserWithKey(admin, 'erin');
  const ek = srv.kmsClient({ credentials: { accessKeyId: erin.accessKeyId, secretAccessKey: erin.secretAccessKey } });
  try {
    const md = await newKey();
    assert.deepEqual(await failure(ek.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))), ['AccessDeniedException', `User: ${erin.arn} is not authorized to perform: kms:GetKeyPolicy on resource: ${md.Arn} because no identity-based policy allows the kms:GetKeyPolicy action`]);
    const named = keyPolicy(acct, { Sid: 'erin reads', Effect: 'Allow', Principal: { AWS: erin.arn }, Action: ['kms:GetKeyPolicy', 'kms:ListKeyPolicies'], Resource: '*' });
    await kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: named }));
    assert.equal((await ek.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))).Policy, named);
    assert.deepEqual((await ek.send(new ListKeyPoliciesCommand({ KeyId: md.KeyId }))).PolicyNames, ['default']);
    assert.deepEqual(await failure(ek.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: onlyFor(erin.arn) }))), ['AccessDeniedException', `User: ${erin.arn} is not authorized to perform: kms:PutKeyPolicy on resource: ${md.Arn} because no identity-based policy allows the kms:PutKeyPolicy action`]);
    // An explicit deny in the key policy wins over her identity policy.
    await srv.coffer.iam.putUserPolicy('erin', 'all-kms', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }));
    const denying = keyPolicy(acct, { Sid: 'not erin', Effect: 'Deny', Principal: { AWS: erin.arn }, Action: 'kms:GetKeyPolicy', Resource: '*' });
    await kms.send(new PutKeyPolicyCommand({ KeyId: md.KeyId, Policy: denying }));
    assert.deepEqual(await failure(ek.send(new GetKeyPolicyCommand({ KeyId: md.KeyId }))), ['AccessDeniedException', `User: ${erin.arn} is not authorized to perform: kms:GetKeyPolicy on resource: ${md.Arn} with an explicit deny in a resource-based policy`]);
    assert.deepEqual((await ek.send(new ListKeyPoliciesCommand({ KeyId: md.KeyId }))).PolicyNames, ['default']);
  } finally {
    ek.destroy();
  }
});
