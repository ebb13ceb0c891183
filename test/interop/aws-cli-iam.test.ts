// The real AWS CLI's `aws iam` and `aws sts` against the real server: a user with a
// key, a group with a policy, a role assumed by that user, and the error codes and exit
// statuses scripts rely on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv } from './aws-cli-runner.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

// `json` is untyped here: the tests read IAM and STS answers field by field.
const { run, json, withEnv } = awsCli<Record<string, any>>(() => ({ endpoint: srv.url, env, output: 'json' }));

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-iam-'));
  env = awsCliEnv(work);
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('aws iam: users, keys, groups and policies; errors exit non-zero with the IAM code', async () => {
  const acct = srv.coffer.root.accountId;
  const u = await json('iam', 'create-user', '--user-name', 'dora');
  assert.equal(u.User.Arn, `arn:aws:iam::${acct}:user/dora`);
  const k = await json('iam', 'create-access-key', '--user-name', 'dora');
  assert.match(k.AccessKey.AccessKeyId, /^AKIA/);
  await json('iam', 'create-group', '--group-name', 'devs');
  await json('iam', 'add-user-to-group', '--group-name', 'devs', '--user-name', 'dora');
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] });
  await json('iam', 'put-group-policy', '--group-name', 'devs', '--policy-name', 'assume', '--policy-document', doc);
  // The CLI decodes the URL-encoded document IAM sends back into JSON.
  const got = await json('iam', 'get-group-policy', '--group-name', 'devs', '--policy-name', 'assume');
  assert.deepEqual(got.PolicyDocument, JSON.parse(doc));
  const groups = await json('iam', 'list-groups-for-user', '--user-name', 'dora');
  assert.deepEqual(groups.Groups.map((g: { GroupName: string }) => g.GroupName), ['devs']);
  const users = await json('iam', 'list-users');
  assert.ok(users.Users.some((x: { UserName: string }) => x.UserName === 'dora'));

  const dup = await run('iam', 'create-user', '--user-name', 'dora');
  assert.ok(dup.code === 254 || dup.code === 255, `exit ${dup.code}`); // CLI v2: 254, v1: 255
  assert.match(dup.stderr, /\(EntityAlreadyExists\) when calling the CreateUser operation: User with name dora already exists\./);
  const conflict = await run('iam', 'delete-user', '--user-name', 'dora');
  assert.match(conflict.stderr, /\(DeleteConflict\)/);
  const missing = await run('iam', 'get-user', '--user-name', 'nobody');
  assert.match(missing.stderr, /\(NoSuchEntity\) when calling the GetUser operation: The user with name nobody cannot be found\./);
  const unsupported = await run('iam', 'create-login-profile', '--user-name', 'dora', '--password', 'Pa55word!!Pa55word');
  assert.match(unsupported.stderr, /\(NotImplemented\).*CreateLoginProfile/);

  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'sts:AssumeRole' }] });
  await json('iam', 'create-role', '--role-name', 'Builder', '--assume-role-policy-document', trust);
  const dora = { AWS_ACCESS_KEY_ID: k.AccessKey.AccessKeyId, AWS_SECRET_ACCESS_KEY: k.AccessKey.SecretAccessKey };
  const who = await withEnv(dora).json('sts', 'get-caller-identity');
  assert.equal(who.Arn, `arn:aws:iam::${acct}:user/dora`);
  const assumed = await withEnv(dora).json('sts', 'assume-role', '--role-arn', `arn:aws:iam::${acct}:role/Builder`, '--role-session-name', 'ci');
  assert.equal(assumed.AssumedRoleUser.Arn, `arn:aws:sts::${acct}:assumed-role/Builder/ci`);
  const session = { AWS_ACCESS_KEY_ID: assumed.Credentials.AccessKeyId, AWS_SECRET_ACCESS_KEY: assumed.Credentials.SecretAccessKey, AWS_SESSION_TOKEN: assumed.Credentials.SessionToken };
  assert.equal((await withEnv(session).json('sts', 'get-caller-identity')).Arn, `arn:aws:sts::${acct}:assumed-role/Builder/ci`);
  const denied = await withEnv(session).run('iam', 'list-users');
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, new RegExp(`\\(AccessDenied\\) when calling the ListUsers operation: User: arn:aws:sts::${acct}:assumed-role/Builder/ci is not authorized to perform: iam:ListUsers`));
  const st = await withEnv(dora).json('sts', 'get-session-token', '--duration-seconds', '900');
  assert.match(st.Credentials.AccessKeyId, /^ASIA/);
});
