// Ed25519ph (RFC 8032 §5.1, phflag 1, empty context) for AWS's ED25519_PH_SHA_512. Node's
// crypto has pure Ed25519 only, so this hands the key to @noble/curves (audited) — its
// ed25519ph applies the SHA-512 prehash itself, which is what AWS does to the 64 bytes of
// a MessageType DIGEST request ("KMS still performs the SHA-512 prehash", API_Sign). The
// key comes from Node's KeyObject through its JWK form: the 32-byte seed `d` lives in a
// buffer only for the call and is zeroed after it.

import type { KeyObject } from 'node:crypto';
import { ed25519ph } from '@noble/curves/ed25519.js';

function jwkField(key: KeyObject, field: 'd' | 'x'): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw new RangeError('not an Ed25519 key');
  const b = Buffer.from(jwk[field] ?? '', 'base64url');
  if (b.length !== 32) throw new RangeError(`Ed25519 JWK ${field} is not 32 bytes`);
  return b;
}

export function ed25519phSign(privateKey: KeyObject, message: Buffer): Buffer {
  const seed = jwkField(privateKey, 'd');
  try {
    return Buffer.from(ed25519ph.sign(message, seed));
  } finally {
    seed.fill(0);
  }
}

export function ed25519phVerify(publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  if (signature.length !== 64) return false;
  try {
    // RFC 8032's strict decoding (not ZIP-215), as OpenSSL's Ed25519 verify does.
    return ed25519ph.verify(signature, message, jwkField(publicKey, 'x'), { zip215: false });
  } catch {
    return false;
  }
}
