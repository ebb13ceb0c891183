// The signature primitives behind Sign and Verify, over a message (MessageType RAW) or
// its digest (DIGEST). RAW uses Node's one-shot sign/verify. Node has no API that signs a
// precomputed digest, so DIGEST is built from primitives that are standard and testable
// against openssl:
//
//   RSASSA-PKCS1-v1_5: privateEncrypt(PKCS#1 type-1 padding, DigestInfo || digest) (RFC 8017 §9.2)
//   RSASSA-PSS:        EMSA-PSS-ENCODE(digest, sLen = hLen, MGF1 with the same hash) then
//                      the raw RSA private operation (RFC 8017 §9.1); OpenSSL blinds it
//   ECDSA:             @noble/curves (audited) over the digest, prehash off (ecdsa-digest.ts)
//
// Ed25519 and ML-DSA have no DIGEST form (sign.ts refuses it); AWS's ED25519_PH_SHA_512
// takes MessageType DIGEST but still applies the SHA-512 prehash to the bytes it is given:
//
//   ED25519_SHA_512:    pure Ed25519 (RFC 8032 §5.1.6), Node's sign(null, …)
//   ED25519_PH_SHA_512: Ed25519ph (RFC 8032 §5.1, phflag 1, empty context) over the 64 bytes
//                       sent, so SHA-512 applies to the caller's digest; @noble/curves' ed25519ph
//   ML_DSA_SHAKE_256:   ML-DSA (FIPS 204, pure, empty context), Node's sign(null, …) where
//                       the runtime has it
//
// Signatures are what AWS returns: RSA as the raw signature, ECDSA as DER (RFC 3279),
// Ed25519 as R || S (64 bytes), ML-DSA as FIPS 204's encoding.

import {
  constants, createHash, privateEncrypt, publicDecrypt, randomBytes, sign as nodeSign, timingSafeEqual,
  verify as nodeVerify, type KeyObject,
} from 'node:crypto';
import { ecdsaSignDigest, ecdsaVerifyDigest } from './ecdsa-digest.js';
import { ed25519phSign, ed25519phVerify } from './ed25519ph.js';

export interface SigningAlgorithmInfo {
  family: 'pss' | 'pkcs1' | 'ecdsa' | 'ed25519' | 'ed25519ph' | 'ml-dsa';
  hash: 'sha256' | 'sha384' | 'sha512' | 'shake256';
  /** The Message length MessageType DIGEST (or EXTERNAL_MU for ML-DSA) requires. */
  digestLength: number;
}

export const SIGNING_ALGORITHMS: Readonly<Record<string, SigningAlgorithmInfo>> = {
  RSASSA_PSS_SHA_256: { family: 'pss', hash: 'sha256', digestLength: 32 },
  RSASSA_PSS_SHA_384: { family: 'pss', hash: 'sha384', digestLength: 48 },
  RSASSA_PSS_SHA_512: { family: 'pss', hash: 'sha512', digestLength: 64 },
  RSASSA_PKCS1_V1_5_SHA_256: { family: 'pkcs1', hash: 'sha256', digestLength: 32 },
  RSASSA_PKCS1_V1_5_SHA_384: { family: 'pkcs1', hash: 'sha384', digestLength: 48 },
  RSASSA_PKCS1_V1_5_SHA_512: { family: 'pkcs1', hash: 'sha512', digestLength: 64 },
  ECDSA_SHA_256: { family: 'ecdsa', hash: 'sha256', digestLength: 32 },
  ECDSA_SHA_384: { family: 'ecdsa', hash: 'sha384', digestLength: 48 },
  ECDSA_SHA_512: { family: 'ecdsa', hash: 'sha512', digestLength: 64 },
  ED25519_SHA_512: { family: 'ed25519', hash: 'sha512', digestLength: 64 },
  ED25519_PH_SHA_512: { family: 'ed25519ph', hash: 'sha512', digestLength: 64 },
  ML_DSA_SHAKE_256: { family: 'ml-dsa', hash: 'shake256', digestLength: 64 },
};

