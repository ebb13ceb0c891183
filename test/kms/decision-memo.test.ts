// The KMS remembers allow decisions per (key policy, identity policies) object pair
// (src/kms/decision-memo.ts). Each test first gets a decision remembered (the same
// request allowed a few times), then changes what it rested on, and the very next
// request must be decided afresh: a removed IAM policy, a new key policy, a revoked
// grant, a different encryption context under a condition, a disabled key. Real server,
// real IAM users, the AWS SDK.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateGrantCommand, CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, GenerateDataKeyCommand, PutKeyPolicyCommand, RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { keyPolicyWith, kmsDeniedMessage, kmsOn, refusal, userFactory, type TestUser } from '../helpers/sse-principals.js';

/** KMS's own refusal (400 AccessDeniedException) naming the user, the action and the key. */
async function assertKmsDenied(p: Promise<unknown>, userArn: string, action: string, keyArn: string): Promise<void> {
  const e = await refusal(p);
  assert.equal(e.name, 'AccessDeniedException', e.message);
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.match(e.message, kmsDeniedMessage(userArn, action, keyArn));
}

describe('remembered KMS decisions are dropped by any change they rested on', () => {
  let srv: TestServer;
  let users: ReturnType<typeof userFactory>;
  let account: string;

  before(async () => {
    srv = await startTestServer();
    users = userFactory(srv);
    account = srv.coffer.root.accountId;
  });
  after(async () => {
    users.destroy();
    await srv.stop();
  });

  const newKey = async (policy?: string): Promise<string> =>
    (await srv.kms.send(new CreateKeyCommand(policy ? { Policy: policy } : {}))).KeyMetadata!.Arn!;

  /** GenerateDataKey then Decrypt of its blob, `times` over: both decisions remembered. */
  async function use(user: TestUser, keyArn: string, times = 3, context?: Record<string, string>): Promise<void> {
    for (let i = 0; i < times; i++) {
      const dk = await user.kms.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: context }));
      const out = await user.kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: context }));
      assert.deepEqual(Buffer.from(out.Plaintext!), Buffer.from(dk.Plaintext!));
    }
  }

  it('an IAM policy removed: refused on the next request; put back: allowed again', async () => {
    const key = await newKey();
    const ann = await users.create('memo-ann', { kms: [kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], key)] });
    await use(ann, key);
    await ann.remove('kms');
    await assertKmsDenied(ann.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), ann.arn, 'kms:GenerateDataKey', key);
    await ann.put('kms', kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], key));
    await use(ann, key, 1);
  });

  it('a key policy that no longer names the user: refused on the next request', async () => {
    const ben = await users.create('memo-ben');
    const naming = keyPolicyWith(account, { Sid: 'ben', Effect: 'Allow', Principal: { AWS: ben.arn }, Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: '*' });
    const key = await newKey(naming);
    await use(ben, key);
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: key, PolicyName: 'default', Policy: keyPolicyWith(account) }));
    await assertKmsDenied(ben.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), ben.arn, 'kms:GenerateDataKey', key);
  });

  it('an allow by a grant is never remembered: the grant revoked, refused on the next request', async () => {
    const key = await newKey();
    const cal = await users.create('memo-cal');
    const { GrantId } = await srv.kms.send(new CreateGrantCommand({ KeyId: key, GranteePrincipal: cal.arn, Operations: ['GenerateDataKey', 'Decrypt'] }));
    await use(cal, key);
    await srv.kms.send(new RevokeGrantCommand({ KeyId: key, GrantId }));
    await assertKmsDenied(cal.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), cal.arn, 'kms:GenerateDataKey', key);
  });

  it('an allow that read a condition is never remembered: another encryption context is refused', async () => {
    const key = await newKey();
    const dee = await users.create('memo-dee', {
      kms: [{ ...kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], key), Condition: { StringEquals: { 'kms:EncryptionContext:dept': 'it' } } }],
    });
    await use(dee, key, 3, { dept: 'it' });
    await assertKmsDenied(dee.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256', EncryptionContext: { dept: 'hr' } })), dee.arn, 'kms:GenerateDataKey', key);
    await assertKmsDenied(dee.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })), dee.arn, 'kms:GenerateDataKey', key);
  });

  it('a disabled key: refused on the next request, whatever was remembered', async () => {
    const key = await newKey();
    const eve = await users.create('memo-eve', { kms: [kmsOn(['kms:GenerateDataKey', 'kms:Decrypt'], key)] });
    await use(eve, key);
    await srv.kms.send(new DisableKeyCommand({ KeyId: key }));
    assert.equal((await refusal(eve.kms.send(new GenerateDataKeyCommand({ KeyId: key, KeySpec: 'AES_256' })))).name, 'DisabledException');
    await srv.kms.send(new EnableKeyCommand({ KeyId: key }));
    await use(eve, key, 1);
  });

  it('the root: one remembered allow per key, other keys decided on their own', async () => {
    const denyRoot = JSON.stringify({ Version: '2012-10-17', Statement: [
      { Sid: 'admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
      { Sid: 'no-data-keys', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:GenerateDataKey', Resource: '*' },
    ] });
    const open = await newKey();
    const closed = await newKey(denyRoot);
    for (let i = 0; i < 3; i++) await srv.kms.send(new GenerateDataKeyCommand({ KeyId: open, KeySpec: 'AES_256' }));
    const e = await refusal(srv.kms.send(new GenerateDataKeyCommand({ KeyId: closed, KeySpec: 'AES_256' })));
    assert.equal(e.name, 'AccessDeniedException');
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: open, PolicyName: 'default', Policy: denyRoot, BypassPolicyLockoutSafetyCheck: true }));
    assert.equal((await refusal(srv.kms.send(new GenerateDataKeyCommand({ KeyId: open, KeySpec: 'AES_256' })))).name, 'AccessDeniedException');
  });
});
