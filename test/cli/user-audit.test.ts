// `coffer user ...` and `coffer audit ...` against a real `coffer server` child process
// on the same data directory: a user created from the command line is denied until an
// identity policy allows it (at once, no restart), for S3 and for a KMS key whose
// default key policy delegates to IAM; removing its access keys locks it out on the
// next request; the audit log answers who used which key, with what context, and who
// was refused. Also: the CLI's error and hint conventions, file modes of the secrets
// on disk, and that a user's secret is never written in the clear.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { ROOT_KEY_ID, ROOT_SECRET, filesUnder, startChildServer, waitFor, type ChildServer } from '../interop/support.js';
import { auditFileText } from '../helpers/audit-file.js';
import { cofferEnv, cofferOk, runCoffer, type CliResult } from '../helpers/cli.js';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

interface TrailEvent {
  eventName: string;
  eventSource: string;
  eventTime: string;
  eventID: string;
  userIdentity: { type?: string; arn?: string; accountId: string; userName?: string };
  requestParameters: Record<string, unknown> | null;
  resources: { ARN: string; accountId: string; type: string }[];
  errorCode?: string;
  errorMessage?: string;
}

let dataDir: string;
let work: string;
let server: ChildServer;
let cliEnv: NodeJS.ProcessEnv;
const clients: { destroy(): void }[] = [];

let accountId: string;
let aliceArn: string;
let key1: Creds;
let key2: Creds;
let keyArn: string;
let otherKeyArn: string;
const CONTEXT = { app: 'user-audit', tenant: 't-42' };
const PLAINTEXT = Buffer.from('alice secret plaintext 7c1f');

/** Runs the compiled `coffer` CLI on the test's data dir; never throws on a non-zero exit. */
function coffer(...args: string[]): Promise<CliResult> {
  return runCoffer(cliEnv, ...args);
}

async function ok(...args: string[]): Promise<string> {
  return (await cofferOk(cliEnv, ...args)).stdout;
}

function s3As(c: Creds): S3Client {
  const client = new S3Client({ endpoint: server.url, region: 'us-east-1', forcePathStyle: true, credentials: c, maxAttempts: 1 });
  clients.push(client);
  return client;
}

function kmsAs(c: Creds): KMSClient {
  const client = new KMSClient({ endpoint: server.url, region: 'us-east-1', credentials: c, maxAttempts: 1 });
  clients.push(client);
  return client;
}

const root: Creds = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

/** Resolves to the error a call rejects with (and fails the test if it succeeds). */
async function rejection(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected the request to be refused');
}

const encryptAs = (c: Creds, keyId = keyArn) => kmsAs(c).send(new EncryptCommand({ KeyId: keyId, Plaintext: PLAINTEXT, EncryptionContext: CONTEXT }));

async function writePolicy(name: string, doc: unknown): Promise<string> {
  const file = path.join(work, name);
  await fs.writeFile(file, JSON.stringify(doc, null, 2));
  return file;
}

function parseCreds(out: string): Creds {
  const id = /^\s*AWS_ACCESS_KEY_ID=(\S+)$/m.exec(out)?.[1];
  const secret = /^\s*AWS_SECRET_ACCESS_KEY=(\S+)$/m.exec(out)?.[1];
  assert.ok(id && secret, `credentials in the output:\n${out}`);
  return { accessKeyId: id, secretAccessKey: secret };
}

async function auditEvents(): Promise<TrailEvent[]> {
  let text = '';
  try {
    text = await auditFileText(path.join(dataDir, 'audit', 'kms.log'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TrailEvent);
}

const jsonLines = (out: string): TrailEvent[] => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TrailEvent);

before(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-user-audit-'));
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-user-audit-work-'));
  server = await startChildServer(dataDir);
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  // The admin's shell: the data dir and the root credentials the server was started with.
  cliEnv = cofferEnv(dataDir);
});

