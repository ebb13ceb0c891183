// Issue 12: the IAM/STS form is parsed under bounds — the number of parameters, each
// name's length and each value's length (the member's limit from the API reference, or a
// general cap) — and refused with IAM's ValidationError before anything runs, never
// echoing a huge value back.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GetUserCommand } from '@aws-sdk/client-iam';
import { signRequest } from '../../src/auth/sign.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';
import { iamClient } from './iam-helpers.js';

let srv: TestServer;

/** A signed IAM or STS POST of `form` (already encoded); the status and the body. */
async function post(service: 'iam' | 'sts', form: string): Promise<{ status: number; text: string }> {
  const url = new URL(srv.url);
  const headers = signRequest({
    method: 'POST', rawUrl: '/', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET, region: 'us-east-1', service, now: new Date(),
    payloadHash: createHash('sha256').update(form).digest('hex'),
  }).headers;
  delete headers['host'];
  const res = await fetch(`${srv.url}/`, { method: 'POST', headers, body: form });
  return { status: res.status, text: await res.text() };
}

const message = (xml: string): string => (/<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? '').replace(/&apos;/g, "'");
const code = (xml: string): string => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? '';

describe('IAM/STS form bounds', () => {
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv?.stop();
  });

  it('a huge UserName is refused with the member and its constraint, and not echoed back', async () => {
    const r = await post('iam', `Action=CreateUser&Version=2010-05-08&UserName=${'a'.repeat(100_000)}`);
    assert.equal(r.status, 400);
    assert.equal(code(r.text), 'ValidationError');
    assert.equal(message(r.text), "1 validation error detected: Value at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64");
    assert.ok(r.text.length < 1000, `answer of ${r.text.length} characters`);
    await assert.rejects(iamClient(srv).send(new GetUserCommand({ UserName: 'a'.repeat(64) })), { name: 'NoSuchEntityException' });
  });

  it('an unknown member over the general cap is refused (131,072 characters)', async () => {
    const r = await post('iam', `Action=ListUsers&Version=2010-05-08&Junk=${'j'.repeat(131_073)}`);
    assert.equal(r.status, 400);
    assert.equal(code(r.text), 'ValidationError');
    assert.equal(message(r.text), "1 validation error detected: Value at 'junk' failed to satisfy constraint: Member must have length less than or equal to 131072");
    const ok = await post('iam', `Action=ListUsers&Version=2010-05-08&Junk=${'j'.repeat(131_072)}`);
    assert.equal(ok.status, 200, ok.text);
  });

  it('a list member over its own limit names the member (tags.member.value, 256)', async () => {
    const r = await post('iam', `Action=CreateUser&Version=2010-05-08&UserName=tagged&Tags.member.1.Key=k&Tags.member.1.Value=${'v'.repeat(5000)}`);
    assert.equal(r.status, 400);
    assert.equal(message(r.text), "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256");
  });

  it('STS: a session policy over 2,048 characters is refused before the call runs', async () => {
    const r = await post('sts', `Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::000000000000:role/none&RoleSessionName=s&Policy=${'p'.repeat(10_000)}`);
    assert.equal(r.status, 400);
    assert.equal(code(r.text), 'ValidationError');
    assert.equal(message(r.text), "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048");
  });

  it('more than 1,000 parameters are refused; 1,000 are accepted', async () => {
    const junk = (n: number) => Array.from({ length: n }, (_, i) => `X${i}=1`).join('&');
    const r = await post('iam', `Action=ListUsers&Version=2010-05-08&${junk(999)}`);
    assert.equal(r.status, 400);
    assert.equal(code(r.text), 'ValidationError');
    assert.match(message(r.text), /more than 1000 parameters/);
    const ok = await post('iam', `Action=ListUsers&Version=2010-05-08&${junk(998)}`);
    assert.equal(ok.status, 200, ok.text);
  });

  it('a parameter name over 256 characters is refused without echoing it', async () => {
    const r = await post('iam', `Action=ListUsers&Version=2010-05-08&${'N'.repeat(300)}=1`);
    assert.equal(r.status, 400);
    assert.equal(code(r.text), 'ValidationError');
    assert.doesNotMatch(r.text, /NNNN/);
  });
});
