// STS (and IAM) Query calls whose credential scope cannot be read are still answered by
// the Query API in its own error shape — never routed to S3 (MethodNotAllowed) — and
// AssumeRole of a role ARN naming no role is AccessDenied, ValidationError only where
// AWS's RoleArn constraint (length 20–2048, its character pattern) fails.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAccessKeyCommand, CreateUserCommand, type IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { startTestServer, ROOT_KEY_ID, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { iamClient, stsClient, type Creds } from './iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;
let carol: Creds;

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
  await iam.send(new CreateUserCommand({ UserName: 'carol' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!;
  carol = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
});
after(async () => {
  iam.destroy();
  await srv.stop();
});

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const IAM_NS = 'https://iam.amazonaws.com/doc/2010-05-08/';
const amzDate = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

async function post(form: string, authorization?: string, path = '/') {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-amz-date': amzDate() };
  if (authorization !== undefined) headers['authorization'] = authorization;
  const res = await fetch(srv.url + path, { method: 'POST', headers, body: form });
  const text = await res.text();
  return { status: res.status, text, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], ns: /<ErrorResponse xmlns="([^"]*)"/.exec(text)?.[1] };
}

const assumeRoleForm = `Action=AssumeRole&Version=2011-06-15&RoleArn=${encodeURIComponent('arn:aws:iam::123456789012:role/x')}&RoleSessionName=s1`;
const day = amzDate().slice(0, 8);

for (const [what, credential] of [
  ['a scope of four elements', `${ROOT_KEY_ID}/${day}/us-east-1/sts`],
  ['no slashes at all', 'garbage'],
  ['an empty service', `${ROOT_KEY_ID}/${day}/us-east-1//aws4_request`],
] as const) {
  test(`an STS AssumeRole with a malformed credential (${what}) gets STS's 400 error, not S3's MethodNotAllowed`, async () => {
    const r = await post(assumeRoleForm, `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.ns, STS_NS, r.text);
    assert.equal(r.code, 'IncompleteSignature');
  });
}

test('an unsigned STS call is the Query API\'s MissingAuthenticationToken (403), not S3\'s', async () => {
  const r = await post('Action=GetCallerIdentity&Version=2011-06-15');
  assert.equal(r.status, 403, r.text);
  assert.equal(r.ns, STS_NS, r.text);
  assert.equal(r.code, 'MissingAuthenticationToken');
});

test('an IAM call with a malformed credential gets IAM\'s error shape', async () => {
  const r = await post('Action=ListUsers&Version=2010-05-08', `AWS4-HMAC-SHA256 Credential=${ROOT_KEY_ID}/${day}/us-east-1/iam, SignedHeaders=host, Signature=00`);
  assert.equal(r.status, 400, r.text);
  assert.equal(r.ns, IAM_NS, r.text);
  assert.equal(r.code, 'IncompleteSignature');
});

test('a form POST to a bucket path stays S3\'s', async () => {
  const r = await post(assumeRoleForm, undefined, '/some-bucket');
  assert.doesNotMatch(r.text, /ErrorResponse/);
});

for (const [what, arn] of [
  ['a 13-digit account id', 'arn:aws:iam::1234567890123:role/x'],
  ['another account', 'arn:aws:iam::123456789012:role/Reader'],
  ['a role this account does not have', () => `arn:aws:iam::${acct}:role/NoSuchRole`],
  ['a user ARN', () => `arn:aws:iam::${acct}:user/carol`],
  ['something that is no ARN at all', 'this-is-not-an-arn-but-long-enough'],
] as const) {
  test(`AssumeRole of ${what} (within the RoleArn constraint) is 403 AccessDenied`, async () => {
    const roleArn = typeof arn === 'function' ? arn() : arn;
    await assertFails(stsClient(srv, carol).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'probe' })), 403, 'AccessDenied', /not authorized to perform: sts:AssumeRole/);
  });
}

test('AssumeRole with a RoleArn shorter than 20 characters is ValidationError', async () => {
  await assertFails(stsClient(srv, carol).send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::1:r', RoleSessionName: 'probe' })), 400, 'ValidationError', /at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20/);
});

test('AssumeRole with a RoleArn over 2048 characters is ValidationError', async () => {
  await assertFails(stsClient(srv, carol).send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/${'r'.repeat(2048)}`, RoleSessionName: 'probe' })), 400, 'ValidationError', /length less than or equal to 2048/);
});

test('AssumeRole with a RoleArn holding a control character outside the pattern is ValidationError', async () => {
  await assertFails(stsClient(srv, carol).send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${acct}:role/a\u0001b`, RoleSessionName: 'probe' })), 400, 'ValidationError', /regular expression pattern/);
});
