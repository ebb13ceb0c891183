// The data keys the KMS remembers with their ciphertexts for S3 (src/kms/opened-ciphertexts.ts):
// an entry answers only for the very same material object, blob bytes and encryption
// context; and an SSE-KMS object read again still goes through every check of Decrypt — a
// disabled key, a key policy that no longer allows, a key pending deletion.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DisableKeyCommand, EnableKeyCommand, PutKeyPolicyCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { OpenedCiphertexts, MAX_ENTRIES } from '../../src/kms/opened-ciphertexts.js';
import { CIPHERTEXT_HEADER_LENGTH } from '../../src/kms/format/ciphertext.js';
import type { KeyMaterial } from '../../src/kms/format/key-material.js';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { createKeyVia } from './harness.js';

const material = () => randomBytes(32) as KeyMaterial;
const blob = () => randomBytes(CIPHERTEXT_HEADER_LENGTH + 32 + 16);

describe('OpenedCiphertexts', () => {
  it('answers a copy for the same material object, blob and context (in any member order), nothing otherwise', () => {
    const memo = new OpenedCiphertexts();
    const m = material();
    const b = blob();
    const key = randomBytes(32);
    memo.remember(m, b, { a: '1', b: '2' }, key);
    const got = memo.lookup(m, b, { b: '2', a: '1' })!;
    assert.ok(got.equals(key));
    got.fill(0);
    assert.ok(memo.lookup(m, b, { a: '1', b: '2' })!.equals(key), 'a caller zeroing its copy leaves the entry');
    assert.equal(memo.lookup(Buffer.from(m) as KeyMaterial, b, { a: '1', b: '2' }), undefined, 'equal bytes in another material object (a new revision): a miss');
    assert.equal(memo.lookup(m, b, { a: '1' }), undefined, 'another context');
    assert.equal(memo.lookup(m, b, { a: '1', b: '2', c: '3' }), undefined, 'a context with a member more');
    assert.equal(memo.lookup(m, b, { ab: '12' }), undefined);
    assert.equal(memo.lookup(m, b, {}), undefined, 'no context');
    const other = Buffer.from(b);
    other[other.length - 1]! ^= 1;
    assert.equal(memo.lookup(m, other, { a: '1', b: '2' }), undefined, 'a changed blob');
  });

  it('keeps only data-key-sized plaintexts, at most MAX_ENTRIES, zeroing what leaves', () => {
    const memo = new OpenedCiphertexts();
    const m = material();
    memo.remember(m, randomBytes(CIPHERTEXT_HEADER_LENGTH + 100 + 16), {}, randomBytes(100));
    assert.equal(memo.size, 0, 'a 100-byte plaintext is not a data key');
    const first = blob();
    memo.remember(m, first, {}, randomBytes(32));
    for (let i = 0; i < MAX_ENTRIES; i++) memo.remember(m, blob(), {}, randomBytes(32));
    assert.equal(memo.size, MAX_ENTRIES);
    assert.equal(memo.lookup(m, first, {}), undefined, 'the oldest left');
  });

  it('answers exactly the plaintext remembered in a slot, whatever a longer one left there before', () => {
    const memo = new OpenedCiphertexts();
    const m = material();
    memo.remember(m, blob(), {}, randomBytes(64)); // slot 0: a DSSE-sized pair
    for (let i = 1; i < MAX_ENTRIES; i++) memo.remember(m, blob(), {}, randomBytes(32));
    const b = blob();
    const key = randomBytes(32);
    memo.remember(m, b, {}, key); // slot 0 again
    assert.ok(memo.lookup(m, b, {})!.equals(key), 'the 32 bytes remembered, not 64');
    const again = randomBytes(16);
    memo.remember(m, b, {}, again); // the same entry remembered again keeps its slot
    assert.ok(memo.lookup(m, b, {})!.equals(again));
    assert.equal(memo.size, MAX_ENTRIES);
  });
});

describe('an SSE-KMS object read again (its data key remembered) still passes every check of Decrypt', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => srv?.stop());

  it('after GETs that remember its data key: a disabled key is KMS.DisabledException; a key policy without kms:Decrypt AccessDenied; a key pending deletion KMS.KMSInvalidStateException', async () => {
    const keyId = (await createKeyVia(srv.kms)).KeyId!;
    const bucket = uniqueBucket('opened-ct');
    await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = randomBytes(4096);
    await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    const get = async () => Buffer.from(await (await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }))).Body!.transformToByteArray());
    const refused = async (code: string, status: number) => {
      const e = await get().then(() => undefined, (err: { name: string; $metadata?: { httpStatusCode?: number } }) => err);
      assert.ok(e, `the GET is refused with ${code}`);
      assert.equal(e.name, code);
      assert.equal(e.$metadata?.httpStatusCode, status);
    };
    for (let i = 0; i < 3; i++) assert.ok((await get()).equals(body));

    await srv.kms.send(new DisableKeyCommand({ KeyId: keyId }));
    await refused('KMS.DisabledException', 400);
    await srv.kms.send(new EnableKeyCommand({ KeyId: keyId }));
    assert.ok((await get()).equals(body));

    const account = srv.coffer.root.accountId;
    const policy = (actions: string[]) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: actions, Resource: '*' }] });
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy(['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:Encrypt', 'kms:GenerateDataKey']) }));
    await refused('AccessDenied', 403);
    await srv.kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy(['kms:*']) }));
    assert.ok((await get()).equals(body));
    await srv.kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    await refused('KMS.KMSInvalidStateException', 400);
  });
});
