// Hadoop S3A, the seed's own client, against the real server: interop/hadoop-s3a/ (a Maven
// project on hadoop-aws) runs the S3A FileSystem through one scenario per encryption setting
// — the seed's core-site.xml properties, the current names with a key ARN and an alias, the
// default key, a per-bucket key, an encryption context, DSSE-KMS, SSE-C, CSE-KMS, a
// versioning-enabled bucket with a default SSE-KMS key (files overwritten, the old versions
// read back by id), and a principal without kms:Decrypt — all in one JVM. Each scenario writes files of 0 bytes to
// 12 MiB (multipart), reads them back, renames, lists, deletes and checks the encryption
// XAttrs; this file then checks what was left behind with the AWS SDK and the audit log.
//
// Java 17 and Maven must be installed (.ci/run installs them): without them this test fails.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectVersionsCommand, PutBucketEncryptionCommand, PutBucketVersioningCommand, PutObjectCommand,
  type ObjectVersion, type S3Client,
} from '@aws-sdk/client-s3';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { kmsDeniedMessage } from '../helpers/sse-principals.js';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { ROOT_KEY_ID, ROOT_SECRET, patternBytes, sha256hex } from './support.js';
import { buildRunner, jvmEnv, requireJavaAndMaven, runScenarios as runHarness, writeScenarioFile, type Result, type Run, type ScenarioSpec } from './hadoop-s3a-harness.js';
import { ROOT_ENV, fillTemplate, hadoopConfig } from '../hadoop/s3a-conf.js';
import { CofferView } from '../../src/hadoop/coffer-view.js';
import { checkCoreSite, type BucketReport } from '../../src/hadoop/check.js';
import { auditFileText } from '../helpers/audit-file.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Where a scenario's core-site.xml comes from: `coffer hadoop config` (these arguments besides
 * --data-dir, --bucket and --endpoint; `env` for --access-key-id's secret), a template in
 * interop/hadoop-s3a/conf/ (endpoint, region, bucket and the access key filled in), or another
 * scenario's file.
 */
type Site =
  | { generate: string[]; env?: Record<string, string> }
  | { template: string; values?: Record<string, string>; credentials?: Credentials }
  | { sameAs: string };

/** One S3A run: its own bucket and core-site.xml, and what the S3A XAttrs must say. */
interface Scenario extends ScenarioSpec {
  site: Site;
}

let srv: TestServer;
let work: string;
let classpath: string;
let acct: string;
let mainRun: Run;
const scenarios: Scenario[] = [];
/** The core-site.xml each scenario ran with. */
const siteFiles = new Map<string, string>();
const keys: Record<string, string> = {};
const users: Record<string, { arn: string } & Credentials> = {};
const setupErrors = new Map<string, string>();
const ssecKey = randomBytes(32);

// ---- running tools (test/interop/hadoop-s3a-harness.ts) ---------------------------------------

const runScenarios = (files: string[]): Promise<Run> => runHarness(classpath, files, jvmEnv(work, srv.url));

// ---- scenario files -----------------------------------------------------------------------

/** Root credentials for `coffer hadoop config --access-key-id` (the secret comes from the environment). */
const AS_ROOT = ['--access-key-id', ROOT_KEY_ID];
const ROOT_SECRET_ENV = { AWS_SECRET_ACCESS_KEY: ROOT_SECRET };

async function writeSite(s: Scenario): Promise<string> {
  const out = path.join(work, `${s.name}.core-site.xml`);
  const site = s.site;
  if ('sameAs' in site) {
    const other = siteFiles.get(site.sameAs);
    assert.ok(other, `scenario ${s.name}: ${site.sameAs} must be written first`);
    return other;
  }
  if ('generate' in site) {
    const r = await hadoopConfig(srv.dataDir, ['--bucket', s.bucket, '--endpoint', srv.url, ...site.generate], out, site.env);
    if (r.stderr) process.stderr.write(`[coffer hadoop config for ${s.name}] ${r.stderr}`);
    return r.file;
  }
  const creds = site.credentials ?? { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
  return fillTemplate(site.template, {
    ENDPOINT: srv.url,
    REGION: 'us-east-1',
    BUCKET: s.bucket,
    ACCESS_KEY: creds.accessKeyId,
    SECRET_KEY: creds.secretAccessKey,
    ...site.values,
  }, out);
}

async function writeScenario(s: Scenario): Promise<string> {
  const site = await writeSite(s);
  siteFiles.set(s.name, site);
  return writeScenarioFile(work, s, site);
}

async function newKey(description: string): Promise<string> {
  const md = (await srv.kms.send(new CreateKeyCommand({ Description: description }))).KeyMetadata!;
  return md.Arn!;
}

function policy(...statements: object[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

function addScenario(s: Scenario): Scenario {
  scenarios.push(s);
  return s;
}

// ---- set-up: keys, users, buckets, one JVM for every scenario -------------------------------

before(async () => {
  await requireJavaAndMaven();
  srv = await startTestServer();
  acct = srv.coffer.root.accountId;
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-s3a-'));
  classpath = await buildRunner();

  keys.seed = await newKey('hadoop s3a: seed properties');
  keys.current = await newKey('hadoop s3a: current property names');
  keys.aliased = await newKey('hadoop s3a: reached through an alias');
  await srv.kms.send(new CreateAliasCommand({ AliasName: 'alias/hadoop-s3a', TargetKeyId: keys.aliased }));
  keys.global = await newKey('hadoop s3a: global key overridden per bucket');
  keys.perBucket = await newKey('hadoop s3a: per-bucket key');
  keys.later = await newKey('hadoop s3a: the later of two key property names');
  keys.context = await newKey('hadoop s3a: encryption context');
  keys.dsse = await newKey('hadoop s3a: DSSE-KMS');
  keys.cse = await newKey('hadoop s3a: CSE-KMS');
  keys.denied = await newKey('hadoop s3a: user without kms:Decrypt');
  keys.versioned = await newKey('hadoop s3a: default key of a versioned bucket');

  const admin = { dataDir: srv.dataDir, accountId: acct, rootKey: srv.coffer.rootKey, iam: srv.coffer.iam, close: async () => {}, changes: inProcessChanges(srv.coffer) };
  // May use the key for writing (GenerateDataKey) but not for reading (no kms:Decrypt).
  users.noDecrypt = await createUserWithKey(admin, 'hadoop-no-decrypt');
  await srv.coffer.iam.putUserPolicy('hadoop-no-decrypt', 's3-and-generate-only', policy(
    { Effect: 'Allow', Action: 's3:*', Resource: '*' },
    { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:DescribeKey'], Resource: keys.denied },
  ));
  // May use its key only with the encryption context S3A is configured to send.
  users.context = await createUserWithKey(admin, 'hadoop-context');
  await srv.coffer.iam.putUserPolicy('hadoop-context', 's3-and-key-with-context', policy(
    { Effect: 'Allow', Action: 's3:*', Resource: '*' },
    { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: keys.context, Condition: { StringEquals: { 'kms:EncryptionContext:project': 'hadoop' } } },
  ));

  // May read and write S3 but has no KMS permission at all: the versioned bucket's objects are out of its reach.
  users.versionedNoDecrypt = await createUserWithKey(admin, 'hadoop-versioned-no-decrypt');
  await srv.coffer.iam.putUserPolicy('hadoop-versioned-no-decrypt', 's3-only', policy({ Effect: 'Allow', Action: 's3:*', Resource: '*' }));

  const keyArnPrefix = `arn:aws:kms:us-east-1:${acct}:key/`;
  addScenario({ name: 'plain', bucket: uniqueBucket('s3a-plain'), site: { generate: [...AS_ROOT, '--algorithm', 'none'], env: ROOT_SECRET_ENV }, sse: 'AES256', kmsKeyId: 'absent' });
  addScenario({
    name: 'seed-properties',
    bucket: uniqueBucket('s3a-seed'),
    // The seed's property names, written by `coffer hadoop config --legacy-names`.
    site: { generate: [...AS_ROOT, '--legacy-names', '--key', keys.seed!], env: ROOT_SECRET_ENV },
    sse: 'aws:kms',
    kmsKeyId: keys.seed,
  });
  addScenario({
    name: 'current-names-arn',
    bucket: uniqueBucket('s3a-arn'),
    site: { generate: [...AS_ROOT, '--key', keys.current!], env: ROOT_SECRET_ENV },
    sse: 'aws:kms',
    kmsKeyId: keys.current,
  });
  addScenario({
    name: 'current-names-alias',
    bucket: uniqueBucket('s3a-alias'),
    site: { generate: [...AS_ROOT, '--key', 'alias/hadoop-s3a'], env: ROOT_SECRET_ENV },
    sse: 'aws:kms',
    kmsKeyId: keys.aliased,
  });
  addScenario({
    name: 'default-key',
    bucket: uniqueBucket('s3a-default'),
    site: { generate: [...AS_ROOT], env: ROOT_SECRET_ENV },
    sse: 'aws:kms',
    kmsKeyId: `prefix:${keyArnPrefix}`,
  });
  const perBucket = uniqueBucket('s3a-perbucket');
  addScenario({
    name: 'per-bucket-key',
    bucket: perBucket,
    site: { template: 'per-bucket-key.xml', values: { KEY: keys.global!, OTHER_KEY: keys.perBucket! } },
    sse: 'aws:kms',
    kmsKeyId: keys.perBucket,
  });
  addScenario({
    name: 'legacy-and-current-names',
    bucket: uniqueBucket('s3a-bothnames'),
    // fs.s3a.encryption.key, then fs.s3a.server-side-encryption.key: the later definition wins.
    site: { template: 'legacy-and-current-names.xml', values: { KEY: keys.global!, OTHER_KEY: keys.later! } },
    sse: 'aws:kms',
    kmsKeyId: keys.later!,
  });
  addScenario({
    name: 'encryption-context',
    bucket: uniqueBucket('s3a-context'),
    site: { template: 'encryption-context.xml', values: { KEY: keys.context! }, credentials: users.context },
    sse: 'aws:kms',
    kmsKeyId: keys.context,
  });
  addScenario({
    name: 'dsse-kms',
    bucket: uniqueBucket('s3a-dsse'),
    site: { generate: [...AS_ROOT, '--algorithm', 'DSSE-KMS', '--key', keys.dsse!], env: ROOT_SECRET_ENV },
    sse: 'aws:kms:dsse',
    kmsKeyId: keys.dsse,
  });
  addScenario({
    name: 'sse-s3',
    bucket: uniqueBucket('s3a-sses3'),
    site: { template: 'sse-s3.xml' },
    sse: 'AES256',
    kmsKeyId: 'absent',
  });
  addScenario({
    name: 'sse-c',
    bucket: uniqueBucket('s3a-ssec'),
    site: { template: 'sse-c.xml', values: { SSEC_KEY: ssecKey.toString('base64') } },
    // SSE-C objects answer with the customer-algorithm headers, not x-amz-server-side-encryption.
    sse: 'absent',
    kmsKeyId: 'absent',
  });
  addScenario({
    name: 'cse-kms',
    bucket: uniqueBucket('s3a-cse'),
    // The S3 Encryption Client calls KMS itself; AWS_ENDPOINT_URL_KMS (jvmEnv) points it at Coffer.
    site: { template: 'cse-kms.xml', values: { KEY: keys.cse! } },
    // Client-side encrypted bytes are stored under the bucket default: SSE-S3, as on AWS.
    sse: 'AES256',
    kmsKeyId: 'absent',
  });
  const versioned = addScenario({
    name: 'versioned-kms-default',
    bucket: uniqueBucket('s3a-versioned'),
    // No encryption properties: the bucket's default (SSE-KMS under keys.versioned) applies, on a versioning-enabled bucket.
    site: { generate: [...AS_ROOT, '--algorithm', 'none'], env: ROOT_SECRET_ENV },
    sizes: [1000, 100_000, 6 * 1024 * 1024],
    overwrite: true,
    sse: 'aws:kms',
    kmsKeyId: keys.versioned,
  });
  const deniedBucket = uniqueBucket('s3a-denied');
  const denied = [
    // S3A 3.5's default input stream (the analytics accelerator) hands the 403 up wrapped in a
    // plain IOException; the classic stream translates it to java.nio.file.AccessDeniedException.
    addScenario({
      name: 'no-kms-decrypt',
      bucket: deniedBucket,
      // `coffer hadoop config --user` makes the user a new access key for the file.
      site: { generate: ['--user', 'hadoop-no-decrypt', '--key', keys.denied!] },
      mode: 'denied',
      sse: 'aws:kms',
      kmsKeyId: keys.denied,
      deniedExisting: ['written-by-root-small.bin', 'written-by-root-large.bin'],
      deniedExpect: 'http-403',
    }),
    addScenario({
      name: 'no-kms-decrypt-classic-stream',
      bucket: deniedBucket,
      site: { sameAs: 'no-kms-decrypt' },
      layers: ['classic-stream.xml'],
      mode: 'denied',
      sse: 'aws:kms',
      kmsKeyId: keys.denied,
      deniedExisting: ['written-by-root-small.bin', 'written-by-root-large.bin'],
      deniedExpect: 'translated',
    }),
  ];

  for (const bucket of new Set(scenarios.map((s) => s.bucket))) await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await srv.s3.send(new PutBucketVersioningCommand({ Bucket: versioned.bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  await srv.s3.send(new PutBucketEncryptionCommand({
    Bucket: versioned.bucket,
    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keys.versioned } }] },
  }));
  // The files the user without kms:Decrypt must be able to list but not read, written by the root.
  for (const s of denied) {
    try {
      for (const [file, size] of [['written-by-root-small.bin', 1000], ['written-by-root-large.bin', 300_000]] as const) {
        await srv.s3.send(new PutObjectCommand({ Bucket: s.bucket, Key: `${s.name}/${file}`, Body: patternBytes(size, size), ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keys.denied }));
      }
    } catch (e) {
      setupErrors.set(s.name, `PutObject with SSE-KMS as the root failed: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }

  const files: string[] = [];
  for (const s of scenarios) files.push(await writeScenario(s));
  mainRun = await runScenarios(files);
  process.stderr.write(mainRun.stderr.split('\n').filter((l) => l.startsWith('[s3a]') && / in \d+ ms$/.test(l)).join('\n') + '\n');
});

after(async () => {
  await srv?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

// ---- helpers for the checks after the run ---------------------------------------------------

function scenarioResult(name: string): Result {
  const pre = setupErrors.get(name);
  const r = mainRun.results.get(name);
  assert.ok(r, `scenario ${name} printed no result (runner exit ${mainRun.code}); stderr:\n${mainRun.stderr.slice(-4000)}`);
  assert.ok(r.ok, `scenario ${name} failed: ${r.error}${pre ? `\n(set-up: ${pre})` : ''}\nrunner stderr for it:\n${stderrOf(name)}`);
  return r;
}

/** The runner's stderr lines from this scenario's start to its end line. */
function stderrOf(name: string): string {
  const lines = mainRun.stderr.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`[s3a] ${name}: `));
  if (start < 0) return '(none)';
  const end = lines.findIndex((l, i) => i >= start && l.startsWith(`[s3a] ${name}: `) && / in \d+ ms$/.test(l));
  return lines.slice(start, end < 0 ? undefined : end + 1).slice(-60).join('\n');
}

function keptObjects(r: Result): { bucket: string; key: string; sha256: string }[] {
  return Object.entries(r.kept).map(([uri, sha256]) => {
    const u = new URL(uri);
    return { bucket: u.host, key: decodeURIComponent(u.pathname.slice(1)), sha256 };
  });
}

async function bodyOf(s3: S3Client, input: ConstructorParameters<typeof GetObjectCommand>[0]): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand(input));
  return Buffer.from(await out.Body!.transformToByteArray());
}

interface AuditEvent {
  eventName: string;
  userIdentity: { userName?: string; arn?: string; type?: string; invokedBy?: string };
  requestParameters: Record<string, unknown> | null;
  resources?: { ARN: string }[];
  errorCode?: string;
  additionalEventData?: Record<string, unknown>;
}

async function auditEvents(): Promise<AuditEvent[]> {
  const text = await auditFileText(path.join(srv.dataDir, 'audit', 'kms.log'));
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
}

const onKey = (e: AuditEvent, arn: string): boolean => (e.resources ?? []).some((r) => r.ARN === arn);

/** Every kept object, read back with the SDK as the root: SSE headers as S3A saw them, bytes as written. */
async function checkKeptWithSdk(r: Result, sse: string | undefined, kmsKeyId: string | undefined): Promise<void> {
  const kept = keptObjects(r);
  assert.equal(kept.length, 3, `three files kept by ${r.scenario}: ${JSON.stringify(r.kept)}`);
  for (const k of kept) {
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: k.bucket, Key: k.key }));
    assert.equal(head.ServerSideEncryption, sse, `HeadObject ${k.key}: x-amz-server-side-encryption`);
    assert.equal(head.SSEKMSKeyId, kmsKeyId, `HeadObject ${k.key}: x-amz-server-side-encryption-aws-kms-key-id`);
    assert.equal(sha256hex(await bodyOf(srv.s3, { Bucket: k.bucket, Key: k.key })), k.sha256, `GetObject ${k.key} returns the bytes S3A wrote`);
  }
}

// ---- the tests ------------------------------------------------------------------------------

test('the runner exits 0 exactly when every scenario passed, with one result line per scenario', () => {
  assert.deepEqual([...mainRun.results.keys()].sort(), scenarios.map((s) => s.name).sort(), `stderr:\n${mainRun.stderr.slice(-3000)}`);
  const failed = [...mainRun.results.values()].filter((r) => !r.ok).map((r) => r.scenario);
  assert.equal(mainRun.code, failed.length === 0 ? 0 : 1, `exit ${mainRun.code} with failed scenarios ${JSON.stringify(failed)}`);
});

test('control: the runner reports a wrong key expectation as a failure and exits 1', async () => {
  // Same checks as the scenarios, with an expectation no object can meet: proves the XAttr check bites.
  const bucket = uniqueBucket('s3a-control');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const wrong = `arn:aws:kms:us-east-1:${acct}:key/00000000-0000-4000-8000-000000000000`;
  const file = await writeScenario({ name: 'control-wrong-key', bucket, site: { generate: [...AS_ROOT, '--algorithm', 'none'], env: ROOT_SECRET_ENV }, sizes: [1000], sse: 'any', kmsKeyId: wrong });
  const r = await runScenarios([file]);
  assert.equal(r.code, 1, r.stderr);
  const res = r.results.get('control-wrong-key');
  assert.equal(res?.ok, false);
  assert.match(res!.error!, /getXAttr\(s3a:\/\/.*f-1000\.bin, header\.x-amz-server-side-encryption-aws-kms-key-id\) = absent, expected "arn:aws:kms:us-east-1:\d{12}:key\/0{8}-/);
});

test('plain: no encryption properties — write, read, rename, list, delete; stored under SSE-S3 like AWS', async () => {
  const r = scenarioResult('plain');
  await checkKeptWithSdk(r, 'AES256', undefined);
});

test("seed's properties: fs.s3a.server-side-encryption-algorithm=SSE-KMS with fs.s3a.server-side-encryption.key=<key ARN>", async () => {
  const r = scenarioResult('seed-properties');
  assert.deepEqual(r.kmsKeyIds, [keys.seed]);
  await checkKeptWithSdk(r, 'aws:kms', keys.seed);
});

test('current names: fs.s3a.encryption.algorithm=SSE-KMS with fs.s3a.encryption.key=<key ARN>', async () => {
  const r = scenarioResult('current-names-arn');
  assert.deepEqual(r.kmsKeyIds, [keys.current]);
  await checkKeptWithSdk(r, 'aws:kms', keys.current);
});

test('current names with an alias: the objects name the key ARN the alias points to', async () => {
  const r = scenarioResult('current-names-alias');
  assert.deepEqual(r.kmsKeyIds, [keys.aliased]);
  await checkKeptWithSdk(r, 'aws:kms', keys.aliased);
});

test('SSE-KMS with no key: the AWS-managed aws/s3 key, named by its ARN', async () => {
  const r = scenarioResult('default-key');
  const md = (await srv.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!;
  assert.equal(md.KeyManager, 'AWS');
  assert.deepEqual(r.kmsKeyIds, [md.Arn]);
  await checkKeptWithSdk(r, 'aws:kms', md.Arn);
});

test('per-bucket override: fs.s3a.bucket.NAME.encryption.key wins over the global key', async () => {
  const r = scenarioResult('per-bucket-key');
  assert.deepEqual(r.kmsKeyIds, [keys.perBucket]);
  await checkKeptWithSdk(r, 'aws:kms', keys.perBucket);
});

test('fs.s3a.encryption.context reaches KMS: a user allowed the key only with project=hadoop can write and read', async () => {
  const r = scenarioResult('encryption-context');
  assert.deepEqual(r.kmsKeyIds, [keys.context]);
  await checkKeptWithSdk(r, 'aws:kms', keys.context);
  const events = (await auditEvents()).filter((e) => e.userIdentity.userName === 'hadoop-context' && onKey(e, keys.context));
  const generated = events.filter((e) => e.eventName === 'GenerateDataKey' && !e.errorCode);
  assert.ok(generated.length > 0, `GenerateDataKey by hadoop-context in the audit log: ${JSON.stringify(events.slice(0, 3))}`);
  for (const e of generated) {
    const ec = e.requestParameters?.encryptionContext as Record<string, string> | undefined;
    assert.equal(ec?.project, 'hadoop', JSON.stringify(e.requestParameters));
    assert.equal(ec?.component, 'fs/s3', JSON.stringify(e.requestParameters));
    assert.match(ec?.['aws:s3:arn'] ?? '', /^arn:aws:s3:::s3a-context-/, 'S3 adds aws:s3:arn, as AWS does');
  }
  assert.ok(events.some((e) => e.eventName === 'Decrypt' && !e.errorCode), 'reads decrypted through KMS as hadoop-context');
});

test('DSSE-KMS: fs.s3a.encryption.algorithm=DSSE-KMS gives aws:kms:dsse objects under the key', async () => {
  const r = scenarioResult('dsse-kms');
  assert.deepEqual(r.sse, ['aws:kms:dsse']);
  await checkKeptWithSdk(r, 'aws:kms:dsse', keys.dsse);
});

test('SSE-S3: fs.s3a.encryption.algorithm=AES256', async () => {
  const r = scenarioResult('sse-s3');
  assert.deepEqual(r.sse, ['AES256']);
  await checkKeptWithSdk(r, 'AES256', undefined);
});

test('SSE-C: S3A sends the customer key on every request; without it the objects cannot be read', async () => {
  const r = scenarioResult('sse-c');
  const kept = keptObjects(r);
  assert.equal(kept.length, 3);
  const keyMd5 = createHash('md5').update(ssecKey).digest('base64');
  const withKey = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: ssecKey.toString('base64'), SSECustomerKeyMD5: keyMd5 };
  for (const k of kept) {
    await assert.rejects(srv.s3.send(new HeadObjectCommand({ Bucket: k.bucket, Key: k.key })), (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 400, `HeadObject ${k.key} without the customer key is refused`);
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: k.bucket, Key: k.key, ...withKey }));
    assert.equal(head.SSECustomerAlgorithm, 'AES256');
    assert.equal(head.SSECustomerKeyMD5, keyMd5);
    assert.equal(sha256hex(await bodyOf(srv.s3, { Bucket: k.bucket, Key: k.key, ...withKey })), k.sha256);
  }
});

test("CSE-KMS: S3A encrypts on the client with a data key from Coffer's KMS; the server stores ciphertext", async () => {
  const r = scenarioResult('cse-kms');
  const kept = keptObjects(r);
  assert.equal(kept.length, 3);
  for (const k of kept) {
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: k.bucket, Key: k.key }));
    // The S3 Encryption Client's envelope in user metadata: the KMS-wrapped data key under
    // x-amz-3 (its v3 format; x-amz-key-v2 in v2), the wrapping algorithm under x-amz-w / x-amz-wrap-alg.
    const md = head.Metadata ?? {};
    assert.ok(md['x-amz-3'] ?? md['x-amz-key-v2'], `${k.key} carries the wrapped data key: ${JSON.stringify(md)}`);
    assert.ok(md['x-amz-w'] ?? md['x-amz-wrap-alg'], `${k.key} names the key wrapping algorithm: ${JSON.stringify(md)}`);
    const stored = await bodyOf(srv.s3, { Bucket: k.bucket, Key: k.key });
    assert.notEqual(sha256hex(stored), k.sha256, `${k.key} is not stored in the clear`);
    assert.equal(stored.length, Number(/f-(\d+)\.bin$/.exec(k.key)![1]) + 16, `${k.key}: AES-GCM ciphertext is the plaintext plus a 16-byte tag`);
  }
  // The encryption client called KMS itself (GenerateDataKey to write, Decrypt to read) as the root.
  const events = (await auditEvents()).filter((e) => onKey(e, keys.cse) && !e.errorCode);
  assert.ok(events.some((e) => e.eventName === 'GenerateDataKey'), 'GenerateDataKey on the CSE key');
  assert.ok(events.some((e) => e.eventName === 'Decrypt'), 'Decrypt on the CSE key');
});

for (const [name, how] of [
  ['no-kms-decrypt', "S3A's default (analytics) input stream: the SDK's 403 AccessDenied"],
  ['no-kms-decrypt-classic-stream', "the classic input stream: S3A's java.nio.file.AccessDeniedException"],
] as const) {
  test(`a principal without kms:Decrypt lists and stats SSE-KMS files but reading or renaming them is access-denied (${how})`, async () => {
    const r = scenarioResult(name);
    assert.deepEqual(r.kmsKeyIds, [keys.denied]);
    // Two files written by the root, one by the user itself (PutObject needs only kms:GenerateDataKey),
    // and the rename of that one (a copy decrypts its source).
    assert.equal(r.notes.length, 4, `three reads and a rename denied: ${JSON.stringify(r.notes)}`);
    assert.ok(r.notes.some((n) => n.startsWith('rename ')), `the rename is among the denials: ${JSON.stringify(r.notes)}`);
    const message = `User: ${users.noDecrypt!.arn} is not authorized to perform: kms:Decrypt on resource: ${keys.denied}`;
    for (const note of r.notes) {
      if (name.endsWith('classic-stream')) assert.match(note, / denied: java\.nio\.file\.AccessDeniedException: /);
      assert.ok(note.includes(`403 AccessDenied: ${message}`), `AWS's 403 AccessDenied naming the principal, kms:Decrypt and the key: ${note}`);
    }
  });
}

test('versioned bucket with a default SSE-KMS key: S3A writes, overwrites, renames and deletes; every old version stays readable by id under the key', async () => {
  const r = scenarioResult('versioned-kms-default');
  assert.deepEqual(r.kmsKeyIds, [keys.versioned]);
  await checkKeptWithSdk(r, 'aws:kms', keys.versioned);
  const s = scenarios.find((x) => x.name === 'versioned-kms-default')!;
  const versions: ObjectVersion[] = [];
  const markers = new Map<string, number>();
  let page: { KeyMarker?: string; VersionIdMarker?: string } = {};
  for (;;) {
    const out = await srv.s3.send(new ListObjectVersionsCommand({ Bucket: s.bucket, Prefix: `${s.name}/`, ...page }));
    versions.push(...(out.Versions ?? []));
    for (const m of out.DeleteMarkers ?? []) markers.set(m.Key!, (markers.get(m.Key!) ?? 0) + 1);
    if (!out.IsTruncated) break;
    page = { KeyMarker: out.NextKeyMarker, VersionIdMarker: out.NextVersionIdMarker };
  }
  // Each file under src/ was written twice and then renamed away: both writes are still there, by id, under the bucket's key.
  const srcFiles = Object.entries(r.written);
  assert.equal(srcFiles.length, 3, JSON.stringify(r.written));
  const allWritten = new Set(srcFiles.flatMap(([, shas]) => shas));
  for (const [uri, shas] of srcFiles) {
    assert.equal(shas.length, 2, `${uri} was written twice`);
    const key = decodeURIComponent(new URL(uri).pathname.slice(1));
    assert.ok((markers.get(key) ?? 0) >= 1, `${key}: renamed away, so a delete marker is current`);
    const found: string[] = [];
    for (const v of versions.filter((x) => x.Key === key)) {
      const head = await srv.s3.send(new HeadObjectCommand({ Bucket: s.bucket, Key: key, VersionId: v.VersionId }));
      assert.equal(head.ServerSideEncryption, 'aws:kms', `${key}@${v.VersionId}`);
      assert.equal(head.SSEKMSKeyId, keys.versioned, `${key}@${v.VersionId}`);
      found.push(sha256hex(await bodyOf(srv.s3, { Bucket: s.bucket, Key: key, VersionId: v.VersionId })));
    }
    assert.deepEqual(found.sort(), [...shas].sort(), `${key}: the versions hold exactly S3A's two writes`);
  }
  // Every other version (the copies S3A's renames made; its empty directory markers) holds bytes S3A wrote, under the same key.
  const srcKeys = new Set(srcFiles.map(([uri]) => decodeURIComponent(new URL(uri).pathname.slice(1))));
  for (const v of versions.filter((x) => !srcKeys.has(x.Key!))) {
    const head = await srv.s3.send(new HeadObjectCommand({ Bucket: s.bucket, Key: v.Key, VersionId: v.VersionId }));
    assert.equal(head.SSEKMSKeyId, keys.versioned, `${v.Key}@${v.VersionId}`);
    const body = await bodyOf(srv.s3, { Bucket: s.bucket, Key: v.Key, VersionId: v.VersionId });
    if (v.Key!.endsWith('/')) assert.equal(body.length, 0, `${v.Key}@${v.VersionId}: a directory marker is empty`);
    else assert.ok(allWritten.has(sha256hex(body)), `${v.Key}@${v.VersionId} holds bytes S3A wrote`);
  }
});

test('versioned bucket: a principal without kms:Decrypt on the key is refused a GET by versionId exactly as a GET of the current version', async () => {
  const r = scenarioResult('versioned-kms-default');
  const s = scenarios.find((x) => x.name === 'versioned-kms-default')!;
  const user = users.versionedNoDecrypt!;
  const s3 = srv.client({ credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey }, maxAttempts: 1 });
  try {
    const refusal = async (input: ConstructorParameters<typeof GetObjectCommand>[0]) => {
      const e = await s3.send(new GetObjectCommand(input)).then(() => assert.fail(`GET ${input.Key}@${input.VersionId ?? 'current'} succeeded`), (err: Error & { $metadata?: { httpStatusCode?: number } }) => err);
      return { status: e.$metadata?.httpStatusCode, code: e.name, message: e.message };
    };
    const [current] = keptObjects(r);
    const currentRefusal = await refusal({ Bucket: current!.bucket, Key: current!.key });
    assert.equal(currentRefusal.status, 403);
    assert.equal(currentRefusal.code, 'AccessDenied');
    assert.match(currentRefusal.message, kmsDeniedMessage(user.arn, 'kms:Decrypt', keys.versioned!));
    const srcKey = decodeURIComponent(new URL(Object.keys(r.written)[0]!).pathname.slice(1));
    const old = (await srv.s3.send(new ListObjectVersionsCommand({ Bucket: s.bucket, Prefix: srcKey }))).Versions!.filter((v) => v.Key === srcKey);
    assert.equal(old.length, 2);
    for (const v of old) assert.deepEqual(await refusal({ Bucket: s.bucket, Key: srcKey, VersionId: v.VersionId }), currentRefusal, `${srcKey}@${v.VersionId}`);
  } finally {
    s3.destroy();
  }
});

test('the denied reads and the denied user\'s own write are in the audit log under that user', async () => {
  scenarioResult('no-kms-decrypt');
  const events = (await auditEvents()).filter((e) => e.userIdentity.userName === 'hadoop-no-decrypt' && onKey(e, keys.denied));
  assert.ok(events.some((e) => e.eventName === 'Decrypt' && e.errorCode), `a refused Decrypt by hadoop-no-decrypt: ${JSON.stringify(events.map((e) => [e.eventName, e.errorCode]))}`);
  assert.ok(events.some((e) => e.eventName === 'GenerateDataKey' && !e.errorCode), 'its own write used GenerateDataKey');
});

test('legacy and current names in one file (interop/hadoop-s3a/conf/legacy-and-current-names.xml): the later definition wins', async () => {
  // Hadoop stores fs.s3a.server-side-encryption.key under fs.s3a.encryption.key, so the two
  // names are one property; coffer hadoop check models the same (test below).
  const r = scenarioResult('legacy-and-current-names');
  assert.deepEqual(r.kmsKeyIds, [keys.later]);
  await checkKeptWithSdk(r, 'aws:kms', keys.later);
});

test('coffer hadoop check on every scenario\'s core-site.xml predicts what S3A did: the key its objects name, and refusals', async () => {
  const view = await CofferView.open({ dataDir: srv.dataDir, env: { ...process.env, ...ROOT_ENV } });
  try {
    for (const s of scenarios) {
      const r = scenarioResult(s.name);
      const xml = await fs.readFile(siteFiles.get(s.name)!, 'utf8');
      const report: BucketReport = (await checkCoreSite(view, `${s.name}.core-site.xml`, xml, [s.bucket])).buckets[0]!;
      const shown = JSON.stringify(report.findings, null, 1);
      if (s.mode === 'denied') {
        assert.equal(report.ok, false, `${s.name}: S3A's reads were refused, so check must report a problem: ${shown}`);
        const decrypt = report.findings.find((f) => f.check === 'kms:Decrypt');
        assert.equal(decrypt?.status, 'problem', shown);
        assert.ok(decrypt!.message.includes(`User: ${users.noDecrypt!.arn} is not authorized to perform: kms:Decrypt on resource: ${keys.denied}`), decrypt!.message);
        assert.equal(report.findings.find((f) => f.check === 'kms:GenerateDataKey')?.status, 'ok', `its writes worked: ${shown}`);
      } else {
        assert.ok(report.ok, `${s.name}: S3A succeeded, so check must find no problem: ${shown}`);
      }
      if (s.sse.startsWith('aws:kms')) {
        assert.equal(r.kmsKeyIds.length, 1, s.name);
        assert.equal(report.key?.arn, r.kmsKeyIds[0], `${s.name}: the key check names the key S3A's objects carry`);
      }
    }
  } finally {
    await view.close();
  }
});
