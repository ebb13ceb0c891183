// The real AWS CLI (v1) `aws kms ...` against the real server: key creation and
// description, aliases, encrypt/decrypt through fileb:// files with an encryption
// context, data keys, listings, and the key-state transitions (disable, enable,
// scheduled deletion, cancel) with the error codes and exit statuses users script on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { awsCli, awsCliEnv } from './aws-cli-runner.js';

let srv: TestServer;
let work: string;
let env: NodeJS.ProcessEnv;

const { text, json, fails } = awsCli(() => ({ endpoint: srv.url, env, timeoutMs: 30_000 }));

interface KeyMetadata {
  KeyId: string;
  Arn: string;
  Description: string;
  KeyState: string;
  Enabled: boolean;
  KeyUsage: string;
  KeySpec: string;
  CreationDate: number;
  DeletionDate?: number;
  PendingDeletionWindowInDays?: number;
}

const ALIAS = 'alias/cli-test';
const CONTEXT = 'purpose=cli-test';
let key: KeyMetadata;
let accountId: string;
const plaintext = Buffer.concat([randomBytes(200), Buffer.from('\0\n\r binary and text\n')]);
let ctFile: string;

before(async () => {
  srv = await startTestServer();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-kms-cli-'));
  env = awsCliEnv(work, { extra: { AWS_MAX_ATTEMPTS: '1' } });
  await fs.writeFile(path.join(work, 'plain.bin'), plaintext);
  ctFile = path.join(work, 'ct.bin');
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('create-key --description returns an Enabled symmetric ENCRYPT_DECRYPT key with a UUID id and an ARN', async () => {
  const r = await json<{ KeyMetadata: KeyMetadata }>('kms', 'create-key', '--description', 'made by the aws cli');
  key = r.KeyMetadata;
  assert.match(key.KeyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const m = /^arn:aws:kms:us-east-1:(\d{12}):key\/(.+)$/.exec(key.Arn);
  assert.ok(m, `ARN shape: ${key.Arn}`);
  accountId = m[1]!;
  assert.equal(m[2], key.KeyId);
  assert.equal(key.Description, 'made by the aws cli');
  assert.equal(key.KeyState, 'Enabled');
  assert.equal(key.Enabled, true);
  assert.equal(key.KeyUsage, 'ENCRYPT_DECRYPT');
  assert.equal(key.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(typeof key.CreationDate, 'number', 'the CLI prints epoch seconds it parsed from a JSON number');
  assert.ok(Math.abs(key.CreationDate - Date.now() / 1000) < 120, `CreationDate is epoch seconds near now: ${key.CreationDate}`);
});

test('describe-key by id and by ARN shows the same key', async () => {
  const byId = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', key.KeyId);
  assert.equal(byId.KeyMetadata.Arn, key.Arn);
  assert.equal(byId.KeyMetadata.Description, 'made by the aws cli');
  const byArn = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', key.Arn);
  assert.equal(byArn.KeyMetadata.KeyId, key.KeyId);
});

test('create-alias, then describe-key through the alias name resolves to the key', async () => {
  const out = await text('kms', 'create-alias', '--alias-name', ALIAS, '--target-key-id', key.KeyId);
  assert.equal(out.trim(), '', 'CreateAlias has no output');
  const viaAlias = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', ALIAS);
  assert.equal(viaAlias.KeyMetadata.KeyId, key.KeyId);
});

test('encrypt --key-id alias/x --plaintext fileb:// --encryption-context k=v, decrypt fileb:// gives the bytes back', async () => {
  const b64 = (await text('kms', 'encrypt', '--key-id', ALIAS, '--plaintext', `fileb://${path.join(work, 'plain.bin')}`, '--encryption-context', CONTEXT, '--query', 'CiphertextBlob', '--output', 'text')).trim();
  assert.match(b64, /^[A-Za-z0-9+/]+={0,2}$/, 'the CLI prints the blob as base64');
  const blob = Buffer.from(b64, 'base64');
  assert.ok(blob.length > plaintext.length, 'the ciphertext is longer than the plaintext');
  assert.equal(blob.indexOf(plaintext.subarray(0, 32)), -1, 'the plaintext does not appear in the blob');
  await fs.writeFile(ctFile, blob);

  const dec = await json<{ Plaintext: string; KeyId: string; EncryptionAlgorithm: string }>('kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', CONTEXT);
  assert.ok(Buffer.from(dec.Plaintext, 'base64').equals(plaintext), 'decrypted bytes equal the file');
  assert.equal(dec.KeyId, key.Arn, 'Decrypt reports the key ARN');
  assert.equal(dec.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
});

test('encrypt output names the key ARN (not the alias) and SYMMETRIC_DEFAULT', async () => {
  const enc = await json<{ KeyId: string; EncryptionAlgorithm: string; CiphertextBlob: string }>('kms', 'encrypt', '--key-id', ALIAS, '--plaintext', `fileb://${path.join(work, 'plain.bin')}`);
  assert.equal(enc.KeyId, key.Arn);
  assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
});

test('decrypt with a different or missing encryption context fails with InvalidCiphertextException', async () => {
  await fails('InvalidCiphertextException', 'kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', 'purpose=other');
  await fails('InvalidCiphertextException', 'kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`);
});

test('generate-data-key --key-spec AES_256 gives 32 plaintext bytes whose blob decrypts to them', async () => {
  const dk = await json<{ Plaintext: string; CiphertextBlob: string; KeyId: string }>('kms', 'generate-data-key', '--key-id', key.KeyId, '--key-spec', 'AES_256', '--encryption-context', CONTEXT);
  const dataKey = Buffer.from(dk.Plaintext, 'base64');
  assert.equal(dataKey.length, 32);
  assert.equal(dk.KeyId, key.Arn);
  const blobFile = path.join(work, 'dk.bin');
  await fs.writeFile(blobFile, Buffer.from(dk.CiphertextBlob, 'base64'));
  const dec = await json<{ Plaintext: string }>('kms', 'decrypt', '--ciphertext-blob', `fileb://${blobFile}`, '--encryption-context', CONTEXT);
  assert.ok(Buffer.from(dec.Plaintext, 'base64').equals(dataKey));
});

test('list-keys includes the key (id and ARN)', async () => {
  const r = await json<{ Keys: { KeyId: string; KeyArn: string }[] }>('kms', 'list-keys');
  assert.ok(r.Keys.some((k) => k.KeyId === key.KeyId && k.KeyArn === key.Arn), JSON.stringify(r.Keys));
});

test('list-aliases includes the alias with its ARN and target key', async () => {
  const r = await json<{ Aliases: { AliasName: string; AliasArn: string; TargetKeyId?: string }[] }>('kms', 'list-aliases');
  const a = r.Aliases.find((x) => x.AliasName === ALIAS);
  assert.ok(a, JSON.stringify(r.Aliases));
  assert.equal(a.AliasArn, `arn:aws:kms:us-east-1:${accountId}:${ALIAS}`);
  assert.equal(a.TargetKeyId, key.KeyId);
  const forKey = await json<{ Aliases: { AliasName: string }[] }>('kms', 'list-aliases', '--key-id', key.KeyId);
  assert.deepEqual(forKey.Aliases.map((x) => x.AliasName), [ALIAS]);
});

test('create-alias with an alias that exists fails with AlreadyExistsException', async () => {
  await fails('AlreadyExistsException', 'kms', 'create-alias', '--alias-name', ALIAS, '--target-key-id', key.KeyId);
});

test('describe-key of a random key id fails with NotFoundException naming the key ARN', async () => {
  const id = '11111111-2222-3333-4444-555555555555';
  const r = await fails('NotFoundException', 'kms', 'describe-key', '--key-id', id);
  assert.ok(r.stderr.includes(`Key 'arn:aws:kms:us-east-1:${accountId}:key/${id}' does not exist`), r.stderr);
});

test('disable-key: describe-key shows Disabled, encrypt fails with DisabledException "<ARN> is disabled."', async () => {
  assert.equal((await text('kms', 'disable-key', '--key-id', key.KeyId)).trim(), '');
  const d = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', key.KeyId);
  assert.equal(d.KeyMetadata.KeyState, 'Disabled');
  assert.equal(d.KeyMetadata.Enabled, false);
  const r = await fails('DisabledException', 'kms', 'encrypt', '--key-id', ALIAS, '--plaintext', `fileb://${path.join(work, 'plain.bin')}`);
  assert.ok(r.stderr.includes(`${key.Arn} is disabled.`), r.stderr);
  await fails('DisabledException', 'kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', CONTEXT);
});

test('enable-key: encrypt works again', async () => {
  assert.equal((await text('kms', 'enable-key', '--key-id', key.KeyId)).trim(), '');
  const d = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', key.KeyId);
  assert.equal(d.KeyMetadata.KeyState, 'Enabled');
  assert.equal(d.KeyMetadata.Enabled, true);
  const dec = await json<{ Plaintext: string }>('kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', CONTEXT);
  assert.ok(Buffer.from(dec.Plaintext, 'base64').equals(plaintext));
});

test('schedule-key-deletion --pending-window-in-days 7: PendingDeletion with a DeletionDate 7 days out; crypto is refused', async () => {
  const before = Date.now() / 1000;
  const s = await json<{ KeyId: string; DeletionDate: number; KeyState: string; PendingWindowInDays: number }>('kms', 'schedule-key-deletion', '--key-id', key.KeyId, '--pending-window-in-days', '7');
  assert.equal(s.KeyId, key.Arn);
  assert.equal(s.KeyState, 'PendingDeletion');
  assert.equal(s.PendingWindowInDays, 7);
  assert.ok(Math.abs(s.DeletionDate - (before + 7 * 86400)) < 86400 + 120, `DeletionDate about 7 days out: ${s.DeletionDate}`);

  const d = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', key.KeyId);
  assert.equal(d.KeyMetadata.KeyState, 'PendingDeletion');
  assert.equal(d.KeyMetadata.Enabled, false);
  assert.equal(d.KeyMetadata.DeletionDate, s.DeletionDate);
  assert.equal(d.KeyMetadata.PendingDeletionWindowInDays, undefined, 'AWS shows it only for PendingReplicaDeletion (multi-Region primaries)');

  const r = await fails('KMSInvalidStateException', 'kms', 'encrypt', '--key-id', key.KeyId, '--plaintext', `fileb://${path.join(work, 'plain.bin')}`);
  assert.ok(r.stderr.includes(`${key.Arn} is pending deletion.`), r.stderr);
});

test('schedule-key-deletion --pending-window-in-days 6 is a ValidationException', async () => {
  await fails('ValidationException', 'kms', 'schedule-key-deletion', '--key-id', key.KeyId, '--pending-window-in-days', '6');
});

test('cancel-key-deletion leaves the key Disabled with no DeletionDate; enable-key makes it usable', async () => {
  const c = await json<{ KeyId: string }>('kms', 'cancel-key-deletion', '--key-id', key.KeyId);
  assert.equal(c.KeyId, key.Arn);
  const d = await json<{ KeyMetadata: KeyMetadata }>('kms', 'describe-key', '--key-id', key.KeyId);
  assert.equal(d.KeyMetadata.KeyState, 'Disabled', 'AWS leaves a cancelled key Disabled');
  assert.equal(d.KeyMetadata.DeletionDate, undefined);
  await text('kms', 'enable-key', '--key-id', key.KeyId);
  const dec = await json<{ Plaintext: string }>('kms', 'decrypt', '--ciphertext-blob', `fileb://${ctFile}`, '--encryption-context', CONTEXT);
  assert.ok(Buffer.from(dec.Plaintext, 'base64').equals(plaintext));
});
