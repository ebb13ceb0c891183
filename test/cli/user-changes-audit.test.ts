// The IAM changes of `coffer user` carry their durable audit records, as the IAM API's
// calls of the same name (cli/iam-changes.ts): beside a live `coffer server` child
// process they go through its IAM API and the server records them (the CLI never writes
// its kms.log); with no server the CLI takes the data directory's lock, records them in
// kms.log itself, and a server started afterwards continues the log without loss. A
// user's secret never reaches the trail, the logs or the CLI's diagnostics.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';
import { IAMClient, AddUserToGroupCommand, AttachUserPolicyCommand, CreateGroupCommand, CreatePolicyCommand } from '@aws-sdk/client-iam';
import { openDataDir } from '../../src/data-dir.js';
import { ROOT_KEY_ID, ROOT_SECRET, startChildServer, type ChildServer } from '../interop/support.js';
import { auditFileText } from '../helpers/audit-file.js';
import { cofferEnv as cliEnv, cofferOk as ok, runCoffer as coffer } from '../helpers/cli.js';
import { makeTestCertificate } from '../helpers/tls.js';

interface TrailEvent {
  eventName: string;
  eventSource: string;
  eventID: string;
  userIdentity: { type?: string; arn?: string; accountId: string };
  sourceIPAddress: string;
  userAgent?: string;
  requestParameters: Record<string, unknown> | null;
  errorCode?: string;
}

const work: string[] = [];
const servers: ChildServer[] = [];
const clients: { destroy(): void }[] = [];

function creds(out: string): { accessKeyId: string; secretAccessKey: string } {
  const accessKeyId = /AWS_ACCESS_KEY_ID=(\S+)/.exec(out)?.[1];
  const secretAccessKey = /AWS_SECRET_ACCESS_KEY=(\S+)/.exec(out)?.[1];
  assert.ok(accessKeyId && secretAccessKey, out);
  return { accessKeyId, secretAccessKey };
}

async function logEvents(dataDir: string): Promise<TrailEvent[]> {
  const text = await auditFileText(path.join(dataDir, 'audit', 'kms.log'));
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TrailEvent);
}

const iamEvents = (events: TrailEvent[]) => events.filter((e) => e.eventSource === 'iam.amazonaws.com');

async function newDataDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-user-changes-'));
  work.push(dir);
  return dir;
}

async function policyFile(dir: string): Promise<string> {
  const file = path.join(dir, 'policy.json');
  await fs.writeFile(file, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' }] }));
  return file;
}

/** Every file under `dir` (the data directory, logs included) as text. */
async function everyFile(dir: string): Promise<string> {
  let all = '';
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) all += (await fs.readFile(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))).toString('latin1');
  }
  return all;
}


after(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) await s.stop();
  for (const d of work) await fs.rm(d, { recursive: true, force: true });
});

