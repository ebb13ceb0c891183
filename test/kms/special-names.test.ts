// Encryption context keys named like members every JavaScript object has (__proto__,
// constructor, toString) are ordinary keys to KMS, as in AWS: bound by GenerateDataKey and
// ReEncrypt like any other pair, matched by grant constraints (Equals and Subset) and
// echoed by ListGrants, and seen by the key policy's kms:EncryptionContext:<key> and
// kms:EncryptionContextKeys conditions. Bodies are sent as JSON text signed by hand: the
// AWS SDK's own serializer builds its maps by assignment and would drop a "__proto__" key
// before it left the client.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { CreateAccessKeyCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';
import { Sha256 } from '../helpers/sha256.js';
import { iamClient } from '../iam/iam-helpers.js';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

const ROOT: Creds = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

describe('KMS encryption context keys named __proto__, constructor, toString', () => {
  let srv: TestServer;
  let acct: string;
  let grantee: Creds;
  let granteeArn: string;

  /** One KMS request with exactly this body text, signed with `creds`. */
  const call = async (creds: Creds, operation: string, payload: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const url = new URL(srv.url);
    const signer = new SignatureV4({ credentials: creds, region: 'us-east-1', service: 'kms', sha256: Sha256 });
    const signed = await signer.sign({
      method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', query: {},
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
      body: payload,
    });
    const res = await fetch(`${srv.url}/`, { method: 'POST', headers: signed.headers, body: payload });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const ok = async (creds: Creds, operation: string, payload: string): Promise<Record<string, unknown>> => {
    const r = await call(creds, operation, payload);
    assert.equal(r.status, 200, `${operation}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const refused = async (creds: Creds, operation: string, payload: string, type: string): Promise<void> => {
    const r = await call(creds, operation, payload);
    assert.equal(r.body.__type, type, `${operation} ${payload}: ${JSON.stringify(r.body)}`);
  };
  const newKey = async (policy?: string): Promise<string> => {
    const body = await ok(ROOT, 'CreateKey', policy === undefined ? '{}' : JSON.stringify({ Policy: policy }));
    return (body.KeyMetadata as { Arn: string }).Arn;
  };
  const plaintext = Buffer.from('special').toString('base64');
  const encrypt = (key: string, ctx: string) => `{"KeyId":"${key}","Plaintext":"${plaintext}","EncryptionContext":${ctx}}`;
  const decrypt = (blob: string, ctx: string) => `{"CiphertextBlob":"${blob}","EncryptionContext":${ctx}}`;

  before(async () => {
    srv = await startTestServer();
    acct = srv.coffer.root.accountId;
    const iam = iamClient(srv);
    await iam.send(new CreateUserCommand({ UserName: 'ctx-grantee' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'ctx-grantee' }))).AccessKey!;
    grantee = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    granteeArn = `arn:aws:iam::${acct}:user/ctx-grantee`;
    iam.destroy();
  });
  after(() => srv.stop());

  it('GenerateDataKey binds pairs named __proto__ and toString: Decrypt needs both, with their values', async () => {
    const key = await newKey();
    const ctx = '{"__proto__":"p","toString":"t"}';
    const dk = await ok(ROOT, 'GenerateDataKey', `{"KeyId":"${key}","KeySpec":"AES_256","EncryptionContext":${ctx}}`);
    const blob = dk.CiphertextBlob as string;
    assert.equal((await ok(ROOT, 'Decrypt', decrypt(blob, ctx))).Plaintext, dk.Plaintext);
    await refused(ROOT, 'Decrypt', decrypt(blob, '{"toString":"t"}'), 'InvalidCiphertextException');
    await refused(ROOT, 'Decrypt', decrypt(blob, '{"__proto__":"q","toString":"t"}'), 'InvalidCiphertextException');
  });

  it('ReEncrypt takes a __proto__ pair from the source context and binds the destination\'s', async () => {
    const key = await newKey();
    const blob = (await ok(ROOT, 'Encrypt', encrypt(key, '{"__proto__":"s"}'))).CiphertextBlob as string;
    await refused(ROOT, 'ReEncrypt', `{"CiphertextBlob":"${blob}","SourceEncryptionContext":{},"DestinationKeyId":"${key}"}`, 'InvalidCiphertextException');
    const re = await ok(ROOT, 'ReEncrypt', `{"CiphertextBlob":"${blob}","SourceEncryptionContext":{"__proto__":"s"},"DestinationKeyId":"${key}","DestinationEncryptionContext":{"__proto__":"d"}}`);
    const moved = re.CiphertextBlob as string;
    assert.equal((await ok(ROOT, 'Decrypt', decrypt(moved, '{"__proto__":"d"}'))).Plaintext, plaintext);
    await refused(ROOT, 'Decrypt', decrypt(moved, '{"__proto__":"s"}'), 'InvalidCiphertextException');
  });

  it('a grant constrained to EncryptionContextEquals {"__proto__": "a"} allows exactly that context; ListGrants echoes the pair', async () => {
    const key = await newKey();
    await ok(ROOT, 'CreateGrant', `{"KeyId":"${key}","GranteePrincipal":"${granteeArn}","Operations":["Encrypt","Decrypt"],"Constraints":{"EncryptionContextEquals":{"__proto__":"a"}}}`);
    const blob = (await ok(grantee, 'Encrypt', encrypt(key, '{"__proto__":"a"}'))).CiphertextBlob as string;
    assert.equal((await ok(grantee, 'Decrypt', decrypt(blob, '{"__proto__":"a"}'))).Plaintext, plaintext);
    await refused(grantee, 'Encrypt', encrypt(key, '{"__proto__":"b"}'), 'AccessDeniedException');
    await refused(grantee, 'Encrypt', encrypt(key, '{}'), 'AccessDeniedException');
    await refused(grantee, 'Encrypt', encrypt(key, '{"__proto__":"a","x":"y"}'), 'AccessDeniedException');
    const grants = (await ok(ROOT, 'ListGrants', `{"KeyId":"${key}"}`)).Grants as { Constraints: { EncryptionContextEquals: Record<string, string> } }[];
    const equals = grants[0]!.Constraints.EncryptionContextEquals;
    assert.deepEqual(Object.entries(equals), [['__proto__', 'a']]);
  });

  it('a grant constrained to EncryptionContextSubset {"constructor": "c"} needs that pair; an absent one is never read from Object.prototype', async () => {
    const key = await newKey();
    await ok(ROOT, 'CreateGrant', `{"KeyId":"${key}","GranteePrincipal":"${granteeArn}","Operations":["Encrypt"],"Constraints":{"EncryptionContextSubset":{"constructor":"c","__proto__":"p"}}}`);
    await ok(grantee, 'Encrypt', encrypt(key, '{"constructor":"c","__proto__":"p","more":"m"}'));
    await refused(grantee, 'Encrypt', encrypt(key, '{"constructor":"c"}'), 'AccessDeniedException');
    await refused(grantee, 'Encrypt', encrypt(key, '{"__proto__":"p"}'), 'AccessDeniedException');
  });

  it('the key policy\'s kms:EncryptionContext:__proto__ and kms:EncryptionContextKeys conditions see the pair', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'encrypt', Effect: 'Allow', Principal: { AWS: granteeArn }, Action: 'kms:Encrypt', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:__proto__': 'a' } } },
        { Sid: 'decrypt', Effect: 'Allow', Principal: { AWS: granteeArn }, Action: 'kms:Decrypt', Resource: '*', Condition: { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'constructor' } } },
      ],
    });
    const key = await newKey(policy);
    await ok(grantee, 'Encrypt', encrypt(key, '{"__proto__":"a"}'));
    await refused(grantee, 'Encrypt', encrypt(key, '{"__proto__":"b"}'), 'AccessDeniedException');
    await refused(grantee, 'Encrypt', encrypt(key, '{"constructor":"a"}'), 'AccessDeniedException');
    const blob = (await ok(ROOT, 'Encrypt', encrypt(key, '{"constructor":"x"}'))).CiphertextBlob as string;
    assert.equal((await ok(grantee, 'Decrypt', decrypt(blob, '{"constructor":"x"}'))).Plaintext, plaintext);
    const other = (await ok(ROOT, 'Encrypt', encrypt(key, '{"toString":"x"}'))).CiphertextBlob as string;
    await refused(grantee, 'Decrypt', decrypt(other, '{"toString":"x"}'), 'AccessDeniedException');
  });
});
