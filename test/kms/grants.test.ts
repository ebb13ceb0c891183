// Grants through the real server: CreateGrant (validation, Name idempotency, tokens,
// DryRun, key states, grant-derived limits and policy condition keys), ListGrants,
// ListRetirableGrants, RetireGrant (who may retire), RevokeGrant, and
// validateGrantTokens. The account root calls over HTTP with the AWS SDK; IAM users are
// fabricated callers of the in-process service (their identity policies come from a
// table — see fixtures.ts), with the real policy engine and store.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateGrantCommand,
  ListGrantsCommand,
  ListRetirableGrantsCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  type GrantOperation,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { callKms } from '../../src/kms/dispatch.js';
import type { KmsService } from '../../src/kms/service.js';
import { validateGrantTokens, GRANT_OPERATIONS } from '../../src/kms/ops/grants.js';
import { callerFor, createTestKey, keyPolicy, serviceWithIdentityPolicies, userPrincipal } from './fixtures.js';
import { rejects } from './harness.js';

let srv: TestServer;
let acct: string;
let users: KmsService;
const user = (name: string) => userPrincipal(acct, name);
const arnOf = (name: string) => `arn:aws:iam::${acct}:user/${name}`;

before(async () => {
  srv = await startTestServer();
  acct = srv.coffer.kms.accountId;
  users = serviceWithIdentityPolicies(srv.coffer, {
    // admin may do anything with KMS through IAM (the default key policy delegates to IAM).
    admin: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }],
    lister: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:ListRetirableGrants', Resource: '*' }] }],
  });
});
after(async () => {
  await srv?.stop();
});

const asUser = (name: string, op: string, input: Record<string, unknown>) => callKms(users, callerFor(user(name)), op, input);

test('CreateGrant returns a 64-hex GrantId and a token; ListGrants shows the grant as AWS does', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const t0 = Date.now() / 1000;
  const out = await srv.kms.send(new CreateGrantCommand({
    KeyId: key.keyId,
    GranteePrincipal: arnOf('bob'),
    RetiringPrincipal: arnOf('admin'),
    Operations: ['Decrypt', 'GenerateDataKey'],
    Constraints: { EncryptionContextSubset: { dept: 'it' } },
    Name: 'bob-decrypt',
  }));
  assert.match(out.GrantId!, /^[0-9a-f]{64}$/);
  assert.match(out.GrantToken!, /^[A-Za-z0-9_-]+$/);
  const list = await srv.kms.send(new ListGrantsCommand({ KeyId: key.arn }));
  assert.equal(list.Truncated, false);
  assert.equal(list.Grants!.length, 1);
  const g = list.Grants![0]!;
  assert.ok(g.CreationDate instanceof Date && g.CreationDate.getTime() / 1000 >= t0 - 1);
  assert.deepEqual({ ...g, CreationDate: undefined }, {
    KeyId: key.arn,
    GrantId: out.GrantId,
    Name: 'bob-decrypt',
    CreationDate: undefined,
    GranteePrincipal: arnOf('bob'),
    RetiringPrincipal: arnOf('admin'),
    IssuingAccount: `arn:aws:iam::${acct}:root`,
    Operations: ['Decrypt', 'GenerateDataKey'],
    Constraints: { EncryptionContextSubset: { dept: 'it' } },
  });
});

test('a CreateGrant retry with the same Name and parameters returns the same GrantId and a new token; either token retires it', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const input = { KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Encrypt', 'Decrypt'] as GrantOperation[], Name: 'retry-me' };
  const a = await srv.kms.send(new CreateGrantCommand(input));
  const b = await srv.kms.send(new CreateGrantCommand({ ...input, Operations: ['Decrypt', 'Encrypt'] }));
  assert.equal(b.GrantId, a.GrantId);
  assert.notEqual(b.GrantToken, a.GrantToken);
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 1);
  await srv.kms.send(new RetireGrantCommand({ GrantToken: b.GrantToken }));
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 0);
  // Without a Name, identical requests make distinct grants.
  const c = await srv.kms.send(new CreateGrantCommand({ ...input, Name: undefined }));
  const d = await srv.kms.send(new CreateGrantCommand({ ...input, Name: undefined }));
  assert.notEqual(c.GrantId, d.GrantId);
});

test('reusing a grant Name with different parameters is refused (Coffer keeps names unique per key)', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'], Name: 'taken' }));
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Encrypt'], Name: 'taken' })),
    'ValidationException',
    "A grant named 'taken' already exists for this key with different parameters.",
  );
});

