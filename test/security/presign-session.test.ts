// What a presigned URL or a signed POST form made with temporary credentials may do: no
// more than its session (the role's policies within the session policy), and nothing once
// the session has expired, however long the URL or the form's policy says it is valid
// (AWS: a presigned URL stops working when the credentials that signed it expire). SigV4
// URLs from @aws-sdk/s3-request-presigner, forms from @aws-sdk/s3-presigned-post, a SigV2
// URL as boto3 makes one; sent with fetch against the real server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, PutRolePolicyCommand, PutUserPolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { signatureV2 } from '../../src/auth/sigv2-canonical.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { iamClient, policy, stsClient, type Creds } from '../iam/iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
let acct: string;
let presigner: Creds;
const bucket = uniqueBucket('presign-session');

before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
  acct = srv.coffer.root.accountId;
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const key of ['open/a.txt', 'closed/b.txt']) await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  await iam.send(new CreateUserCommand({ UserName: 'presigner' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'presigner', PolicyName: 'p', PolicyDocument: policy([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'presigner' }))).AccessKey!;
  presigner = { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
  await iam.send(new CreateRoleCommand({ RoleName: 'Presigner', AssumeRolePolicyDocument: policy([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/presigner` }, Action: 'sts:AssumeRole' }]) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'Presigner', PolicyName: 'rw', PolicyDocument: policy([{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: `arn:aws:s3:::${bucket}/*` }]) }));
});
after(async () => {
  iam?.destroy();
  await srv?.stop();
});

async function session(name: string, sessionPolicy?: object[]): Promise<Creds> {
  const c = (await stsClient(srv, presigner).send(new AssumeRoleCommand({
    RoleArn: `arn:aws:iam::${acct}:role/Presigner`, RoleSessionName: name, ...(sessionPolicy ? { Policy: policy(sessionPolicy) } : {}),
  }))).Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}

function expireSession(accessKeyId: string): void {
  const db = new Database(join(srv.dataDir, 'iam.sqlite'));
  db.prepare('UPDATE sessions SET expires_at = ? WHERE access_key_id = ?').run(Date.now() - 1000, accessKeyId);
  db.close();
}

const code = (xml: string) => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];

test('a presigned GET made with session credentials: limited by the session policy, refused with ExpiredToken once the session expires (a week-long URL too)', async () => {
  const creds = await session('urls', [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/open/*` }]);
  const client = srv.client({ credentials: creds });
  const url = (key: string) => getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 604800 });
  const open = await url('open/a.txt');
  const closed = await url('closed/b.txt');
  assert.match(open, /X-Amz-Security-Token=/);
  let r = await fetch(open);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'body of open/a.txt');
  r = await fetch(closed);
  assert.equal(r.status, 403);
  assert.equal(code(await r.text()), 'AccessDenied');
  // The token is part of what was signed: another value is refused.
  r = await fetch(open.replace(/X-Amz-Security-Token=[^&]+/, 'X-Amz-Security-Token=forged'));
  assert.equal(r.status, 400);
  assert.equal(code(await r.text()), 'InvalidToken');

  expireSession(creds.accessKeyId);
  r = await fetch(open);
  assert.equal(r.status, 400);
  assert.equal(code(await r.text()), 'ExpiredToken');
  client.destroy();
});

test('a SigV2 presigned URL made with session credentials expires with the session', async () => {
  const creds = await session('v2-url');
  const expires = String(Math.floor(Date.now() / 1000) + 86400);
  const resource = `/${bucket}/open/a.txt`;
  const signature = signatureV2(creds.secretAccessKey, `GET\n\n\n${expires}\nx-amz-security-token:${creds.sessionToken}\n${resource}`);
  const url = `${srv.url}${resource}?AWSAccessKeyId=${creds.accessKeyId}&Expires=${expires}&x-amz-security-token=${encodeURIComponent(creds.sessionToken!)}&Signature=${encodeURIComponent(signature)}`;
  let r = await fetch(url);
  assert.equal(r.status, 200, await r.clone().text());
  expireSession(creds.accessKeyId);
  r = await fetch(url);
  assert.equal(r.status, 400);
  assert.equal(code(await r.text()), 'ExpiredToken');
});

test('a POST form signed with session credentials: the session policy applies, and the form is refused once the session expires', async () => {
  const creds = await session('forms', [{ Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/open/*` }]);
  const client = srv.client({ credentials: creds });
  const post = async (key: string) => {
    const { url, fields } = await createPresignedPost(client, { Bucket: bucket, Key: key, Expires: 86400 });
    assert.ok(fields['X-Amz-Security-Token']);
    const send = async () => {
      const fd = new FormData();
      for (const [k, v] of Object.entries(fields)) fd.append(k, v);
      fd.append('file', new Blob(['form body']), 'f.txt');
      const r = await fetch(url, { method: 'POST', body: fd });
      return { status: r.status, code: code(await r.text()) };
    };
    return send;
  };
  const open = await post('open/form.txt');
  const closed = await post('closed/form.txt');
  assert.equal((await open()).status, 204);
  assert.deepEqual(await closed(), { status: 403, code: 'AccessDenied' });
  expireSession(creds.accessKeyId);
  assert.deepEqual(await open(), { status: 400, code: 'ExpiredToken' });
  client.destroy();
});

test('a presigned PUT cannot be given unsigned x-amz-* headers (SSE-KMS, ACL, metadata), nor be sent to another host name', async () => {
  const creds = await session('put-url');
  const client = srv.client({ credentials: creds });
  const url = await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: 'open/put.txt' }), { expiresIn: 3600 });
  const extras: Record<string, string>[] = [
    { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'alias/aws/s3' },
    { 'x-amz-acl': 'public-read' },
    { 'x-amz-meta-owner': 'mallory' },
  ];
  for (const extra of extras) {
    const r = await fetch(url, { method: 'PUT', body: 'body', headers: extra });
    const text = await r.text();
    assert.equal(r.status, 403, text);
    assert.match(text, /There were headers present in the request which were not signed/);
  }
  // The Host header is signed: the same URL through another name of this server does not verify.
  const other = url.replace('://127.0.0.1:', '://localhost:');
  assert.notEqual(other, url);
  const r = await fetch(other, { method: 'PUT', body: 'body' });
  assert.equal(r.status, 403);
  assert.equal(code(await r.text()), 'SignatureDoesNotMatch');
  assert.equal((await fetch(url, { method: 'PUT', body: 'body' })).status, 200);
  client.destroy();
});
