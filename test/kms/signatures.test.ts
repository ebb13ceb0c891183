// The signature primitives behind Sign and Verify (src/kms/signatures.ts, ecdsa-digest.ts)
// against Node's own sign and verify: a signature over a DIGEST verifies as one over the
// RAW message and the other way round, for every algorithm and curve; a wrong digest, a
// changed signature and a malformed DER fail. Verify over a digest takes what OpenSSL (and
// so Node's verify) takes: high-S signatures on every curve, and only strict DER.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constants, createHash, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { signMessage, SIGNING_ALGORITHMS, verifyMessage } from '../../src/kms/signatures.js';

const message = Buffer.from('the message');

describe('signatures over a digest', () => {
  for (const [curve, alg] of [['prime256v1', 'ECDSA_SHA_256'], ['secp384r1', 'ECDSA_SHA_384'], ['secp521r1', 'ECDSA_SHA_512'], ['secp256k1', 'ECDSA_SHA_256'], ['secp256k1', 'ECDSA_SHA_512'], ['prime256v1', 'ECDSA_SHA_512']] as const) {
    it(`ECDSA on ${curve} with ${alg}`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const a = SIGNING_ALGORITHMS[alg]!;
      const digest = createHash(a.hash).update(message).digest();
      for (let i = 0; i < 5; i++) {
        const sig = signMessage(privateKey, a, digest, true);
        assert.ok(verify(a.hash, message, publicKey, sig), 'Node verifies the digest signature over the message');
        assert.ok(verifyMessage(publicKey, a, digest, true, signMessage(privateKey, a, message, false)), 'the digest verifier accepts Node\'s signature');
        assert.ok(!verifyMessage(publicKey, a, randomBytes(a.digestLength), true, sig), 'another digest fails');
        const bad = Buffer.from(sig);
        bad[bad.length - 1]! ^= 1;
        assert.ok(!verifyMessage(publicKey, a, digest, true, bad), 'a changed signature fails');
        assert.ok(!verifyMessage(publicKey, a, digest, true, Buffer.concat([sig, Buffer.from([0])])), 'trailing bytes after the DER fail');
      }
    });
  }

  it('RSA PKCS#1 v1.5 and PSS (salt length = digest length) for SHA-256/384/512', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const [name, a] of Object.entries(SIGNING_ALGORITHMS).filter(([n]) => n.startsWith('RSASSA'))) {
      const digest = createHash(a.hash).update(message).digest();
      const sig = signMessage(privateKey, a, digest, true);
      const opts = a.family === 'pss' ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: a.digestLength } : { key: publicKey };
      assert.ok(verify(a.hash, message, opts, sig), name);
      assert.ok(verifyMessage(publicKey, a, digest, true, signMessage(privateKey, a, message, false)), name);
      assert.ok(!verifyMessage(publicKey, a, randomBytes(a.digestLength), true, sig), name);
      assert.ok(!verifyMessage(publicKey, a, digest, true, sig.subarray(1)), `${name}: a short signature fails`);
    }
  });

  it('RSA: a signature whose first byte is zero fails without it, over a digest and over a message (exactly k octets, RFC 8017)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    for (const [name, a] of Object.entries(SIGNING_ALGORITHMS).filter(([n]) => n.startsWith('RSASSA'))) {
      for (const digestMode of [true, false]) {
        // About one signature in 256 begins with a zero byte: sign other messages until one does.
        let input: Buffer;
        let sig: Buffer;
        do {
          const m = randomBytes(32);
          input = digestMode ? createHash(a.hash).update(m).digest() : m;
          sig = signMessage(privateKey, a, input, digestMode);
        } while (sig[0] !== 0);
        assert.ok(verifyMessage(publicKey, a, input, digestMode, sig), `${name}: the whole signature verifies`);
        assert.ok(!verifyMessage(publicKey, a, input, digestMode, sig.subarray(1)), `${name} (${digestMode ? 'digest' : 'message'}): without its leading zero byte it fails`);
      }
    }
  });
});

// DER helpers independent of the code under test.
const ORDERS: Record<string, bigint> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp384r1: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  secp521r1: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};

function derLen(n: number): Buffer {
  return n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]);
}

function derInt(x: bigint, pad = 0): Buffer {
  let hex = x.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  b = Buffer.concat([Buffer.alloc(pad), b]);
  return Buffer.concat([Buffer.from([0x02]), derLen(b.length), b]);
}

const derSeq = (body: Buffer) => Buffer.concat([Buffer.from([0x30]), derLen(body.length), body]);

function parseDer(sig: Buffer): [bigint, bigint] {
  let i = sig[1]! === 0x81 ? 3 : 2;
  const out: bigint[] = [];
  for (let k = 0; k < 2; k++) {
    const l = sig[i + 1]!;
    out.push(BigInt('0x' + sig.subarray(i + 2, i + 2 + l).toString('hex')));
    i += 2 + l;
  }
  return [out[0]!, out[1]!];
}

describe('ECDSA digest verification: high-S and DER strictness', () => {
  for (const curve of Object.keys(ORDERS)) {
    it(`${curve}: a high-S signature verifies (as with Node's verify); non-DER and out-of-range ones fail`, () => {
      const n = ORDERS[curve]!;
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const a = SIGNING_ALGORITHMS[curve === 'secp384r1' ? 'ECDSA_SHA_384' : curve === 'secp521r1' ? 'ECDSA_SHA_512' : 'ECDSA_SHA_256']!;
      const digest = createHash(a.hash).update(message).digest();
      const sig = signMessage(privateKey, a, digest, true);
      assert.notDeepEqual(signMessage(privateKey, a, digest, true), sig, 'signing is randomized');
      const [r, s] = parseDer(sig);
      assert.deepEqual(derSeq(Buffer.concat([derInt(r), derInt(s)])), sig, 'the test\'s DER helpers round-trip');
      const flipped = derSeq(Buffer.concat([derInt(r), derInt(n - s)]));
      const high = s > n / 2n ? sig : flipped;
      assert.ok(verify(a.hash, message, publicKey, high), 'Node accepts the high-S form');
      assert.ok(verifyMessage(publicKey, a, digest, true, high), 'so does the digest verifier');
      assert.ok(verifyMessage(publicKey, a, digest, true, s > n / 2n ? flipped : sig), 'and the low-S form');
      const malformed: Record<string, Buffer> = {
        'a leading zero on r': derSeq(Buffer.concat([derInt(r, 1), derInt(s)])),
        'a leading zero on s': derSeq(Buffer.concat([derInt(r), derInt(s, 1)])),
        'a long-form length that fits the short form': Buffer.concat([Buffer.from([0x30, 0x81, sig.length - 2]), sig.subarray(2)]),
        'a wrong outer tag': Buffer.concat([Buffer.from([0x31]), sig.subarray(1)]),
        'a truncated signature': sig.subarray(0, sig.length - 1),
        'a negative s': derSeq(Buffer.concat([derInt(r), Buffer.from([0x02, 0x01, 0x81])])),
        'r = 0': derSeq(Buffer.concat([derInt(0n), derInt(s)])),
        's = n': derSeq(Buffer.concat([derInt(r), derInt(n)])),
        's + n': derSeq(Buffer.concat([derInt(r), derInt(s + n)])),
        'r + n': derSeq(Buffer.concat([derInt(r + n), derInt(s)])),
        'empty': Buffer.alloc(0),
      };
      for (const [what, bad] of Object.entries(malformed)) {
        assert.equal(verifyMessage(publicKey, a, digest, true, bad), false, what);
      }
    });
  }
});
