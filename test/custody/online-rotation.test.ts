// coffer custody rotate --online, end to end: a server (a child process) re-seals every
// item under a new root.key while a client loop keeps reading SSE-KMS and SSE-S3 objects,
// decrypting with the KMS and signing as an IAM user, and writing new SSE-S3 objects. The
// server is SIGKILLed mid-rotation; restarted with its usual settings it resumes by itself,
// and `--follow` sees it through. Afterwards custody.json names the new key, the audit log
// holds the start, the resume and the end, the new key alone opens everything (the objects
// written during the rotation included) and the old key alone is refused.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { createUserWithKey } from '../../src/cli/user-command.js';
import { readAudit } from '../../src/audit/audit-log.js';
import { SignedClient } from '../../src/cli/signed-client.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET, startChildServer, waitFor, type ChildServer } from '../interop/support.js';
import { startTestServer } from '../helpers/server.js';
import { tempDirs } from './tmp-dirs.js';
import { inProcessChanges } from '../helpers/in-process-admin.js';

const run = promisify(execFile);
const dir = tempDirs('online-rotate');
const USERS = 300;
const OBJECTS = 30;
/** Slow enough to be killed mid-way, and for the client loop to run beside it. */
const RATE = '150';
const rootCreds = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };
const cliEnv = (url: string) => ({ ...process.env, AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET, COFFER_ENDPOINT: url, AWS_REGION: 'us-east-1' });

interface Status { state: string; pass: number; done: number; total: number; from?: string; to?: string; resumed?: boolean }