/** Algorithms whose key signs the message itself (no hash name for Node's sign). */
const PURE = new Set(['ed25519', 'ml-dsa']);

// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const DIGEST_INFO: Record<string, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

function nodeOptions(key: KeyObject, a: SigningAlgorithmInfo) {
  if (a.family === 'pss') return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: a.digestLength };
  if (a.family === 'pkcs1') return { key, padding: constants.RSA_PKCS1_PADDING };
  return { key, dsaEncoding: 'der' as const };
}

function mgf1(seed: Buffer, length: number, hash: string): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 0; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

const modulusBits = (key: KeyObject) => key.asymmetricKeyDetails!.modulusLength!;

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1), left-padded to the modulus length. */
function pssEncode(digest: Buffer, a: SigningAlgorithmInfo, modBits: number): Buffer {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = a.digestLength;
  const salt = randomBytes(hLen);
  const h = createHash(a.hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([0x01]), salt]);
  const mask = mgf1(h, emLen - hLen - 1, a.hash);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  const k = Math.ceil(modBits / 8);
  return em.length === k ? em : Buffer.concat([Buffer.alloc(k - em.length), em]);
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with sLen = hLen. */
function pssVerify(digest: Buffer, em: Buffer, a: SigningAlgorithmInfo, modBits: number): boolean {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = a.digestLength;
  if (em.length > emLen) {
    if (em.subarray(0, em.length - emLen).some((b) => b !== 0)) return false;
    em = em.subarray(em.length - emLen);
  }
  if (em.length !== emLen || em[emLen - 1] !== 0xbc || emLen < 2 * hLen + 2) return false;
  const db = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  if ((db[0]! & ~(0xff >> (8 * emLen - emBits)) & 0xff) !== 0) return false;
  const mask = mgf1(h, db.length, a.hash);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const psLen = emLen - 2 * hLen - 2;
  if (db.subarray(0, psLen).some((b) => b !== 0) || db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - hLen);
  const h2 = createHash(a.hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  return timingSafeEqual(h, h2);
}

export function signMessage(privateKey: KeyObject, a: SigningAlgorithmInfo, message: Buffer, digest: boolean): Buffer {
  if (PURE.has(a.family)) return nodeSign(null, message, privateKey);
  if (a.family === 'ed25519ph') return ed25519phSign(privateKey, message);
  if (!digest) return nodeSign(a.hash, message, nodeOptions(privateKey, a));
  switch (a.family) {
    case 'pkcs1':
      return privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[a.hash]!, message]));
    case 'pss':
      return privateEncrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, pssEncode(message, a, modulusBits(privateKey)));
    case 'ecdsa':
      return ecdsaSignDigest(privateKey, message);
    default:
      throw new RangeError(`${a.family} has no DIGEST form`);
  }
}

export function verifyMessage(publicKey: KeyObject, a: SigningAlgorithmInfo, message: Buffer, digest: boolean, signature: Buffer): boolean {
  try {
    if (PURE.has(a.family)) return nodeVerify(null, message, publicKey, signature);
    if (a.family === 'ed25519ph') return ed25519phVerify(publicKey, message, signature);
    // RSA: a signature is exactly k octets (RFC 8017, 8.1.2 and 8.2.2, step 1). Some OpenSSL
    // versions (Node 24's) take one with its leading zero bytes left off as the same number.
    if ((a.family === 'pkcs1' || a.family === 'pss') && signature.length !== Math.ceil(modulusBits(publicKey) / 8)) return false;
    if (!digest) return nodeVerify(a.hash, message, nodeOptions(publicKey, a), signature);
    switch (a.family) {
      case 'pkcs1': {
        const expected = Buffer.concat([DIGEST_INFO[a.hash]!, message]);
        const got = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
        return got.length === expected.length && timingSafeEqual(got, expected);
      }
      case 'pss': {
        return pssVerify(message, publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature), a, modulusBits(publicKey));
      }
      case 'ecdsa':
        return ecdsaVerifyDigest(publicKey, message, signature);
      default:
        return false;
    }
  } catch {
    // A malformed signature (wrong length, not DER, out of range) is an invalid one.
    return false;
  }
}

