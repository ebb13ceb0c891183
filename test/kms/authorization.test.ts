// The KMS authorization matrix, driven through the real path: callKms -> the Decrypt
// operation -> KmsService.authorize -> the policy engine, over the running server's
// store, root key and audit log. Only the lookup of IAM users' identity policies is a
// test table (fixtures.ts serviceWithIdentityPolicies); key policies, grants, grant
// retirement and revocation are the real ones.
//
// Allowed: by an identity policy (the key policy delegates to IAM via its root
// statement), by a key policy naming the user, by a grant. Denied: by an explicit deny
// in the key policy or in an identity policy (even with a grant), with no allow at all,
// after a grant is revoked or retired, by a kms:EncryptionContext condition, and by a
// grant's EncryptionContextSubset constraint. Every denial is AccessDeniedException
// with AWS's message and leaves an audit record.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { callKms } from '../../src/kms/dispatch.js';
import type { KmsService } from '../../src/kms/service.js';
import type { KmsKeyRecord } from '../../src/kms/store/types.js';
import { callerFor, createTestKey, encryptWithKey, keyPolicy, rootPrincipal, serviceWithIdentityPolicies, userPrincipal } from './fixtures.js';

let srv: TestServer;
let svc: KmsService;
let acct: string;

const allowAll = (action = 'kms:*') => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });
const denyDecrypt = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' }] };

before(async () => {
  srv = await startTestServer();
  acct = srv.coffer.kms.accountId;
  svc = serviceWithIdentityPolicies(srv.coffer, {
    alice: [allowAll('kms:Decrypt')],
    dave: [allowAll(), denyDecrypt],
    olga: [allowAll('kms:Decrypt')],
  });
});
after(async () => {
  await srv?.stop();
});

const arnOf = (name: string) => `arn:aws:iam::${acct}:user/${name}`;
const PLAINTEXT = Buffer.from('authorization matrix secret');

async function decryptAs(name: string, blob: Buffer, context?: Record<string, string>, grantTokens?: string[]) {
  const input: Record<string, unknown> = { CiphertextBlob: blob };
  if (context) input.EncryptionContext = context;
  if (grantTokens) input.GrantTokens = grantTokens;
  return callKms(svc, callerFor(userPrincipal(acct, name)), 'Decrypt', input);
}

async function allowed(name: string, key: KmsKeyRecord, context?: Record<string, string>, grantTokens?: string[]): Promise<void> {
  const blob = await encryptWithKey(svc, key.keyId, PLAINTEXT, context ?? {});
  const out = await decryptAs(name, blob, context, grantTokens);
  assert.deepEqual(Buffer.from(out.Plaintext as Buffer), PLAINTEXT);
  assert.equal(out.KeyId, key.arn);
}

async function denied(name: string, key: KmsKeyRecord, tail: string, context?: Record<string, string>): Promise<void> {
  const blob = await encryptWithKey(svc, key.keyId, PLAINTEXT, context ?? {});
  await assert.rejects(decryptAs(name, blob, context), (e: { name: string; message: string }) => {
    assert.equal(e.name, 'AccessDeniedException', e.message);
    assert.equal(e.message, `User: ${arnOf(name)} is not authorized to perform: kms:Decrypt on resource: ${key.arn} ${tail}`);
    return true;
  });
}

const NO_IDENTITY = 'because no identity-based policy allows the kms:Decrypt action';
const NO_RESOURCE = 'because no resource-based policy allows the kms:Decrypt action';

async function grant(key: KmsKeyRecord, grantee: string, extra: Record<string, unknown> = {}) {
  const root = callerFor(rootPrincipal(acct));
  return (await callKms(svc, root, 'CreateGrant', { KeyId: key.keyId, GranteePrincipal: arnOf(grantee), Operations: ['Decrypt'], ...extra })) as { GrantId: string; GrantToken: string };
}

test('allowed: an identity policy allows, and the default key policy delegates to IAM', async () => {
  const key = await createTestKey(svc);
  await allowed('alice', key);
});

test('denied: an identity policy allows, but the key policy does not delegate to IAM', async () => {
  const key = await createTestKey(svc, {
    policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'root admin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:root` }, Action: 'kms:PutKeyPolicy', Resource: '*' }] }),
  });
  await denied('olga', key, NO_RESOURCE);
});

test('allowed: the key policy names the user directly (no identity policy needed)', async () => {
  const key = await createTestKey(svc, { policy: keyPolicy(acct, { Sid: 'bob decrypts', Effect: 'Allow', Principal: { AWS: arnOf('bob') }, Action: 'kms:Decrypt', Resource: '*' }) });
  await allowed('bob', key);
  // The same key, another user with no allow anywhere.
  await denied('mallory', key, NO_IDENTITY);
});