test('beside a live server: create, policy put, remove-key, policy delete, delete go through it and its trail records each (root, userAgent coffer-cli); the secret is nowhere', async () => {
  const dataDir = await newDataDir();
  const server = await startChildServer(dataDir);
  servers.push(server);
  const env = cliEnv(dataDir);
  const accountId = (JSON.parse(await fs.readFile(path.join(dataDir, 'root-credentials.json'), 'utf8')) as { accountId: string }).accountId;
  assert.equal((await fs.readFile(path.join(dataDir, 'coffer.url'), 'utf8')).trim(), server.url, 'the server says where it listens');
  const before = (await logEvents(dataDir)).length;

  const created = await ok(env, 'user', 'create', 'carol');
  assert.match(created.stdout, /^User carol created \(arn:aws:iam::\d{12}:user\/carol\)\. Its secret is shown only now:\n {2}AWS_ACCESS_KEY_ID=\S+\n {2}AWS_SECRET_ACCESS_KEY=\S+\n$/);
  const key = creds(created.stdout);
  const s3 = new S3Client({ endpoint: server.url, region: 'us-east-1', forcePathStyle: true, credentials: key, maxAttempts: 1 });
  clients.push(s3);
  await ok(env, 'user', 'policy', 'put', 'carol', 'list', await policyFile(dataDir));
  await s3.send(new ListBucketsCommand({})); // the key and the policy the server applied
  const dup = await coffer(env, 'user', 'create', 'carol');
  assert.equal(dup.code, 2);
  assert.match(dup.stderr, /^coffer: error: user carol already exists$/m);
  assert.equal((await ok(env, 'user', 'remove-key', 'carol', key.accessKeyId)).stdout, `Access key ${key.accessKeyId} deleted.\n`);
  // Over IAM's 2048-character quota for a user's inline policy: the server's refusal, in its words.
  const big = path.join(dataDir, 'big.json');
  await fs.writeFile(big, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: Array.from({ length: 120 }, (_, i) => `arn:aws:s3:::bucket-${i}/*`) }] }));
  const tooBig = await coffer(env, 'user', 'policy', 'put', 'carol', 'big', big);
  assert.equal(tooBig.code, 2);
  assert.match(tooBig.stderr, /^coffer: error: malformed policy document: .*2048/m);
  // `coffer hadoop config --user` makes its access key the same way.
  const hadoop = await ok(env, 'hadoop', 'config', '--bucket', 'lake', '--user', 'carol');
  const hadoopKeyId = /created access key (\S+) for user carol/.exec(hadoop.stderr)?.[1];
  const hadoopSecret = /<name>fs\.s3a\.secret\.key<\/name>\s*<value>([^<]+)<\/value>/.exec(hadoop.stdout)?.[1];
  assert.ok(hadoopKeyId && hadoopSecret, hadoop.stderr + hadoop.stdout);
  assert.equal((await ok(env, 'user', 'policy', 'delete', 'carol', 'list')).stdout, 'Policy list removed from carol.\n');
  assert.equal((await ok(env, 'user', 'delete', 'carol', '--force')).stdout, 'User carol deleted.\n');

  // Through the server: its records, at 127.0.0.1, in the one log it writes.
  const events = iamEvents((await logEvents(dataDir)).slice(before));
  assert.deepEqual(events.map((e) => [e.eventName, e.errorCode ?? 'ok']), [
    ['CreateUser', 'ok'], ['CreateAccessKey', 'ok'], ['PutUserPolicy', 'ok'], ['CreateUser', 'EntityAlreadyExists'],
    ['DeleteAccessKey', 'ok'], ['PutUserPolicy', 'LimitExceeded'], ['CreateAccessKey', 'ok'], ['DeleteUserPolicy', 'ok'], ['DeleteAccessKey', 'ok'], ['DeleteUser', 'ok'],
  ]);
  for (const e of events) {
    assert.equal(e.userIdentity.type, 'Root');
    assert.equal(e.userIdentity.arn, `arn:aws:iam::${accountId}:root`);
    assert.equal(e.userAgent, 'coffer-cli');
    assert.equal(e.sourceIPAddress, '127.0.0.1');
    assert.equal(e.requestParameters?.userName, 'carol');
  }
  assert.deepEqual(events[2]!.requestParameters, { userName: 'carol', policyName: 'list' }, 'no policy text');
  assert.deepEqual(events[4]!.requestParameters, { userName: 'carol', accessKeyId: key.accessKeyId });
  assert.deepEqual(events[8]!.requestParameters, { userName: 'carol', accessKeyId: hadoopKeyId });

  // `coffer audit query` answers them too.
  const q = await ok(env, 'audit', 'query', '--event', 'PutUserPolicy', '--json');
  assert.equal(q.stdout.trim().split('\n').length, 2, q.stdout);

  const files = await everyFile(dataDir);
  for (const secret of [key.secretAccessKey, hadoopSecret]) {
    assert.ok(!files.includes(secret), 'no file of the data directory holds a secret');
    assert.ok(!server.stdout().includes(secret) && !server.stderr().includes(secret), 'nor the server log');
  }
  assert.ok(!created.stderr.includes(key.secretAccessKey), 'nor the CLI diagnostics');
});

