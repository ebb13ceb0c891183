// Fuzz target "kms": a KMS request body through the JSON handler's decoding
// (decodeKmsInput) and callKms, on an in-process KmsService over a SQLite store in a
// temporary folder, called as the account root. Covers each operation's input
// validation (key ids, aliases, encryption contexts, grants, tags, policies, limits) and
// the ciphertext blob parser.
//
// Input, as text:  Operation \n JSON body. Before decoding, @KEY@ becomes the id of a key
// made at setup, @ARN@ its ARN and @CT@ a ciphertext (base64) it made. A run that
// disables the key or schedules its deletion is undone, so later runs still reach the
// operations behind the key-state checks. A ServiceError of status 500
// (KMSInternalException) or any untyped error is a crash.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SoftwareRootKey } from '../../src/custody/software-root-key.js';
import { callKms } from '../../src/kms/dispatch.js';
import { decodeKmsInput } from '../../src/kms/handler.js';
import { KMS_OPERATIONS } from '../../src/kms/operations.js';
import { KmsService, type Caller } from '../../src/kms/service.js';
import { SqliteKmsStore } from '../../src/kms/store/sqlite-kms-store.js';
import { DISCARD_AUDIT } from '../../src/audit/sink.js';
import type { FuzzTarget } from '../engine.js';
import { typedOutcome } from '../typed.js';
import { mutateJson } from '../structured.js';

const ACCOUNT = '123456789012';
const CALLER: Caller = {
  principal: { arn: `arn:aws:iam::${ACCOUNT}:root`, accountId: ACCOUNT, userName: 'root', kind: 'root' },
  requestId: randomUUID(),
  sourceIp: '127.0.0.1',
  secureTransport: true,
  userAgent: 'coffer-fuzz',
};

interface State {
  dir: string;
  store: SqliteKmsStore;
  svc: KmsService;
  keyId: string;
  arn: string;
  ciphertext: string;
}
let state: State | undefined;

async function call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  return callKms(state!.svc, CALLER, operation, input);
}

const KEYS = [
  'KeyId', 'CiphertextBlob', 'Plaintext', 'EncryptionContext', 'GrantTokens', 'KeySpec', 'NumberOfBytes', 'EncryptionAlgorithm', 'DestinationKeyId',
  'SourceKeyId', 'SourceEncryptionContext', 'DestinationEncryptionContext', 'AliasName', 'TargetKeyId', 'Limit', 'Marker', 'Tags', 'TagKey', 'TagValue',
  'TagKeys', 'PolicyName', 'Policy', 'GranteePrincipal', 'RetiringPrincipal', 'Operations', 'Constraints', 'EncryptionContextSubset',
  'EncryptionContextEquals', 'GrantId', 'GrantToken', 'Name', 'PendingWindowInDays', 'KeyUsage', 'Origin', 'MultiRegion', 'Description',
  'RotationPeriodInDays', 'BypassPolicyLockoutSafetyCheck', 'DryRun', '@KEY@', '@ARN@', '@CT@', 'alias/fuzz', 'AES_256', 'AES_128', 'SYMMETRIC_DEFAULT',
  'RSAES_OAEP_SHA_256', 'Decrypt', 'Encrypt', 'GenerateDataKey', 'CreateGrant', 'RetireGrant', 'aGVsbG8=', 'AA==',
];

