// The access key a request is authenticated with must be the one its credential was read
// for. Every handler reads (prepares) the credential of the key id it finds in the request
// before the SigV4 verifier looks it up, and prepared credentials stay in memory. If the
// two disagree on which key an Authorization header names, a key that was deactivated (or
// deleted) after its last use comes back to life: the header names some other key first,
// that one is read, and the verifier finds the old record of the key the signature is
// really made with. Probed on S3, KMS, STS and the admin API with raw signed requests.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand, PutUserPolicyCommand, UpdateAccessKeyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { signRequest } from '../../src/auth/sign.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { iamClient, policy, stsClient, type Creds } from '../iam/iam-helpers.js';

let srv: TestServer;
let iam: IAMClient;
before(async () => {
  srv = await startTestServer();
  iam = iamClient(srv);
});
after(async () => {
  iam?.destroy();
  await srv?.stop();
});

interface Call {
  service: 's3' | 'kms' | 'sts' | 'coffer';
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

const CALLS: Call[] = [
  { service: 's3', method: 'GET', path: '/', headers: {}, body: '' },
  { service: 'kms', method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, body: '{}' },
  { service: 'sts', method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' },
  { service: 'coffer', method: 'GET', path: '/_coffer/api/whoami', headers: {}, body: '' },
];

/**
 * Signs `call` with `creds`, then gives the Authorization header `lead` before its own
 * Credential component: what the signature covers is unchanged.
 */
async function send(call: Call, creds: Creds, lead?: (scope: string) => string): Promise<{ status: number; text: string }> {
  const host = new URL(srv.url).host;
  const body = Buffer.from(call.body);
  const { headers, scope } = signRequest({
    method: call.method, rawUrl: call.path, headers: { host, ...call.headers }, accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey,
    region: 'us-east-1', service: call.service, now: new Date(), payloadHash: createHashHex(body),
  });
  delete headers.host;
  if (lead) headers.authorization = headers.authorization!.replace(' Credential=', ` ${lead(scope)}, Credential=`);
  const res = await fetch(srv.url + call.path, { method: call.method, headers, ...(call.method === 'GET' ? {} : { body }) });
  return { status: res.status, text: await res.text() };
}

function createHashHex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function userWithKey(name: string): Promise<Creds> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new PutUserPolicyCommand({
    UserName: name, PolicyName: 'all', PolicyDocument: policy([{ Effect: 'Allow', Action: ['s3:ListAllMyBuckets', 'kms:ListKeys', 'coffer:*'], Resource: '*' }]),
  }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
  return { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! };
}

test('a deactivated key stays refused when the Authorization header names another key in a component before its own (S3, KMS, STS, admin API)', async () => {
  const eve = await userWithKey('eve-dup-credential');
  // Every service has read eve's key once: her credential is in memory.
  for (const call of CALLS) assert.equal((await send(call, eve)).status, 200, `${call.service} before the key is deactivated`);
  await iam.send(new UpdateAccessKeyCommand({ UserName: 'eve-dup-credential', AccessKeyId: eve.accessKeyId, Status: 'Inactive' }));

  // Decoys: a key id nobody has, in a component of its own or hidden in another name; and the root's.
  const decoys: Array<(scope: string) => string> = [
    (scope) => `Credential=AKIANOSUCHKEY0000000/${scope}`,
    (scope) => `XCredential=AKIANOSUCHKEY0000000/${scope}`,
  ];
  for (const call of CALLS) {
    for (const decoy of decoys) {
      const r = await send(call, eve, decoy);
      assert.notEqual(r.status, 200, `${call.service}: ${decoy('…')} revived the deactivated key: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /InvalidAccessKeyId|InvalidClientTokenId|UnrecognizedClientException|security token included in the request is invalid/, `${call.service}: ${r.text.slice(0, 300)}`);
    }
  }
  // And as the SDKs send it: refused, as before.
  await assertFails(srv.client({ credentials: eve }).send(new ListBucketsCommand({})), 403, 'InvalidAccessKeyId');
  await assertFails(srv.kmsClient({ credentials: eve }).send(new ListKeysCommand({})), 400, 'UnrecognizedClientException');
  await assertFails(stsClient(srv, eve).send(new GetCallerIdentityCommand({})), 403, 'InvalidClientTokenId');
});
