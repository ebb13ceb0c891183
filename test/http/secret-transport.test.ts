// The TLS rule for responses that carry secrets, end to end on one server listening on
// all interfaces: KMS plaintext (GenerateDataKey, Decrypt, GenerateRandom), IAM
// CreateAccessKey and STS credentials (GetSessionToken, AssumeRole) over plain HTTP are
// refused for a client on a non-loopback address, naming the rule; the rest of those
// services, and the same calls from loopback, over HTTPS or with
// COFFER_ALLOW_SECRETS_OVER_HTTP=1, are answered. Needs a non-loopback IPv4 interface;
// skipped without one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { rmSync } from 'node:fs';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, GenerateRandomCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, ListUsersCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { makeTestCertificate, type TestCertificate, nonLoopbackIPv4 } from '../helpers/tls.js';

const external = nonLoopbackIPv4();
const skip = !external && 'no non-loopback IPv4 interface here';

const overHttp = (what: string) => new RegExp(`^Requests for ${what}, whose response carries (plaintext|a secret access key|temporary credentials), must be made over a secure connection\\.$`);

const servers: TestServer[] = [];
const clients: { destroy(): void }[] = [];
let cert: TestCertificate;

before(() => {
  cert = makeTestCertificate();
});

after(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) await s.stop();
  rmSync(cert.dir, { recursive: true, force: true });
});

interface Clients { kms: KMSClient; iam: IAMClient; sts: (creds?: { accessKeyId: string; secretAccessKey: string }) => STSClient }

/** A server on 0.0.0.0 with KMS, IAM and STS clients that reach it over loopback and over the external interface. */
async function serve(env: Record<string, string>): Promise<{ srv: TestServer; local: Clients; remote: Clients }> {
  const srv = await startTestServer({ COFFER_ADDRESS: '0.0.0.0', ...env });
  servers.push(srv);
  const scheme = env.COFFER_TLS_CERT ? 'https' : 'http';
  // The certificate names 127.0.0.1 and localhost; the external address is checked by transport, not by name.
  const handler = () => (env.COFFER_TLS_CERT ? { requestHandler: { httpsAgent: new Agent({ ca: cert.cert, checkServerIdentity: () => undefined }) } } : {});
  const root = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
  const at = (host: string): Clients => {
    const base = { endpoint: `${scheme}://${host}:${srv.coffer.port}`, region: 'us-east-1', maxAttempts: 1 };
    const kms = new KMSClient({ ...base, ...handler(), credentials: root });
    const iam = new IAMClient({ ...base, ...handler(), credentials: root });
    clients.push(kms, iam);
    const sts = (credentials = root) => {
      const c = new STSClient({ ...base, ...handler(), credentials });
      clients.push(c);
      return c;
    };
    return { kms, iam, sts };
  };
  return { srv, local: at('127.0.0.1'), remote: at(external!) };
}

/** A user with an access key and a role it may assume, created over loopback. */
async function userAndRole(local: Clients, srv: TestServer): Promise<{ creds: { accessKeyId: string; secretAccessKey: string }; roleArn: string }> {
  await local.iam.send(new CreateUserCommand({ UserName: 'carol' }));
  const k = (await local.iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!;
  const acct = srv.coffer.root.accountId;
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/carol` }, Action: 'sts:AssumeRole' }] });
  const role = (await local.iam.send(new CreateRoleCommand({ RoleName: 'Remote', AssumeRolePolicyDocument: trust }))).Role!;
  return { creds: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! }, roleArn: role.Arn! };
}

test('plain HTTP from a non-loopback client: responses carrying secrets are refused, naming the rule; other calls and loopback clients are answered', { skip }, async () => {
  const { srv, local, remote } = await serve({});
  const key = (await remote.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const blob = (await remote.kms.send(new EncryptCommand({ KeyId: key, Plaintext: Buffer.from('secret') }))).CiphertextBlob!;

  await assertFails(remote.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), 400, 'AccessDeniedException', overHttp('GenerateDataKey'));
  await assertFails(remote.kms.send(new DecryptCommand({ CiphertextBlob: blob })), 400, 'AccessDeniedException', overHttp('Decrypt'));
  await assertFails(remote.kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 })), 400, 'AccessDeniedException', overHttp('GenerateRandom'));
  assert.equal(Buffer.from((await local.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'secret');
  assert.equal((await local.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' }))).Plaintext?.length, 32);

  const { creds, roleArn } = await userAndRole(local, srv);
  await remote.iam.send(new CreateUserCommand({ UserName: 'dave' }));
  assert.ok((await remote.iam.send(new ListUsersCommand({}))).Users?.some((u) => u.UserName === 'dave'));
  await assertFails(remote.iam.send(new CreateAccessKeyCommand({ UserName: 'dave' })), 403, 'AccessDenied', overHttp('CreateAccessKey'));
  assert.match((await local.iam.send(new CreateAccessKeyCommand({ UserName: 'dave' }))).AccessKey!.AccessKeyId!, /^AKIA/);

  const remoteSts = remote.sts(creds);
  assert.match((await remoteSts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/carol$/);
  await assertFails(remoteSts.send(new GetSessionTokenCommand({})), 403, 'AccessDenied', overHttp('GetSessionToken'));
  await assertFails(remoteSts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'remote-session' })), 403, 'AccessDenied', overHttp('AssumeRole'));
  assert.match((await local.sts(creds).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'remote-session' }))).Credentials!.AccessKeyId!, /^ASIA/);
});

test('COFFER_ALLOW_SECRETS_OVER_HTTP=1: a non-loopback client gets them over plain HTTP', { skip }, async () => {
  const { srv, local, remote } = await serve({ COFFER_ALLOW_SECRETS_OVER_HTTP: '1' });
  const key = (await remote.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const dk = await remote.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' }));
  assert.deepEqual((await remote.kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))).Plaintext, dk.Plaintext);
  const { creds, roleArn } = await userAndRole(local, srv);
  assert.match((await remote.iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!.AccessKeyId!, /^AKIA/);
  assert.match((await remote.sts(creds).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'remote-session' }))).Credentials!.AccessKeyId!, /^ASIA/);
});

test('HTTPS: a non-loopback client gets them without any flag', { skip }, async () => {
  const { srv, local, remote } = await serve({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
  const key = (await remote.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  assert.equal((await remote.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' }))).Plaintext?.length, 32);
  const { creds } = await userAndRole(local, srv);
  assert.match((await remote.iam.send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!.AccessKeyId!, /^AKIA/);
  assert.match((await remote.sts(creds).send(new GetSessionTokenCommand({}))).Credentials!.AccessKeyId!, /^ASIA/);
});
