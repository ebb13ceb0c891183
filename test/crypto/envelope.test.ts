// The envelope: round trip, one canonical encoding, strict refusal of anything else, and
// the SSE-S3 wrap AAD covering every field but the wrapped key
// (docs/spec/object-encryption.md, "Envelope").

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeEnvelope,
  decodeEnvelopeWithAad,
  encodeEncryptionContext,
  encodeEnvelope,
  EnvelopeParseError,
  newObjectId,
  SEALED_KEY_LABEL,
  sealedKeyAad,
  type EnvelopeFields,
} from '../../src/crypto/index.js';
import { deterministicRandom } from './helpers.js';

const rnd = deterministicRandom('envelope.test');
const fields: EnvelopeFields = {
  objectId: newObjectId(rnd),
  kind: 'sse-kms',
  keyId: 'arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  context: { 'aws:s3:arn': 'arn:aws:s3:::photos/2024/cat.jpg', é: 'x' },
  wrappedKey: rnd(121),
};
const bytes = encodeEnvelope(fields);

describe('envelope', () => {
  it('round-trips and adds the v1 constants', () => {
    const env = decodeEnvelope(bytes);
    assert.deepEqual(env, { ...fields, version: 1, algorithm: 'AES256-GCM-HKDF-SHA256-STREAM64K', segmentSize: 65536 });
    assert.deepEqual(encodeEnvelope(env), bytes);
  });

  it('pins the layout: version, algorithm, segment size, object id, kind, key id, context, wrapped key', () => {
    const keyId = Buffer.from(fields.keyId);
    const ctx = encodeEncryptionContext(fields.context);
    const expected = Buffer.concat([
      Buffer.from('01' + '01' + '00010000', 'hex'),
      fields.objectId,
      Buffer.of(0x01),
      Buffer.from([keyId.length >> 8, keyId.length & 0xff]),
      keyId,
      ctx,
      Buffer.from([0, 0, 0, 121]),
      fields.wrappedKey,
    ]);
    assert.deepEqual(bytes, expected);
    assert.equal(SEALED_KEY_LABEL, 'coffer/object-encryption/v1/sealed-key');
  });

  it('encodes the context as the KMS ciphertext spec does (sorted by UTF-8 bytes, length-prefixed)', () => {
    assert.equal(encodeEncryptionContext({}).toString('hex'), '00000000');
    assert.equal(encodeEncryptionContext({ ab: 'c' }).toString('hex'), '00000001' + '000000026162' + '0000000163');
    assert.equal(encodeEncryptionContext({ a: 'bc' }).toString('hex'), '00000001' + '0000000161' + '000000026263');
    assert.equal(
      encodeEncryptionContext({ '\u{1F600}': '1', '\uFF61': '2', é: '3' }).toString('hex'),
      '00000003' + '00000002c3a9' + '0000000133' + '00000003efbda1' + '0000000132' + '00000004f09f9880' + '0000000131',
    );
    assert.throws(() => encodeEncryptionContext({ a: '\uD800' }), RangeError);
  });

  it('SSE-S3 and SSE-C envelopes may have an empty key id; the KMS kinds may not', () => {
    for (const kind of ['sse-s3', 'sse-c'] as const) {
      assert.deepEqual(decodeEnvelope(encodeEnvelope({ ...fields, kind, keyId: '' })).kind, kind);
    }
    for (const kind of ['sse-kms', 'sse-kms-bucket-key', 'dsse-kms'] as const) {
      assert.deepEqual(decodeEnvelope(encodeEnvelope({ ...fields, kind })).kind, kind);
      assert.throws(() => encodeEnvelope({ ...fields, kind, keyId: '' }), RangeError);
    }
    assert.throws(() => encodeEnvelope({ ...fields, wrappedKey: Buffer.alloc(0) }), RangeError);
  });

  it('the SSE-S3 wrap AAD changes with every field but the wrapped key', () => {
    const base = sealedKeyAad(fields);
    assert.ok(base.subarray(0, SEALED_KEY_LABEL.length).equals(Buffer.from(SEALED_KEY_LABEL)));
    assert.deepEqual(sealedKeyAad({ ...fields, wrappedKey: rnd(10) }), base);
    for (const changed of [
      { ...fields, objectId: newObjectId(rnd) },
      { ...fields, kind: 'sse-s3' as const },
      { ...fields, keyId: fields.keyId + 'x' },
      { ...fields, context: { ...fields.context, extra: '' } },
    ]) {
      assert.notDeepEqual(sealedKeyAad(changed), base);
    }
  });

  it('decodeEnvelopeWithAad takes the AAD from the stored bytes: the same bytes sealedKeyAad() encodes again, for every kind and context', () => {
    const variants: EnvelopeFields[] = [
      fields,
      { ...fields, kind: 'sse-s3', keyId: '', context: { 'aws:s3:arn': 'arn:aws:s3:::b/k' } },
      { ...fields, kind: 'sse-c', keyId: '', context: {} },
      { ...fields, kind: 'sse-kms-bucket-key', context: { z: '1', a: '2', 'a\u0000': '', '\u{1F600}': 'é', '\uE000': 'x' } },
      { ...fields, kind: 'dsse-kms', keyId: 'k'.repeat(2048), context: { k: 'v'.repeat(5000) } },
    ];
    for (const f of variants) {
      const stored = encodeEnvelope(f);
      const { envelope, aad } = decodeEnvelopeWithAad(stored);
      assert.deepEqual(envelope, decodeEnvelope(stored));
      assert.ok(aad.equals(sealedKeyAad(envelope)), `${f.kind}: the stored header is the header encoded again`);
      assert.ok(aad.equals(sealedKeyAad(f)), `${f.kind}: and the writer's AAD`);
    }
    for (const [, b] of parseFailuresOf(bytes)) assert.throws(() => decodeEnvelopeWithAad(b), EnvelopeParseError);
  });

  const parseFailures: [string, Buffer][] = parseFailuresOf(bytes);
  function parseFailuresOf(bytes: Buffer): [string, Buffer][] {
    return [
    ['empty', Buffer.alloc(0)],
    ['version 2', Buffer.concat([Buffer.of(2), bytes.subarray(1)])],
    ['algorithm 2', Buffer.concat([bytes.subarray(0, 1), Buffer.of(2), bytes.subarray(2)])],
    ['segment size 1 MiB', Buffer.concat([bytes.subarray(0, 2), Buffer.from('00100000', 'hex'), bytes.subarray(6)])],
    ['kind 6', Buffer.concat([bytes.subarray(0, 22), Buffer.of(6), bytes.subarray(23)])],
    ['kind 0', Buffer.concat([bytes.subarray(0, 22), Buffer.of(0), bytes.subarray(23)])],
    ['cut inside the fixed fields', bytes.subarray(0, 20)],
    ['cut inside the key id', bytes.subarray(0, 40)],
    ['cut before the wrapped key', bytes.subarray(0, bytes.length - 125)],
    ['cut inside the wrapped key', bytes.subarray(0, bytes.length - 1)],
    ['a trailing byte', Buffer.concat([bytes, Buffer.of(0)])],
    ['over 16 KiB', Buffer.concat([bytes, Buffer.alloc(16384)])],
    ];
  }
  for (const [what, b] of parseFailures) {
    it(`refuses ${what}`, () => assert.throws(() => decodeEnvelope(b), EnvelopeParseError));
  }

  it('refuses an unsorted or duplicated context, bad UTF-8, and an absurd pair count', () => {
    const withContext = (ctx: Buffer) => {
      const keyIdLen = bytes.readUInt16BE(23);
      const ctxStart = 25 + keyIdLen;
      const ctxEnd = ctxStart + encodeEncryptionContext(fields.context).length;
      return Buffer.concat([bytes.subarray(0, ctxStart), ctx, bytes.subarray(ctxEnd)]);
    };
    assert.deepEqual(decodeEnvelope(withContext(encodeEncryptionContext({ b: '1', a: '2' }))).context, { a: '2', b: '1' });
    const pair = (k: string, v: string) => {
      const kb = Buffer.from(k);
      const vb = Buffer.from(v);
      return Buffer.concat([Buffer.from([0, 0, 0, kb.length]), kb, Buffer.from([0, 0, 0, vb.length]), vb]);
    };
    const two = (a: Buffer, b: Buffer) => Buffer.concat([Buffer.from('00000002', 'hex'), a, b]);
    assert.throws(() => decodeEnvelope(withContext(two(pair('b', '1'), pair('a', '2')))), EnvelopeParseError);
    assert.throws(() => decodeEnvelope(withContext(two(pair('a', '1'), pair('a', '2')))), EnvelopeParseError);
    const badUtf8 = Buffer.concat([Buffer.from('00000001' + '00000001', 'hex'), Buffer.of(0xff), Buffer.from('00000000', 'hex')]);
    assert.throws(() => decodeEnvelope(withContext(badUtf8)), EnvelopeParseError);
    assert.throws(() => decodeEnvelope(withContext(Buffer.from('ffffffff', 'hex'))), EnvelopeParseError);
  });
});