test('CreateGrant validation: operations outside the 17 allowed, empty operations, missing or malformed principals and names', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const enumSet = GRANT_OPERATIONS.join(', ');
  assert.equal(GRANT_OPERATIONS.length, 17);
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt', 'ScheduleKeyDeletion' as GrantOperation] })),
    'ValidationException',
    `1 validation error detected: Value '[Decrypt, ScheduleKeyDeletion]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [${enumSet}]]`,
  );
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: [] })),
    'ValidationException',
    "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1",
  );
  await rejects(
    callKms(srv.coffer.kms, callerFor(rootOf()), 'CreateGrant', { KeyId: key.keyId }),
    'ValidationException',
    "2 validation errors detected: Value null at 'granteePrincipal' failed to satisfy constraint: Member must not be null; Value null at 'operations' failed to satisfy constraint: Member must not be null",
  );
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: 'not a principal', Operations: ['Decrypt'] })),
    'ValidationException',
    "1 validation error detected: Value 'not a principal' at 'granteePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$",
  );
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'], Name: 'bad name!' })),
    'ValidationException',
    "1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
  );
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 0);
});

function rootOf() {
  return { arn: `arn:aws:iam::${acct}:root`, accountId: acct, userName: 'root', kind: 'root' as const };
}

test('CreateGrant takes a key id or key ARN only; unknown keys are NotFoundException', async () => {
  const missing = srv.coffer.kms.keyArn('99999999-8888-7777-6666-555555555555');
  await rejects(srv.kms.send(new CreateGrantCommand({ KeyId: 'alias/whatever', GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] })), 'NotFoundException', "Invalid keyId 'alias/whatever'");
  await rejects(srv.kms.send(new CreateGrantCommand({ KeyId: missing, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] })), 'NotFoundException', `Key '${missing}' does not exist`);
});

test('CreateGrant works on a disabled key and is KMSInvalidStateException on a key pending deletion', async () => {
  const disabled = await createTestKey(srv.coffer.kms, { state: 'Disabled' });
  await srv.kms.send(new CreateGrantCommand({ KeyId: disabled.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] }));
  const pending = await createTestKey(srv.coffer.kms, { state: 'PendingDeletion', deletionDate: Date.now() + 7 * 86400e3, pendingWindowInDays: 7 });
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: pending.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] })),
    'KMSInvalidStateException',
    `${pending.arn} is pending deletion.`,
  );
});

test('CreateGrant with DryRun answers DryRunOperationException and creates nothing', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'], DryRun: true })),
    'DryRunOperationException',
    'The request would have succeeded, but the DryRun option is set.',
  );
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 0);
});

test('GrantTokens: a token Coffer issued is accepted at once; garbage is InvalidGrantTokenException; more than 10 is a ValidationException', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const { GrantToken } = await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] }));
  await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'], GrantTokens: [GrantToken!] }));
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'], GrantTokens: ['garbage-token'] })),
    'InvalidGrantTokenException',
    'Invalid grant token.',
  );
  await rejects(
    srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'], GrantTokens: Array(11).fill(GrantToken!) })),
    'ValidationException',
    /at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10$/,
  );
  // The helper the crypto operations call.
  assert.doesNotThrow(() => validateGrantTokens(srv.coffer.kms, undefined));
  assert.doesNotThrow(() => validateGrantTokens(srv.coffer.kms, [GrantToken]));
  assert.throws(() => validateGrantTokens(srv.coffer.kms, [GrantToken!.slice(0, -2)]), { name: 'InvalidGrantTokenException' });
  assert.throws(() => validateGrantTokens(srv.coffer.kms, 'not-a-list'), { name: 'SerializationException' });
});

test('ListGrants filters by GrantId and GranteePrincipal, pages with Limit/NextMarker, refuses a bad marker', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const ids: string[] = [];
  for (const who of ['bob', 'carol', 'bob']) {
    ids.push((await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf(who), Operations: ['Decrypt'] }))).GrantId!);
  }
  const byId = await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId, GrantId: ids[1] }));
  assert.deepEqual(byId.Grants!.map((g) => g.GrantId), [ids[1]]);
  const byGrantee = await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob') }));
  assert.deepEqual(byGrantee.Grants!.map((g) => g.GrantId), [ids[0], ids[2]]);

  const p1 = await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId, Limit: 2 }));
  assert.deepEqual([p1.Grants!.length, p1.Truncated], [2, true]);
  const p2 = await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId, Limit: 2, Marker: p1.NextMarker }));
  assert.deepEqual([p2.Grants!.length, p2.Truncated, p2.NextMarker], [1, false, undefined]);
  assert.deepEqual([...p1.Grants!, ...p2.Grants!].map((g) => g.GrantId), ids);
  await rejects(srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId, Marker: 'nope' })), 'InvalidMarkerException');
});

