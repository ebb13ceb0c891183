// The SSE-S3 object keys and decoded envelopes a GET remembers (src/s3/sse/object-key-memo.ts):
// keyed by the stored envelope string and the root-key provider, never remembered or
// answered while a root-key rotation holds a second key, and a miss once the sealing key
// changed. (A changed envelope string failing the GET is pinned by sse-format.test.ts.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { asObjectKey, encodeEnvelope, newObjectId, sealedKeyAad, type EnvelopeFields } from '../../src/crypto/index.js';
import { RootKeyRing } from '../../src/custody/root-key-ring.js';
import { SoftwareRootKey } from '../../src/custody/software-root-key.js';
import { decodeStoredEnvelope, MAX_ENTRIES, rememberedSseS3Key, rememberedSseS3Object, rememberSseS3Key, sseS3KeysHeld, steadyRootKeyId } from '../../src/s3/sse/object-key-memo.js';

const rootKey = () => new SoftwareRootKey('key', randomBytes(32));
const objectKey = () => asObjectKey(randomBytes(32));
const idOf = (env: string) => decodeStoredEnvelope(env).objectId;

async function sealed(provider: SoftwareRootKey | RootKeyRing, key: Buffer): Promise<string> {
  const fields: EnvelopeFields = { objectId: newObjectId(), kind: 'sse-s3', keyId: '', context: { 'aws:s3:arn': 'arn:aws:s3:::b/k' }, wrappedKey: Buffer.alloc(0) };
  const wrappedKey = await provider.wrap(key, sealedKeyAad(fields));
  return encodeEnvelope({ ...fields, wrappedKey }).toString('base64');
}

test('a remembered SSE-S3 key answers only for its envelope string and its root-key provider, as a copy the caller may zero', async () => {
  const root = rootKey();
  const key = objectKey();
  const env = await sealed(root, key);
  rememberSseS3Key(root, env, key, idOf(env), steadyRootKeyId(root), undefined);
  key.fill(0); // the writer zeroes its key when the PUT ends
  const got = rememberedSseS3Key(root, env)!;
  assert.ok(got !== undefined && !got.equals(Buffer.alloc(32)), 'remembered from a copy');
  assert.ok(got.equals(await root.unwrap(decodeStoredEnvelope(env).wrappedKey, sealedKeyAad(decodeStoredEnvelope(env)))), 'the key the envelope wraps');
  got.fill(0); // a GET zeroes its keys when it ends
  assert.ok(!rememberedSseS3Key(root, env)!.equals(Buffer.alloc(32)), 'a caller zeroing its copy leaves the entry');
  assert.equal(rememberedSseS3Key(root, `${env.slice(0, -4)}AAAA`), undefined, 'another envelope string is a miss');
  assert.equal(rememberedSseS3Key(rootKey(), env), undefined, 'another root-key provider is a miss');
  const whole = rememberedSseS3Object(root, env)!;
  assert.ok(whole.objectId.equals(decodeStoredEnvelope(env).objectId), 'the object id comes back with the key (the GET decodes nothing)');
  assert.ok(whole.inner.equals(rememberedSseS3Key(root, env)!), 'and the same key');
  whole.objectId.fill(0);
  assert.ok(rememberedSseS3Object(root, env)!.objectId.equals(decodeStoredEnvelope(env).objectId), 'the object id is a copy too');
  assert.equal(rememberedSseS3Object(root, `${env.slice(0, -4)}AAAA`), undefined, 'another envelope string is a miss');
  assert.equal(rememberedSseS3Object(rootKey(), env), undefined, 'another root-key provider is a miss');
});

test('during a root-key rotation nothing is remembered or answered, and what was remembered before it is a miss after it', async () => {
  const ring = new RootKeyRing(rootKey());
  const before = objectKey();
  const envBefore = await sealed(ring, before);
  rememberSseS3Key(ring, envBefore, before, idOf(envBefore), steadyRootKeyId(ring), undefined);
  assert.ok(rememberedSseS3Key(ring, envBefore)?.equals(before), 'remembered while one key seals and opens');

  ring.standBy(rootKey());
  assert.equal(rememberedSseS3Key(ring, envBefore), undefined, 'a standby key held: not answered');
  assert.equal(rememberedSseS3Object(ring, envBefore), undefined, 'a standby key held: no object answered either');
  const during = objectKey();
  const envDuring = await sealed(ring, during);
  rememberSseS3Key(ring, envDuring, during, idOf(envDuring), steadyRootKeyId(ring), undefined);
  ring.beginRotation();
  assert.equal(rememberedSseS3Key(ring, envBefore), undefined, 'a previous key held: not answered');
  rememberSseS3Key(ring, envBefore, before, idOf(envBefore), steadyRootKeyId(ring), undefined);
  ring.finishRotation();
  // The previous key is gone: an item still under it must fail as the unwrap would, not open from memory.
  assert.equal(rememberedSseS3Key(ring, envBefore), undefined, 'remembered under the old sealing key: a miss under the new one');
  assert.equal(rememberedSseS3Object(ring, envBefore), undefined, 'and no object answered for it');
  assert.equal(rememberedSseS3Key(ring, envDuring), undefined, 'nothing remembered during the rotation');
  await assert.rejects(ring.unwrap(decodeStoredEnvelope(envBefore).wrappedKey, sealedKeyAad(decodeStoredEnvelope(envBefore))), /root key/);
});

test('the memo is bounded: the oldest SSE-S3 key leaves first, zeroed', async () => {
  const root = rootKey();
  const first = objectKey();
  const envFirst = await sealed(root, first);
  rememberSseS3Key(root, envFirst, first, idOf(envFirst), steadyRootKeyId(root), undefined);
  const held = rememberedSseS3Key(root, envFirst)!;
  for (let i = 0; i < MAX_ENTRIES; i++) rememberSseS3Key(root, `x${i}`, objectKey(), newObjectId(), steadyRootKeyId(root), undefined);
  assert.equal(sseS3KeysHeld(root), MAX_ENTRIES);
  assert.equal(rememberedSseS3Key(root, envFirst), undefined, 'the oldest entry left');
  assert.ok(!held.equals(Buffer.alloc(32)), 'a copy handed out before is the caller\'s own');
});

test('a key is not remembered when the root key changed while its wrap or unwrap was awaited (a rotation begun and finished meanwhile)', async () => {
  const ring = new RootKeyRing(rootKey());
  const key = objectKey();
  const env = await sealed(ring, key);
  const under = steadyRootKeyId(ring);
  assert.ok(under !== undefined, 'steady before');
  ring.standBy(rootKey());
  assert.equal(steadyRootKeyId(ring), undefined, 'not steady while a standby key is held');
  ring.beginRotation();
  ring.finishRotation();
  assert.ok(steadyRootKeyId(ring) !== undefined && steadyRootKeyId(ring) !== under, 'steady again, under another key');
  rememberSseS3Key(ring, env, key, idOf(env), under, undefined);
  assert.equal(rememberedSseS3Object(ring, env), undefined, 'the key read before the rotation is not credited to the new root key');
  rememberSseS3Key(ring, env, key, idOf(env), undefined, undefined);
  assert.equal(rememberedSseS3Object(ring, env), undefined, 'nor one read during a rotation');
});
