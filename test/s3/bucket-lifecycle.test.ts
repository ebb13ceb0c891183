// Bucket lifecycle configuration against the real server: Put/Get/DeleteBucketLifecycle(Configuration)
// through @aws-sdk/client-s3, AWS's validation errors (codes, statuses, messages, fields), the
// documents only a raw request can send (MalformedXML shapes), the legacy rule-level Prefix,
// the Content-MD5 requirement and the IAM actions (s3:PutLifecycleConfiguration,
// s3:GetLifecycleConfiguration; DeleteBucketLifecycle is s3:PutLifecycleConfiguration).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand, DeleteBucketLifecycleCommand, GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand,
  type LifecycleRule,
} from '@aws-sdk/client-s3';
import { IAMClient, CreateAccessKeyCommand, CreateUserCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { startTestServer, uniqueBucket, ROOT_KEY_ID, ROOT_SECRET, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';
import { rawRequest } from '../interop/support.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => srv?.stop());

async function newBucket(): Promise<string> {
  const b = uniqueBucket('lc');
  await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

const put = (Bucket: string, Rules: LifecycleRule[]) => srv.s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: { Rules } }));

async function putRaw(bucket: string, xml: string, headers: Record<string, string> = {}) {
  const body = Buffer.from(xml);
  return rawRequest({
    method: 'PUT', url: srv.url, path: `/${bucket}`, query: { lifecycle: '' }, body,
    headers: { 'content-md5': createHash('md5').update(body).digest('base64'), 'content-length': String(body.length), ...headers },
  });
}

const doc = (...rules: string[]) => `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules.join('')}</LifecycleConfiguration>`;

test('GetBucketLifecycleConfiguration of a bucket without one is 404 NoSuchLifecycleConfiguration naming the bucket', async () => {
  const b = await newBucket();
  await assertFails(srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })), 404, 'NoSuchLifecycleConfiguration',
    'The lifecycle configuration does not exist', { BucketName: b });
});

test('a configuration put is read back rule for rule, and DeleteBucketLifecycle removes it (204)', async () => {
  const b = await newBucket();
  const rules: LifecycleRule[] = [
    { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
    { ID: 'dated', Status: 'Disabled', Filter: {}, Expiration: { Date: new Date('2030-01-01T00:00:00Z') } },
    { ID: 'tagged', Status: 'Enabled', Filter: { Tag: { Key: 'temp', Value: 'yes' } }, Expiration: { Days: 1 } },
    { ID: 'and', Status: 'Enabled', Filter: { And: { Prefix: 'a/', Tags: [{ Key: 'k', Value: 'v' }, { Key: 'k2', Value: '' }], ObjectSizeGreaterThan: 10, ObjectSizeLessThan: 1000 } }, Expiration: { Days: 7 } },
    { ID: 'big', Status: 'Enabled', Filter: { ObjectSizeGreaterThan: 1048576 }, NoncurrentVersionExpiration: { NoncurrentDays: 5, NewerNoncurrentVersions: 3 } },
    { ID: 'markers', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { ExpiredObjectDeleteMarker: true }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 } },
  ];
  const putOut = await put(b, rules);
  assert.equal(putOut.TransitionDefaultMinimumObjectSize, 'all_storage_classes_128K');
  const got = await srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.equal(got.TransitionDefaultMinimumObjectSize, 'all_storage_classes_128K');
  assert.deepEqual(got.Rules, rules);
  const del = await srv.s3.send(new DeleteBucketLifecycleCommand({ Bucket: b }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await assertFails(srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })), 404, 'NoSuchLifecycleConfiguration');
});

test('a rule without an ID gets one, as AWS names it', async () => {
  const b = await newBucket();
  await put(b, [{ Status: 'Enabled', Filter: {}, Expiration: { Days: 3 } }]);
  const got = await srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.match(got.Rules![0]!.ID!, /^[A-Za-z0-9+/]{40,}$/);
});

