// "A KMS must never act without a record": the real `coffer server` runs as a child
// process, answers N key changes (DisableKey/EnableKey, RevokeGrant), is SIGKILLed the
// moment the last answer arrives, and is restarted on the same data directory: the audit
// log holds a record of every acknowledged call. The same for IAM: every acknowledged
// CreateUser (and AttachUserPolicy) has its record. And under load: a server killed in
// the middle of GenerateDataKey+Decrypt pairs from 16 clients, with fsync on (the default),
// leaves a kms.log that ends in its preallocated zero bytes, maybe after a line torn
// mid-batch: every answered call is there, readers and `coffer audit query` show whole
// events only, and the restarted server continues after the last whole line.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { CreateGrantCommand, CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, GenerateDataKeyCommand, GenerateRandomCommand, KMSClient, RevokeGrantCommand } from '@aws-sdk/client-kms';
import { AttachUserPolicyCommand, CreatePolicyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { readAudit } from '../../src/audit/audit-log.js';
import { completeLength } from '../../src/audit/log-files.js';
import { CLI_MAIN, ROOT_KEY_ID, ROOT_SECRET, startChildServer, waitFor, type ChildServer } from './support.js';

let dataDir: string;
let server: ChildServer | undefined;

before(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-audit-crash-'));
});
after(async () => {
  await server?.kill();
  await fs.rm(dataDir, { recursive: true, force: true });
});

function client(url: string): KMSClient {
  return new KMSClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });
}

