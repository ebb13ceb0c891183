// The real AWS CLI's `aws iam` and `aws sts` against the real server: a user with a
// key, a group with a policy, a role assumed by that user, and the error codes and exit
// statuses scripts rely on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './support.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

function aws(extra: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('aws', [...args, '--endpoint-url', srv.url, '--output', 'json'], { env: { ...env, ...extra }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

async function ok(extra: NodeJS.ProcessEnv, ...args: string[]): Promise<Record<string, any>> {
  const r = await aws(extra, ...args);
  assert.equal(r.code, 0, `aws ${args.join(' ')} exited ${r.code}\nstderr: ${r.stderr}`);
  return r.stdout.trim() === '' ? {} : JSON.parse(r.stdout);
}

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-cli-iam-'));
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: ROOT_KEY_ID,
    AWS_SECRET_ACCESS_KEY: ROOT_SECRET,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(work, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  });
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('aws iam: users, keys, groups and policies; errors exit non-zero with the IAM code', async () => {
  const acct = srv.coffer.root.accountId;
  const u = await ok({}, 'iam', 'create-user', '--user-name', 'dora');
  assert.equal(u.User.Arn, `arn:aws:iam::${acct}:user/dora`);
  const k = await ok({}, 'iam', 'create-access-key', '--user-name', 'dora');
  assert.match(k.AccessKey.AccessKeyId, /^AKIA/);
  await ok({}, 'iam', 'create-group', '--group-name', 'devs');
  await ok({}, 'iam', 'add-user-to-group', '--group-name', 'devs', '--user-name', 'dora');
  const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] });
  await ok({}, 'iam', 'put-group-policy', '--group-name', 'devs', '--policy-name', 'assume', '--policy-document', doc);
  // The CLI decodes the URL-encoded document IAM sends back into JSON.
  const got = await ok({}, 'iam', 'get-group-policy', '--group-name', 'devs', '--policy-name', 'assume');
  assert.deepEqual(got.PolicyDocument, JSON.parse(doc));
  const groups = await ok({}, 'iam', 'list-groups-for-user', '--user-name', 'dora');
  assert.deepEqual(groups.Groups.map((g: { GroupName: string }) => g.GroupName), ['devs']);
  const users = await ok({}, 'iam', 'list-users');
  assert.ok(users.Users.some((x: { UserName: string }) => x.UserName === 'dora'));

  const dup = await aws({}, 'iam', 'create-user', '--user-name', 'dora');
  assert.ok(dup.code === 254 || dup.code === 255, `exit ${dup.code}`); // CLI v2: 254, v1: 255
  assert.match(dup.stderr, /\(EntityAlreadyExists\) when calling the CreateUser operation: User with name dora already exists\./);
  const conflict = await aws({}, 'iam', 'delete-user', '--user-name', 'dora');
  assert.match(conflict.stderr, /\(DeleteConflict\)/);
  const missing = await aws({}, 'iam', 'get-user', '--user-name', 'nobody');
  assert.match(missing.stderr, /\(NoSuchEntity\) when calling the GetUser operation: The user with name nobody cannot be found\./);
  const unsupported = await aws({}, 'iam', 'create-login-profile', '--user-name', 'dora', '--password', 'Pa55word!!Pa55word');
  assert.match(unsupported.stderr, /\(NotImplemented\).*CreateLoginProfile/);

  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'sts:AssumeRole' }] });
  await ok({}, 'iam', 'create-role', '--role-name', 'Builder', '--assume-role-policy-document', trust);
  const dora = { AWS_ACCESS_KEY_ID: k.AccessKey.AccessKeyId, AWS_SECRET_ACCESS_KEY: k.AccessKey.SecretAccessKey };
  const who = await ok(dora, 'sts', 'get-caller-identity');
  assert.equal(who.Arn, `arn:aws:iam::${acct}:user/dora`);
  const assumed = await ok(dora, 'sts', 'assume-role', '--role-arn', `arn:aws:iam::${acct}:role/Builder`, '--role-session-name', 'ci');
  assert.equal(assumed.AssumedRoleUser.Arn, `arn:aws:sts::${acct}:assumed-role/Builder/ci`);
  const session = { AWS_ACCESS_KEY_ID: assumed.Credentials.AccessKeyId, AWS_SECRET_ACCESS_KEY: assumed.Credentials.SecretAccessKey, AWS_SESSION_TOKEN: assumed.Credentials.SessionToken };
  assert.equal((await ok(session, 'sts', 'get-caller-identity')).Arn, `arn:aws:sts::${acct}:assumed-role/Builder/ci`);
  const denied = await aws(session, 'iam', 'list-users');
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, new RegExp(`\\(AccessDenied\\) when calling the ListUsers operation: User: arn:aws:sts::${acct}:assumed-role/Builder/ci is not authorized to perform: iam:ListUsers`));
  const st = await ok(dora, 'sts', 'get-session-token', '--duration-seconds', '900');
  assert.match(st.Credentials.AccessKeyId, /^ASIA/);
});