test('ListRetirableGrants lists a retiring principal’s grants across keys; a user needs kms:ListRetirableGrants in an identity policy', async () => {
  const k1 = await createTestKey(srv.coffer.kms);
  const k2 = await createTestKey(srv.coffer.kms);
  const retiree = arnOf('retiree-' + k1.keyId.slice(0, 8));
  const g1 = await srv.kms.send(new CreateGrantCommand({ KeyId: k1.keyId, GranteePrincipal: arnOf('bob'), RetiringPrincipal: retiree, Operations: ['Decrypt'] }));
  const g2 = await srv.kms.send(new CreateGrantCommand({ KeyId: k2.keyId, GranteePrincipal: arnOf('bob'), RetiringPrincipal: retiree, Operations: ['Encrypt'] }));
  await srv.kms.send(new CreateGrantCommand({ KeyId: k2.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Encrypt'] }));
  const out = await srv.kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: retiree }));
  assert.deepEqual(out.Grants!.map((g) => [g.GrantId, g.KeyId]), [[g1.GrantId, k1.arn], [g2.GrantId, k2.arn]]);
  assert.equal(out.Truncated, false);

  const viaUser = await asUser('lister', 'ListRetirableGrants', { RetiringPrincipal: retiree });
  assert.equal((viaUser.Grants as unknown[]).length, 2);
  await rejects(
    asUser('nobody', 'ListRetirableGrants', { RetiringPrincipal: retiree }),
    'AccessDeniedException',
    `User: ${arnOf('nobody')} is not authorized to perform: kms:ListRetirableGrants because no identity-based policy allows the kms:ListRetirableGrants action`,
  );
});

test('RetireGrant by token or by KeyId+GrantId; a retired grant is gone; unknown or malformed ids and tokens are refused', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const a = await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] }));
  const b = await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'] }));
  await srv.kms.send(new RetireGrantCommand({ GrantToken: a.GrantToken }));
  await srv.kms.send(new RetireGrantCommand({ KeyId: key.arn, GrantId: b.GrantId }));
  assert.deepEqual((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants, []);
  await rejects(srv.kms.send(new RetireGrantCommand({ GrantToken: a.GrantToken })), 'NotFoundException', `Grant ID ${a.GrantId} not found`);
  await rejects(srv.kms.send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: b.GrantId })), 'NotFoundException', `Grant ID ${b.GrantId} not found`);
  await rejects(srv.kms.send(new RetireGrantCommand({ GrantToken: 'not-a-token' })), 'InvalidGrantTokenException', 'Invalid grant token.');
  await rejects(srv.kms.send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: 'xyz' })), 'InvalidGrantIdException', 'Invalid grant ID xyz');
  await rejects(srv.kms.send(new RetireGrantCommand({ KeyId: key.keyId })), 'ValidationException', 'Either GrantToken, or both KeyId and GrantId, must be specified.');
});

test('RetireGrant is allowed to the retiring principal, to the grantee when the grant lists RetireGrant, to the account; denied to others', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const mk = async (ops: GrantOperation[], retiring?: string) =>
    (await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), RetiringPrincipal: retiring, Operations: ops }))).GrantId!;
  const byRetiring = await mk(['Decrypt'], arnOf('ret'));
  await asUser('ret', 'RetireGrant', { KeyId: key.keyId, GrantId: byRetiring });

  const byGrantee = await mk(['Decrypt', 'RetireGrant']);
  await asUser('bob', 'RetireGrant', { KeyId: key.keyId, GrantId: byGrantee });

  const notGrantee = await mk(['Decrypt']);
  await rejects(
    asUser('bob', 'RetireGrant', { KeyId: key.keyId, GrantId: notGrantee }),
    'AccessDeniedException',
    `User: ${arnOf('bob')} is not authorized to perform: kms:RetireGrant on resource: ${key.arn} because no identity-based policy allows the kms:RetireGrant action`,
  );
  await rejects(asUser('stranger', 'RetireGrant', { KeyId: key.keyId, GrantId: notGrantee }), 'AccessDeniedException');
  // A principal the account allows kms:RetireGrant through IAM (key policy delegates).
  await asUser('admin', 'RetireGrant', { KeyId: key.keyId, GrantId: notGrantee });
  assert.deepEqual((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants, []);
});

