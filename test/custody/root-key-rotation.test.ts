// coffer custody rotate, end to end on a real data directory: 2,000 IAM access keys, KMS
// keys, SSE-S3 objects, an STS session, SSE-S3 and SSE-C uploads in progress. The command
// is SIGKILLed after it printed progress; the server then refuses to start mid-rotation;
// the same command finishes the work (re-sealing only what was left); the server starts
// with the new key and everything opens; the old key is refused.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { CLI_MAIN } from '../interop/support.js';
import { startTestServer } from '../helpers/server.js';
import { tempDirs } from './tmp-dirs.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

const run = promisify(execFile);
const dir = tempDirs('rotate');
const USERS = 2000;
const OBJECTS = 40;

describe('coffer custody rotate (root.key)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup) await c();
  });

  it('survives a SIGKILL mid-way, resumes, and leaves a directory that opens only with the new key', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    const customerKey = randomBytes(32);
    const sseC = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: customerKey.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(customerKey).digest('base64') };
    let s = await startTestServer({}, { dataDir });
    let blob: Uint8Array;
    let alice: { accessKeyId: string; secretAccessKey: string };
    let session: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
    let uploadC: string;
    let uploadS3: string;
    let oldVersion: string;
    const oldKey = await fs.readFile(path.join(dataDir, 'root.key'));
    try {
      const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      await s.kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }));
      await s.s3.send(new CreateBucketCommand({ Bucket: 'rot' }));
      for (let i = 0; i < OBJECTS; i++) await s.s3.send(new PutObjectCommand({ Bucket: 'rot', Key: `o${i}`, Body: `body ${i}`, ServerSideEncryption: 'AES256' }));
      // A versioned bucket: the noncurrent version's key must be re-sealed too.
      await s.s3.send(new CreateBucketCommand({ Bucket: 'rotv' }));
      await s.s3.send(new PutBucketVersioningCommand({ Bucket: 'rotv', VersioningConfiguration: { Status: 'Enabled' } }));
      oldVersion = (await s.s3.send(new PutObjectCommand({ Bucket: 'rotv', Key: 'doc', Body: 'first', ServerSideEncryption: 'AES256' }))).VersionId!;
      await s.s3.send(new PutObjectCommand({ Bucket: 'rotv', Key: 'doc', Body: 'second', ServerSideEncryption: 'AES256' }));
      uploadC = (await s.s3.send(new CreateMultipartUploadCommand({ Bucket: 'rot', Key: 'mp-c', ...sseC }))).UploadId!;
      uploadS3 = (await s.s3.send(new CreateMultipartUploadCommand({ Bucket: 'rot', Key: 'mp-s3', ServerSideEncryption: 'AES256' }))).UploadId!;
      const admin = { dataDir, accountId: s.coffer.root.accountId, rootKey: s.coffer.rootKey, iam: s.coffer.iam, close: async () => {}, changes: inProcessChanges(s.coffer) };
      for (let i = 0; i < USERS; i++) {
        const u = await createUserWithKey(admin, `user-${String(i).padStart(4, '0')}`);
        if (i === USERS - 1) alice = { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
      }
      const sts = new STSClient({ endpoint: s.url, region: 'us-east-1', credentials: alice! });
      const c = (await sts.send(new GetSessionTokenCommand({}))).Credentials!;
      session = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
      sts.destroy();
      // Offline only: beside the running server the command is refused, and says why.
      const busy = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir]).then(() => assert.fail('rotate ran beside a live server'), (e: { stderr: string }) => e.stderr);
      assert.match(busy, /coffer: error: .*\ncoffer: hint: stop the server first: rotate works offline/);
    } finally {
      await s.stop();
    }
    const oldId = (JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string }).rootKey;

    const badRate = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir, '--rate', '0']).then(() => assert.fail('--rate 0 accepted'), (e: { stderr: string }) => e.stderr);
    assert.match(badRate, /coffer: error: --rate must be a positive number of items per second, not "0"/);
    assert.equal((JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rotation?: unknown }).rotation, undefined);

    // The first run, killed once it has shown progress: paced (--rate) so that a fast machine
    // cannot finish it before its first progress line.
    const child = spawn(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir, '--rate', '400'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const killed = await new Promise<boolean>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /progress: (\d+)\/(\d+) items/.exec(stderr.split('\n').filter((l) => l.includes('progress:')).at(-1) ?? '');
        if (m && Number(m[1]) > 0 && Number(m[1]) < Number(m[2])) {
          child.kill('SIGKILL');
          resolve(true);
        }
      });
      child.on('exit', () => resolve(false));
    });
    assert.ok(killed, `the rotation ended before it could be killed:\n${stderr}`);
    await new Promise((r) => child.once('close', r));
    const mid = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; rotation?: { to: string; target: string } };
    assert.equal(mid.rootKey, oldId);
    assert.equal(mid.rotation?.target, 'file');
    assert.match(mid.rotation!.to, /^key:[0-9a-f]{16}$/);

    // The server refuses to start in the middle of a rotation.
    await assert.rejects(startTestServer({}, { dataDir }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, new RegExp(`^refusing to start: a root-key rotation from ${oldId} to ${mid.rotation!.to} began at .* and has not finished$`));
      assert.match(e.hint ?? '', /run the same `coffer custody rotate`/);
      return true;
    });

    // The same command again: finishes, re-sealing only what the first run had not.
    const done = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--data-dir', dataDir]);
    const total = 2 + USERS + 1 + OBJECTS + 2 + 2;
    assert.match(done.stdout, new RegExp(`^finished the rotation: root key ${oldId} -> ${mid.rotation!.to}\\n`));
    const resealed = Number(/ (\d+) items re-sealed now, of 2 KMS key material versions, 2000 access keys, 1 STS sessions, 42 SSE-S3 objects, 2 uploads/.exec(done.stdout)?.[1]);
    assert.ok(resealed > 0 && resealed < total, `re-sealed ${resealed} of ${total} on resume`);
    assert.match(done.stdout, /root\.key\.retired-[0-9a-f]{16} holds the old root key/);
    assert.match(done.stderr, /progress: \d+\/\d+ items/);
    const final = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; rotation?: unknown };
    assert.deepEqual([final.rootKey, final.rotation], [mid.rotation!.to, undefined]);
    assert.deepEqual(await fs.readFile(path.join(dataDir, `root.key.retired-${oldId.slice(4)}`)), oldKey);
    // The audit log: a start for each run (the killed one and the resume), one completion with the counts.
    const events = (await readAudit(path.join(dataDir, 'audit', 'kms.log'))).filter((e) => e.eventName.startsWith('CofferRootKeyRotation'));
    assert.deepEqual(events.map((e) => e.eventName).sort(), ['CofferRootKeyRotationCompleted', 'CofferRootKeyRotationStarted', 'CofferRootKeyRotationStarted']);
    assert.deepEqual(events.find((e) => e.eventName === 'CofferRootKeyRotationCompleted')!.additionalEventData, { from: oldId, to: mid.rotation!.to, target: 'file', kmsMaterial: 2, accessKeys: USERS, sessions: 1, objects: OBJECTS + 2, uploads: 2, resealed });

    // The new key opens everything.
    s = await startTestServer({}, { dataDir });
    try {
      assert.equal(s.coffer.rootKey.id, mid.rotation!.to);
      assert.equal(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
      for (let i = 0; i < OBJECTS; i++) assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'rot', Key: `o${i}` }))).Body!.transformToString(), `body ${i}`);
      assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'rotv', Key: 'doc', VersionId: oldVersion! }))).Body!.transformToString(), 'first');
      assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'rotv', Key: 'doc' }))).Body!.transformToString(), 'second');
      const sts = new STSClient({ endpoint: s.url, region: 'us-east-1', credentials: alice! });
      assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/user-1999$/);
      sts.destroy();
      const stsSession = new STSClient({ endpoint: s.url, region: 'us-east-1', credentials: session! });
      assert.match((await stsSession.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/user-1999$/);
      stsSession.destroy();
      for (const [key, uploadId, extra] of [['mp-c', uploadC!, sseC], ['mp-s3', uploadS3!, {}]] as const) {
        const part = await s.s3.send(new UploadPartCommand({ Bucket: 'rot', Key: key, UploadId: uploadId, PartNumber: 1, Body: `part of ${key}`, ...extra }));
        await s.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'rot', Key: key, UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
        assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'rot', Key: key, ...extra }))).Body!.transformToString(), `part of ${key}`);
      }
    } finally {
      await s.stop();
    }

    // The old key is refused.
    await assert.rejects(startTestServer({ COFFER_ROOT_KEY: oldKey.toString('base64') }, { dataDir }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, new RegExp(`sealed under root key ${mid.rotation!.to}.*but the configured root key \\(COFFER_ROOT_KEY\\) is ${oldId}`));
      return true;
    });
  });
});
