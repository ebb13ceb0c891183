// Aliases (CreateAlias, UpdateAlias, DeleteAlias, ListAliases) and tags (TagResource,
// UntagResource, ListResourceTags) through @aws-sdk/client-kms against the real server,
// with AWS's messages and the key-state rules for each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAliasCommand, CreateKeyCommand, DeleteAliasCommand, DescribeKeyCommand, DisableKeyCommand, KMSClient, ListAliasesCommand,
  ListResourceTagsCommand, ScheduleKeyDeletionCommand, TagResourceCommand, UntagResourceCommand, UpdateAliasCommand,
  type CreateKeyCommandInput, type Tag,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createKeyVia, failure } from './harness.js';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { createTestKey } from './fixtures.js';
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
const aliasArn = (name: string) => `arn:aws:kms:${region}:${acct}:${name}`;
const tags = (n: number, prefix = 'tag') => Array.from({ length: n }, (_, i) => ({ TagKey: `${prefix}${i + 1}`, TagValue: `value${i + 1}` }));
async function listTags(keyId: string): Promise<Tag[]> {
  return (await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags!;
}

// ---- aliases ----

test('CreateAlias names a key; ListAliases shows name, ARN, target and dates', async () => {
  const md = await newKey();
  const before = Date.now();
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/my-alias_/', TargetKeyId: md.Arn }));
  const list = await kms.send(new ListAliasesCommand({ KeyId: md.KeyId }));
  assert.equal(list.Truncated, false);
  assert.equal(list.Aliases!.length, 1);
  const a = list.Aliases![0]!;
  assert.deepEqual(Object.keys(a).sort(), ['AliasArn', 'AliasName', 'CreationDate', 'LastUpdatedDate', 'TargetKeyId']);
  assert.equal(a.AliasName, 'alias/my-alias_/');
  assert.equal(a.AliasArn, aliasArn('alias/my-alias_/'));
  assert.equal(a.TargetKeyId, md.KeyId);
  assert.ok(Math.abs(a.CreationDate!.getTime() - before) < 60_000);
  assert.equal(a.LastUpdatedDate!.getTime(), a.CreationDate!.getTime());
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/my-alias_/' }))).KeyMetadata!.KeyId, md.KeyId);
});

test('CreateAlias refuses bad names with AWS messages', async () => {
  const md = await newKey();
  const create = (AliasName: string) => failure(kms.send(new CreateAliasCommand({ AliasName, TargetKeyId: md.KeyId })));
  assert.deepEqual(await create('my-alias'), ['ValidationException', 'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html']);
  assert.deepEqual(await create('alias/my alias'), ['ValidationException', "1 validation error detected: Value 'alias/my alias' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"]);
  assert.deepEqual(await create('alias/my:alias'), ['ValidationException', 'alias/my:alias contains invalid characters for an alias']);
  const long = 'alias/' + 'a'.repeat(251);
  assert.deepEqual(await create(long), ['ValidationException', `1 validation error detected: Value '${long}' at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to 256`]);
  assert.equal((await create('alias/aws/mine'))[0], 'NotAuthorizedException');
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/' + 'a'.repeat(250), TargetKeyId: md.KeyId }));
});

test('CreateAlias refuses a taken name, an alias as target, unknown, pending-deletion and AWS managed keys', async () => {
  const md = await newKey();
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/taken', TargetKeyId: md.KeyId }));
  const other = await newKey();
  assert.deepEqual(await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/taken', TargetKeyId: other.KeyId }))), ['AlreadyExistsException', `An alias with the name ${aliasArn('alias/taken')} already exists`]);
  assert.deepEqual(await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: 'alias/taken' }))), ['ValidationException', 'Aliases must refer to keys. Not aliases']);
  assert.deepEqual(await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: aliasArn('alias/taken') }))), ['ValidationException', 'Aliases must refer to keys. Not aliases']);
  const missing = '11111111-2222-4333-8444-555555555555';
  assert.deepEqual(await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: missing }))), ['NotFoundException', `Key 'arn:aws:kms:${region}:${acct}:key/${missing}' does not exist`]);
  const doomed = await newKey();
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: doomed.KeyId }));
  assert.deepEqual(await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: doomed.KeyId }))), ['KMSInvalidStateException', `${doomed.Arn} is pending deletion.`]);
  const awsKey = await createTestKey(srv.coffer.kms, { keyManager: 'AWS' });
  assert.equal((await failure(kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: awsKey.keyId }))))[0], 'UnsupportedOperationException');
  // A disabled key can be given an alias.
  const disabled = await newKey();
  await kms.send(new DisableKeyCommand({ KeyId: disabled.KeyId }));
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: disabled.KeyId }));
});

