// Known answers for the sealed STS session record (docs/spec/sts-session.md): bytes built
// from the spec alone (labels, header, AAD, the JSON plaintext) are opened by the
// server's credential look-up, and what the server seals opens with the spec alone.
// Root key 32 × 0x11 (fingerprint 06dcdceee57fdb8f, as in kms-key-material.md), nonce
// 12 × 0x22.

import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { AssumedRolePrincipal } from '../../src/auth/types.js';
import { CredentialDirectory, SESSION_SEAL_LABEL, encodeSessionPrincipal, sealSession } from '../../src/iam/credentials.js';
import { rootPrincipal } from '../../src/iam/root-credentials.js';
import { SqliteIamStore } from '../../src/iam/store/sqlite-iam-store.js';
import { SoftwareRootKey, WRAP_LABEL } from '../../src/custody/software-root-key.js';
import { SealedKeyAuthError } from '../../src/custody/errors.js';

const ROOT_KEY = Buffer.alloc(32, 0x11);
const NONCE = Buffer.alloc(12, 0x22);
const ACCESS_KEY_ID = 'ASIACOFFERVECTOR0001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOKEN = 'FQoGZXIvYXdzEXAMPLE-session-token';
const PLAINTEXT = `{"v":1,"secret":"${SECRET}","token":"${TOKEN}"}`;
/** The sealed_secret column for the values above: 22-byte header, 103 bytes of ciphertext, 16-byte tag. */
const SEALED_HEX =
  '010106dcdceee57fdb8f222222222222222222222222' +
  '6cd5716bfafeb37d965abd4e2dd2cbef3de4878306f3f41e26214cad44a84a487232ef471defd6bc1e20bf4b8f1b1070eb93d332d93731bbed56c6db960484d716ae261a17d43e55b1397fe74eb19a76a0e5e27353a29e7e2a64a2d957cd6ff9fc2e387b1775' +
  'f65b7658ef462b828ea337374e8cfcd174';

