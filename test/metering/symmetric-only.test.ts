// Metering prices every KMS request alike: one price per 10,000 requests and one free
// tier, which is AWS's pricing of symmetric-key requests. AWS prices asymmetric and HMAC
// requests apart (outside the free tier, at higher rates: docs/METERING.md), so this
// holds only while Coffer's KMS refuses them. This test is the tripwire: when one of those
// operations becomes supported, give the meter a price class for it first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KMS_OPERATIONS } from '../../src/kms/operations.js';
import { UNSUPPORTED_OPERATIONS } from '../../src/kms/dispatch.js';

const PRICED_APART = ['Sign', 'Verify', 'GetPublicKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateMac', 'VerifyMac', 'DeriveSharedSecret'];

test('no asymmetric or HMAC operation is supported, so every metered request is priced as a symmetric-key request', () => {
  for (const op of PRICED_APART) {
    assert.ok(!(op in KMS_OPERATIONS), `${op} is supported: price it apart in src/metering before shipping it (docs/METERING.md, "Symmetric keys only")`);
    assert.ok(UNSUPPORTED_OPERATIONS.has(op), `${op} is refused with UnsupportedOperationException`);
  }
});