test('UpdateAlias moves an alias to another key, from a pending-deletion key too, but not onto one', async () => {
  const a = await newKey();
  const b = await newKey();
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/moving', TargetKeyId: a.KeyId }));
  const created = (await kms.send(new ListAliasesCommand({ KeyId: a.KeyId }))).Aliases![0]!;
  await new Promise((r) => setTimeout(r, 20));
  await kms.send(new UpdateAliasCommand({ AliasName: 'alias/moving', TargetKeyId: b.Arn }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/moving' }))).KeyMetadata!.KeyId, b.KeyId);
  const moved = (await kms.send(new ListAliasesCommand({ KeyId: b.KeyId }))).Aliases![0]!;
  assert.equal(moved.CreationDate!.getTime(), created.CreationDate!.getTime());
  assert.ok(moved.LastUpdatedDate!.getTime() > created.LastUpdatedDate!.getTime());
  assert.deepEqual((await kms.send(new ListAliasesCommand({ KeyId: a.KeyId }))).Aliases, []);

  assert.deepEqual(await failure(kms.send(new UpdateAliasCommand({ AliasName: 'alias/nowhere', TargetKeyId: a.KeyId }))), ['NotFoundException', `Alias ${aliasArn('alias/nowhere')} is not found.`]);
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: a.KeyId }));
  assert.deepEqual(await failure(kms.send(new UpdateAliasCommand({ AliasName: 'alias/moving', TargetKeyId: a.KeyId }))), ['KMSInvalidStateException', `${a.Arn} is pending deletion.`]);
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: b.KeyId }));
  const c = await newKey();
  await kms.send(new UpdateAliasCommand({ AliasName: 'alias/moving', TargetKeyId: c.KeyId }));
  assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/moving' }))).KeyMetadata!.KeyId, c.KeyId);
  assert.equal((await failure(kms.send(new UpdateAliasCommand({ AliasName: 'alias/aws/s3', TargetKeyId: c.KeyId }))))[0], 'NotAuthorizedException');
});

test('DeleteAlias removes an alias, also of a pending-deletion key; a missing alias is NotFoundException', async () => {
  const md = await newKey();
  await kms.send(new CreateAliasCommand({ AliasName: 'alias/short-lived', TargetKeyId: md.KeyId }));
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }));
  await kms.send(new DeleteAliasCommand({ AliasName: 'alias/short-lived' }));
  assert.deepEqual(await failure(kms.send(new DescribeKeyCommand({ KeyId: 'alias/short-lived' }))), ['NotFoundException', `Alias ${aliasArn('alias/short-lived')} is not found.`]);
  assert.deepEqual(await failure(kms.send(new DeleteAliasCommand({ AliasName: 'alias/short-lived' }))), ['NotFoundException', `Alias ${aliasArn('alias/short-lived')} is not found.`]);
  assert.equal((await failure(kms.send(new DeleteAliasCommand({ AliasName: 'short-lived' }))))[0], 'ValidationException');
});