test('beside a live server without its root credentials: the change is refused and nothing changes', async () => {
  const dataDir = await newDataDir();
  const server = await startChildServer(dataDir);
  servers.push(server);
  const r = await coffer(cliEnv(dataDir, false), 'user', 'create', 'mallory');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^coffer: error: a coffer server \(process \d+, started .*\) holds .*: the change must go through it, signed with the root credentials, and this process has none$/m);
  assert.match(r.stderr, /^coffer: hint: set COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY/m);
  assert.ok(!(await ok(cliEnv(dataDir), 'user', 'list')).stdout.includes('mallory'));
  assert.deepEqual(iamEvents(await logEvents(dataDir)), []);
});

test('beside a live HTTPS server: the change goes through it, over TLS with the configured certificate pinned', async () => {
  const dataDir = await newDataDir();
  const cert = makeTestCertificate(); // self-signed: trusted because it is pinned, not by the system's CAs
  work.push(cert.dir);
  const tlsEnv = { COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath };
  const server = await startChildServer(dataDir, tlsEnv);
  servers.push(server);
  assert.match(server.url, /^https:/);
  const env = { ...cliEnv(dataDir), ...tlsEnv };
  await ok(env, 'user', 'create', 'erin');
  assert.deepEqual(iamEvents(await logEvents(dataDir)).map((e) => [e.eventName, e.sourceIPAddress, e.userAgent]), [
    ['CreateUser', '127.0.0.1', 'coffer-cli'], ['CreateAccessKey', '127.0.0.1', 'coffer-cli'],
  ]);
});

test('with no server: the CLI records in kms.log under the lock, and a server started afterwards continues the log without loss', async () => {
  const dataDir = await newDataDir();
  const first = await startChildServer(dataDir);
  await first.stop();
  const env = cliEnv(dataDir);
  const before = await logEvents(dataDir);

  const created = await ok(env, 'user', 'create', 'dave');
  const key1 = creds(created.stdout);
  await ok(env, 'user', 'policy', 'put', 'dave', 'list', await policyFile(dataDir));
  // Over IAM's 2048-character quota: refused as the server refuses it (before, up to 10,240 bytes passed here).
  const big = path.join(dataDir, 'big.json');
  await fs.writeFile(big, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: Array.from({ length: 120 }, (_, i) => `arn:aws:s3:::bucket-${i}/*`) }] }));
  const tooBig = await coffer(env, 'user', 'policy', 'put', 'dave', 'big', big);
  assert.equal(tooBig.code, 2);
  assert.match(tooBig.stderr, /^coffer: error: malformed policy document: .*2048/m);
  const key2 = creds((await ok(env, 'user', 'add-key', 'dave')).stdout);
  await ok(env, 'user', 'remove-key', 'dave', key1.accessKeyId);
  const missing = await coffer(env, 'user', 'remove-key', 'dave', key1.accessKeyId);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, new RegExp(`^coffer: error: user dave has no access key ${key1.accessKeyId}$`, 'm'));
  const hadoop = await ok(env, 'hadoop', 'config', '--bucket', 'lake', '--user', 'dave');
  assert.match(hadoop.stderr, /created access key \S+ for user dave/);
  await assert.rejects(fs.lstat(path.join(dataDir, 'coffer.lock')), { code: 'ENOENT' }, 'the lock is released');

  const offline = await logEvents(dataDir);
  assert.deepEqual(offline.slice(0, before.length), before, 'the earlier records stay');
  const events = iamEvents(offline.slice(before.length));
  assert.deepEqual(events.map((e) => [e.eventName, e.errorCode ?? 'ok']), [
    ['CreateUser', 'ok'], ['CreateAccessKey', 'ok'], ['PutUserPolicy', 'ok'], ['CreateAccessKey', 'ok'], ['DeleteAccessKey', 'ok'], ['DeleteAccessKey', 'NoSuchEntity'], ['CreateAccessKey', 'ok'],
  ]);
  for (const e of events) {
    assert.equal(e.userIdentity.type, 'Root');
    assert.equal(e.sourceIPAddress, 'coffer-cli');
    assert.equal(e.userAgent, 'coffer-cli');
  }
  assert.deepEqual(events[4]!.requestParameters, { userName: 'dave', accessKeyId: key1.accessKeyId });

  // The server continues the log: the CLI's records stay, its own follow them.
  const server = await startChildServer(dataDir);
  servers.push(server);
  const s3 = new S3Client({ endpoint: server.url, region: 'us-east-1', forcePathStyle: true, credentials: key2, maxAttempts: 1 });
  const iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });
  clients.push(s3, iam);
  await s3.send(new ListBucketsCommand({}));
  // A group and a managed policy too, for delete --force to undo.
  await iam.send(new CreateGroupCommand({ GroupName: 'ops' }));
  await iam.send(new AddUserToGroupCommand({ GroupName: 'ops', UserName: 'dave' }));
  const policyArn = (await iam.send(new CreatePolicyCommand({ PolicyName: 'list-all', PolicyDocument: await fs.readFile(await policyFile(dataDir), 'utf8') }))).Policy!.Arn!;
  await iam.send(new AttachUserPolicyCommand({ UserName: 'dave', PolicyArn: policyArn }));
  const apiCalls = iamEvents(await logEvents(dataDir)).length;
  await ok(env, 'user', 'delete', 'dave', '--force');
  const after = await logEvents(dataDir);
  assert.deepEqual(after.slice(0, offline.length), offline, 'nothing recorded offline is lost or overwritten');
  assert.deepEqual(iamEvents(after).slice(apiCalls).map((e) => [e.eventName, e.sourceIPAddress, e.requestParameters]), [
    ['DeleteAccessKey', '127.0.0.1', { userName: 'dave', accessKeyId: key2.accessKeyId }],
    ['DeleteAccessKey', '127.0.0.1', { userName: 'dave', accessKeyId: /created access key (\S+)/.exec(hadoop.stderr)![1] }],
    ['DeleteUserPolicy', '127.0.0.1', { userName: 'dave', policyName: 'list' }],
    ['DetachUserPolicy', '127.0.0.1', { userName: 'dave', policyArn }],
    ['RemoveUserFromGroup', '127.0.0.1', { userName: 'dave', groupName: 'ops' }],
    ['DeleteUser', '127.0.0.1', { userName: 'dave' }],
  ]);
  assert.equal(new Set(after.map((e) => e.eventID)).size, after.length);
  for (const k of [key1, key2]) assert.ok(!(await everyFile(dataDir)).includes(k.secretAccessKey), 'no file holds a secret');
});

