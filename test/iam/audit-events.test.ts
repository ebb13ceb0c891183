// IAM and STS management events in the audit log, through @aws-sdk/client-iam and
// client-sts against the real server: every mutating IAM call and STS AssumeRole /
// GetSessionToken makes one CloudTrail record (iam.amazonaws.com or sts.amazonaws.com),
// allowed or refused, with identifying parameters only — no secret key, session token or
// policy text reaches the file; read-only calls make none; and with the audit log
// unwritable a mutating call is refused before it changes anything (fail closed).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AttachUserPolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand, CreateRoleCommand, CreateUserCommand, DeleteAccessKeyCommand,
  GetUserCommand, ListUsersCommand, PutUserPolicyCommand, type IAMClient,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
import { readAudit } from '../../src/audit/audit-log.js';
import type { CloudTrailEvent } from '../../src/audit/event.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { iamClient, policy, stsClient, type Creds } from './iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
});
after(async () => {
  iam.destroy();
  await srv.stop();
});

async function events(): Promise<CloudTrailEvent[]> {
  await srv.coffer.audit.flush();
  return readAudit(join(srv.dataDir, 'audit'));
}
const rawLog = async () => {
  await srv.coffer.audit.flush();
  return readFile(join(srv.dataDir, 'audit', 'kms.log'), 'utf8');
};
const byRequest = (all: CloudTrailEvent[], requestId: string | undefined) => all.filter((e) => e.requestID === requestId);

