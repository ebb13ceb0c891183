// RootKeyRing: during a rotation it seals under the new key and opens items of either key;
// a tampered item fails under either; once finished, the old key opens nothing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { SealedKeyAuthError, WrongRootKeyError } from '../../src/custody/errors.js';
import { RootKeyRing } from '../../src/custody/root-key-ring.js';
import { SoftwareRootKey } from '../../src/custody/software-root-key.js';

const aad = Buffer.from('ring test');

describe('RootKeyRing', () => {
  it('seals under the new key from the start of a rotation and opens both; after it, only the new one', async () => {
    const oldKey = new SoftwareRootKey('key', randomBytes(32));
    const newKey = new SoftwareRootKey('key', randomBytes(32));
    const ring = new RootKeyRing(oldKey);
    const secret = randomBytes(32);
    const underOld = await ring.wrap(secret, aad);
    assert.equal(ring.id, oldKey.id);

    ring.beginRotation(newKey);
    assert.equal(ring.id, newKey.id);
    const underNew = await ring.wrap(secret, aad);
    assert.deepEqual(await newKey.unwrap(underNew, aad), secret);
    assert.deepEqual(await ring.unwrap(underOld, aad), secret);
    assert.deepEqual(await ring.unwrap(underNew, aad), secret);
    assert.throws(() => ring.beginRotation(newKey), /already in progress/);

    // Tampered (a body byte): an authentication failure from the key the header names, not a fallback.
    const bad = Buffer.from(underOld);
    bad[bad.length - 20]! ^= 1;
    await assert.rejects(ring.unwrap(bad, aad), SealedKeyAuthError);
    // Another key altogether: wrong-key, as without a ring.
    await assert.rejects(ring.unwrap(await new SoftwareRootKey('key', randomBytes(32)).wrap(secret, aad), aad), WrongRootKeyError);

    ring.finishRotation();
    await assert.rejects(ring.unwrap(underOld, aad), WrongRootKeyError);
    assert.deepEqual(await ring.unwrap(underNew, aad), secret);
  });

  it('on a cluster: holds the new key as a standby (opens, never seals) until the switch; a restarted node goes back to standby', async () => {
    const oldKey = new SoftwareRootKey('key', randomBytes(32));
    const newKey = new SoftwareRootKey('key', randomBytes(32));
    const ring = new RootKeyRing(oldKey);
    const secret = randomBytes(32);
    const underNew = await newKey.wrap(secret, aad);
    await assert.rejects(ring.unwrap(underNew, aad), WrongRootKeyError);

    ring.standBy(newKey);
    // Another node sealed under the new key already: this one opens it, and still seals under the old one.
    assert.deepEqual(await ring.unwrap(underNew, aad), secret);
    assert.equal(ring.id, oldKey.id);
    assert.deepEqual(await oldKey.unwrap(await ring.wrap(secret, aad), aad), secret);
    assert.throws(() => ring.standBy(newKey), /already in progress/);

    ring.beginRotation();
    assert.equal(ring.id, newKey.id);
    assert.equal(ring.standby, undefined);
    assert.equal(ring.previous, oldKey);
    assert.deepEqual(await newKey.unwrap(await ring.wrap(secret, aad), aad), secret);

    // A node restarted from a custody.json naming the new key, while the cluster has not switched.
    ring.backToStandby();
    assert.equal(ring.id, oldKey.id);
    assert.equal(ring.standby, newKey);
    assert.deepEqual(await ring.unwrap(underNew, aad), secret);
    // Tampered under the standby key: an authentication failure, not a wrong key.
    const bad = Buffer.from(underNew);
    bad[bad.length - 20]! ^= 1;
    await assert.rejects(ring.unwrap(bad, aad), SealedKeyAuthError);
  });
});