test('a put replaces the whole configuration', async () => {
  const b = await newBucket();
  await put(b, [{ ID: 'one', Status: 'Enabled', Filter: {}, Expiration: { Days: 3 } }]);
  await put(b, [{ ID: 'two', Status: 'Enabled', Filter: {}, Expiration: { Days: 4 } }]);
  const got = await srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.deepEqual(got.Rules!.map((r) => r.ID), ['two']);
});

test('the lifecycle operations of a missing bucket are 404 NoSuchBucket', async () => {
  await assertFails(put('no-such-bucket-lc', [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }]), 404, 'NoSuchBucket');
  await assertFails(srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'no-such-bucket-lc' })), 404, 'NoSuchBucket');
  await assertFails(srv.s3.send(new DeleteBucketLifecycleCommand({ Bucket: 'no-such-bucket-lc' })), 404, 'NoSuchBucket');
});

test("AWS's InvalidArgument answers: days, dates, IDs", async () => {
  const b = await newBucket();
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 0 } }]), 400, 'InvalidArgument',
    "'Days' for Expiration action must be a positive integer", { ArgumentName: 'Days', ArgumentValue: '0' });
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Date: new Date('2030-01-01T12:00:00Z') } }]), 400, 'InvalidArgument',
    "'Date' must be at midnight GMT", { ArgumentName: 'Date' });
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 0 } }]), 400, 'InvalidArgument',
    "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer");
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 0 } }]), 400, 'InvalidArgument',
    "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer");
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 101 } }]), 400, 'InvalidArgument',
    "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be an integer between 1 and 100");
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 0 } }]), 400, 'InvalidArgument',
    "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer");
  await assertFails(put(b, [{ ID: 'i'.repeat(256), Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }]), 400, 'InvalidArgument',
    'ID length should not exceed allowed limit of 255', { ArgumentName: 'ID' });
  await put(b, [{ ID: 'i'.repeat(255), Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }]);
  await assertFails(put(b, [
    { ID: 'same', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } },
    { ID: 'same', Status: 'Enabled', Filter: { Prefix: 'x' }, Expiration: { Days: 2 } },
  ]), 400, 'InvalidArgument', 'Rule ID must be unique. Found same ID for more than one rule', { ArgumentName: 'ID', ArgumentValue: 'same' });
});

test("AWS's InvalidRequest answers: no action, unfiltered-only actions with tags or sizes, tag keys, sizes", async () => {
  const b = await newBucket();
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {} }]), 400, 'InvalidRequest', 'At least one action needs to be specified in a rule');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { Tag: { Key: 'k', Value: 'v' } }, Expiration: { ExpiredObjectDeleteMarker: true } }]), 400, 'InvalidRequest',
    'ExpiredObjectDeleteMarker cannot be specified with Tags.');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { And: { Prefix: 'p', Tags: [{ Key: 'k', Value: 'v' }] } }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }]), 400, 'InvalidRequest',
    'AbortIncompleteMultipartUpload cannot be specified with Tags.');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { ObjectSizeLessThan: 10 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }]), 400, 'InvalidRequest',
    'AbortIncompleteMultipartUpload cannot be specified with Object Size.');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { And: { Tags: [{ Key: 'k', Value: 'v' }, { Key: 'k', Value: 'w' }] } }, Expiration: { Days: 1 } }]), 400, 'InvalidRequest',
    'Duplicate Tag Keys are not allowed.');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { And: { ObjectSizeGreaterThan: 100, ObjectSizeLessThan: 100 } }, Expiration: { Days: 1 } }]), 400, 'InvalidRequest',
    "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.");
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: { ObjectSizeLessThan: 0 }, Expiration: { Days: 1 } }]), 400, 'InvalidRequest',
    "'ObjectSizeLessThan' should be between 1 and 1099511627776000.");
});

