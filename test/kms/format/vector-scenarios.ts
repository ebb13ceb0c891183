// The KMS ciphertext test vectors, built deterministically: every random byte comes from
// a SHA-256 counter stream over a fixed seed, so regenerating gives identical files.
// generate-vectors.ts writes them to test/vectors/kms-ciphertext/; ciphertext-vectors.test.ts
// checks the files still match this builder (pinning the encoder) and runs each one.

import { createHash } from 'node:crypto';
import { encodeCiphertext } from '../../../src/kms/format/ciphertext.js';
import type { EncryptionContext } from '../../../src/crypto/encryption-context.js';
import { asKeyMaterial } from '../../../src/kms/format/key-material.js';

export interface Vector {
  expect: 'success' | 'auth failure' | 'parse failure';
  description: string;
  material_hex: string;
  context: Record<string, string>;
  blob_hex: string;
  plaintext_hex?: string;
  key_id?: string;
  material_version?: number;
}

/** A byte stream: SHA-256(seed || u32be(counter)) blocks, concatenated. */
export function deterministicRandom(seed: string): (size: number) => Buffer {
  let counter = 0;
  return (size) => {
    const blocks: Buffer[] = [];
    for (let have = 0; have < size; have += 32) {
      const c = Buffer.alloc(4);
      c.writeUInt32BE(counter++);
      blocks.push(createHash('sha256').update(seed, 'utf8').update(c).digest());
    }
    return Buffer.concat(blocks).subarray(0, size);
  };
}

export const VECTOR_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';

