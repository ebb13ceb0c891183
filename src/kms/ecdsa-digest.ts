// ECDSA over a precomputed digest (Sign and Verify with MessageType DIGEST). Node's crypto
// always hashes the message itself, so it cannot sign or verify a digest; this module hands
// the digest to @noble/curves (audited) with `prehash: false` instead of doing curve
// arithmetic of our own. Keys come from Node's KeyObjects through their JWK form: the
// private scalar `d` lives in a buffer only for the call and is zeroed after it.
//
//   sign:   hedged RFC 6979 k (fresh randomness mixed in, so signatures vary as AWS's and
//           OpenSSL's do); S is left as it comes (no low-S normalization), like AWS and
//           Node's own sign; DER (RFC 3279 Ecdsa-Sig-Value)
//   verify: strict DER (one SEQUENCE of two minimal, positive INTEGERs, nothing after it);
//           high-S accepted on every curve, as OpenSSL (and so Node's verify) does — AWS
//           requires low-S on none of its curves
//
// The digest's leftmost bits, as many as n has, are the integer e (SEC 1 §4.1.3 step 5).

import type { KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';

type Curve = typeof p256;

const CURVES: Readonly<Record<string, Curve>> = {
  prime256v1: p256,
  secp384r1: p384,
  secp521r1: p521,
  secp256k1,
};

function curveOf(key: KeyObject): Curve {
  const name = key.asymmetricKeyDetails?.namedCurve ?? '';
  const c = CURVES[name];
  if (!c) throw new RangeError(`no ECDSA digest support for curve ${name}`);
  return c;
}

/** A JWK coordinate or scalar as exactly `len` big-endian bytes. */
function jwkBytes(s: string | undefined, len: number): Buffer {
  const b = Buffer.from(s ?? '', 'base64url');
  if (b.length === len) return b;
  if (b.length > len) throw new RangeError('JWK value longer than the curve allows');
  const out = Buffer.alloc(len);
  b.copy(out, len - b.length);
  b.fill(0);
  return out;
}

export function ecdsaSignDigest(privateKey: KeyObject, digest: Buffer): Buffer {
  const c = curveOf(privateKey);
  const d = jwkBytes(privateKey.export({ format: 'jwk' }).d, c.Point.Fn.BYTES);
  try {
    return Buffer.from(c.sign(digest, d, { prehash: false, lowS: false, extraEntropy: true, format: 'der' }));
  } finally {
    d.fill(0);
  }
}

export function ecdsaVerifyDigest(publicKey: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const c = curveOf(publicKey);
  const jwk = publicKey.export({ format: 'jwk' });
  const len = c.Point.Fp.BYTES;
  const point = Buffer.concat([Buffer.from([0x04]), jwkBytes(jwk.x, len), jwkBytes(jwk.y, len)]);
  try {
    return c.verify(signature, digest, point, { prehash: false, lowS: false, format: 'der' });
  } catch {
    return false; // noble returns false for a malformed DER; this is for anything it throws
  }
}