after(async () => {
  for (const c of clients) c.destroy();
  await server?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('coffer user create alice prints her ARN and an access key with its secret, once', async () => {
  const out = await ok('user', 'create', 'alice');
  const m = /^User alice created \((arn:aws:iam::(\d{12}):user\/alice)\)\./m.exec(out);
  assert.ok(m, out);
  aliceArn = m[1]!;
  accountId = m[2]!;
  key1 = parseCreds(out);
  assert.match(key1.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
  assert.ok(key1.secretAccessKey.length >= 40, 'a 40-character secret like AWS');
});

test('admin commands need only the data dir, not the root secret the server was started with', async () => {
  // The account id is in root-credentials.json and the root key in root.key; the root
  // secret (kept out of the data dir when given by env) is needed by neither.
  const env = { ...cliEnv };
  delete env.COFFER_ROOT_ACCESS_KEY_ID;
  delete env.COFFER_ROOT_SECRET_ACCESS_KEY;
  const r = await runCoffer(env, 'user', 'list');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.split('\n').some((l) => l.startsWith('alice ')), r.stdout);
});

test('coffer user create alice again exits 2 with "coffer: error: user alice already exists"', async () => {
  const r = await coffer('user', 'create', 'alice');
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '', 'no new credentials are printed');
  assert.match(r.stderr, /^coffer: error: user alice already exists$/m);
});

test('coffer user create with an invalid name exits 2 with an error and a hint line', async () => {
  const r = await coffer('user', 'create', 'bad name!');
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, /^coffer: error: invalid user name: "bad name!"$/);
  assert.match(lines[1] ?? '', /^coffer: hint: \S/);
  const list = await ok('user', 'list');
  assert.doesNotMatch(list, /bad name/);
});

test('coffer user and coffer hadoop on a directory that is not a data directory exit 2 with an error and a hint', async () => {
  for (const args of [['user', 'list'], ['hadoop', 'config', '--bucket', 'b']]) {
    const r = await coffer(...args, '--data-dir', work);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `coffer: error: ${work} is not a Coffer data directory\ncoffer: hint: start the server once with \`coffer server --data-dir DIR\`, or pass --data-dir / COFFER_DATA_DIR\n`);
  }
});

test('with no identity policy, alice\'s S3 ListBuckets is AccessDenied with AWS\'s message', async () => {
  const e = await rejection(s3As(key1).send(new ListBucketsCommand({})));
  assert.equal(e.name, 'AccessDenied');
  assert.equal(e.$metadata?.httpStatusCode, 403);
  assert.equal(e.message, `User: ${aliceArn} is not authorized to perform: s3:ListAllMyBuckets on resource: * because no identity-based policy allows the s3:ListAllMyBuckets action`);
});

test('coffer user policy put alice s3read (s3:*) allows ListBuckets at once, without a restart', async () => {
  const file = await writePolicy('s3read.json', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
  const out = await ok('user', 'policy', 'put', 'alice', 's3read', file);
  assert.match(out, /Policy s3read attached to alice/);
  const r = await s3As(key1).send(new ListBucketsCommand({}));
  assert.ok(Array.isArray(r.Buckets ?? []));
  assert.equal(r.$metadata.httpStatusCode, 200);
});

test('a malformed policy file is refused with exit 2 and nothing is attached', async () => {
  const file = path.join(work, 'broken.json');
  await fs.writeFile(file, '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}');
  const r = await coffer('user', 'policy', 'put', 'alice', 'broken', file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^coffer: error: malformed policy document/m);
  assert.deepEqual((await ok('user', 'policy', 'list', 'alice')).trim().split('\n'), ['s3read']);
});

test('a key made by root (default key policy) delegates to IAM: alice\'s kms:Encrypt is AccessDeniedException until an identity policy allows it', async () => {
  const created = await kmsAs(root).send(new CreateKeyCommand({ Description: 'user-audit key' }));
  keyArn = created.KeyMetadata!.Arn!;
  otherKeyArn = (await kmsAs(root).send(new CreateKeyCommand({ Description: 'not for alice' }))).KeyMetadata!.Arn!;
  assert.ok(keyArn.startsWith(`arn:aws:kms:us-east-1:${accountId}:key/`), keyArn);

  const e = await rejection(encryptAs(key1));
  assert.equal(e.name, 'AccessDeniedException');
  assert.equal(e.$metadata?.httpStatusCode, 400);
  assert.equal(e.message, `User: ${aliceArn} is not authorized to perform: kms:Encrypt on resource: ${keyArn} because no identity-based policy allows the kms:Encrypt action`);
});

test('coffer user policy put alice kmsuse (Encrypt/Decrypt on the key ARN) allows exactly that, at once', async () => {
  const file = await writePolicy('kms.json', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: keyArn }] });
  await ok('user', 'policy', 'put', 'alice', 'kmsuse', file);

  const enc = await encryptAs(key1);
  assert.equal(enc.KeyId, keyArn);
  const dec = await kmsAs(key1).send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: CONTEXT }));
  assert.ok(Buffer.from(dec.Plaintext!).equals(PLAINTEXT));

  const gdk = await rejection(kmsAs(key1).send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256' })));
  assert.equal(gdk.name, 'AccessDeniedException', 'kms:GenerateDataKey is not in the policy');
  const other = await rejection(encryptAs(key1, otherKeyArn));
  assert.equal(other.name, 'AccessDeniedException', 'the policy names one key');
  assert.match(other.message, new RegExp(`on resource: ${otherKeyArn} because no identity-based policy allows the kms:Encrypt action$`));
});