test('a transition is refused: STANDARD is InvalidArgument, a class Coffer does not have is InvalidStorageClass; nothing is stored', async () => {
  const b = await newBucket();
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 30, StorageClass: 'GLACIER' }] }]), 400, 'InvalidStorageClass',
    'The storage class you specified is not valid');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, NoncurrentVersionTransitions: [{ NoncurrentDays: 30, StorageClass: 'STANDARD_IA' }] }]), 400, 'InvalidStorageClass');
  await assertFails(put(b, [{ ID: 'x', Status: 'Enabled', Filter: {}, Transitions: [{ Days: 30, StorageClass: 'STANDARD' as never }] }]), 400, 'InvalidArgument',
    'Invalid target Storage class for Transition action', { ArgumentName: 'StorageClass', ArgumentValue: 'STANDARD' });
  await assertFails(srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })), 404, 'NoSuchLifecycleConfiguration');
});

test('MalformedXML: no rule, a bad Status, Filter with Prefix beside it or none at all, two Filter members, Days with Date, a marker with Days', async () => {
  const b = await newBucket();
  const exp = '<Expiration><Days>1</Days></Expiration>';
  const cases = [
    doc(),
    doc(`<Rule><ID>x</ID><Status>On</Status><Filter/>${exp}</Rule>`),
    doc(`<Rule><ID>x</ID><Status>Enabled</Status>${exp}</Rule>`),
    doc(`<Rule><ID>x</ID><Status>Enabled</Status><Prefix>a</Prefix><Filter/>${exp}</Rule>`),
    doc(`<Rule><ID>x</ID><Status>Enabled</Status><Filter><Prefix>a</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>${exp}</Rule>`),
    doc(`<Rule><ID>x</ID><Status>Enabled</Status><Filter><And><Prefix>a</Prefix></And></Filter>${exp}</Rule>`),
    doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>'),
    doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>'),
    doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>ten</Days></Expiration></Rule>'),
    doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration></Expiration></Rule>'),
    '<LifecycleConfiguration><Rule>',
    // Elements the schema does not have: a setting Coffer would accept and never apply.
    doc(`<Rule><ID>x</ID><Status>Enabled</Status><Filter/>${exp}<DelMarkerExpiration><Days>1</Days></DelMarkerExpiration></Rule>`),
    doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days><Hours>3</Hours></Expiration></Rule>'),
    doc(`<Rule><ID>x</ID><Status>Enabled</Status><Filter><Suffix>.log</Suffix></Filter>${exp}</Rule>`),
    doc(`<Other/><Rule><ID>x</ID><Status>Enabled</Status><Filter/>${exp}</Rule>`),
    doc(...Array.from({ length: 1001 }, (_, i) => `<Rule><ID>r${i}</ID><Status>Enabled</Status><Filter/>${exp}</Rule>`)),
  ];
  for (const xml of cases) {
    const r = await putRaw(b, xml);
    assert.equal(r.status, 400, xml.slice(0, 200));
    assert.match(r.body, /<Code>MalformedXML<\/Code>/, xml.slice(0, 200));
  }
  const spaced = await putRaw(b, `<LifecycleConfiguration>\n  <Rule>\n    <ID>x</ID>\n    <Status>Enabled</Status>\n    <Filter>\n      <Prefix>a/</Prefix>\n    </Filter>\n    ${exp}\n  </Rule>\n</LifecycleConfiguration>\n`);
  assert.equal(spaced.status, 200, spaced.body);
  const ok = await putRaw(b, doc(...Array.from({ length: 1000 }, (_, i) => `<Rule><ID>r${i}</ID><Status>Enabled</Status><Filter><Prefix>p${i}/</Prefix></Filter>${exp}</Rule>`)));
  assert.equal(ok.status, 200, ok.body);
  const got = await srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.equal(got.Rules!.length, 1000);
});