describe('audit records survive a SIGKILL right after the answers', () => {
  it('every acknowledged DisableKey, EnableKey and RevokeGrant has its record after a restart', async () => {
    server = await startChildServer(dataDir, { COFFER_FSYNC: 'false' });
    const kms = client(server.url);
    const keyId = (await kms.send(new CreateKeyCommand({ Description: 'crash audit' }))).KeyMetadata!.KeyId!;
    const grants: string[] = [];
    for (let i = 0; i < 4; i++) {
      grants.push((await kms.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: `arn:aws:iam::123456789012:user/g${i}`, Operations: ['Decrypt'] }))).GrantId!);
    }
    const acknowledged: string[] = [];
    // Sequential and concurrent calls both: the last answers are the ones a lazy writer loses.
    for (let i = 0; i < 6; i++) {
      const op = i % 2 === 0 ? new DisableKeyCommand({ KeyId: keyId }) : new EnableKeyCommand({ KeyId: keyId });
      const r = await kms.send(op);
      acknowledged.push(r.$metadata.requestId!);
    }
    const concurrent = await Promise.all(grants.map((g) => kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: g }))));
    acknowledged.push(...concurrent.map((r) => r.$metadata.requestId!));
    const last = await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    acknowledged.push(last.$metadata.requestId!);
    await server.kill();
    kms.destroy();

    server = await startChildServer(dataDir, { COFFER_FSYNC: 'false' });
    await server.stop();
    const recorded = new Set((await readAudit(path.join(dataDir, 'audit'))).map((e) => e.requestID));
    const missing = acknowledged.filter((id) => !recorded.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged calls have no audit record`);
  });
});

describe('IAM management events survive a SIGKILL right after the answers', () => {
  it('every acknowledged CreateUser and AttachUserPolicy has its record after a restart', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-audit-crash-iam-'));
    let iamServer: ChildServer | undefined;
    try {
      iamServer = await startChildServer(dir, { COFFER_FSYNC: 'false' });
      const iam = new IAMClient({ endpoint: iamServer.url, region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1 });
      const policyArn = (await iam.send(new CreatePolicyCommand({ PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }) }))).Policy!.Arn!;
      const acknowledged: string[] = [];
      for (let i = 0; i < 6; i++) acknowledged.push((await iam.send(new CreateUserCommand({ UserName: `seq${i}` }))).$metadata.requestId!);
      const concurrent = await Promise.all(Array.from({ length: 6 }, (_, i) => iam.send(new CreateUserCommand({ UserName: `par${i}` }))));
      acknowledged.push(...concurrent.map((r) => r.$metadata.requestId!));
      acknowledged.push((await iam.send(new AttachUserPolicyCommand({ UserName: 'seq0', PolicyArn: policyArn }))).$metadata.requestId!);
      await iamServer.kill();
      iam.destroy();

      iamServer = await startChildServer(dir, { COFFER_FSYNC: 'false' });
      await iamServer.stop();
      const recorded = new Map((await readAudit(path.join(dir, 'audit'))).map((e) => [e.requestID, e]));
      const missing = acknowledged.filter((id) => !recorded.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged IAM calls have no audit record`);
      assert.ok(acknowledged.every((id) => recorded.get(id)!.eventSource === 'iam.amazonaws.com'));
    } finally {
      await iamServer?.kill();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

function auditQuery(dataDir: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, 'audit', 'query', '--json', '--data-dir', dataDir, ...args], { env: { PATH: process.env.PATH }, timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`coffer audit query failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('audit records survive a SIGKILL in the middle of a KMS load (fsync on, COFFER_AUDIT_PREALLOCATE_MB=1)', () => {
  it('every answered GenerateDataKey and Decrypt has its record; readers see whole events only; the restart continues after them', { timeout: 120_000 }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-audit-crash-load-'));
    let srv: ChildServer | undefined;
    try {
      srv = await startChildServer(dir, { COFFER_AUDIT_PREALLOCATE_MB: '1' });
      const kms = client(srv.url);
      const keyId = (await kms.send(new CreateKeyCommand({ Description: 'crash under load' }))).KeyMetadata!.KeyId!;
      const answered: string[] = [];
      let stopped = false;
      const worker = async (): Promise<void> => {
        while (!stopped) {
          try {
            const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { crash: 'load' } }));
            answered.push(dk.$metadata.requestId!);
            const pt = await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { crash: 'load' } }));
            answered.push(pt.$metadata.requestId!);
          } catch {
            return; // the server is gone
          }
        }
      };
      const workers = Array.from({ length: 16 }, () => worker());
      assert.ok(await waitFor(async () => answered.length >= 600, 60_000), `only ${answered.length} calls answered in 60 s`);
      await srv.kill(); // with 16 calls in flight
      stopped = true;
      await Promise.all(workers);
      kms.destroy();

      // Before any restart: the file as the kill left it.
      const log = path.join(dir, 'audit', 'kms.log');
      const h = await fs.open(log, 'r');
      const length = (await h.stat()).size;
      const whole = await completeLength(h, length);
      await h.close();
      assert.ok(length > whole, 'the killed server left its preallocated tail');
      const read = await readAudit(path.join(dir, 'audit'));
      const recorded = new Set(read.map((e) => e.requestID));
      const missing = answered.filter((id) => !recorded.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${answered.length} answered calls have no audit record`);
      const shown = (await auditQuery(dir, '--limit', '1000', '--event', 'Decrypt')).trim().split('\n');
      assert.equal(shown.length, Math.min(1000, read.filter((e) => e.eventName === 'Decrypt').length));
      for (const line of shown) {
        const e = JSON.parse(line) as { eventName: string; eventID: string; requestID: string };
        assert.ok(e.eventName === 'Decrypt' && e.eventID && e.requestID, line.slice(0, 200));
      }

      srv = await startChildServer(dir, { COFFER_AUDIT_PREALLOCATE_MB: '1' });
      const after = client(srv.url);
      const last = (await after.send(new GenerateRandomCommand({ NumberOfBytes: 8 }))).$metadata.requestId!;
      after.destroy();
      await srv.stop();
      const text = await fs.readFile(log, 'utf8');
      assert.ok(!text.includes('\0'), 'a cleanly stopped server leaves no zero bytes');
      assert.ok(text.endsWith('\n'));
      const events = text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { requestID: string });
      assert.equal(events.at(-1)!.requestID, last, 'the restarted server wrote after the last whole line');
      const all = new Set(events.map((e) => e.requestID));
      assert.deepEqual(answered.filter((id) => !all.has(id)), []);
    } finally {
      await srv?.kill();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
