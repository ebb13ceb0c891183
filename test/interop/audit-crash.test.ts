// "A KMS must never act without a record": the real `coffer server` runs as a child
// process, answers N key changes (DisableKey/EnableKey, RevokeGrant), is SIGKILLed the
// moment the last answer arrives, and is restarted on the same data directory: the audit
// log holds a record of every acknowledged call. The same for IAM: every acknowledged
// CreateUser (and AttachUserPolicy) has its record.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateGrantCommand, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, KMSClient, RevokeGrantCommand } from '@aws-sdk/client-kms';
import { AttachUserPolicyCommand, CreatePolicyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { readAudit } from '../../src/audit/audit-log.js';
import { ROOT_KEY_ID, ROOT_SECRET, startChildServer, type ChildServer } from './support.js';

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
