// KMS request bodies are parsed under bounds (nesting depth, string length) and refused
// before any operation runs, so a hostile body cannot change a key and then break its
// audit record; and the audit record keeps only the operation's own parameters, each
// bounded, whatever the caller sent (issue 12 §1).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DescribeKeyCommand, GetKeyPolicyCommand, ListAliasesCommand } from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestKey } from './fixture-key.js';
import { callKms } from '../../src/kms/dispatch.js';
import { KMS_OPERATIONS } from '../../src/kms/operations.js';
import { INPUT_MEMBERS } from '../../src/kms/operation.js';
import { readAudit } from '../../src/audit/audit-log.js';
import type { KmsKeyRecord } from '../../src/kms/store/types.js';
import { rawKms as rawKmsRequest } from './harness.js';

let srv: TestServer;
let key: KmsKeyRecord;

before(async () => {
  srv = await startTestServer();
  key = await createTestKey(srv, 'bounds test key');
});
after(async () => {
  await srv?.stop();
});

/** One KMS request with this exact body text, signed by hand. */
const rawKms = (operation: string, payload: string) => rawKmsRequest(srv.url, operation, payload);

/** `{"a":{"a":…}}` nested `depth` levels, as text (JSON.stringify itself would overflow on it). */
const deepText = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
/** A JSON object body: the known members, then one unknown member given as raw JSON text. */
const body = (known: Record<string, unknown>, extra: string) => JSON.stringify(known).slice(0, -1) + `,"Unknown":${extra}}`;
const huge = JSON.stringify('x'.repeat(200 * 1024));

async function state(): Promise<string | undefined> {
  return (await srv.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.KeyState;
}

describe('bounded KMS request bodies', () => {
  it('a member nested 20,000 levels deep is a SerializationException and the key is unchanged', async () => {
    for (const [op, members] of [
      ['DisableKey', { KeyId: key.keyId }],
      ['ScheduleKeyDeletion', { KeyId: key.keyId, PendingWindowInDays: 7 }],
    ] as const) {
      const r = await rawKms(op, body(members, deepText(20_000)));
      assert.equal(r.status, 400, `${op}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.__type, 'SerializationException');
      assert.equal(await state(), 'Enabled', `${op} did not run`);
    }
  });

  it('nesting of 64 levels is accepted, 65 refused', async () => {
    // The request object is level 1, so the unknown member holds 63 and 64 more.
    assert.equal((await rawKms('DescribeKey', body({ KeyId: key.keyId }, deepText(63)))).status, 200);
    const r = await rawKms('DescribeKey', body({ KeyId: key.keyId }, deepText(64)));
    assert.equal(r.status, 400);
    assert.equal(r.body.__type, 'SerializationException');
  });

  it('a 200 KiB string is a ValidationException: PutKeyPolicy and CreateAlias change nothing', async () => {
    const before = (await srv.kms.send(new GetKeyPolicyCommand({ KeyId: key.keyId, PolicyName: 'default' }))).Policy;
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:*', Resource: '*' }] });
    const put = await rawKms('PutKeyPolicy', body({ KeyId: key.keyId, PolicyName: 'default', Policy: policy }, huge));
    assert.equal(put.status, 400);
    assert.equal(put.body.__type, 'ValidationException');
    assert.equal((await srv.kms.send(new GetKeyPolicyCommand({ KeyId: key.keyId, PolicyName: 'default' }))).Policy, before);

    const alias = await rawKms('CreateAlias', body({ AliasName: 'alias/bounds-huge', TargetKeyId: key.keyId }, huge));
    assert.equal(alias.status, 400);
    assert.equal(alias.body.__type, 'ValidationException');
    const aliases = (await srv.kms.send(new ListAliasesCommand({ KeyId: key.keyId }))).Aliases ?? [];
    assert.equal(aliases.some((a) => a.AliasName === 'alias/bounds-huge'), false);
  });

  it('an unknown member is ignored by the operation and left out of the audit record', async () => {
    const r = await rawKms('CreateAlias', body({ AliasName: 'alias/bounds-extra', TargetKeyId: key.keyId }, JSON.stringify('y'.repeat(1000))));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await srv.coffer.audit.flush();
    const [event] = await readAudit(`${srv.dataDir}/audit`, { eventName: 'CreateAlias', limit: 1 });
    assert.deepEqual(event?.requestParameters, { aliasName: 'alias/bounds-extra', targetKeyId: key.keyId });
  });
});

describe('bounded audit parameters (in-process callers skip the wire parser)', () => {
  it('a deep unknown member neither breaks the record after the change nor reaches it', async () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    const caller = { principal: srv.coffer.root.credential.principal, requestId: 'bounds-in-process', secureTransport: false };
    await callKms(srv.coffer.kms, caller, 'UpdateKeyDescription', { KeyId: key.keyId, Description: 'in-process', Unknown: deep });
    await srv.coffer.audit.flush();
    const [event] = await readAudit(`${srv.dataDir}/audit`, { eventName: 'UpdateKeyDescription', limit: 1 });
    assert.equal(event?.requestID, 'bounds-in-process');
    assert.deepEqual(event?.requestParameters, { keyId: key.keyId, description: 'in-process' });
  });

  it('every operation names its input members (the audit record keeps no other)', () => {
    assert.deepEqual(Object.keys(KMS_OPERATIONS).filter((op) => !Object.hasOwn(INPUT_MEMBERS, op)), []);
  });

  it('a known member too long for the record is cut, and the line stays small', async () => {
    const caller = { principal: srv.coffer.root.credential.principal, requestId: 'bounds-long-context', secureTransport: false };
    const context = { big: 'z'.repeat(100_000) };
    await assert.rejects(callKms(srv.coffer.kms, caller, 'GenerateDataKey', { KeyId: 'alias/none', KeySpec: 'AES_256', EncryptionContext: context }));
    await srv.coffer.audit.flush();
    const [event] = await readAudit(`${srv.dataDir}/audit`, { eventName: 'GenerateDataKey', limit: 1 });
    assert.equal(event?.requestID, 'bounds-long-context');
    assert.ok(JSON.stringify(event).length < 16 * 1024, `record of ${JSON.stringify(event).length} bytes`);
    const kept = (event?.requestParameters as { encryptionContext: { big: string } }).encryptionContext.big;
    assert.ok(kept.startsWith('zzzz') && kept.length < 10_000);
  });
});