test('the legacy rule-level Prefix (PutBucketLifecycle) is accepted and read back; mixing it with Filter rules is InvalidRequest', async () => {
  const b = await newBucket();
  const r = await putRaw(b, doc('<Rule><ID>old</ID><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>'));
  assert.equal(r.status, 200, r.body);
  const got = await srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.deepEqual(got.Rules, [{ ID: 'old', Prefix: 'tmp/', Status: 'Enabled', Expiration: { Days: 2 } }]);
  const mixed = await putRaw(b, doc(
    '<Rule><ID>old</ID><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>',
    '<Rule><ID>new</ID><Filter><Prefix>x/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>'));
  assert.equal(mixed.status, 400);
  assert.match(mixed.body, /<Code>InvalidRequest<\/Code><Message>Filter element can only be used in Lifecycle V2.<\/Message>/);
  const newer = await putRaw(b, doc('<Rule><ID>old</ID><Prefix></Prefix><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>'));
  assert.equal(newer.status, 400);
  assert.match(newer.body, /NewerNoncurrentVersions element can only be used in Lifecycle V2./);
});

test('a put without Content-MD5 or a checksum is InvalidRequest; a wrong Content-MD5 is BadDigest', async () => {
  const b = await newBucket();
  const body = Buffer.from(doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>'));
  const none = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { lifecycle: '' }, body, headers: { 'content-length': String(body.length) } });
  assert.equal(none.status, 400);
  assert.match(none.body, /<Code>InvalidRequest<\/Code><Message>Missing required header for this request: Content-MD5<\/Message>/);
  const wrong = await rawRequest({ method: 'PUT', url: srv.url, path: `/${b}`, query: { lifecycle: '' }, body, headers: { 'content-length': String(body.length), 'content-md5': createHash('md5').update('other').digest('base64') } });
  assert.equal(wrong.status, 400);
  assert.match(wrong.body, /<Code>BadDigest<\/Code>/);
});

test('x-amz-transition-default-minimum-object-size is echoed, and a value AWS does not know is InvalidRequest', async () => {
  const b = await newBucket();
  const xml = doc('<Rule><ID>x</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>');
  const ok = await putRaw(b, xml, { 'x-amz-transition-default-minimum-object-size': 'varies_by_storage_class' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-amz-transition-default-minimum-object-size'], 'varies_by_storage_class');
  const got = await srv.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }));
  assert.equal(got.TransitionDefaultMinimumObjectSize, 'varies_by_storage_class');
  const bad = await putRaw(b, xml, { 'x-amz-transition-default-minimum-object-size': 'tiny' });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /Invalid TransitionDefaultMinimumObjectSize found: tiny/);
});

test('IAM: Put and Delete need s3:PutLifecycleConfiguration, Get s3:GetLifecycleConfiguration', async () => {
  const b = await newBucket();
  const iam = new IAMClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
  const mk = async (name: string, action: string) => {
    await iam.send(new CreateUserCommand({ UserName: name }));
    await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: `arn:aws:s3:::${b}` }] }) }));
    const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    return srv.client({ credentials: { accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! } });
  };
  const writer = await mk(`lcw-${b}`, 's3:PutLifecycleConfiguration');
  const reader = await mk(`lcr-${b}`, 's3:GetLifecycleConfiguration');
  const rules: LifecycleRule[] = [{ ID: 'x', Status: 'Enabled', Filter: {}, Expiration: { Days: 1 } }];
  await assertFails(reader.send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: rules } })), 403, 'AccessDenied');
  await writer.send(new PutBucketLifecycleConfigurationCommand({ Bucket: b, LifecycleConfiguration: { Rules: rules } }));
  await assertFails(writer.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b })), 403, 'AccessDenied');
  assert.equal((await reader.send(new GetBucketLifecycleConfigurationCommand({ Bucket: b }))).Rules!.length, 1);
  await assertFails(reader.send(new DeleteBucketLifecycleCommand({ Bucket: b })), 403, 'AccessDenied');
  await writer.send(new DeleteBucketLifecycleCommand({ Bucket: b }));
  iam.destroy();
  writer.destroy();
  reader.destroy();
});
