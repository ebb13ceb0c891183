// boto3's `kms` client against the real server. The flow lives in
// fixtures/kms_boto3_flow.py and reports what each step saw (codes, messages,
// comparisons); the expectations are here, one test per behaviour, so a failure names it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { ROOT_KEY_ID, ROOT_SECRET, runPythonFlow, type PythonFlowRun } from './support.js';

interface ErrorSeen {
  code: string;
  message: string;
  status: number;
}

type Step = { ok: boolean; error?: string; trace?: string } & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let srv: TestServer;
let run: PythonFlowRun<Step>;

before(async () => {
  srv = await startTestServer();
  run = await runPythonFlow<Step>('kms_boto3_flow.py', [srv.url, ROOT_KEY_ID, ROOT_SECRET], 45_000);
});
after(async () => srv?.stop());

/** The observations of a step that must have run without an unexpected exception. */
function stepOf(name: string): Step {
  const s = run.steps[name];
  assert.ok(s, `step ${name} did not run; stderr: ${run.stderr}`);
  assert.ok(s.ok, `step ${name} failed: ${s.error}\n${s.trace ?? ''}`);
  return s;
}

function isError(seen: ErrorSeen, code: string, message?: string | RegExp): void {
  assert.equal(seen.code, code, JSON.stringify(seen));
  assert.equal(seen.status, 400, `KMS errors are HTTP 400: ${JSON.stringify(seen)}`);
  if (typeof message === 'string') assert.equal(seen.message, message);
  else if (message) assert.match(seen.message, message);
}

test('the boto3 kms flow runs to the end and prints its summary', () => {
  assert.equal(run.code, 0, run.stderr);
  assert.ok(Object.keys(run.steps).length > 0, `no JSON summary; stderr: ${run.stderr}`);
});

test('boto3: create_key returns an Enabled SYMMETRIC_DEFAULT key whose CreationDate botocore parses as a datetime', () => {
  const s = stepOf('create_key');
  assert.match(s.keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.match(s.arn, new RegExp(`^arn:aws:kms:us-east-1:\\d{12}:key/${s.keyId}$`));
  assert.equal(s.state, 'Enabled');
  assert.equal(s.enabled, true);
  assert.equal(s.usage, 'ENCRYPT_DECRYPT');
  assert.equal(s.spec, 'SYMMETRIC_DEFAULT');
  assert.deepEqual(s.algorithms, ['SYMMETRIC_DEFAULT']);
  assert.equal(s.creationDateType, 'datetime');
  assert.ok(Math.abs(s.creationDateEpoch - Date.now() / 1000) < 300, `CreationDate near now (epoch seconds on the wire): ${s.creationDateEpoch}`);
});

test('boto3: encrypt/decrypt with an encryption context round-trips (pair order irrelevant); a wrong or missing context is InvalidCiphertextException with an empty message', () => {
  const s = stepOf('encrypt_decrypt_context');
  const key = stepOf('create_key');
  assert.equal(s.roundTrip, true);
  assert.equal(s.blobIsBytes, true);
  assert.equal(s.plaintextInBlob, false);
  assert.equal(s.encryptKeyId, key.arn);
  assert.equal(s.decryptKeyId, key.arn);
  assert.equal(s.algorithm, 'SYMMETRIC_DEFAULT');
  assert.equal(s.decryptAlgorithm, 'SYMMETRIC_DEFAULT');
  isError(s.wrongContext, 'InvalidCiphertextException', '');
  isError(s.noContext, 'InvalidCiphertextException', '');
});

test("boto3: generate_data_key(KeySpec='AES_256') gives 32 bytes and decrypt of its CiphertextBlob equals Plaintext; WithoutPlaintext has none", () => {
  const s = stepOf('generate_data_key');
  assert.equal(s.plaintextLength, 32);
  assert.equal(s.keyId, stepOf('create_key').arn);
  assert.equal(s.decryptEqualsPlaintext, true);
  assert.equal(s.withoutPlaintextHasPlaintext, false);
  assert.equal(s.withoutPlaintextDecryptedLength, 16);
  isError(s.bothSpecAndBytes, 'ValidationException');
});

test('boto3: re_encrypt moves a ciphertext to a second key and context; Decrypt naming the old key is IncorrectKeyException', () => {
  const s = stepOf('re_encrypt');
  const key = stepOf('create_key');
  assert.equal(s.keyId, key.secondArn);
  assert.equal(s.sourceKeyId, key.arn);
  assert.equal(s.sourceAlgorithm, 'SYMMETRIC_DEFAULT');
  assert.equal(s.destinationAlgorithm, 'SYMMETRIC_DEFAULT');
  assert.equal(s.decryptKeyId, key.secondArn);
  assert.equal(s.roundTrip, true);
  isError(s.wrongKeyId, 'IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
});

test("boto3: a random key id is NotFoundException \"Key 'arn:aws:kms:us-east-1:ACCOUNT:key/<id>' does not exist\"", () => {
  const s = stepOf('error_not_found');
  const msg = `Key 'arn:aws:kms:us-east-1:${s.account}:key/${s.randomId}' does not exist`;
  isError(s.encrypt, 'NotFoundException', msg);
  isError(s.describe, 'NotFoundException', msg);
});

test('boto3: a tampered or foreign ciphertext blob is InvalidCiphertextException', () => {
  const s = stepOf('error_invalid_ciphertext');
  isError(s.tamperedTag, 'InvalidCiphertextException', '');
  isError(s.tamperedMiddle, 'InvalidCiphertextException', '');
  isError(s.garbage, 'InvalidCiphertextException');
});

test('boto3: a 4097-byte plaintext is ValidationException with AWS\'s message; 4096 bytes work', () => {
  const s = stepOf('error_validation_plaintext_too_long');
  isError(s.tooLong, 'ValidationException', "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096");
  assert.equal(s.atLimitWorks, true);
});

test('boto3: a disabled key refuses encrypt, decrypt and generate_data_key with DisabledException "<ARN> is disabled."; enable_key restores it', () => {
  const s = stepOf('error_disabled');
  const arn = stepOf('create_key').arn as string;
  assert.equal(s.state, 'Disabled');
  assert.equal(s.enabled, false);
  isError(s.encrypt, 'DisabledException', `${arn} is disabled.`);
  isError(s.decrypt, 'DisabledException', `${arn} is disabled.`);
  isError(s.generateDataKey, 'DisabledException', `${arn} is disabled.`);
  assert.equal(s.worksAfterEnable, true);
});

test('boto3: the list_keys paginator (page size 1) walks both keys', () => {
  const s = stepOf('list_keys_paginator');
  assert.deepEqual([...s.ids].sort(), [...s.expected].sort());
});

test('boto3: tags given to create_key come back from list_resource_tags', () => {
  const s = stepOf('tags');
  assert.deepEqual(s.tags, [{ TagKey: 'team', TagValue: 'interop' }]);
});