test('ListAliases pages in name order and refuses foreign markers', async () => {
  const md = await newKey();
  const names = ['alias/page-c', 'alias/page-a', 'alias/page-b'];
  for (const n of names) await kms.send(new CreateAliasCommand({ AliasName: n, TargetKeyId: md.KeyId }));
  const seen: string[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListAliasesCommand({ KeyId: md.KeyId, Limit: 2, Marker: marker }));
    seen.push(...page.Aliases!.map((a) => a.AliasName!));
    assert.equal(page.Truncated, page.NextMarker !== undefined);
    marker = page.NextMarker;
  } while (marker);
  assert.deepEqual(seen, [...names].sort());
  const all = (await kms.send(new ListAliasesCommand({}))).Aliases!.map((a) => a.AliasName!);
  for (const n of names) assert.ok(all.includes(n));
  assert.deepEqual([...all].sort(), all);
  assert.equal((await failure(kms.send(new ListAliasesCommand({ Marker: 'bogus' }))))[0], 'InvalidMarkerException');
  assert.equal((await failure(kms.send(new ListAliasesCommand({ KeyId: 'alias/page-a' }))))[0], 'NotFoundException');
});

test('an IAM user needs kms:CreateAlias on the alias (identity policy) and on the key', async () => {
  const md = await newKey();
  const admin = { dataDir: srv.dataDir, accountId: srv.coffer.root.accountId, rootKey: srv.coffer.rootKey, iam: srv.coffer.iam, close: async () => {}, changes: inProcessChanges(srv.coffer) };
  const carol = await createUserWithKey(admin, 'carol');
  const ck = srv.kmsClient({ credentials: { accessKeyId: carol.accessKeyId, secretAccessKey: carol.secretAccessKey } });
  try {
    await srv.coffer.iam.putUserPolicy('carol', 'on-key', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:CreateAlias', Resource: md.Arn }] }));
    assert.deepEqual(await failure(ck.send(new CreateAliasCommand({ AliasName: 'alias/carols', TargetKeyId: md.KeyId }))), [
      'AccessDeniedException',
      `User: ${carol.arn} is not authorized to perform: kms:CreateAlias on resource: ${aliasArn('alias/carols')} because no identity-based policy allows the kms:CreateAlias action`,
    ]);
    await srv.coffer.iam.putUserPolicy('carol', 'on-alias', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:CreateAlias', Resource: `arn:aws:kms:${region}:${acct}:alias/carols` }] }));
    await ck.send(new CreateAliasCommand({ AliasName: 'alias/carols', TargetKeyId: md.KeyId }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/carols' }))).KeyMetadata!.KeyId, md.KeyId);
  } finally {
    ck.destroy();
  }
});

// ---- tags ----

test('tags set at CreateKey and by TagResource list in the order their keys were added; values update in place', async () => {
  const md = await newKey({ Tags: tags(3) });
  assert.deepEqual(await listTags(md.KeyId!), tags(3));
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'tag2', TagValue: 'updated_value2' }, { TagKey: 'tag4', TagValue: 'value4' }, { TagKey: 'tag5', TagValue: 'value5' }] }));
  assert.deepEqual(await listTags(md.KeyId!), [
    { TagKey: 'tag1', TagValue: 'value1' },
    { TagKey: 'tag2', TagValue: 'updated_value2' },
    { TagKey: 'tag3', TagValue: 'value3' },
    { TagKey: 'tag4', TagValue: 'value4' },
    { TagKey: 'tag5', TagValue: 'value5' },
  ]);
  await kms.send(new UntagResourceCommand({ KeyId: md.Arn, TagKeys: ['tag2', 'tag4', 'not-there'] }));
  assert.deepEqual(await listTags(md.KeyId!), [{ TagKey: 'tag1', TagValue: 'value1' }, { TagKey: 'tag3', TagValue: 'value3' }, { TagKey: 'tag5', TagValue: 'value5' }]);
  await kms.send(new UntagResourceCommand({ KeyId: md.KeyId, TagKeys: ['tag1', 'tag3', 'tag5'] }));
  assert.deepEqual(await listTags(md.KeyId!), []);
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [{ TagKey: 'empty', TagValue: '' }] }));
  assert.deepEqual(await listTags(md.KeyId!), [{ TagKey: 'empty', TagValue: '' }]);
});