test('RevokeGrant needs kms:RevokeGrant; unknown grants are NotFoundException, malformed ids InvalidGrantIdException, DryRun changes nothing', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const other = await createTestKey(srv.coffer.kms);
  const { GrantId } = await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt', 'RetireGrant'] }));
  await rejects(
    asUser('bob', 'RevokeGrant', { KeyId: key.keyId, GrantId }),
    'AccessDeniedException',
    `User: ${arnOf('bob')} is not authorized to perform: kms:RevokeGrant on resource: ${key.arn} because no identity-based policy allows the kms:RevokeGrant action`,
  );
  await rejects(srv.kms.send(new RevokeGrantCommand({ KeyId: other.keyId, GrantId })), 'NotFoundException', `Grant ID ${GrantId} not found`);
  await rejects(srv.kms.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: 'zz' })), 'InvalidGrantIdException', 'Invalid grant ID zz');
  await rejects(srv.kms.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId, DryRun: true })), 'DryRunOperationException');
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 1);
  await asUser('admin', 'RevokeGrant', { KeyId: key.keyId, GrantId });
  assert.equal((await srv.kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 0);
  await rejects(srv.kms.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId })), 'NotFoundException', `Grant ID ${GrantId} not found`);
});

test('CreateGrant through a grant: only operations the parent grant holds, under a constraint at least as strict', async () => {
  const key = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['CreateGrant', 'Decrypt', 'Encrypt'] }));
  await asUser('bob', 'CreateGrant', { KeyId: key.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'] });
  await rejects(
    asUser('bob', 'CreateGrant', { KeyId: key.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt', 'GenerateDataKey'] }),
    'AccessDeniedException',
    `User: ${arnOf('bob')} is not authorized to perform: kms:CreateGrant on resource: ${key.arn} because no identity-based policy allows the kms:CreateGrant action`,
  );

  const constrained = await createTestKey(srv.coffer.kms);
  await srv.kms.send(new CreateGrantCommand({ KeyId: constrained.keyId, GranteePrincipal: arnOf('dan'), Operations: ['CreateGrant', 'Decrypt'], Constraints: { EncryptionContextSubset: { dept: 'it' } } }));
  await rejects(asUser('dan', 'CreateGrant', { KeyId: constrained.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'] }), 'AccessDeniedException');
  await rejects(
    asUser('dan', 'CreateGrant', { KeyId: constrained.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { dept: 'hr' } } }),
    'AccessDeniedException',
  );
  await asUser('dan', 'CreateGrant', { KeyId: constrained.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { dept: 'it', team: 'a' } } });
  await asUser('dan', 'CreateGrant', { KeyId: constrained.keyId, GranteePrincipal: arnOf('carol'), Operations: ['Decrypt'], Constraints: { EncryptionContextEquals: { dept: 'it' } } });
  const grants = (await srv.kms.send(new ListGrantsCommand({ KeyId: constrained.keyId, GranteePrincipal: arnOf('carol') }))).Grants!;
  assert.equal(grants.length, 2);
});

test('key policy conditions on CreateGrant: kms:GrantOperations and kms:GranteePrincipal limit what a user may grant', async () => {
  const key = await createTestKey(srv.coffer.kms, {
    policy: keyPolicy(acct, {
      Sid: 'erin may grant decrypt to frank only',
      Effect: 'Allow',
      Principal: { AWS: arnOf('erin') },
      Action: 'kms:CreateGrant',
      Resource: '*',
      Condition: {
        'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'DescribeKey'] },
        StringEquals: { 'kms:GranteePrincipal': arnOf('frank') },
      },
    }),
  });
  await asUser('erin', 'CreateGrant', { KeyId: key.keyId, GranteePrincipal: arnOf('frank'), Operations: ['Decrypt'] });
  await rejects(asUser('erin', 'CreateGrant', { KeyId: key.keyId, GranteePrincipal: arnOf('frank'), Operations: ['Decrypt', 'Encrypt'] }), 'AccessDeniedException');
  await rejects(asUser('erin', 'CreateGrant', { KeyId: key.keyId, GranteePrincipal: arnOf('gina'), Operations: ['Decrypt'] }), 'AccessDeniedException');
});

test('grant operations are audited with their key and without grant tokens', async () => {
  const key = await createTestKey(srv.coffer.kms);
  const { GrantToken } = await srv.kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: arnOf('bob'), Operations: ['Decrypt'], Name: 'audited' }));
  await srv.kms.send(new RetireGrantCommand({ GrantToken }));
  let events: Awaited<ReturnType<typeof readAudit>> = [];
  for (let i = 0; i < 500 && events.length < 2; i++) { // 10 s and more: a loaded machine writes the log late
    events = (await readAudit(`${srv.dataDir}/audit`, { key: key.arn })).filter((e) => e.eventName === 'CreateGrant' || e.eventName === 'RetireGrant');
    if (events.length < 2) await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(events.map((e) => e.eventName), ['CreateGrant', 'RetireGrant']);
  assert.equal(events[0]!.requestParameters!.name, 'audited');
  assert.deepEqual(events[0]!.requestParameters!.operations, ['Decrypt']);
  const text = JSON.stringify(events);
  assert.ok(!text.includes(GrantToken!), 'grant tokens stay out of the audit log');
});
