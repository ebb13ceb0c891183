// A KMS request's body is what its signature covers. A client may state the body's SHA-256
// in x-amz-content-sha256 (signed, as the payload hash); the body that arrives must then
// hash to it. Before, a stated hash was taken on trust: a captured request replayed with
// another body (another key, another encryption context) within its 15 minutes was run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { signRequest } from '../../src/auth/sign.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => srv?.stop());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** CreateKey signed with x-amz-content-sha256 `stated` as its payload hash, sent with `sentBody`. */
async function createKey(sentBody: Buffer, stated: string) {
  const host = new URL(srv.url).host;
  const { headers } = signRequest({
    method: 'POST', rawUrl: '/', accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET, region: 'us-east-1', service: 'kms', now: new Date(),
    headers: { host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.CreateKey', 'x-amz-content-sha256': stated },
    payloadHash: stated,
  });
  delete headers.host;
  const res = await fetch(srv.url + '/', { method: 'POST', body: sentBody, headers });
  return { status: res.status, body: (await res.json()) as { __type?: string; message?: string; KeyMetadata?: { Description: string } } };
}

async function keyCount(): Promise<number> {
  return (await srv.kms.send(new ListKeysCommand({}))).Keys?.length ?? 0;
}

const signed = Buffer.from(JSON.stringify({ Description: 'signed' }));
const swapped = Buffer.from(JSON.stringify({ Description: 'swapped' }));

test('a KMS request whose x-amz-content-sha256 is its body\'s SHA-256 is run', async () => {
  const r = await createKey(signed, sha(signed));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.KeyMetadata?.Description, 'signed');
});

test('a KMS request sent with another body than the SHA-256 it signed is refused, and nothing is created', async () => {
  const before = await keyCount();
  const r = await createKey(swapped, sha(signed));
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.__type, 'InvalidSignatureException');
  assert.equal(await keyCount(), before);
});

test('a KMS request that signs UNSIGNED-PAYLOAD over a body is refused', async () => {
  const before = await keyCount();
  const r = await createKey(swapped, 'UNSIGNED-PAYLOAD');
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.__type, 'InvalidSignatureException');
  assert.equal(await keyCount(), before);
});