test('coffer user list shows alice with her ARN, access key and policies', async () => {
  const out = await ok('user', 'list');
  const row = out.split('\n').find((l) => l.startsWith('alice '));
  assert.ok(row, out);
  assert.ok(row.includes(aliceArn), row);
  assert.ok(row.includes(key1.accessKeyId), row);
  assert.match(row, /kmsuse/);
  assert.match(row, /s3read/);
  assert.ok(!out.includes(key1.secretAccessKey), 'the list never shows a secret');
});

test('coffer user remove-key: that key is refused on the next request (InvalidAccessKeyId / UnrecognizedClientException); another key of alice still works', async () => {
  key2 = parseCreds(await ok('user', 'add-key', 'alice'));
  assert.notEqual(key2.accessKeyId, key1.accessKeyId);
  await s3As(key2).send(new ListBucketsCommand({}));
  // Warm the server's view of key1 right before removing it.
  await s3As(key1).send(new ListBucketsCommand({}));

  const out = await ok('user', 'remove-key', 'alice', key1.accessKeyId);
  assert.match(out, new RegExp(`Access key ${key1.accessKeyId} deleted`));

  const s3e = await rejection(s3As(key1).send(new ListBucketsCommand({})));
  assert.equal(s3e.name, 'InvalidAccessKeyId');
  assert.equal(s3e.$metadata?.httpStatusCode, 403);
  assert.equal(s3e.message, 'The AWS Access Key Id you provided does not exist in our records.');
  const kmse = await rejection(encryptAs(key1));
  assert.equal(kmse.name, 'UnrecognizedClientException');
  assert.equal(kmse.message, 'The security token included in the request is invalid.');

  await s3As(key2).send(new ListBucketsCommand({}));
  const enc = await encryptAs(key2);
  assert.equal(enc.KeyId, keyArn);
});