const ACCOUNT = '111122223333';
const PRINCIPAL: AssumedRolePrincipal = {
  kind: 'assumed-role', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/DataReader/bob-reads`, accountId: ACCOUNT,
  userName: 'DataReader/bob-reads', userId: 'AROAEXAMPLEEXAMPLE01:bob-reads', roleName: 'DataReader',
  roleArn: `arn:aws:iam::${ACCOUNT}:role/DataReader`, roleId: 'AROAEXAMPLEEXAMPLE01', sessionName: 'bob-reads',
};
const PRINCIPAL_JSON = `{"v":1,"principal":{"kind":"assumed-role","arn":"arn:aws:sts::${ACCOUNT}:assumed-role/DataReader/bob-reads",` +
  `"accountId":"${ACCOUNT}","userName":"DataReader/bob-reads","userId":"AROAEXAMPLEEXAMPLE01:bob-reads","roleName":"DataReader",` +
  `"roleArn":"arn:aws:iam::${ACCOUNT}:role/DataReader","roleId":"AROAEXAMPLEEXAMPLE01","sessionName":"bob-reads"}}`;

/** The spec's AAD for the root-key wrap: WRAP_LABEL || header || SESSION_SEAL_LABEL || "\n" || access key id. */
const aad = (header: Buffer, accessKeyId: string) =>
  Buffer.concat([Buffer.from('coffer/root-key/wrap/v1'), header, Buffer.from(`coffer/sts/session-secret/v1\n${accessKeyId}`)]);

/** Seals a plaintext exactly as the spec says, with a chosen nonce. */
function sealBySpec(plaintext: string, accessKeyId: string): Buffer {
  const header = Buffer.concat([Buffer.from('010106dcdceee57fdb8f', 'hex'), NONCE]);
  const c = createCipheriv('aes-256-gcm', ROOT_KEY, NONCE);
  c.setAAD(aad(header, accessKeyId));
  return Buffer.concat([header, c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
}

let dir = '';
let store: SqliteIamStore;
let directory: CredentialDirectory;
const rootKey = new SoftwareRootKey('key', ROOT_KEY);

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-sts-seal-'));
  store = SqliteIamStore.open(path.join(dir, 'iam.sqlite'));
  const root = { accountId: ACCOUNT, generated: false, credential: { accessKeyId: 'AKIAROOTROOTROOTROOT', secretAccessKey: 'x', principal: rootPrincipal(ACCOUNT) } };
  directory = new CredentialDirectory(store, rootKey, root);
  // The role the session was issued for, with the same unique id: a session outlives neither its role nor its id.
  await store.roles.create({
    roleName: PRINCIPAL.roleName, roleId: PRINCIPAL.roleId, arn: PRINCIPAL.roleArn, path: '/', createDate: Date.now(),
    assumeRolePolicyDocument: '{"Version":"2012-10-17","Statement":[]}', maxSessionDuration: 3600, tags: [],
  });
});
after(async () => {
  await store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function storeSession(accessKeyId: string, sealed: Buffer, expiresAt = Date.now() + 900_000): Promise<void> {
  await store.sessions.create({ accessKeyId, sealedSecret: sealed, principal: encodeSessionPrincipal(PRINCIPAL), createDate: Date.now(), expiresAt });
}

test('the labels are the spec\'s, verbatim', () => {
  assert.equal(SESSION_SEAL_LABEL, 'coffer/sts/session-secret/v1');
  assert.equal(WRAP_LABEL, 'coffer/root-key/wrap/v1');
});

test('known answer: the spec\'s bytes for a session are what the server opens (secret, token, principal, expiry)', async () => {
  assert.equal(sealBySpec(PLAINTEXT, ACCESS_KEY_ID).toString('hex'), SEALED_HEX);
  assert.equal(encodeSessionPrincipal({ ...PRINCIPAL, temporary: { accessKeyId: ACCESS_KEY_ID, expiresAt: new Date(), issuedAt: new Date() } }), PRINCIPAL_JSON);
  const expiresAt = Date.now() + 900_000;
  const stored = Date.now();
  await storeSession(ACCESS_KEY_ID, Buffer.from(SEALED_HEX, 'hex'), expiresAt);
  await directory.prepare(ACCESS_KEY_ID);
  const rec = directory.lookup(ACCESS_KEY_ID);
  assert.ok(rec, 'the session is found');
  assert.deepEqual([rec.secretAccessKey, rec.sessionToken, rec.expiresAt?.getTime()], [SECRET, TOKEN, expiresAt]);
  // issuedAt (aws:TokenIssueTime) is the record's createDate.
  const issuedAt = rec.principal.temporary?.issuedAt.getTime() ?? 0;
  assert.ok(issuedAt >= stored && issuedAt <= Date.now(), `issued at ${issuedAt}`);
  assert.deepEqual(rec.principal, { ...PRINCIPAL, temporary: { accessKeyId: ACCESS_KEY_ID, expiresAt: new Date(expiresAt), issuedAt: new Date(issuedAt) } });
});

test('what the server seals opens with the spec alone: header, fingerprint, AAD bound to the access key id, JSON v1', async () => {
  const sealed = await sealSession(rootKey, ACCESS_KEY_ID, SECRET, TOKEN);
  assert.equal(sealed.length, 22 + Buffer.byteLength(PLAINTEXT) + 16);
  assert.equal(sealed.subarray(0, 10).toString('hex'), '010106dcdceee57fdb8f', 'version 0x01, kind 0x01 (key), the root key\'s fingerprint');
  const header = sealed.subarray(0, 22);
  const d = createDecipheriv('aes-256-gcm', ROOT_KEY, header.subarray(10));
  d.setAAD(aad(header, ACCESS_KEY_ID));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  assert.equal(Buffer.concat([d.update(sealed.subarray(22, sealed.length - 16)), d.final()]).toString('utf8'), PLAINTEXT);
});

test('a sealed session moved to another access key id does not open; an unknown record version is refused', async () => {
  const other = 'ASIACOFFERVECTOR0002';
  await storeSession(other, Buffer.from(SEALED_HEX, 'hex'));
  await assert.rejects(directory.prepare(other), SealedKeyAuthError);

  const v2 = 'ASIACOFFERVECTOR0003';
  await storeSession(v2, sealBySpec(`{"v":2,"secret":"${SECRET}","token":"${TOKEN}"}`, v2));
  await assert.rejects(directory.prepare(v2), /unknown session record version 2/);
});

test('prepared credentials past the directory\'s bound make room by dropping the oldest, never the ones just prepared', async () => {
  const root = { accountId: ACCOUNT, generated: false, credential: { accessKeyId: 'AKIAROOTROOTROOTROOT', secretAccessKey: 'x', principal: rootPrincipal(ACCOUNT) } };
  const small = new CredentialDirectory(store, rootKey, root, 'us-east-1', 3);
  const ids = ['ASIACOFFERBOUND00001', 'ASIACOFFERBOUND00002', 'ASIACOFFERBOUND00003', 'ASIACOFFERBOUND00004'];
  for (const id of ids) await storeSession(id, await sealSession(rootKey, id, SECRET, TOKEN));
  // Three requests prepared and not yet verified, then a fourth: the bound is passed.
  for (const id of ids.slice(0, 3)) await small.prepare(id);
  await small.prepare(ids[3]);
  // The request prepared last, and the one before it, still find their credentials; only the oldest went.
  assert.equal(small.lookup(ids[3])?.secretAccessKey, SECRET);
  assert.equal(small.lookup(ids[2])?.secretAccessKey, SECRET);
  assert.equal(small.lookup(ids[1])?.secretAccessKey, SECRET);
  assert.equal(small.lookup(ids[0]), undefined);
  // Preparing a key again makes it the newest.
  await small.prepare(ids[1]);
  await small.prepare(ids[0]);
  assert.equal(small.lookup(ids[1])?.secretAccessKey, SECRET);
  assert.equal(small.lookup(ids[2]), undefined);
});