test('tag checks answer AWS recorded errors, at CreateKey and at TagResource', async () => {
  const md = await newKey();
  const longKey = 'a'.repeat(129);
  const longValue = 'v'.repeat(257);
  const cases: [Tag[], [string, string]][] = [
    [[{ TagKey: 'aws:test', TagValue: 'x' }], ['TagException', 'Tags beginning with aws: are reserved']],
    [[{ TagKey: 'AWS:test', TagValue: 'x' }], ['TagException', 'Tags beginning with aws: are reserved']],
    [[{ TagKey: longKey, TagValue: 'x' }], ['ValidationException', `1 validation error detected: Value '${longKey}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128`]],
    [[{ TagKey: 'ok', TagValue: 'x' }, { TagKey: 'long', TagValue: longValue }], ['ValidationException', `1 validation error detected: Value '${longValue}' at 'tags.2.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256`]],
    [[{ TagKey: 'dup', TagValue: 'a' }, { TagKey: 'dup', TagValue: 'b' }], ['TagException', 'Duplicate tag keys']],
    [tags(51), ['TagException', 'Too many tags']],
  ];
  for (const [t, expected] of cases) {
    assert.deepEqual(await failure(kms.send(new CreateKeyCommand({ Tags: t }))), expected, `CreateKey ${t[0]!.TagKey}`);
    assert.deepEqual(await failure(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: t }))), expected, `TagResource ${t[0]!.TagKey}`);
  }
  assert.deepEqual(await listTags(md.KeyId!), []);
  // 50 tags is the limit per key, counting the ones it has.
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: tags(49) }));
  assert.deepEqual(await failure(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: tags(2, 'more') }))), ['TagException', 'Too many tags']);
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: [...tags(2), ...tags(1, 'more')] }));
  assert.equal((await listTags(md.KeyId!)).length, 50);
  assert.deepEqual(await failure(kms.send(new UntagResourceCommand({ KeyId: md.KeyId, TagKeys: ['aws:x'] }))), ['TagException', 'Tags beginning with aws: are reserved']);
  assert.deepEqual(await failure(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: undefined as never }))), ['ValidationException', "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"]);
});

test('ListResourceTags pages with Limit and Marker and refuses foreign markers', async () => {
  const md = await newKey({ Tags: tags(5) });
  const seen: Tag[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId, Limit: 2, Marker: marker }));
    assert.ok(page.Tags!.length <= 2);
    seen.push(...page.Tags!);
    assert.equal(page.Truncated, page.NextMarker !== undefined);
    marker = page.NextMarker;
  } while (marker);
  assert.deepEqual(seen, tags(5));
  assert.equal((await failure(kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId, Marker: 'bogus' }))))[0], 'InvalidMarkerException');
  assert.equal((await failure(kms.send(new ListResourceTagsCommand({ KeyId: md.KeyId, Limit: 0 }))))[0], 'ValidationException');
});

test('a disabled key can be tagged; a pending-deletion key lists its tags but refuses changes; AWS managed keys refuse tags', async () => {
  const md = await newKey({ Tags: tags(1) });
  await kms.send(new DisableKeyCommand({ KeyId: md.KeyId }));
  await kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: tags(2) }));
  await kms.send(new ScheduleKeyDeletionCommand({ KeyId: md.KeyId }));
  assert.deepEqual(await listTags(md.KeyId!), tags(2));
  const pending = ['KMSInvalidStateException', `${md.Arn} is pending deletion.`];
  assert.deepEqual(await failure(kms.send(new TagResourceCommand({ KeyId: md.KeyId, Tags: tags(1, 'x') }))), pending);
  assert.deepEqual(await failure(kms.send(new UntagResourceCommand({ KeyId: md.KeyId, TagKeys: ['tag1'] }))), pending);
  const awsKey = await createTestKey(srv.coffer.kms, { keyManager: 'AWS' });
  assert.equal((await failure(kms.send(new TagResourceCommand({ KeyId: awsKey.keyId, Tags: tags(1) }))))[0], 'UnsupportedOperationException');
  assert.deepEqual(await failure(kms.send(new TagResourceCommand({ KeyId: 'alias/none', Tags: tags(1) }))), ['NotFoundException', "Invalid keyId 'alias/none'"]);
});
