// The organization default key (COFFER_DEFAULT_KMS_KEY_ID, the seed's "default key
// defined in the KMS"): aws:kms without a key id, and a bucket default aws:kms without
// KMSMasterKeyID, use it instead of the AWS managed aws/s3 key; a key id in the request
// or the bucket default still wins; without the setting, aws/s3 is used.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutBucketEncryptionCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand, ListAliasesCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { assertFails } from '../helpers/failure.js';

describe('the organization default KMS key', () => {
  let srv: TestServer;
  let orgArn: string;
  let otherArn: string;

  before(async () => {
    srv = await startTestServer({ COFFER_DEFAULT_KMS_KEY_ID: 'alias/org-default' });
    const org = (await srv.kms.send(new CreateKeyCommand({ Description: 'org default' }))).KeyMetadata!;
    await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/org-default', TargetKeyId: org.KeyId }));
    orgArn = org.Arn!;
    otherArn = (await srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    for (const b of ['org-req', 'org-bucket', 'org-bucket-key']) await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
  });
  after(() => srv.stop());

  it('aws:kms without a key id encrypts under the organization default, not aws/s3', async () => {
    const put = await srv.s3.send(new PutObjectCommand({ Bucket: 'org-req', Key: 'a', Body: 'org data', ServerSideEncryption: 'aws:kms' }));
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    assert.equal(put.SSEKMSKeyId, orgArn);
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: 'org-req', Key: 'a' }));
    assert.equal(got.SSEKMSKeyId, orgArn);
    assert.equal(await got.Body!.transformToString(), 'org data');
    const aliases = (await srv.kms.send(new ListAliasesCommand({}))).Aliases!.map((a) => a.AliasName);
    assert.ok(!aliases.includes('alias/aws/s3'), 'the aws/s3 key is not created when an organization default is set');
  });

  it('a bucket default aws:kms without KMSMasterKeyID uses it; with one, that key wins', async () => {
    await srv.s3.send(new PutBucketEncryptionCommand({
      Bucket: 'org-bucket',
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }] },
    }));
    const viaDefault = await srv.s3.send(new PutObjectCommand({ Bucket: 'org-bucket', Key: 'b', Body: 'x' }));
    assert.equal(viaDefault.SSEKMSKeyId, orgArn);
    const named = await srv.s3.send(new PutObjectCommand({ Bucket: 'org-bucket', Key: 'c', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: otherArn }));
    assert.equal(named.SSEKMSKeyId, otherArn);
    await srv.s3.send(new PutBucketEncryptionCommand({
      Bucket: 'org-bucket-key',
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: otherArn } }] },
    }));
    const bucketKey = await srv.s3.send(new PutObjectCommand({ Bucket: 'org-bucket-key', Key: 'd', Body: 'x' }));
    assert.equal(bucketKey.SSEKMSKeyId, otherArn);
  });

  it('the organization default is a real key: disabled, its objects cannot be written or read', async () => {
    const keyId = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/org-default' }))).KeyMetadata!.KeyId!;
    await srv.kms.send(new DisableKeyCommand({ KeyId: keyId }));
    try {
      await assertFails(srv.s3.send(new PutObjectCommand({ Bucket: 'org-req', Key: 'e', Body: 'x', ServerSideEncryption: 'aws:kms' })), 400, 'KMS.DisabledException', `${orgArn} is disabled.`);
      await assertFails(srv.s3.send(new GetObjectCommand({ Bucket: 'org-req', Key: 'a' })), 400, 'KMS.DisabledException', `${orgArn} is disabled.`);
    } finally {
      await srv.kms.send(new EnableKeyCommand({ KeyId: keyId }));
    }
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: 'org-req', Key: 'a' }));
    assert.equal(await got.Body!.transformToString(), 'org data');
  });
});

describe('without an organization default', () => {
  it('aws:kms without a key id uses the AWS managed aws/s3 key', async () => {
    const srv = await startTestServer();
    try {
      await srv.s3.send(new CreateBucketCommand({ Bucket: 'no-org' }));
      const put = await srv.s3.send(new PutObjectCommand({ Bucket: 'no-org', Key: 'a', Body: 'x', ServerSideEncryption: 'aws:kms' }));
      const md = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!;
      assert.equal(put.SSEKMSKeyId, md.Arn);
      assert.equal(md.KeyManager, 'AWS');
    } finally {
      await srv.stop();
    }
  });
});