test('CreateUser, CreateAccessKey, PutUserPolicy, AttachUserPolicy, DeleteAccessKey, CreateRole and AssumeRole each make one record; no secret, token or policy text is in the log', async () => {
  const doc = policy([{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::audit-marker-inline/*' }]);
  const managedDoc = policy([{ Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::audit-marker-managed' }]);
  const trustDoc = policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'aws:PrincipalTag/audit-marker-trust': 'x' } } }]);
  const sessionDoc = policy([{ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::audit-marker-session' }]);

  const calls: { id: string | undefined; source: string; name: string; params: Record<string, unknown>; caller?: string }[] = [];
  const iamCall = (name: string, params: Record<string, unknown>) => (r: { $metadata: { requestId?: string } }) => calls.push({ id: r.$metadata.requestId, source: 'iam.amazonaws.com', name, params });

  iamCall('CreateUser', { userName: 'carol' })(await iam.send(new CreateUserCommand({ UserName: 'carol' })));
  const created = await iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }));
  iamCall('CreateAccessKey', { userName: 'carol' })(created);
  const key = created.AccessKey!;
  iamCall('PutUserPolicy', { userName: 'carol', policyName: 'inline' })(await iam.send(new PutUserPolicyCommand({ UserName: 'carol', PolicyName: 'inline', PolicyDocument: doc })));
  const managed = await iam.send(new CreatePolicyCommand({ PolicyName: 'managed', PolicyDocument: managedDoc }));
  const arn = managed.Policy!.Arn!;
  iamCall('AttachUserPolicy', { userName: 'carol', policyArn: arn })(await iam.send(new AttachUserPolicyCommand({ UserName: 'carol', PolicyArn: arn })));
  iamCall('CreateRole', { roleName: 'Auditor' })(await iam.send(new CreateRoleCommand({ RoleName: 'Auditor', AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/carol` }, Action: 'sts:AssumeRole' }]) })));
  // A trust policy with a marker of its own, to find policy text in the log.
  await iam.send(new CreateRoleCommand({ RoleName: 'Marked', AssumeRolePolicyDocument: trustDoc }));

  const sts = stsClient(srv, { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
  const assumed = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/Auditor`, RoleSessionName: 'audit-session', DurationSeconds: 900, Policy: sessionDoc }));
  calls.push({ id: assumed.$metadata.requestId, source: 'sts.amazonaws.com', name: 'AssumeRole', params: { roleArn: `arn:aws:iam::${acct}:role/Auditor`, roleSessionName: 'audit-session', durationSeconds: 900 }, caller: 'carol' });
  sts.destroy();
  iamCall('DeleteAccessKey', { userName: 'carol', accessKeyId: key.AccessKeyId })(await iam.send(new DeleteAccessKeyCommand({ UserName: 'carol', AccessKeyId: key.AccessKeyId! })));

  const all = await events();
  for (const c of calls) {
    const recs = byRequest(all, c.id);
    assert.equal(recs.length, 1, `${c.name}: one record`);
    const e = recs[0]!;
    assert.equal(e.eventSource, c.source, c.name);
    assert.equal(e.eventName, c.name);
    assert.equal(e.eventType, 'AwsApiCall');
    assert.equal(e.readOnly, false);
    assert.equal(e.managementEvent, true);
    assert.equal(e.userIdentity.type, c.caller ? 'IAMUser' : 'Root', c.name);
    assert.equal(e.userIdentity.arn, c.caller ? `arn:aws:iam::${acct}:user/${c.caller}` : `arn:aws:iam::${acct}:root`);
    assert.deepEqual(e.requestParameters, c.params, `${c.name}: identifying parameters only`);
    assert.equal(e.responseElements, null);
    assert.equal(e.errorCode, undefined);
  }

  const raw = await rawLog();
  assert.ok(!raw.includes(key.SecretAccessKey!), 'no secret access key in the log');
  assert.ok(!raw.includes(assumed.Credentials!.SecretAccessKey!), 'no session secret in the log');
  assert.ok(!raw.includes(assumed.Credentials!.SessionToken!), 'no session token in the log');
  for (const marker of ['audit-marker-inline', 'audit-marker-managed', 'audit-marker-trust', 'audit-marker-session', 'Statement']) {
    assert.ok(!raw.includes(marker), `no policy text (${marker}) in the log`);
  }
});

test('a refused call is recorded with its errorCode and the caller; GetSessionToken is recorded under sts.amazonaws.com', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'dave' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'dave' }))).AccessKey!;
  const dave: Creds = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  const asDave = iamClient(srv, dave);
  const f = await assertFails(asDave.send(new CreateUserCommand({ UserName: 'mallory' })), 403, 'AccessDenied');
  asDave.destroy();
  const sts = stsClient(srv, dave);
  const session = await sts.send(new GetSessionTokenCommand({ DurationSeconds: 900 }));
  sts.destroy();

  const all = await events();
  const refused = byRequest(all, (f.fields as { $metadata: { requestId?: string } }).$metadata.requestId);
  assert.equal(refused.length, 1, 'the refusal has one record');
  assert.equal(refused[0]!.eventName, 'CreateUser');
  assert.equal(refused[0]!.eventSource, 'iam.amazonaws.com');
  assert.equal(refused[0]!.errorCode, 'AccessDenied');
  assert.equal(refused[0]!.userIdentity.type, 'IAMUser');
  assert.equal(refused[0]!.userIdentity.userName, 'dave');
  assert.deepEqual(refused[0]!.requestParameters, { userName: 'mallory' });

  const st = byRequest(all, session.$metadata.requestId);
  assert.equal(st.length, 1);
  assert.equal(st[0]!.eventSource, 'sts.amazonaws.com');
  assert.equal(st[0]!.eventName, 'GetSessionToken');
  assert.deepEqual(st[0]!.requestParameters, { durationSeconds: 900 });
  assert.ok(!(await rawLog()).includes(session.Credentials!.SessionToken!), 'no session token in the log');
});

test('read-only calls (GetUser, ListUsers, GetCallerIdentity) make no record', async () => {
  const sts = stsClient(srv);
  const ids = [
    (await iam.send(new GetUserCommand({ UserName: 'carol' }))).$metadata.requestId,
    (await iam.send(new ListUsersCommand({}))).$metadata.requestId,
    (await sts.send(new GetCallerIdentityCommand({}))).$metadata.requestId,
  ];
  sts.destroy();
  const all = await events();
  for (const id of ids) assert.deepEqual(byRequest(all, id), [], `request ${id} is not recorded`);
  assert.ok(!all.some((e) => /^(Get|List)/.test(e.eventName) && e.eventName !== 'GetSessionToken' && e.eventSource !== 'kms.amazonaws.com'), 'no IAM or STS read in the log');
});

test('with the audit log unwritable, a mutating IAM call is refused before it acts (ServiceFailure, 500), STS GetSessionToken too (503); reads still answer', async () => {
  const s = await startTestServer();
  const c = iamClient(s);
  const sts = stsClient(s);
  try {
    await s.coffer.audit.close(); // closed, the log refuses every write, as a failing disk does
    await assertFails(c.send(new CreateUserCommand({ UserName: 'ghost' })), 500, 'ServiceFailureException', 'The request was refused because the audit log cannot be written.');
    await assertFails(sts.send(new GetSessionTokenCommand({})), 503, 'ServiceUnavailable', 'The request was refused because the audit log cannot be written.');
    await assertFails(c.send(new GetUserCommand({ UserName: 'ghost' })), 404, 'NoSuchEntityException');
  } finally {
    c.destroy();
    sts.destroy();
    await s.stop().catch(() => undefined); // the audit log is closed already
  }
});

test('the query filters apply to IAM and STS events: event, principal and error match them, a key filter does not', async () => {
  const q = (f: Record<string, string>) => srv.coffer.audit.query({ limit: 1000, ...f });
  const created = (await q({ eventName: 'CreateUser' })).events;
  assert.deepEqual(created.map((e) => e.requestParameters?.userName).sort(), ['carol', 'dave', 'mallory']);
  const byDave = (await q({ principal: 'dave' })).events;
  assert.deepEqual(byDave.map((e) => `${e.eventSource} ${e.eventName} ${e.errorCode ?? ''}`).sort(), ['iam.amazonaws.com CreateUser AccessDenied', 'sts.amazonaws.com GetSessionToken ']);
  assert.deepEqual((await q({ error: 'AccessDenied' })).events.map((e) => e.eventName), ['CreateUser']);
  assert.deepEqual((await q({ key: 'carol' })).events, [], 'a user is no key');
});

test('the answer waits for the record: while the log holds a write back, the CreateUser answer does not arrive', async () => {
  const log = srv.coffer.audit;
  const original = log.record;
  let durableAt = 0;
  // The real log, made slow: each record becomes durable 300 ms late.
  log.record = async (e) => {
    await new Promise((r) => setTimeout(r, 300));
    await original.call(log, e);
    durableAt = Date.now();
  };
  try {
    await iam.send(new CreateUserCommand({ UserName: 'slow' }));
    const answeredAt = Date.now();
    assert.ok(durableAt > 0 && durableAt <= answeredAt, `answered ${answeredAt - durableAt} ms after the record was durable`);
  } finally {
    delete (log as Partial<typeof log>).record;
  }
});
