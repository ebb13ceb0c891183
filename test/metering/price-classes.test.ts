// AWS prices KMS requests in classes (src/metering/prices.ts): symmetric-key requests
// (HMAC and key management included) share the free tier; requests that use asymmetric
// keys and data key pairs are outside it, at their own prices. The meter classifies every
// request, the usage database keeps the class, and the report prices each class apart.
// The tripwire of the symmetric-only days lives on: every supported operation that AWS
// prices apart must have a class.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, GenerateDataKeyPairCommand, GenerateMacCommand, GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { KMS_OPERATIONS } from '../../src/kms/operations.js';
import { ASYMMETRIC_PRICES_PER_10K, AWS_LIST_PRICES, KEY_PAIR_OPERATIONS, PRICED_BY_KEY, priceClassOf } from '../../src/metering/prices.js';
import { SqliteUsageStore } from '../../src/metering/sqlite-usage-store.js';
import { parseUsageQuery, usageReport } from '../../src/metering/report.js';
import type { UsageCount } from '../../src/metering/usage-store.js';
import { startTestServer } from '../helpers/server.js';

const PRICED_APART = ['Sign', 'Verify', 'GetPublicKey', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'Encrypt', 'Decrypt', 'DeriveSharedSecret'];

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('every operation AWS prices apart is supported and has a price class', () => {
  for (const op of PRICED_APART) {
    assert.ok(op in KMS_OPERATIONS, `${op} is supported`);
    assert.ok(PRICED_BY_KEY.has(op) || KEY_PAIR_OPERATIONS.has(op), `${op} is priced by its key or its key pair`);
  }
});

test('classifies requests as AWS prices them', () => {
  assert.equal(priceClassOf('Sign', 'RSA_2048'), 'rsa-2048');
  assert.equal(priceClassOf('Decrypt', 'RSA_2048'), 'rsa-2048');
  assert.equal(priceClassOf('Verify', 'RSA_4096'), 'asymmetric');
  assert.equal(priceClassOf('GetPublicKey', 'ECC_NIST_P256'), 'asymmetric');
  assert.equal(priceClassOf('DeriveSharedSecret', 'ECC_NIST_P384'), 'asymmetric');
  assert.equal(priceClassOf('ImportKeyMaterial', 'RSA_4096'), 'symmetric');
  assert.equal(priceClassOf('Decrypt', 'SYMMETRIC_DEFAULT'), 'symmetric');
  assert.equal(priceClassOf('GenerateMac', 'HMAC_256'), 'symmetric');
  assert.equal(priceClassOf('DescribeKey', 'RSA_4096'), 'symmetric');
  assert.equal(priceClassOf('GenerateDataKeyPair', 'SYMMETRIC_DEFAULT', 'RSA_3072'), 'rsa-key-pair');
  assert.equal(priceClassOf('GenerateDataKeyPairWithoutPlaintext', 'SYMMETRIC_DEFAULT', 'ECC_NIST_P256'), 'ecc-key-pair');
  assert.deepEqual({ ...ASYMMETRIC_PRICES_PER_10K }, { 'rsa-2048': 0.03, asymmetric: 0.15, 'ecc-key-pair': 0.1, 'rsa-key-pair': 12 });
});

test('the report prices classes apart: only symmetric requests use the free tier', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-classes-'));
  dirs.push(dir);
  const s = SqliteUsageStore.open(join(dir, 'usage.sqlite'));
  const row = (operation: string, requests: number, priceClass: UsageCount['priceClass'], keyArn = 'k1'): UsageCount =>
    ({ hour: Date.parse('2026-11-10T00:00:00Z'), principal: 'p', keyArn, bucket: '', operation, requests, errors: 0, avoided: 0, priceClass });
  await s.add([row('Decrypt', 30_000, 'symmetric'), row('Sign', 10_000, 'rsa-2048', 'k2'), row('Sign', 20_000, 'asymmetric', 'k3'), row('GenerateDataKeyPair', 10_000, 'rsa-key-pair'), row('GenerateDataKeyPair', 10_000, 'ecc-key-pair')]);
  const r = await usageReport(s, parseUsageQuery({ since: '2026-11-01T00:00:00Z', until: '2026-12-01T00:00:00Z', by: 'key' }), AWS_LIST_PRICES);
  assert.equal(r.requests.total, 80_000);
  assert.equal(r.requests.free, 20_000, 'the free tier covers symmetric requests only');
  assert.equal(r.requests.billable, 60_000);
  // 10,000 symmetric × $0.03 + 10,000 RSA 2048 × $0.03 + 20,000 × $0.15 + 10,000 RSA pairs × $12 + 10,000 ECC pairs × $0.10
  assert.equal(r.requests.estimatedCost, 12.46);
  assert.equal(r.rows.find((x) => x.group === 'k3')!.estimatedCost, 0.3);
  assert.equal(r.rows.find((x) => x.group === 'k1')!.estimatedCost, 12.13);
  await s.close();
});

test('the meter classifies real requests by the key they use and the pair they make', async () => {
  const srv = await startTestServer();
  try {
    const kms = srv.kms;
    const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    const ecc = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    const mac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const digest = createHash('sha256').update('m').digest();
    await kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256' }));
    await kms.send(new SignCommand({ KeyId: ecc.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    await kms.send(new GetPublicKeyCommand({ KeyId: ecc.KeyId }));
    await kms.send(new GenerateMacCommand({ KeyId: mac.KeyId, Message: digest, MacAlgorithm: 'HMAC_SHA_256' }));
    await kms.send(new GenerateDataKeyPairCommand({ KeyId: sym.KeyId, KeyPairSpec: 'ECC_NIST_P384' }));
    await srv.coffer.meter!.sync();
    const store = SqliteUsageStore.open(join(srv.dataDir, 'usage.sqlite'));
    const now = Date.now();
    const byKey = await store.classTotalsBy('key', now - 3_600_000, now + 3_600_000);
    const classOf = (arn: string) => byKey.filter((r) => r.group === arn).map((r) => `${r.priceClass}:${r.requests}`).sort();
    assert.deepEqual(classOf(rsa.Arn!), ['rsa-2048:1', 'symmetric:1'], 'Sign with RSA 2048; CreateKey is a symmetric-class request');
    assert.deepEqual(classOf(ecc.Arn!), ['asymmetric:2', 'symmetric:1']);
    assert.deepEqual(classOf(mac.Arn!), ['symmetric:2']);
    assert.deepEqual(classOf(sym.Arn!), ['ecc-key-pair:1', 'symmetric:1']);
    await store.close();
  } finally {
    await srv.stop();
  }
});