test('allowed: a grant for Decrypt (its token accepted at once)', async () => {
  const key = await createTestKey(svc);
  await denied('carol', key, NO_IDENTITY);
  const g = await grant(key, 'carol');
  await allowed('carol', key, undefined, [g.GrantToken]);
  await allowed('carol', key);
});

test('denied: an explicit deny in the key policy beats an identity-policy allow', async () => {
  const key = await createTestKey(svc, { policy: keyPolicy(acct, { Sid: 'no alice', Effect: 'Deny', Principal: { AWS: arnOf('alice') }, Action: 'kms:Decrypt', Resource: '*' }) });
  await denied('alice', key, 'with an explicit deny in a resource-based policy');
});

test('denied: an explicit deny in an identity policy beats its own allow and a grant', async () => {
  const key = await createTestKey(svc);
  await denied('dave', key, 'with an explicit deny in an identity-based policy');
  await grant(key, 'dave');
  await denied('dave', key, 'with an explicit deny in an identity-based policy');
});

test('denied: no policy and no grant allows', async () => {
  const key = await createTestKey(svc);
  await denied('erin', key, NO_IDENTITY);
});

test('denied after the grant that allowed it is revoked', async () => {
  const key = await createTestKey(svc);
  const g = await grant(key, 'frank');
  await allowed('frank', key);
  await callKms(svc, callerFor(rootPrincipal(acct)), 'RevokeGrant', { KeyId: key.keyId, GrantId: g.GrantId });
  await denied('frank', key, NO_IDENTITY);
});

test('denied after the grant that allowed it is retired by its retiring principal', async () => {
  const key = await createTestKey(svc);
  const g = await grant(key, 'gina', { RetiringPrincipal: arnOf('retirer') });
  await allowed('gina', key);
  await callKms(svc, callerFor(userPrincipal(acct, 'retirer')), 'RetireGrant', { GrantToken: g.GrantToken });
  await denied('gina', key, NO_IDENTITY);
});

test('a kms:EncryptionContext:dept StringEquals condition in the key policy: allowed for dept=it, denied for other values or none', async () => {
  const key = await createTestKey(svc, {
    policy: keyPolicy(acct, {
      Sid: 'henry decrypts IT data',
      Effect: 'Allow',
      Principal: { AWS: arnOf('henry') },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:dept': 'it' } },
    }),
  });
  await allowed('henry', key, { dept: 'it' });
  await denied('henry', key, NO_IDENTITY, { dept: 'hr' });
  await denied('henry', key, NO_IDENTITY, {});
  // As in AWS, the context key in a condition key name is case-insensitive; the value is not.
  await allowed('henry', key, { Dept: 'it' });
  await denied('henry', key, NO_IDENTITY, { dept: 'IT' });
});

test('a grant with EncryptionContextSubset {dept: it}: allowed when the context includes it, denied otherwise', async () => {
  const key = await createTestKey(svc);
  await grant(key, 'ivan', { Constraints: { EncryptionContextSubset: { dept: 'it' } } });
  await allowed('ivan', key, { dept: 'it' });
  await allowed('ivan', key, { dept: 'it', project: 'coffer' });
  await denied('ivan', key, NO_IDENTITY, { dept: 'hr' });
  await denied('ivan', key, NO_IDENTITY, { project: 'coffer' });
  await denied('ivan', key, NO_IDENTITY);
});

test('a grant with EncryptionContextEquals: only the exact context', async () => {
  const key = await createTestKey(svc);
  await grant(key, 'judy', { Constraints: { EncryptionContextEquals: { dept: 'it' } } });
  await allowed('judy', key, { dept: 'it' });
  await denied('judy', key, NO_IDENTITY, { dept: 'it', project: 'coffer' });
});

test('denials are audited with the principal, the key and the AccessDenied message', async () => {
  const key = await createTestKey(svc);
  await denied('kim', key, NO_IDENTITY);
  let events: Awaited<ReturnType<typeof readAudit>> = [];
  for (let i = 0; i < 500 && !events.length; i++) { // 10 s and more: a loaded machine writes the log late
    events = await readAudit(`${srv.dataDir}/audit`, { key: key.arn, eventName: 'Decrypt', principal: arnOf('kim') });
    if (!events.length) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(events.length, 1);
  assert.equal(events[0]!.errorCode, 'AccessDeniedException');
  assert.equal(events[0]!.errorMessage, `User: ${arnOf('kim')} is not authorized to perform: kms:Decrypt on resource: ${key.arn} ${NO_IDENTITY}`);
  assert.equal(events[0]!.userIdentity.type, 'IAMUser');
});
