// Bucket-key derivation, SSE-C sealing and DSSE-KMS layer keys (src/crypto/key-wrap.ts),
// pinned to known answers computed from the spec's formulas with node:crypto directly.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, hkdfSync } from 'node:crypto';
import {
  BUCKET_KEY_LABEL, CUSTOMER_KEY_LABEL, CustomerKeyMismatchError, DSSE_OUTER_LABEL, asObjectId, asObjectKey, derivePartKey,
  deriveObjectKeyFromBucketKey, deriveOuterPartKey, openUnderCustomerKey, sealUnderCustomerKey, splitDsseDataKey,
} from '../../src/crypto/index.js';

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
const objectId = asObjectId(bytes(16, 0x11));

describe('key-wrap', () => {
  it('a bucket key derives one object key per object id, by HKDF with BUCKET_KEY_LABEL', () => {
    const bk = bytes(32, 0x42);
    const ok = deriveObjectKeyFromBucketKey(bk, objectId);
    const expected = Buffer.from(hkdfSync('sha256', bk, objectId, Buffer.from(BUCKET_KEY_LABEL), 32));
    assert.deepEqual(ok, expected);
    assert.notDeepEqual(deriveObjectKeyFromBucketKey(bk, asObjectId(bytes(16, 0x12))), ok);
    assert.throws(() => deriveObjectKeyFromBucketKey(bytes(16, 1), objectId), RangeError);
  });

  it('SSE-C seals the object key under HKDF(customer key) with the header as AAD; only that key and AAD open it', () => {
    const ok = asObjectKey(bytes(32, 0x07));
    const customer = bytes(32, 0xc5);
    const aad = Buffer.from('header');
    const nonce = bytes(12, 0x01);
    const sealed = sealUnderCustomerKey(ok, customer, objectId, aad, nonce);
    const kek = Buffer.from(hkdfSync('sha256', customer, objectId, Buffer.from(CUSTOMER_KEY_LABEL), 32));
    const c = createCipheriv('aes-256-gcm', kek, nonce);
    c.setAAD(aad);
    const expected = Buffer.concat([nonce, c.update(ok), c.final(), c.getAuthTag()]);
    assert.deepEqual(sealed, expected);
    assert.deepEqual(openUnderCustomerKey(sealed, customer, objectId, aad), ok);
    assert.throws(() => openUnderCustomerKey(sealed, bytes(32, 0xc6), objectId, aad), CustomerKeyMismatchError);
    assert.throws(() => openUnderCustomerKey(sealed, customer, objectId, Buffer.from('other')), CustomerKeyMismatchError);
    assert.throws(() => openUnderCustomerKey(sealed, customer, asObjectId(bytes(16, 0x12)), aad), CustomerKeyMismatchError);
    assert.throws(() => openUnderCustomerKey(sealed.subarray(1), customer, objectId, aad), CustomerKeyMismatchError);
  });

  it('a DSSE-KMS data key is two independent layer keys; the outer layer derives its part keys under its own label', () => {
    const dk = Buffer.concat([bytes(32, 0x01), bytes(32, 0x02)]);
    const [inner, outer] = splitDsseDataKey(dk);
    assert.deepEqual(inner, bytes(32, 0x01));
    assert.deepEqual(outer, bytes(32, 0x02));
    const info = Buffer.concat([Buffer.from(DSSE_OUTER_LABEL), Buffer.from('00000003', 'hex')]);
    assert.deepEqual(deriveOuterPartKey(outer, objectId, 3), Buffer.from(hkdfSync('sha256', outer, objectId, info, 32)));
    assert.notDeepEqual(deriveOuterPartKey(outer, objectId, 3), derivePartKey(outer, objectId, 3));
    assert.throws(() => splitDsseDataKey(bytes(32, 0)), RangeError);
    assert.throws(() => deriveOuterPartKey(outer, objectId, 10001), RangeError);
  });
});

describe('hkdfSha256Key', () => {
  it('is HKDF-SHA256 with a 32-byte output: the same bytes as node:crypto hkdfSync', async () => {
    const { hkdfSha256Key } = await import('../../src/crypto/index.js');
    const { randomBytes } = await import('node:crypto');
    for (let i = 0; i < 50; i++) {
      const ikm = randomBytes(i % 3 === 0 ? 32 : 1 + i);
      const salt = randomBytes(i % 2 === 0 ? 16 : i);
      const info = randomBytes(i);
      assert.deepEqual(hkdfSha256Key(ikm, salt, info), Buffer.from(hkdfSync('sha256', ikm, salt, info, 32)));
    }
    // Salts and infos past one SHA-256 block and the scratch buffer (the createHmac path), and at their edges.
    for (const [ikmLength, saltLength, infoLength] of [[32, 0, 0], [32, 64, 255], [32, 65, 256], [32, 200, 40], [300, 16, 40], [256, 64, 1000]] as const) {
      const ikm = randomBytes(ikmLength);
      const salt = randomBytes(saltLength);
      const info = randomBytes(infoLength);
      assert.deepEqual(hkdfSha256Key(ikm, salt, info), Buffer.from(hkdfSync('sha256', ikm, salt, info, 32)), `${ikmLength}/${saltLength}/${infoLength}`);
    }
  });
});
