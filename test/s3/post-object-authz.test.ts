// PostObject's signer is authorized like a PutObject caller: an IAM user needs
// s3:PutObject on the key (identity policies), and a bucket policy can deny it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { userFactory } from '../helpers/sse-principals.js';

async function post(url: string, fields: Record<string, string>, body: string): Promise<Response> {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('file', new Blob([body]), 'f.txt');
  return fetch(url, { method: 'POST', body: fd });
}

describe('PostObject authorization', () => {
  let srv: TestServer;
  let users: ReturnType<typeof userFactory>;
  let bucket: string;

  before(async () => {
    srv = await startTestServer();
    users = userFactory(srv);
    bucket = uniqueBucket('post-authz');
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    users.destroy();
    await srv.stop();
  });

  it('a user without s3:PutObject cannot upload with a form she signed; with it she can; a bucket policy deny wins', async () => {
    const fay = await users.create('fay');
    const signed = (key: string) => createPresignedPost(fay.s3, { Bucket: bucket, Key: key });
    let { url, fields } = await signed('denied.txt');
    const denied = await post(url, fields, 'nope');
    assert.equal(denied.status, 403);
    assert.match(await denied.text(), /<Code>AccessDenied<\/Code>.*not authorized to perform: s3:PutObject/s);

    await fay.put('put', { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/*` });
    ({ url, fields } = await signed('allowed.txt'));
    const ok = await post(url, fields, 'yes');
    assert.equal(ok.status, 204);
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'allowed.txt' }));
    assert.equal(await got.Body!.transformToString(), 'yes');

    await srv.s3.send(new PutBucketPolicyCommand({
      Bucket: bucket,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: fay.arn }, Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/locked/*` }] }),
    }));
    ({ url, fields } = await signed('locked/x.txt'));
    assert.equal((await post(url, fields, 'no')).status, 403);
  });

  it("a bucket policy requiring aws:kms and a tag sees the form's fields, as a PUT's headers", async () => {
    const b = uniqueBucket('post-cond');
    await srv.s3.send(new CreateBucketCommand({ Bucket: b }));
    await srv.s3.send(new PutBucketPolicyCommand({
      Bucket: b,
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' } } },
        { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${b}/*`, Condition: { StringNotEquals: { 's3:RequestObjectTag/project': 'apollo' } } },
      ] }),
    }));
    const tagging = '<Tagging><TagSet><Tag><Key>project</Key><Value>apollo</Value></Tag></TagSet></Tagging>';
    const form = async (key: string, extra: Record<string, string>) => {
      const { url, fields } = await createPresignedPost(srv.s3, { Bucket: b, Key: key, Fields: extra, Conditions: Object.entries(extra).map(([k, v]) => ({ [k]: v })) });
      return post(url, fields, 'form body');
    };
    const explicitDeny = /<Code>AccessDenied<\/Code>.*s3:PutObject on resource: .* with an explicit deny in a resource-based policy/s;
    const refused = async (r: Response) => {
      const text = await r.text();
      assert.equal(r.status, 403, text);
      assert.match(text, explicitDeny);
    };
    await refused(await form('plain.txt', { tagging }));
    await refused(await form('untagged.txt', { 'x-amz-server-side-encryption': 'aws:kms' }));
    // The POST's own headers are not the form: an x-amz-tagging header does not satisfy the tag condition.
    const { url: hUrl, fields: hFields } = await createPresignedPost(srv.s3, {
      Bucket: b, Key: 'header.txt', Fields: { 'x-amz-server-side-encryption': 'aws:kms' }, Conditions: [{ 'x-amz-server-side-encryption': 'aws:kms' }],
    });
    const fd = new FormData();
    for (const [k, v] of Object.entries(hFields)) fd.append(k, v);
    fd.append('file', new Blob(['form body']), 'f.txt');
    await refused(await fetch(hUrl, { method: 'POST', body: fd, headers: { 'x-amz-tagging': 'project=apollo', 'x-amz-server-side-encryption': 'aws:kms' } }));
    for (const key of ['plain.txt', 'untagged.txt', 'header.txt']) {
      const gone = await srv.s3.send(new HeadObjectCommand({ Bucket: b, Key: key })).then(() => 'stored', (e: { name?: string }) => e.name);
      assert.equal(gone, 'NotFound', `${key} must not be stored`);
    }
    const ok = await form('ok.txt', { 'x-amz-server-side-encryption': 'aws:kms', tagging });
    assert.equal(ok.status, 204, await ok.text());
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: b, Key: 'ok.txt' }));
    assert.equal(got.ServerSideEncryption, 'aws:kms');
    assert.equal(await got.Body!.transformToString(), 'form body');
  });
});