export function buildVectors(): Map<string, Vector> {
  const rnd = deterministicRandom('coffer/kms/ciphertext/v1 test vectors');
  const material = asKeyMaterial(rnd(32));
  const otherMaterial = asKeyMaterial(rnd(32));
  const hex = (b: Buffer) => b.toString('hex');
  const out = new Map<string, Vector>();

  const encrypt = (plaintext: Buffer, context: EncryptionContext, keyId = VECTOR_KEY_ID, materialVersion = 1) =>
    encodeCiphertext({ keyId, materialVersion, material, plaintext, context }, rnd);
  const success = (name: string, description: string, plaintext: Buffer, context: Record<string, string>, keyId = VECTOR_KEY_ID, materialVersion = 1) => {
    const blob = encrypt(plaintext, context, keyId, materialVersion);
    out.set(name, {
      expect: 'success',
      description,
      material_hex: hex(material),
      context,
      blob_hex: hex(blob),
      plaintext_hex: hex(plaintext),
      key_id: keyId,
      material_version: materialVersion,
    });
    return blob;
  };
  const failure = (name: string, expect: Vector['expect'], description: string, blob: Buffer, context: Record<string, string>, m = material) =>
    out.set(name, { expect, description, material_hex: hex(m), context, blob_hex: hex(blob) });
  const flip = (blob: Buffer, offset: number) => {
    const t = Buffer.from(blob);
    t[offset] ^= 0x01;
    return t;
  };

  const hello = Buffer.from('Hello, Coffer KMS', 'utf8');
  const ctx = { bucket: 'photos', object: '2024/cat.jpg' };
  success('success-empty-context', 'ASCII plaintext, empty encryption context', hello, {});
  const withCtx = success('success-context', 'a 32-byte data key under a two-pair context, material version 2', rnd(32), ctx, VECTOR_KEY_ID, 2);
  success(
    'success-unicode-context',
    'context keys whose UTF-8 byte order (U+00E9, U+FF61, U+1F600) differs from UTF-16 code-unit order (U+00E9, U+1F600, U+FF61)',
    hello,
    { '\u{1F600}': 'emoji', '\uFF61': 'half-width ideographic full stop', '\u00E9': 'caf\u00E9' },
  );
  success('success-empty-plaintext', 'zero-byte plaintext (the format allows it; the API requires at least 1 byte)', Buffer.alloc(0), ctx);
  const max = success('success-max-plaintext', '4096-byte plaintext, the largest allowed', rnd(4096), {});
  success('success-multi-region-key-id', 'an mrk- key id and the largest material version, 2^32-1', hello, {}, 'mrk-0123456789abcdef0123456789abcdef', 0xffffffff);

  const tamperKeyId = Buffer.from(withCtx);
  tamperKeyId.write('2', 1, 'ascii'); // still a well-formed key id: parses, then fails to authenticate
  failure('auth-tampered-key-id', 'auth failure', 'first key id character changed from 1 to 2 (still a well-formed key id)', tamperKeyId, ctx);
  const tamperVersion = Buffer.from(withCtx);
  tamperVersion.writeUInt32BE(1, 37);
  failure('auth-tampered-material-version', 'auth failure', 'material version changed from 2 to 1', tamperVersion, ctx);
  failure('auth-tampered-salt', 'auth failure', 'one bit of the salt (offset 41) flipped', flip(withCtx, 41), ctx);
  failure('auth-tampered-ciphertext', 'auth failure', 'one bit of the first ciphertext byte (offset 73) flipped', flip(withCtx, 73), ctx);
  failure('auth-tampered-tag', 'auth failure', 'one bit of the last tag byte flipped', flip(withCtx, withCtx.length - 1), ctx);
  failure('auth-truncated-tag', 'auth failure', 'last byte removed: still long enough to parse, so the tag check fails', withCtx.subarray(0, withCtx.length - 1), ctx);
  failure('auth-wrong-context-value', 'auth failure', 'context value changed (object)', withCtx, { ...ctx, object: '2024/dog.jpg' });
  failure('auth-wrong-context-key-added', 'auth failure', 'context with an extra pair', withCtx, { ...ctx, extra: '' });
  failure('auth-wrong-context-key-removed', 'auth failure', 'context with a pair missing', withCtx, { bucket: 'photos' });
  failure('auth-wrong-context-case', 'auth failure', 'context key differs only in case (Bucket vs bucket): the match is exact', withCtx, {
    Bucket: 'photos',
    object: '2024/cat.jpg',
  });
  const abc = encrypt(hello, { ab: 'c' });
  failure('auth-context-concatenation', 'auth failure', 'encrypted under {"ab":"c"}, decrypted with {"a":"bc"}: same bare concatenation, different context', abc, {
    a: 'bc',
  });
  failure('auth-wrong-material', 'auth failure', 'decrypted with other key material', withCtx, ctx, otherMaterial);

  failure('parse-empty', 'parse failure', 'zero bytes', Buffer.alloc(0), {});
  failure('parse-truncated-header', 'parse failure', 'cut to 50 bytes, inside the header', withCtx.subarray(0, 50), ctx);
  failure('parse-truncated-below-minimum', 'parse failure', 'cut to 88 bytes, one less than a header and tag', withCtx.subarray(0, 88), ctx);
  failure('parse-unknown-version', 'parse failure', 'version byte 0x02', Buffer.concat([Buffer.of(0x02), withCtx.subarray(1)]), ctx);
  const upper = Buffer.from(withCtx);
  upper.write('ABCD', 5, 'ascii');
  failure('parse-malformed-key-id', 'parse failure', 'key id with upper-case hex digits', upper, ctx);
  const zero = Buffer.from(withCtx);
  zero.writeUInt32BE(0, 37);
  failure('parse-material-version-zero', 'parse failure', 'material version 0', zero, ctx);
  failure(
    'parse-too-long',
    'parse failure',
    '4186 bytes: one more ciphertext byte than a 4096-byte plaintext gives, refused before decrypting',
    Buffer.concat([max.subarray(0, max.length - 16), Buffer.of(0), max.subarray(max.length - 16)]),
    {},
  );
  failure(
    'parse-foreign-format',
    'parse failure',
    'starts with 01 02 02 00 78 like an AWS KMS ciphertext blob: version byte matches, key id does not',
    Buffer.concat([Buffer.from('0102020078', 'hex'), rnd(180)]),
    {},
  );
  return out;
}