/** Reads, decrypts and writes against `url` until stopped; every failure is kept. */
function clientLoop(url: string, fixture: { blob: Uint8Array; user: { accessKeyId: string; secretAccessKey: string } }, tag: string) {
  const s3 = new S3Client({ endpoint: url, region: 'us-east-1', forcePathStyle: true, credentials: rootCreds });
  const kms = new KMSClient({ endpoint: url, region: 'us-east-1', credentials: rootCreds });
  const sts = new STSClient({ endpoint: url, region: 'us-east-1', credentials: fixture.user });
  const failures: string[] = [];
  const written: string[] = [];
  let ok = 0;
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const j = i % OBJECTS;
        assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'rot', Key: `s3-${j}` }))).Body!.transformToString(), `sse-s3 ${j}`);
        assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'rot', Key: `kms-${j % 5}` }))).Body!.transformToString(), `sse-kms ${j % 5}`);
        assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: fixture.blob }))).Plaintext!).toString(), 'kms plaintext');
        assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/user-0299$/);
        const key = `during-${tag}-${i}`;
        await s3.send(new PutObjectCommand({ Bucket: 'rot', Key: key, Body: key, ServerSideEncryption: 'AES256' }));
        written.push(key);
        ok++;
      } catch (e) {
        failures.push(`${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  })();
  return {
    failures, written,
    get ok() { return ok; },
    async stop() {
      stop = true;
      await done;
      s3.destroy();
      kms.destroy();
      sts.destroy();
    },
  };
}

describe('coffer custody rotate --online (root.key)', () => {
  const servers: ChildServer[] = [];
  after(async () => {
    for (const s of servers) await s.kill();
  });

  it('re-seals while the server serves, survives a SIGKILL of the server, resumes at its restart, and leaves only the new key', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    // The data: built in-process (fast), then served by a child process that can be SIGKILLed.
    let s = await startTestServer({}, { dataDir });
    let fixture: { blob: Uint8Array; user: { accessKeyId: string; secretAccessKey: string } };
    try {
      const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      await s.s3.send(new CreateBucketCommand({ Bucket: 'rot' }));
      for (let i = 0; i < OBJECTS; i++) await s.s3.send(new PutObjectCommand({ Bucket: 'rot', Key: `s3-${i}`, Body: `sse-s3 ${i}`, ServerSideEncryption: 'AES256' }));
      for (let i = 0; i < 5; i++) await s.s3.send(new PutObjectCommand({ Bucket: 'rot', Key: `kms-${i}`, Body: `sse-kms ${i}`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
      const admin = { dataDir, accountId: s.coffer.root.accountId, rootKey: s.coffer.rootKey, iam: s.coffer.iam, close: async () => {}, changes: inProcessChanges(s.coffer) };
      let user!: { accessKeyId: string; secretAccessKey: string };
      for (let i = 0; i < USERS; i++) {
        const u = await createUserWithKey(admin, `user-${String(i).padStart(4, '0')}`);
        if (i === USERS - 1) user = { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey };
      }
      fixture = { blob, user };
    } finally {
      await s.stop();
    }
    const oldKey = await fs.readFile(path.join(dataDir, 'root.key'));
    const oldId = (JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string }).rootKey;

    // The rotation, asked of the running server by the CLI, with the client loop beside it.
    const first = await startChildServer(dataDir);
    servers.push(first);
    const loop1 = clientLoop(first.url, fixture, 'a');
    const cli = spawn(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--online', '--rate', RATE], { env: cliEnv(first.url), stdio: ['ignore', 'pipe', 'pipe'] });
    let cliErr = '';
    cli.stderr.on('data', (d: Buffer) => (cliErr += d.toString()));
    const cliExit = new Promise<number | null>((r) => cli.once('close', (code) => r(code)));
    const admin = new SignedClient({ endpoint: first.url, region: 'us-east-1', credentials: rootCreds });
    const status = async (c: SignedClient) => JSON.parse((await c.admin('GET', 'custody/rotation')).body) as Status;
    let mid!: Status;
    assert.ok(await waitFor(async () => ((mid = await status(admin)), mid.state === 'resealing' && mid.done > 100), 20_000, 50), `the rotation did not get going: ${JSON.stringify(mid)}\n${cliErr}`);
    assert.equal(mid.pass, 1);
    assert.ok(mid.done < mid.total, `the rotation ended before it could be killed: ${JSON.stringify(mid)}`);
    await loop1.stop();
    await first.kill();
    assert.equal(await cliExit, 2);
    assert.match(cliErr, /progress: \d+\/\d+ items/);
    assert.match(cliErr, /coffer: error: lost http:\/\/127\.0\.0\.1:\d+ during the rotation .*\ncoffer: hint: restart the server with the same settings: it resumes the rotation by itself/);
    assert.deepEqual(loop1.failures, [], 'requests failed during the rotation');
    assert.ok(loop1.ok > 0, 'the client loop ran during the rotation');

    const record = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; rotation?: { to: string; target: string; online?: boolean } };
    assert.equal(record.rootKey, oldId);
    assert.deepEqual([record.rotation?.target, record.rotation?.online], ['file', true]);
    const newId = record.rotation!.to;
    assert.equal(newId, mid.to);
    assert.deepEqual(await fs.readFile(path.join(dataDir, 'root.key')), oldKey);

    // Restarted with the same settings: it resumes by itself; --follow sees it to the end.
    const second = await startChildServer(dataDir);
    servers.push(second);
    const loop2 = clientLoop(second.url, fixture, 'b');
    const follow = await run(process.execPath, [CLI_MAIN, 'custody', 'rotate', '--online', '--follow'], { env: cliEnv(second.url) });
    await loop2.stop();
    assert.match(follow.stdout, new RegExp(`^finished the rotation online: root key ${oldId} -> ${newId}\\n`));
    assert.match(follow.stdout, /\d+ items re-sealed, \d+ changed under the pass and checked again, in \d+ passes; 1 KMS key material versions, 300 access keys, 0 STS sessions, \d+ SSE-S3 objects, 0 uploads/);
    assert.match(follow.stdout, /root\.key\.retired-[0-9a-f]{16} holds the old root key/);
    assert.deepEqual(loop2.failures, [], 'requests failed during the resumed rotation');
    assert.ok(loop2.ok > 0);
    const after2 = await status(new SignedClient({ endpoint: second.url, region: 'us-east-1', credentials: rootCreds }));
    assert.deepEqual([after2.state, after2.resumed], ['completed', true]);
    await second.stop();

    const final = JSON.parse(await fs.readFile(path.join(dataDir, 'custody.json'), 'utf8')) as { rootKey: string; rotation?: unknown };
    assert.deepEqual([final.rootKey, final.rotation], [newId, undefined]);
    assert.deepEqual(await fs.readFile(path.join(dataDir, `root.key.retired-${oldId.slice(4)}`)), oldKey);
    const events = (await readAudit(path.join(dataDir, 'audit', 'kms.log'))).filter((e) => e.eventName.startsWith('CofferRootKeyRotation'));
    assert.deepEqual(events.map((e) => e.eventName), ['CofferRootKeyRotationStarted', 'CofferRootKeyRotationResumed', 'CofferRootKeyRotationCompleted']);
    assert.equal(events[0]!.userIdentity.type, 'Root');
    assert.deepEqual(events[0]!.additionalEventData, { from: oldId, to: newId, target: 'file', online: true, resumed: false });
    const completed = events[2]!.additionalEventData as Record<string, number>;
    assert.equal(completed.accessKeys, USERS);
    // The last pass counts what was there when it ran: the objects written before the kill, and some of those written after.
    assert.ok(completed.objects! >= OBJECTS + loop1.written.length && completed.objects! <= OBJECTS + loop1.written.length + loop2.written.length, JSON.stringify(completed));

    // The new key alone opens everything, the objects written during the rotation included.
    s = await startTestServer({}, { dataDir });
    try {
      assert.equal(s.coffer.rootKey.id, newId);
      for (const key of [...loop1.written, ...loop2.written]) assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'rot', Key: key }))).Body!.transformToString(), key);
      for (let i = 0; i < OBJECTS; i++) assert.equal(await (await s.s3.send(new GetObjectCommand({ Bucket: 'rot', Key: `s3-${i}` }))).Body!.transformToString(), `sse-s3 ${i}`);
      assert.equal(Buffer.from((await s.kms.send(new DecryptCommand({ CiphertextBlob: fixture.blob }))).Plaintext!).toString(), 'kms plaintext');
      const sts = new STSClient({ endpoint: s.url, region: 'us-east-1', credentials: fixture.user });
      assert.match((await sts.send(new GetCallerIdentityCommand({}))).Arn!, /:user\/user-0299$/);
      sts.destroy();
    } finally {
      await s.stop();
    }
    // The old key alone is refused, as at any start with another key.
    await assert.rejects(startTestServer({ COFFER_ROOT_KEY: oldKey.toString('base64') }, { dataDir }), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, new RegExp(`sealed under root key ${newId}.*but the configured root key \\(COFFER_ROOT_KEY\\) is ${oldId}`));
      return true;
    });
  });
});

describe('online rotation and a request in flight at the switch', () => {
  it('waits for a PUT that sealed its key under the old root key before it begins, so that object is re-sealed too', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    let s = await startTestServer({}, { dataDir });
    const body = Buffer.alloc(4096, 7);
    let put: Promise<unknown>;
    try {
      await s.s3.send(new CreateBucketCommand({ Bucket: 'slow' }));
      for (let i = 0; i < 3; i++) await s.s3.send(new PutObjectCommand({ Bucket: 'slow', Key: `o${i}`, Body: `o${i}`, ServerSideEncryption: 'AES256' }));
      // A PUT whose body stalls: its object key is sealed (under the old root key) before the body is read.
      const stream = new PassThrough();
      stream.write(body.subarray(0, 100));
      put = s.s3.send(new PutObjectCommand({ Bucket: 'slow', Key: 'stalled', Body: stream, ContentLength: body.length, ServerSideEncryption: 'AES256' }));
      await new Promise((r) => setTimeout(r, 300));
      const admin = new SignedClient({ endpoint: s.url, region: 'us-east-1', credentials: rootCreds });
      const status = async () => JSON.parse((await admin.admin('GET', 'custody/rotation')).body) as Status & { waitingFor?: number };
      const started = await admin.admin('POST', 'custody/rotation', { command: 'rotate' });
      assert.equal(started.status, 200, started.body);
      // The rotation waits for it, however long it takes.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const st = await status();
        assert.equal(st.state, 'waiting');
        assert.ok(st.waitingFor! >= 1, JSON.stringify(st));
      }
      stream.end(body.subarray(100));
      await put;
      let st!: Status;
      assert.ok(await waitFor(async () => ((st = await status()), st.state === 'completed'), 10_000), JSON.stringify(st));
    } finally {
      await s.stop();
    }
    // The new key alone opens the object whose key was sealed before the switch.
    s = await startTestServer({}, { dataDir });
    try {
      assert.deepEqual(Buffer.from(await (await s.s3.send(new GetObjectCommand({ Bucket: 'slow', Key: 'stalled' }))).Body!.transformToByteArray()), body);
    } finally {
      await s.stop();
    }
  });
});
