// Key lifecycle through @aws-sdk/client-kms against the real server: CreateKey,
// DescribeKey, ListKeys, EnableKey, DisableKey, UpdateKeyDescription,
// ScheduleKeyDeletion, CancelKeyDeletion — shapes and messages as AWS records them
// (reference/aws-recordings/kms.json), key-state transitions, and authorization of a
// non-root IAM user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import {
  type CreateKeyCommandInput,
  CancelKeyDeletionCommand, CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand,
  KMSClient, ListKeysCommand, ScheduleKeyDeletionCommand, UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createKeyVia, failure } from './harness.js';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { callKms } from '../../src/kms/dispatch.js';
import { callerFor, createTestKey, rootPrincipal } from './fixtures.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

let srv: TestServer;
let kms: KMSClient;
let acct: string;
let region: string;
before(async () => {
  srv = await startTestServer();
  kms = srv.kms;
  acct = srv.coffer.kms.accountId;
  region = srv.coffer.kms.region;
});
after(async () => srv?.stop());


const newKey = (input: CreateKeyCommandInput = {}) => createKeyVia(kms, input);

const arnOf = (id: string) => `arn:aws:kms:${region}:${acct}:key/${id}`;

test('CreateKey answers the KeyMetadata members AWS records, with a v4 UUID and a 64-hex material id', async () => {
  const md = await newKey({ Description: 'test key 123' });
  assert.deepEqual(Object.keys(md).sort(), [
    'AWSAccountId', 'Arn', 'CreationDate', 'CurrentKeyMaterialId', 'CustomerMasterKeySpec', 'Description', 'Enabled',
    'EncryptionAlgorithms', 'KeyId', 'KeyManager', 'KeySpec', 'KeyState', 'KeyUsage', 'MultiRegion', 'Origin',
  ]);
  assert.match(md.KeyId!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(md.Arn, arnOf(md.KeyId!));
  assert.equal(md.AWSAccountId, acct);
  assert.equal(md.Description, 'test key 123');
  assert.equal(md.Enabled, true);
  assert.equal(md.KeyState, 'Enabled');
  assert.equal(md.KeyUsage, 'ENCRYPT_DECRYPT');
  assert.equal(md.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(md.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(md.Origin, 'AWS_KMS');
  assert.equal(md.KeyManager, 'CUSTOMER');
  assert.equal(md.MultiRegion, false);
  assert.deepEqual(md.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
  assert.match(md.CurrentKeyMaterialId!, /^[0-9a-f]{64}$/);
  assert.ok(md.CreationDate instanceof Date && Math.abs(md.CreationDate.getTime() - Date.now()) < 60_000);
  const described = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!;
  assert.deepEqual(described, md);
});

test('CreateKey without a description shows Description "" and timestamps as epoch seconds on the wire', async () => {
  const md = await newKey();
  assert.equal(md.Description, '');
  const raw = await callKms(srv.coffer.kms, callerFor(rootPrincipal(acct)), 'DescribeKey', { KeyId: md.KeyId });
  const created = (raw.KeyMetadata as { CreationDate: number }).CreationDate;
  assert.equal(typeof created, 'number');
  assert.ok(Math.abs(created - Date.now() / 1000) < 60, `CreationDate ${created} is epoch seconds`);
});

const ML_DSA_IN_RUNTIME = (() => {
  try {
    generateKeyPairSync('ml-dsa-44' as never);
    return true;
  } catch {
    return false;
  }
})();

test('CreateKey refuses what Coffer cannot create with UnsupportedOperationException naming the feature', async () => {
  const cases: [CreateKeyCommandInput, RegExp][] = [
    [{ KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' }, /KeySpec SM2/],
    // ML-DSA where this runtime's crypto lacks it (Node 24 has it: eddsa-mldsa.test.ts makes such keys).
    ...(ML_DSA_IN_RUNTIME ? [] : [[{ KeySpec: 'ML_DSA_44', KeyUsage: 'SIGN_VERIFY' }, /KeySpec ML_DSA_44/] as [CreateKeyCommandInput, RegExp]]),
    [{ Origin: 'AWS_CLOUDHSM' }, /Origin AWS_CLOUDHSM/],
    [{ Origin: 'EXTERNAL_KEY_STORE' }, /Origin EXTERNAL_KEY_STORE/],
    [{ MultiRegion: true }, /multi-Region keys/],
  ];
  for (const [c, message] of cases) {
    const [code, text] = await failure(kms.send(new CreateKeyCommand(c)));
    assert.equal(code, 'UnsupportedOperationException', JSON.stringify(c));
    assert.match(text, message, JSON.stringify(c));
  }
});

test('CreateKey validates enums, KeyUsage for non-symmetric specs and the description length as AWS does', async () => {
  assert.deepEqual(await failure(kms.send(new CreateKeyCommand({ KeyUsage: 'RANDOM' as never }))), [
    'ValidationException',
    "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]",
  ]);
  const [code, message] = await failure(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_random' as never, KeyUsage: 'GENERATE_VERIFY_MAC' })));
  assert.equal(code, 'ValidationException');
  assert.ok(message.startsWith("1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, ECC_NIST_P384, ECC_NIST_P256, ECC_NIST_P521, HMAC_384, RSA_3072, ECC_SECG_P256K1, RSA_4096, SYMMETRIC_DEFAULT, HMAC_256, HMAC_224, HMAC_512"), message);
  assert.deepEqual(await failure(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256' }))), [
    'ValidationException',
    'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.',
  ]);
  assert.equal((await failure(kms.send(new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT', CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT' }))))[0], 'ValidationException');
  assert.equal((await failure(kms.send(new CreateKeyCommand({ Origin: 'NOWHERE' as never }))))[0], 'ValidationException');
  const [dcode, dmsg] = await failure(kms.send(new CreateKeyCommand({ Description: 'd'.repeat(8193) })));
  assert.equal(dcode, 'ValidationException');
  assert.match(dmsg, /at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192$/);
  assert.equal((await newKey({ Description: 'd'.repeat(8192) })).Description!.length, 8192);
});

test('DescribeKey finds a key by id, key ARN, alias name and alias ARN', async () => {
  const md = await newKey({ Description: 'test - description' });
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/describe-me', TargetKeyId: md.KeyId }));
  for (const ref of [md.KeyId!, md.Arn!, 'alias/describe-me', `arn:aws:kms:${region}:${acct}:alias/describe-me`]) {
    const got = (await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata!;
    assert.equal(got.KeyId, md.KeyId, ref);
  }
});

test('DescribeKey answers NotFoundException with AWS messages for each kind of unknown key', async () => {
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: 'fake-key-id' }))), ['NotFoundException', "Invalid keyId 'fake-key-id'"]);
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: '134f2428cec14b25a1ae9048164dba47' }))), ['NotFoundException', "Invalid keyId '134f2428cec14b25a1ae9048164dba47'"]);
  const missing = '11111111-2222-4333-8444-555555555555';
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: missing }))), ['NotFoundException', `Key '${arnOf(missing)}' does not exist`]);
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: arnOf(missing) }))), ['NotFoundException', `Key '${arnOf(missing)}' does not exist`]);
  const md = await newKey();
  const otherRegion = region === 'us-west-2' ? 'eu-central-1' : 'us-west-2';
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:${otherRegion}:${acct}:key/${md.KeyId}` }))), ['NotFoundException', `Invalid arn ${otherRegion}`]);
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: 'alias/nobody-has-this' }))), ['NotFoundException', `Alias arn:aws:kms:${region}:${acct}:alias/nobody-has-this is not found.`]);
});

test('ListKeys pages with Limit and Marker until Truncated is false, and refuses foreign markers and limits', async () => {
  for (let i = 0; i < 5; i++) await newKey({ Description: `page ${i}` });
  const all = await kms.send(new ListKeysCommand({}));
  assert.equal(all.Truncated, false);
  assert.equal(all.NextMarker, undefined);
  const expected = all.Keys!.map((k) => k.KeyId);
  assert.ok(expected.length >= 5);
  for (const k of all.Keys!) assert.equal(k.KeyArn, arnOf(k.KeyId!));
  const seen: string[] = [];
  let marker: string | undefined;
  let pages = 0;
  do {
    const page = await kms.send(new ListKeysCommand({ Limit: 2, Marker: marker }));
    assert.ok(page.Keys!.length <= 2);
    seen.push(...page.Keys!.map((k) => k.KeyId!));
    assert.equal(page.Truncated, page.NextMarker !== undefined);
    marker = page.NextMarker;
    pages++;
  } while (marker);
  assert.deepEqual(seen, expected);
  assert.equal(pages, Math.ceil(expected.length / 2));
  assert.equal((await failure(kms.send(new ListKeysCommand({ Marker: 'not-a-marker' }))))[0], 'InvalidMarkerException');
  assert.deepEqual(await failure(kms.send(new ListKeysCommand({ Limit: 0 }))), ['ValidationException', "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"]);
  assert.deepEqual(await failure(kms.send(new ListKeysCommand({ Limit: 1001 }))), ['ValidationException', "1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000"]);
});

test('a key goes Enabled -> Disabled -> Enabled, and DescribeKey shows each state', async () => {
  const md = await newKey();
  await kms.send(new DisableKeyCommand({ KeyId: md.KeyId }));
  let d = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!;
  assert.equal(d.KeyState, 'Disabled');
  assert.equal(d.Enabled, false);
  await kms.send(new DisableKeyCommand({ KeyId: md.Arn })); // already disabled: still fine
  await kms.send(new EnableKeyCommand({ KeyId: md.Arn }));
  d = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!;
  assert.equal(d.KeyState, 'Enabled');
  assert.equal(d.Enabled, true);
  await kms.send(new EnableKeyCommand({ KeyId: md.KeyId })); // already enabled: still fine
});

test('EnableKey and DisableKey take a key id or ARN, not an alias', async () => {
  const md = await newKey();
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/no-enable-by-alias', TargetKeyId: md.KeyId }));
  assert.deepEqual(await failure(kms.send(new DisableKeyCommand({ KeyId: 'alias/no-enable-by-alias' }))), ['NotFoundException', "Invalid keyId 'alias/no-enable-by-alias'"]);
  assert.deepEqual(await failure(kms.send(new EnableKeyCommand({ KeyId: '' }))), ['ValidationException', "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"]);
});

test('UpdateKeyDescription changes the description, also of a disabled key, within 8192 characters', async () => {
  const md = await newKey({ Description: 'before' });
  await kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: 'after' }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!.Description, 'after');
  await kms.send(new DisableKeyCommand({ KeyId: md.KeyId }));
  await kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: '' }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!.Description, '');
  assert.equal((await failure(kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: 'x'.repeat(8193) }))))[0], 'ValidationException');
  assert.deepEqual(await failure(kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: undefined as never }))), ['ValidationException', "1 validation error detected: Value null at 'description' failed to satisfy constraint: Member must not be null"]);
});

test('ScheduleKeyDeletion answers the key ARN, DeletionDate, state and window; DescribeKey shows DeletionDate', async () => {
  const md = await newKey();
  const before = Date.now();
  const r = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }));
  assert.equal(r.KeyId, md.Arn);
  assert.equal(r.KeyState, 'PendingDeletion');
  assert.equal(r.PendingWindowInDays, 30);
  const day = 24 * 3600 * 1000;
  assert.ok(Math.abs(r.DeletionDate!.getTime() - (before + 30 * day)) < 60_000);
  const d = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!;
  assert.equal(d.KeyState, 'PendingDeletion');
  assert.equal(d.Enabled, false);
  assert.equal(d.DeletionDate!.getTime(), r.DeletionDate!.getTime());
  assert.equal(d.PendingDeletionWindowInDays, undefined);

  const md7 = await newKey();
  const r7 = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md7.Arn, PendingWindowInDays: 7 }));
  assert.equal(r7.PendingWindowInDays, 7);
  assert.ok(Math.abs(r7.DeletionDate!.getTime() - (Date.now() + 7 * day)) < 60_000);
});

test('ScheduleKeyDeletion refuses windows outside 7..30 and aliases', async () => {
  const md = await newKey();
  assert.deepEqual(await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 6 }))), ['ValidationException', 'PendingWindowInDays should be between 7 and 30, but it is 6']);
  assert.deepEqual(await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 31 }))), ['ValidationException', 'PendingWindowInDays should be between 7 and 30, but it is 31']);
  assert.deepEqual(await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 0 }))), ['ValidationException', "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1"]);
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/no-delete-by-alias', TargetKeyId: md.KeyId }));
  assert.deepEqual(await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: 'alias/no-delete-by-alias' }))), ['NotFoundException', "Invalid keyId 'alias/no-delete-by-alias'"]);
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
});

test('Enabled -> PendingDeletion refuses management with KMSInvalidStateException -> Cancel -> Disabled -> Enable', async () => {
  const md = await newKey();
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId, PendingWindowInDays: 7 }));
  const pending = ['KMSInvalidStateException', `${md.Arn} is pending deletion.`];
  assert.deepEqual(await failure(kms.send(new EnableKeyCommand({ KeyId: md.KeyId }))), pending);
  assert.deepEqual(await failure(kms.send(new DisableKeyCommand({ KeyId: md.KeyId }))), pending);
  assert.deepEqual(await failure(kms.send(new UpdateKeyDescriptionCommand({ KeyId: md.KeyId, Description: 'x' }))), pending);
  assert.deepEqual(await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }))), pending);
  const c = await kms.send(new CancelKeyDeletionCommand({ KeyId: md.KeyId }));
  assert.equal(c.KeyId, md.Arn);
  const d = (await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!;
  assert.equal(d.KeyState, 'Disabled');
  assert.equal(d.DeletionDate, undefined);
  assert.deepEqual(await failure(kms.send(new CancelKeyDeletionCommand({ KeyId: md.KeyId }))), ['KMSInvalidStateException', `${md.Arn} is not pending deletion.`]);
  await kms.send(new EnableKeyCommand({ KeyId: md.KeyId }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
});

test('a disabled key can be scheduled for deletion and canceled back to Disabled', async () => {
  const md = await newKey();
  await kms.send(new DisableKeyCommand({ KeyId: md.KeyId }));
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }));
  await kms.send(new CancelKeyDeletionCommand({ KeyId: md.Arn }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: md.KeyId }))).KeyMetadata!.KeyState, 'Disabled');
});

test('AWS managed keys can be described but not enabled, disabled, described anew or scheduled for deletion', async () => {
  const key = await createTestKey(srv.coffer.kms, { keyManager: 'AWS', description: 'Default key for S3' });
  const d = (await kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
  assert.equal(d.KeyManager, 'AWS');
  const refused = ['UnsupportedOperationException', `${key.arn} key manager is AWS which is not valid for this operation.`];
  assert.deepEqual(await failure(kms.send(new DisableKeyCommand({ KeyId: key.keyId }))), refused);
  assert.deepEqual(await failure(kms.send(new EnableKeyCommand({ KeyId: key.keyId }))), refused);
  assert.deepEqual(await failure(kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.keyId, Description: 'mine now' }))), refused);
  assert.deepEqual(await failure(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId }))), refused);
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'Enabled');
});

test('an IAM user needs identity policies for CreateKey and ListKeys, and the key policy (with delegation) for key operations', async () => {
  const admin = { dataDir: srv.dataDir, accountId: srv.coffer.root.accountId, rootKey: srv.coffer.rootKey, iam: srv.coffer.iam, close: async () => {}, changes: inProcessChanges(srv.coffer) };
  const alice = await createUserWithKey(admin, 'alice');
  assert.equal(alice.arn, `arn:aws:iam::${acct}:user/alice`);
  const ak = srv.kmsClient({ credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey } });
  try {
    assert.deepEqual(await failure(ak.send(new CreateKeyCommand({}))), ['AccessDeniedException', `User: ${alice.arn} is not authorized to perform: kms:CreateKey because no identity-based policy allows the kms:CreateKey action`]);
    assert.deepEqual(await failure(ak.send(new ListKeysCommand({}))), ['AccessDeniedException', `User: ${alice.arn} is not authorized to perform: kms:ListKeys because no identity-based policy allows the kms:ListKeys action`]);
    const rootKey = await newKey({ Description: 'root key, default policy' });
    assert.deepEqual(await failure(ak.send(new DescribeKeyCommand({ KeyId: rootKey.KeyId }))), ['AccessDeniedException', `User: ${alice.arn} is not authorized to perform: kms:DescribeKey on resource: ${rootKey.Arn} because no identity-based policy allows the kms:DescribeKey action`]);
    assert.equal((await failure(ak.send(new DisableKeyCommand({ KeyId: rootKey.KeyId }))))[0], 'AccessDeniedException');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: rootKey.KeyId }))).KeyMetadata!.KeyState, 'Enabled');

    await srv.coffer.iam.putUserPolicy('alice', 'kms-admin', JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['kms:CreateKey', 'kms:ListKeys', 'kms:DescribeKey', 'kms:DisableKey'], Resource: '*' }],
    }));
    const hers = (await ak.send(new CreateKeyCommand({ Description: "alice's" }))).KeyMetadata!;
    assert.ok((await ak.send(new ListKeysCommand({}))).Keys!.some((k) => k.KeyId === hers.KeyId));
    // The default key policy delegates to identity policies, so her policy now works on the root's key too.
    assert.equal((await ak.send(new DescribeKeyCommand({ KeyId: rootKey.KeyId }))).KeyMetadata!.KeyId, rootKey.KeyId);
    await ak.send(new DisableKeyCommand({ KeyId: hers.KeyId }));
    assert.deepEqual(await failure(ak.send(new EnableKeyCommand({ KeyId: hers.KeyId }))), ['AccessDeniedException', `User: ${alice.arn} is not authorized to perform: kms:EnableKey on resource: ${hers.Arn} because no identity-based policy allows the kms:EnableKey action`]);

    // A key policy that does not delegate to the account shuts her out whatever her identity policy says.
    const closed = await newKey({
      BypassPolicyLockoutSafetyCheck: true,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${acct}:user/bob` }, Action: 'kms:*', Resource: '*' }] }),
    });
    assert.deepEqual(await failure(ak.send(new DescribeKeyCommand({ KeyId: closed.KeyId }))), ['AccessDeniedException', `User: ${alice.arn} is not authorized to perform: kms:DescribeKey on resource: ${closed.Arn} because no resource-based policy allows the kms:DescribeKey action`]);
  } finally {
    ak.destroy();
  }
});