test('coffer user remove-key of a key alice does not have exits 2', async () => {
  const r = await coffer('user', 'remove-key', 'alice', key1.accessKeyId);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^coffer: error: user alice has no access key ${key1.accessKeyId}$`, 'm'));
});

test('coffer user delete alice without --force exits 2 with a hint; with --force every key of hers is refused on the next request', async () => {
  const plain = await coffer('user', 'delete', 'alice');
  assert.equal(plain.code, 2);
  assert.match(plain.stderr, /^coffer: error: user alice still has access keys, policies or groups$/m);
  assert.match(plain.stderr, /^coffer: hint: .*--force/m);

  const out = await ok('user', 'delete', 'alice', '--force');
  assert.match(out, /User alice deleted/);

  const s3e = await rejection(s3As(key2).send(new ListBucketsCommand({})));
  assert.equal(s3e.name, 'InvalidAccessKeyId');
  const kmse = await rejection(encryptAs(key2));
  assert.equal(kmse.name, 'UnrecognizedClientException');

  const list = await ok('user', 'list');
  assert.ok(!list.split('\n').some((l) => l.startsWith('alice ')), list);
});

test('coffer audit tail -n 5 --json prints the newest 5 events as CloudTrail JSON lines', async () => {
  // The server appends asynchronously; wait for the last Encrypt by key2 to be on disk.
  assert.ok(await waitFor(async () => (await auditEvents()).filter((e) => e.eventName === 'Encrypt' && !e.errorCode).length >= 2), 'audit events reach the log');
  const all = await auditEvents();
  const tail = jsonLines(await ok('audit', 'tail', '-n', '5', '--json'));
  assert.equal(tail.length, 5);
  assert.deepEqual(tail.map((e) => e.eventID), all.slice(-5).map((e) => e.eventID));
  for (const e of tail) {
    // The KMS calls, and the IAM changes of `coffer user` (recorded by the server they went through).
    assert.ok(['kms.amazonaws.com', 'iam.amazonaws.com'].includes(e.eventSource), e.eventSource);
    assert.match(e.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
});

test('coffer audit query --principal alice --event Encrypt --json: who, which key, what context, and the refusals', async () => {
  const events = jsonLines(await ok('audit', 'query', '--principal', 'alice', '--event', 'Encrypt', '--json'));
  // Denied (no policy), allowed (key1), denied (other key), allowed (key2).
  assert.deepEqual(events.map((e) => [e.errorCode ?? 'ok', e.resources[0]?.ARN]), [
    ['AccessDeniedException', keyArn],
    ['ok', keyArn],
    ['AccessDeniedException', otherKeyArn],
    ['ok', keyArn],
  ]);
  for (const e of events) {
    assert.equal(e.eventName, 'Encrypt');
    assert.equal(e.eventSource, 'kms.amazonaws.com');
    assert.equal(e.userIdentity.arn, aliceArn);
    assert.equal(e.userIdentity.type, 'IAMUser');
    assert.equal(e.userIdentity.userName, 'alice');
    assert.equal(e.userIdentity.accountId, accountId);
    assert.deepEqual(e.requestParameters?.encryptionContext, CONTEXT);
    assert.equal(e.resources[0]!.type, 'AWS::KMS::Key');
    assert.equal(e.resources[0]!.accountId, accountId);
    assert.equal(JSON.stringify(e).includes(PLAINTEXT.toString('base64')), false, 'no plaintext in the event');
  }
  const denied = events[0]!;
  assert.equal(denied.errorMessage, `User: ${aliceArn} is not authorized to perform: kms:Encrypt on resource: ${keyArn} because no identity-based policy allows the kms:Encrypt action`);

  const byArn = jsonLines(await ok('audit', 'query', '--principal', aliceArn, '--event', 'Encrypt', '--json'));
  assert.deepEqual(byArn.map((e) => e.eventID), events.map((e) => e.eventID), 'the principal can be named by ARN too');
  const decrypts = jsonLines(await ok('audit', 'query', '--principal', 'alice', '--event', 'Decrypt', '--json'));
  assert.equal(decrypts.length, 1);
  assert.equal(decrypts[0]!.resources[0]!.ARN, keyArn);
});

test('coffer audit query --since 1h shows the recent events as a table; --key filters by key', async () => {
  const out = await ok('audit', 'query', '--since', '1h');
  const lines = out.trimEnd().split('\n');
  assert.match(lines[0]!, /^TIME\s+EVENT\s+PRINCIPAL\s+KEY\s+VIA\s+RESULT$/);
  const all = await auditEvents();
  assert.equal(lines.length - 1, all.length, 'every event of this test is less than an hour old');
  assert.ok(lines.some((l) => l.includes('Encrypt') && l.includes(aliceArn) && /AccessDeniedException$/.test(l)), out);
  const future = await ok('audit', 'query', '--since', new Date(Date.now() + 3600_000).toISOString(), '--json');
  assert.equal(future, '', 'nothing is newer than an hour from now');
  const other = jsonLines(await ok('audit', 'query', '--key', otherKeyArn.replace(/^.*:key\//, ''), '--json'));
  assert.ok(other.length >= 2 && other.every((e) => e.resources.some((r) => r.ARN === otherKeyArn)), JSON.stringify(other.map((e) => e.eventName)));
});

test('coffer audit query --since nonsense exits 2 with an error and a hint', async () => {
  const r = await coffer('audit', 'query', '--since', 'nonsense');
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^coffer: error: invalid --since: nonsense$/m);
  assert.match(r.stderr, /^coffer: hint: .*15m/m);
});

test('root-credentials.json, root.key, iam.sqlite and kms.sqlite are readable by the owner only (0600)', async () => {
  const wrong: string[] = [];
  for (const f of ['root-credentials.json', 'root.key', 'iam.sqlite', 'kms.sqlite', path.join('audit', 'kms.log')]) {
    const mode = (await fs.stat(path.join(dataDir, f))).mode & 0o777;
    if (mode !== 0o600) wrong.push(`${f} is ${mode.toString(8).padStart(4, '0')}`);
  }
  assert.deepEqual(wrong, [], 'every secret-bearing file is 0600');
});

test('no file under the data dir holds a user\'s secret access key in the clear (also after the server stops)', async () => {
  const scan = async (): Promise<string[]> => {
    const hits: string[] = [];
    for (const rel of await filesUnder(dataDir)) {
      const file = path.join(dataDir, rel);
      // coffer.lock is a symbolic link whose target names the server holding the lock: read the link itself.
      const bytes = (await fs.lstat(file)).isSymbolicLink() ? Buffer.from(await fs.readlink(file)) : await fs.readFile(file);
      for (const c of [key1, key2]) if (bytes.includes(Buffer.from(c.secretAccessKey))) hits.push(`${rel} holds the secret of ${c.accessKeyId}`);
    }
    return hits;
  };
  assert.ok((await filesUnder(dataDir)).includes('iam.sqlite'));
  assert.deepEqual(await scan(), []);
  await server.stop(); // checkpoints the WAL into the database files
  assert.deepEqual(await scan(), []);
});
