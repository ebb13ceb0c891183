// Pins the UTF-8 key order helpers the listings rely on.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareUtf8, prefixUpperBound } from '../../src/storage/key-order.js';

describe('key order', () => {
  it('compares by UTF-8 bytes, unlike JS string comparison', () => {
    assert.ok('\uFF5A' > '\u{1F600}', 'JS orders by UTF-16 units');
    assert.ok(compareUtf8('\uFF5A', '\u{1F600}') < 0);
    assert.ok(compareUtf8('a', 'a/') < 0);
    assert.equal(compareUtf8('é', 'é'), 0);
  });

  it('bounds a prefix by incrementing its last code point', () => {
    assert.equal(prefixUpperBound(''), undefined);
    assert.equal(prefixUpperBound('abc'), 'abd');
    assert.equal(prefixUpperBound('a%'), 'a&');
    assert.equal(prefixUpperBound('é'), 'ê');
    assert.equal(prefixUpperBound('x\uD7FF'), 'x\uE000');
    assert.equal(prefixUpperBound('x\uFFFF'), 'x\u{10000}');
    assert.equal(prefixUpperBound('x\u{1F600}'), 'x\u{1F601}');
    assert.equal(prefixUpperBound('x\u{10FFFF}'), 'y');
    assert.equal(prefixUpperBound('\u{10FFFF}\u{10FFFF}'), undefined);
  });
});