test('with no server and an audit log that cannot be opened: the change is refused, nothing changes, the lock is released', async () => {
  const dataDir = await newDataDir();
  const first = await startChildServer(dataDir);
  await first.stop();
  const log = path.join(dataDir, 'audit', 'kms.log');
  await fs.rm(log);
  await fs.mkdir(log); // open(O_RDWR) fails with EISDIR, for root too
  const env = cliEnv(dataDir);
  const r = await coffer(env, 'user', 'create', 'frank');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^coffer: error: cannot open the audit log in .*\/audit \(EISDIR\); IAM changes are refused without their record$/m);
  assert.ok(!(await ok(env, 'user', 'list')).stdout.includes('frank'), 'no user was made');
  await assert.rejects(fs.lstat(path.join(dataDir, 'coffer.lock')), { code: 'ENOENT' }, 'the lock is released');
});

test('with no server the command holds the lock while it changes IAM: a server cannot start meanwhile, and starts once it is done', async () => {
  const dataDir = await newDataDir();
  const first = await startChildServer(dataDir);
  await first.stop();
  const before = (await logEvents(dataDir)).length;
  // What `coffer user` does, in this process: the changes open under the lock.
  const admin = await openDataDir(dataDir);
  try {
    const changes = await admin.changes();
    assert.equal(changes.via, 'offline');
    await changes.createUser('gina');
    await assert.rejects(startChildServer(dataDir), /in use by another coffer server \(process \d+/);
  } finally {
    await admin.close();
  }
  const server = await startChildServer(dataDir);
  servers.push(server);
  const events = await logEvents(dataDir);
  assert.deepEqual(iamEvents(events.slice(before)).map((e) => [e.eventName, e.requestParameters]), [['CreateUser', { userName: 'gina' }]]);
});
