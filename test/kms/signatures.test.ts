// The signature primitives behind Sign and Verify (src/kms/signatures.ts, ecdsa-digest.ts)
// against Node's own sign and verify: a signature over a DIGEST verifies as one over the
// RAW message and the other way round, for every algorithm and curve; a wrong digest, a
// changed signature and a malformed DER fail. This also pins the curve constants.

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
});
