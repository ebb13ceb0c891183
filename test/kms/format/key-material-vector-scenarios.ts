// The sealed key material v2 test vectors (docs/spec/kms-key-material.md, "Sealed key
// material (version 2)"), built deterministically: every random byte comes from a SHA-256
// counter stream, and the root-key wrap is written here from the spec (not by Coffer's
// provider), so the vectors pin the layout independently of the code that reads them.
// key-material-vectors.test.ts checks the files match this builder and runs each one.

import { createCipheriv, createECDH, createHmac, createPrivateKey } from 'node:crypto';
import type { RootKeyProvider } from '../../../src/custody/root-key.js';
import { sealKeyMaterial, sealSecret, asKeyMaterial, type SecretKindName } from '../../../src/kms/format/key-material.js';
import { deterministicRandom, VECTOR_KEY_ID } from './vector-scenarios.js';

export interface MaterialVector {
  expect: 'success' | 'auth failure' | 'parse failure';
  description: string;
  root_key_hex: string;
  key_id: string;
  material_version: number;
  kind: SecretKindName;
  record_hex: string;
  secret_hex?: string;
}

/** The wrapped-key format v1 for a `key` root key, from the spec, with nonces from `rnd`. */
export function specWrapper(rootKey: Buffer, rnd: (n: number) => Buffer): RootKeyProvider {
  const fingerprint = createHmac('sha256', rootKey).update('coffer/root-key/fingerprint/v1').digest().subarray(0, 8);
  return {
    id: `key:${fingerprint.toString('hex')}`,
    async wrap(secret: Buffer, aad: Buffer) {
      const header = Buffer.concat([Buffer.from([0x01, 0x01]), fingerprint, rnd(12)]);
      const c = createCipheriv('aes-256-gcm', rootKey, header.subarray(10));
      c.setAAD(Buffer.concat([Buffer.from('coffer/root-key/wrap/v1'), header, aad]));
      return Buffer.concat([header, c.update(secret), c.final(), c.getAuthTag()]);
    },
    async unwrap() {
      throw new Error('the vector builder only wraps');
    },
  };
}

/** A P-256 private key from a fixed scalar, as PKCS#8 DER. */
export function p256Key(scalar: Buffer): Buffer {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(scalar);
  const pub = ecdh.getPublicKey();
  const b64 = (b: Buffer) => b.toString('base64url');
  const jwk = { kty: 'EC', crv: 'P-256', d: b64(scalar), x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33)) };
  return createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' });
}

export async function buildMaterialVectors(): Promise<Map<string, MaterialVector>> {
  const rnd = deterministicRandom('coffer/kms/key-material/v2 test vectors');
  const rootKey = rnd(32);
  const wrapper = specWrapper(rootKey, rnd);
  const hex = (b: Buffer) => b.toString('hex');
  const out = new Map<string, MaterialVector>();
  const base = { root_key_hex: hex(rootKey), key_id: VECTOR_KEY_ID, material_version: 1 };

  const privateKey = p256Key(Buffer.from('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721', 'hex'));
  const pkRecord = await sealSecret(wrapper, VECTOR_KEY_ID, 1, 'private-key', privateKey, rnd);
  out.set('success-private-key-p256', { expect: 'success', description: 'a P-256 private key (PKCS#8 DER), version 1', ...base, kind: 'private-key', record_hex: hex(pkRecord), secret_hex: hex(privateKey) });

  const hmacKey = rnd(32);
  const hmacRecord = await sealSecret(wrapper, VECTOR_KEY_ID, 7, 'hmac', hmacKey, rnd);
  out.set('success-hmac-256', { expect: 'success', description: 'an HMAC_256 key (32 raw bytes), material version 7', ...base, material_version: 7, kind: 'hmac', record_hex: hex(hmacRecord), secret_hex: hex(hmacKey) });

  out.set('auth-wrong-kind', { expect: 'auth failure', description: 'an HMAC key record opened as a private key (the key spec decides the kind)', ...base, material_version: 7, kind: 'private-key', record_hex: hex(hmacRecord) });
  const rewritten = Buffer.from(hmacRecord);
  rewritten[41] = 0x02;
  out.set('auth-rewritten-kind', { expect: 'auth failure', description: 'the kind byte of an HMAC key record rewritten to private key: both AADs hold the header', ...base, material_version: 7, kind: 'private-key', record_hex: hex(rewritten) });
  out.set('auth-other-version', { expect: 'auth failure', description: 'a record of material version 1 opened as version 2', ...base, material_version: 2, kind: 'private-key', record_hex: hex(pkRecord) });
  const tampered = Buffer.from(pkRecord);
  tampered[tampered.length - 20]! ^= 0x01;
  out.set('auth-tampered-secret', { expect: 'auth failure', description: 'one bit of the encrypted secret flipped', ...base, kind: 'private-key', record_hex: hex(tampered) });
  const tamperedWrap = Buffer.from(pkRecord);
  tamperedWrap[44 + 30]! ^= 0x80;
  out.set('auth-tampered-record-key', { expect: 'auth failure', description: 'one bit of the wrapped record key flipped', ...base, kind: 'private-key', record_hex: hex(tamperedWrap) });
  const unknownKind = Buffer.from(hmacRecord);
  unknownKind[41] = 0x07;
  out.set('parse-unknown-kind', { expect: 'parse failure', description: 'kind 0x07 is not defined', ...base, material_version: 7, kind: 'hmac', record_hex: hex(unknownKind) });
  out.set('parse-truncated', { expect: 'parse failure', description: 'the record cut after its header and wrapped key', ...base, kind: 'private-key', record_hex: hex(pkRecord.subarray(0, 44 + pkRecord.readUInt16BE(42) + 12 + 16)) });
  const v1 = await sealKeyMaterial(wrapper, VECTOR_KEY_ID, 1, asKeyMaterial(rnd(32)));
  out.set('parse-v1-record', { expect: 'parse failure', description: 'a version 1 record (symmetric material) is not a version 2 record', ...base, kind: 'private-key', record_hex: hex(v1) });
  return out;
}