export const target: FuzzTarget = {
  name: 'kms',
  maxLen: 4096,
  dictionary: [
    '\n', '{', '}', '[', ']', ',', ':', '"', '"KeyId":"@KEY@"', '"KeyId":"@ARN@"', '"KeyId":"alias/fuzz"', '"CiphertextBlob":"@CT@"', '"Plaintext":"aGVsbG8="',
    '"EncryptionContext":{"a":"b"}', '"GrantTokens":["t"]', '"KeySpec":"AES_256"', '"KeySpec":"AES_128"', '"NumberOfBytes":32', '"NumberOfBytes":1025',
    '"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"', '"DestinationKeyId":"@KEY@"', '"SourceEncryptionContext":{}', '"AliasName":"alias/x"', '"TargetKeyId":"@KEY@"',
    '"Limit":1', '"Marker":"', '"Tags":[{"TagKey":"k","TagValue":"v"}]', '"TagKeys":["k"]', '"PolicyName":"default"', '"Policy":"{}"', '"GranteePrincipal":"arn:aws:iam::123456789012:user/u"',
    '"Operations":["Decrypt"]', '"Constraints":{"EncryptionContextSubset":{"a":"b"}}', '"GrantId":"', '"PendingWindowInDays":7', '"KeyUsage":"ENCRYPT_DECRYPT"',
    '"Origin":"EXTERNAL"', '"MultiRegion":true', '"Description":"', '"RotationPeriodInDays":90', '"BypassPolicyLockoutSafetyCheck":true', 'null', 'true', '1e999', '-1',
    '"__proto__"', '"constructor"', 'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'CreateKey', 'CreateGrant', 'PutKeyPolicy', 'TagResource', 'CreateAlias',
    'ListGrants', 'ScheduleKeyDeletion', 'RotateKeyOnDemand', 'UpdateAlias', 'RetireGrant',
  ],
  mutate(rng, input) {
    const text = input.toString('utf8');
    const nl = text.indexOf('\n');
    if (nl < 0) return undefined;
    const body = mutateJson(rng, text.slice(nl + 1), KEYS);
    return body === undefined ? undefined : Buffer.from(`${text.slice(0, nl)}\n${body}`, 'utf8');
  },
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-fuzz-kms-'));
    const store = SqliteKmsStore.open(join(dir, 'kms.sqlite'));
    const svc = new KmsService({
      store,
      rootKey: new SoftwareRootKey('key', randomBytes(32)),
      accountId: ACCOUNT,
      region: 'us-east-1',
      identityPolicies: async () => [],
      audit: DISCARD_AUDIT,
      log: pino({ level: 'silent' }),
    });
    state = { dir, store, svc, keyId: '', arn: '', ciphertext: '' };
    const meta = (await call('CreateKey', { Description: 'fuzz' })).KeyMetadata as { KeyId: string; Arn: string };
    state.keyId = meta.KeyId;
    state.arn = meta.Arn;
    await call('CreateAlias', { AliasName: 'alias/fuzz', TargetKeyId: meta.KeyId });
    const out = await call('Encrypt', { KeyId: meta.KeyId, Plaintext: Buffer.from('hello'), EncryptionContext: { a: 'b' } });
    state.ciphertext = (out.CiphertextBlob as Buffer).toString('base64');
  },
  async teardown() {
    if (!state) return;
    await state.store.close();
    await rm(state.dir, { recursive: true, force: true });
    state = undefined;
  },
  async run(data) {
    const s = state!;
    const text = data.toString('utf8');
    const nl = text.indexOf('\n');
    const operation = nl < 0 ? text : text.slice(0, nl);
    const body = (nl < 0 ? '' : text.slice(nl + 1)).replaceAll('@KEY@', s.keyId).replaceAll('@ARN@', s.arn).replaceAll('@CT@', s.ciphertext);
    try {
      const out = await call(operation, decodeKmsInput(Buffer.from(body, 'utf8')));
      if (operation === 'DisableKey' || operation === 'ScheduleKeyDeletion') {
        await call('CancelKeyDeletion', { KeyId: s.keyId }).catch(() => undefined);
        await call('EnableKey', { KeyId: s.keyId });
      }
      return `ok: ${operation} ${Object.keys(out).sort().join(',')}`;
    } catch (e) {
      return `${Object.hasOwn(KMS_OPERATIONS, operation) ? operation : 'other'} ${typedOutcome(e, body)}`;
    }
  },
};
