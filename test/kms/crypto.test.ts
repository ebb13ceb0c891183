// The KMS data plane against the real server with the AWS SDK: Encrypt, Decrypt,
// ReEncrypt, GenerateDataKey(+WithoutPlaintext), GenerateRandom — every KeyId form,
// context binding, limits and messages as AWS records them, key states, DryRun,
// rotation, and what reaches the audit log.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  ReEncryptCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestAlias, createTestKey, setKeyPolicy, setKeyState } from './fixture-key.js';
import { callKms } from '../../src/kms/dispatch.js';
import type { Caller } from '../../src/kms/service.js';
import { CiphertextAuthError, CiphertextParseError } from '../../src/custody/errors.js';
import { rotateKeyMaterial } from '../../src/kms/ops/rotation.js';
import { readAudit } from '../../src/audit/audit-log.js';
import type { KmsKeyRecord } from '../../src/kms/store/types.js';
import { assertFails } from '../helpers/failure.js';
import { rawKms as rawKmsRequest } from './harness.js';

let srv: TestServer;
let kms: KMSClient;
let key: KmsKeyRecord;
let other: KmsKeyRecord;
const ALIAS = 'alias/crypto-test';

before(async () => {
  srv = await startTestServer();
  kms = srv.kms;
  key = await createTestKey(srv);
  other = await createTestKey(srv, 'another key');
  await createTestAlias(srv, ALIAS, key.keyId);
});
after(async () => {
  await srv?.stop();
});

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('utf8');

/** Runs `fn`, expects a KMS error (HTTP 400) with this code (and message, when given; '' means empty). */
async function rejects(fn: () => Promise<unknown>, code: string, message?: string | RegExp): Promise<void> {
  // An empty wire message reaches SDK users as 'UnknownError' (the raw-HTTP test pins the wire).
  await assertFails(fn(), 400, code, message === '' ? 'UnknownError' : message);
}

async function encrypt(plaintext: string, context?: Record<string, string>, keyId = key.keyId): Promise<Uint8Array> {
  const r = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: bytes(plaintext), EncryptionContext: context }));
  return r.CiphertextBlob!;
}

/** One KMS JSON request signed by hand, to see the exact wire answer (status and body). */
const rawKms = (operation: string, body: Record<string, unknown>) => rawKmsRequest(srv.url, operation, JSON.stringify(body));

function rootCaller(): Caller {
  return { principal: srv.coffer.root.credential.principal, requestId: 'test', secureTransport: false };
}

/** The custody error behind an InvalidCiphertextException, through the in-process path. */
async function invalidCiphertextCause(input: Record<string, unknown>): Promise<unknown> {
  try {
    await callKms(srv.coffer.kms, rootCaller(), 'Decrypt', input);
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'InvalidCiphertextException');
    assert.equal((e as Error).message, '');
    return (e as { cause?: unknown }).cause;
  }
  assert.fail('Decrypt succeeded');
}

describe('Encrypt and Decrypt', () => {
  it('round-trips with a key id, key ARN, alias name and alias ARN; answers the key ARN', async () => {
    const aliasArn = srv.coffer.kms.aliasArn(ALIAS);
    for (const ref of [key.keyId, key.arn, ALIAS, aliasArn]) {
      const enc = await kms.send(new EncryptCommand({ KeyId: ref, Plaintext: bytes(`via ${ref}`) }));
      assert.equal(enc.KeyId, key.arn);
      assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
      const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
      assert.equal(text(dec.Plaintext), `via ${ref}`);
      assert.equal(dec.KeyId, key.arn);
      assert.equal(dec.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
      assert.match(dec.KeyMaterialId ?? '', /^[0-9a-f]{64}$/);
      const named = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: ref }));
      assert.equal(text(named.Plaintext), `via ${ref}`);
    }
  });

  it('binds the encryption context: same pairs in any order decrypt, anything else is InvalidCiphertextException with an empty message', async () => {
    const blob = await encrypt('bound', { purpose: 'test', bucket: 'b1' });
    const ok = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { bucket: 'b1', purpose: 'test' } }));
    assert.equal(text(ok.Plaintext), 'bound');
    const wrong: (Record<string, string> | undefined)[] = [undefined, {}, { purpose: 'test' }, { purpose: 'test', bucket: 'b2' }, { purpose: 'test', bucket: 'b1', extra: 'x' }, { Purpose: 'test', bucket: 'b1' }];
    for (const ctx of wrong) {
      await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx })), 'InvalidCiphertextException', '');
    }
    const bare = await encrypt('no context');
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: bare, EncryptionContext: { a: 'b' } })), 'InvalidCiphertextException', '');
  });

  it('puts an empty message on the wire for InvalidCiphertextException, as AWS does', async () => {
    const blob = Buffer.from(await encrypt('wire', { a: 'b' }));
    const r = await rawKms('Decrypt', { CiphertextBlob: blob.toString('base64'), EncryptionContext: { a: 'c' } });
    assert.deepEqual(r, { status: 400, body: { __type: 'InvalidCiphertextException', message: '' } });
    const ok = await rawKms('Decrypt', { CiphertextBlob: blob.toString('base64'), EncryptionContext: { a: 'b' } });
    assert.equal(ok.status, 200);
    assert.equal(Buffer.from(ok.body.Plaintext as string, 'base64').toString(), 'wire');
  });

  it('tells {"ab":"c"} from {"a":"bc"}', async () => {
    const blob = await encrypt('ambiguous?', { ab: 'c' });
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { a: 'bc' } })), 'InvalidCiphertextException', '');
    assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ab: 'c' } }))).Plaintext), 'ambiguous?');
  });

  it('takes 4096 bytes of plaintext and refuses 4097 and 0 with AWS messages', async () => {
    const big = randomBytes(4096);
    const enc = await kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: big }));
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    assert.deepEqual(Buffer.from(dec.Plaintext!), big);
    await rejects(
      () => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: randomBytes(4097) })),
      'ValidationException',
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    );
    await rejects(
      () => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: new Uint8Array(0) })),
      'ValidationException',
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  });

  it('reports missing members together, as AWS words them', async () => {
    await rejects(
      () => kms.send(new EncryptCommand({} as never)),
      'ValidationException',
      "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
    );
    await rejects(() => kms.send(new DecryptCommand({} as never)), 'ValidationException', "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null");
    await rejects(
      () => kms.send(new DecryptCommand({ CiphertextBlob: randomBytes(6145) })),
      'ValidationException',
      "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144",
    );
  });

  it('answers NotFoundException for unknown keys and aliases', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    await rejects(() => encrypt('x', undefined, missing), 'NotFoundException', `Key '${srv.coffer.kms.keyArn(missing)}' does not exist`);
    await rejects(() => encrypt('x', undefined, 'fake-key-id'), 'NotFoundException', "Invalid keyId 'fake-key-id'");
    await rejects(() => encrypt('x', undefined, 'alias/nope'), 'NotFoundException', `Alias ${srv.coffer.kms.aliasArn('alias/nope')} is not found.`);
  });

  it('refuses tampered, truncated and foreign ciphertexts with an empty InvalidCiphertextException, keeping parse and auth failures apart', async () => {
    const blob = Buffer.from(await encrypt('tamper me', { k: 'v' }));
    const flip = (at: number) => {
      const b = Buffer.from(blob);
      b[at]! ^= 0x01;
      return b;
    };
    const ctx = { k: 'v' };
    // Authentication failures: a salt byte, a body byte, the tag.
    for (const bad of [flip(50), flip(80), flip(blob.length - 1)]) {
      await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: bad, EncryptionContext: ctx })), 'InvalidCiphertextException', '');
      assert.ok((await invalidCiphertextCause({ CiphertextBlob: bad, EncryptionContext: ctx })) instanceof CiphertextAuthError);
    }
    // Parse failures: version byte, truncation, random bytes, an AWS-looking blob.
    for (const bad of [flip(0), blob.subarray(0, 60), randomBytes(200), Buffer.concat([Buffer.from([0x01, 0x02, 0x02, 0x00]), randomBytes(180)])]) {
      await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: bad, EncryptionContext: ctx })), 'InvalidCiphertextException', '');
      assert.ok((await invalidCiphertextCause({ CiphertextBlob: bad, EncryptionContext: ctx })) instanceof CiphertextParseError);
    }
    // The wrong context is an authentication failure too.
    assert.ok((await invalidCiphertextCause({ CiphertextBlob: blob, EncryptionContext: { k: 'w' } })) instanceof CiphertextAuthError);
  });

  it('answers IncorrectKeyException when KeyId names another key than the ciphertext', async () => {
    const blob = await encrypt('mine');
    await rejects(
      () => kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: other.keyId })),
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    );
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: other.arn })), 'IncorrectKeyException');
  });

  it('refuses other encryption algorithms the way AWS does', async () => {
    await rejects(
      () => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })),
      'InvalidKeyUsageException',
      'Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.',
    );
    await rejects(
      () => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x'), EncryptionAlgorithm: 'ROT13' as never })),
      'ValidationException',
      "1 validation error detected: Value 'ROT13' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
    );
    const blob = await encrypt('alg');
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })), 'InvalidKeyUsageException');
    const ok = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }));
    assert.equal(text(ok.Plaintext), 'alg');
  });

  it('checks grant tokens: at most 10, each one Coffer issued', async () => {
    await rejects(
      () => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x'), GrantTokens: Array.from({ length: 11 }, (_, i) => `t${i}`) })),
      'ValidationException',
      /at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10/,
    );
    await rejects(() => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x'), GrantTokens: ['not-a-token'] })), 'InvalidGrantTokenException', 'Invalid grant token.');
  });

  it('refuses Recipient (Nitro Enclaves attestation) with UnsupportedOperationException', async () => {
    const blob = await encrypt('enclave');
    const Recipient = { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' as const, AttestationDocument: randomBytes(64) };
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob, Recipient })), 'UnsupportedOperationException');
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', Recipient })), 'UnsupportedOperationException');
    await rejects(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, Recipient })), 'UnsupportedOperationException');
  });

  it('decrypts a ciphertext of a deleted key as NotFoundException', async () => {
    const doomed = await createTestKey(srv, 'to be deleted');
    const blob = await encrypt('gone', undefined, doomed.keyId);
    await srv.coffer.kms.store.deleteKey(doomed.keyId);
    srv.coffer.kms.forget(doomed.keyId);
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'NotFoundException', `Key '${doomed.arn}' does not exist`);
  });
});

describe('key states', () => {
  it('Disabled: every crypto operation answers DisabledException "<arn> is disabled."; enabling restores them', async () => {
    const k = await createTestKey(srv, 'disable me');
    const blob = await encrypt('before', undefined, k.keyId);
    await setKeyState(srv, k.keyId, 'Disabled');
    const msg = `${k.arn} is disabled.`;
    await rejects(() => encrypt('x', undefined, k.keyId), 'DisabledException', msg);
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'DisabledException', msg);
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: k.keyId, KeySpec: 'AES_256' })), 'DisabledException', msg);
    await rejects(() => kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.keyId, KeySpec: 'AES_256' })), 'DisabledException', msg);
    await rejects(() => kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: key.keyId })), 'DisabledException', msg);
    const toDisabled = await encrypt('to a disabled key');
    await rejects(() => kms.send(new ReEncryptCommand({ CiphertextBlob: toDisabled, DestinationKeyId: k.keyId })), 'DisabledException', msg);
    await setKeyState(srv, k.keyId, 'Enabled');
    assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext), 'before');
  });

  it('PendingDeletion: KMSInvalidStateException "<arn> is pending deletion."', async () => {
    const k = await createTestKey(srv, 'delete me');
    const blob = await encrypt('before', undefined, k.keyId);
    await setKeyState(srv, k.keyId, 'PendingDeletion');
    const msg = `${k.arn} is pending deletion.`;
    await rejects(() => encrypt('x', undefined, k.keyId), 'KMSInvalidStateException', msg);
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'KMSInvalidStateException', msg);
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: k.keyId, NumberOfBytes: 16 })), 'KMSInvalidStateException', msg);
    await rejects(() => kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.keyId, NumberOfBytes: 16 })), 'KMSInvalidStateException', msg);
  });
});

describe('DryRun', () => {
  const DRY = 'The request would have succeeded, but the DryRun option is set.';

  it('answers DryRunOperationException after authorization and the key-state check', async () => {
    await rejects(() => kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x'), DryRun: true })), 'DryRunOperationException', DRY);
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', DryRun: true })), 'DryRunOperationException', DRY);
    await rejects(() => kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.keyId, KeySpec: 'AES_256', DryRun: true })), 'DryRunOperationException', DRY);
    const blob = await encrypt('dry');
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob, DryRun: true })), 'DryRunOperationException', DRY);
    await rejects(() => kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: other.keyId, DryRun: true })), 'DryRunOperationException', DRY);
    // Without IGNORE_CIPHERTEXT the ciphertext is checked; with it, only KeyId's permissions.
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: randomBytes(100), DryRun: true })), 'InvalidCiphertextException', '');
    await rejects(() => kms.send(new DecryptCommand({ KeyId: key.keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })), 'DryRunOperationException', DRY);
    await rejects(
      () => kms.send(new ReEncryptCommand({ SourceKeyId: key.keyId, DestinationKeyId: other.keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })),
      'DryRunOperationException',
      DRY,
    );

    const disabled = await createTestKey(srv, 'dry and disabled');
    await setKeyState(srv, disabled.keyId, 'Disabled');
    await rejects(() => kms.send(new EncryptCommand({ KeyId: disabled.keyId, Plaintext: bytes('x'), DryRun: true })), 'DisabledException');
  });

  it('authorizes with the encryption context as condition keys, before DryRun', async () => {
    const k = await createTestKey(srv, 'conditional');
    const root = srv.coffer.root.credential.principal.arn;
    await setKeyPolicy(srv, k.keyId, {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'all', Effect: 'Allow', Principal: { AWS: root }, Action: 'kms:*', Resource: '*' },
        {
          Sid: 'context',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
          Resource: '*',
          Condition: { StringNotEquals: { 'kms:EncryptionContext:purpose': 'test' } },
        },
      ],
    });
    await rejects(() => encrypt('x', { purpose: 'other' }, k.keyId), 'AccessDeniedException', /kms:Encrypt/);
    await rejects(() => kms.send(new EncryptCommand({ KeyId: k.keyId, Plaintext: bytes('x'), DryRun: true })), 'AccessDeniedException');
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: k.keyId, KeySpec: 'AES_256', EncryptionContext: { purpose: 'x' } })), 'AccessDeniedException');
    const blob = await encrypt('allowed', { purpose: 'test' }, k.keyId);
    assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { purpose: 'test' } }))).Plaintext), 'allowed');
  });
});

describe('GenerateDataKey and GenerateDataKeyWithoutPlaintext', () => {
  it('returns data keys of KeySpec or NumberOfBytes length whose ciphertext decrypts to them', async () => {
    for (const [args, len] of [[{ KeySpec: 'AES_256' as const }, 32], [{ KeySpec: 'AES_128' as const }, 16], [{ NumberOfBytes: 1 }, 1], [{ NumberOfBytes: 1024 }, 1024]] as const) {
      const r = await kms.send(new GenerateDataKeyCommand({ KeyId: ALIAS, EncryptionContext: { obj: 'k' }, ...args }));
      assert.equal(r.Plaintext!.length, len);
      assert.equal(r.KeyId, key.arn);
      assert.match(r.KeyMaterialId ?? '', /^[0-9a-f]{64}$/);
      const d = await kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { obj: 'k' } }));
      assert.deepEqual(Buffer.from(d.Plaintext!), Buffer.from(r.Plaintext!));
      await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob })), 'InvalidCiphertextException', '');
    }
    const w = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.arn, KeySpec: 'AES_256' }));
    assert.equal(w.KeyId, key.arn);
    assert.equal((w as { Plaintext?: unknown }).Plaintext, undefined);
    assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: w.CiphertextBlob }))).Plaintext!.length, 32);
  });

  it('needs exactly one of KeySpec and NumberOfBytes, in range', async () => {
    const EITHER = 'Please specify either number of bytes or key spec.';
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId })), 'ValidationException', EITHER);
    await rejects(() => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', NumberOfBytes: 32 })), 'ValidationException', EITHER);
    await rejects(() => kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: key.keyId })), 'ValidationException', EITHER);
    await rejects(
      () => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, NumberOfBytes: 0 })),
      'ValidationException',
      "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    await rejects(
      () => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, NumberOfBytes: 1025 })),
      'ValidationException',
      "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
    );
    await rejects(
      () => kms.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES-256' as never })),
      'ValidationException',
      "1 validation error detected: Value 'AES-256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
    );
  });

  it('refuses a KeySpec naming an inherited property (toString, constructor, __proto__) as ValidationException (found by the kms fuzz target: it was KMSInternalException)', async () => {
    for (const spec of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      for (const Command of [GenerateDataKeyCommand, GenerateDataKeyWithoutPlaintextCommand]) {
        await rejects(
          () => kms.send(new Command({ KeyId: key.keyId, KeySpec: spec as never })),
          'ValidationException',
          `1 validation error detected: Value '${spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`,
        );
      }
    }
  });
});

describe('GenerateRandom', () => {
  it('returns 1 to 1024 random bytes', async () => {
    for (const n of [1, 12, 1024]) assert.equal((await kms.send(new GenerateRandomCommand({ NumberOfBytes: n }))).Plaintext!.length, n);
    const a = (await kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))).Plaintext!;
    const b = (await kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }))).Plaintext!;
    assert.notDeepEqual(Buffer.from(a), Buffer.from(b));
  });

  it('refuses 0, 1025 and a missing NumberOfBytes with the recorded messages', async () => {
    await rejects(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 0 })), 'ValidationException', "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1");
    await rejects(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 1025 })), 'ValidationException', "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024");
    await rejects(() => kms.send(new GenerateRandomCommand({})), 'ValidationException', 'NumberOfBytes is required.');
  });

  it('answers CustomKeyStoreNotFoundException for any CustomKeyStoreId (Coffer has none)', async () => {
    await rejects(() => kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-1234567890abcdef0' })), 'CustomKeyStoreNotFoundException', /cks-1234567890abcdef0/);
  });
});

describe('ReEncrypt', () => {
  it('moves a ciphertext to another key and context; answers both ARNs and algorithms', async () => {
    const blob = await encrypt('moving', { from: '1' });
    const r = await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { from: '1' }, DestinationKeyId: other.keyId, DestinationEncryptionContext: { to: '2' } }));
    assert.equal(r.SourceKeyId, key.arn);
    assert.equal(r.KeyId, other.arn);
    assert.equal(r.SourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.equal(r.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.match(r.SourceKeyMaterialId ?? '', /^[0-9a-f]{64}$/);
    assert.match(r.DestinationKeyMaterialId ?? '', /^[0-9a-f]{64}$/);
    const d = await kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { to: '2' } }));
    assert.equal(text(d.Plaintext), 'moving');
    assert.equal(d.KeyId, other.arn);
    await rejects(() => kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: other.keyId })), 'InvalidCiphertextException', '');
  });

  it('answers IncorrectKeyException when SourceKeyId is not the ciphertext key', async () => {
    const blob = await encrypt('src');
    await rejects(
      () => kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: other.keyId, DestinationKeyId: other.keyId })),
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    );
    const ok = await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceKeyId: ALIAS, DestinationKeyId: key.keyId }));
    assert.equal(ok.KeyId, key.arn);
  });

  it('succeeds from a pending-deletion source and fails to a pending-deletion destination', async () => {
    const leaving = await createTestKey(srv, 'source being deleted');
    const blob = await encrypt('rescue me', undefined, leaving.keyId);
    await setKeyState(srv, leaving.keyId, 'PendingDeletion');
    const r = await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, DestinationKeyId: key.keyId }));
    assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: r.CiphertextBlob }))).Plaintext), 'rescue me');

    const target = await createTestKey(srv, 'destination being deleted');
    await setKeyState(srv, target.keyId, 'PendingDeletion');
    await rejects(() => kms.send(new ReEncryptCommand({ CiphertextBlob: r.CiphertextBlob, DestinationKeyId: target.keyId })), 'KMSInvalidStateException', `${target.arn} is pending deletion.`);
  });

  it('needs DestinationKeyId', async () => {
    const blob = await encrypt('x');
    await rejects(() => kms.send(new ReEncryptCommand({ CiphertextBlob: blob } as never)), 'ValidationException', "1 validation error detected: Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null");
  });
});

describe('rotation', () => {
  it('decrypts ciphertexts of every material version; new ones use the newest', async () => {
    const k = await createTestKey(srv, 'rotating');
    const v1 = await encrypt('version one', { r: '1' }, k.keyId);
    const d1 = await kms.send(new DecryptCommand({ CiphertextBlob: v1, EncryptionContext: { r: '1' } }));
    const { key: rotated } = (await rotateKeyMaterial(srv.coffer.kms, (await srv.coffer.kms.store.getKey(k.keyId))!, 'ON_DEMAND', Date.now()))!;
    assert.equal(rotated.currentVersion, 2);
    const v2 = await encrypt('version two', { r: '2' }, k.keyId);
    assert.equal(Buffer.from(v1).readUInt32BE(37), 1);
    assert.equal(Buffer.from(v2).readUInt32BE(37), 2);
    const again1 = await kms.send(new DecryptCommand({ CiphertextBlob: v1, EncryptionContext: { r: '1' } }));
    const d2 = await kms.send(new DecryptCommand({ CiphertextBlob: v2, EncryptionContext: { r: '2' } }));
    assert.equal(text(again1.Plaintext), 'version one');
    assert.equal(text(d2.Plaintext), 'version two');
    assert.equal(again1.KeyMaterialId, d1.KeyMaterialId);
    assert.notEqual(d2.KeyMaterialId, d1.KeyMaterialId);
    // A header naming a version the key never had is an invalid ciphertext.
    const forged = Buffer.from(v2);
    forged.writeUInt32BE(3, 37);
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: forged, EncryptionContext: { r: '2' } })), 'InvalidCiphertextException', '');
  });
});

describe('audit', () => {
  it('records key, parameters and context — never plaintext — for each crypto call', async () => {
    const marker = `audit-${randomBytes(6).toString('hex')}`;
    const plaintext = `secret-${marker}`;
    const blob = await encrypt(plaintext, { marker });
    await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { marker } }));
    const gdk = await kms.send(new GenerateDataKeyCommand({ KeyId: ALIAS, KeySpec: 'AES_128', EncryptionContext: { marker } }));
    await rejects(() => kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'InvalidCiphertextException');
    await srv.coffer.audit.flush();
    const all = await readAudit(`${srv.dataDir}/audit`);
    const events = all.filter((e) => JSON.stringify(e.requestParameters ?? {}).includes(marker));
    const byName = (n: string) => events.filter((e) => e.eventName === n && e.errorCode === undefined);
    assert.deepEqual(byName('Encrypt')[0]!.requestParameters, { keyId: key.keyId, encryptionContext: { marker }, encryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    assert.deepEqual(byName('Decrypt')[0]!.requestParameters, { encryptionContext: { marker }, encryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    assert.deepEqual(byName('GenerateDataKey')[0]!.requestParameters, { keyId: ALIAS, encryptionContext: { marker }, keySpec: 'AES_128' });
    assert.deepEqual(byName('GenerateDataKey')[0]!.resources, [{ ARN: key.arn, accountId: key.accountId, type: 'AWS::KMS::Key' }]);
    const failed = all.at(-1)!;
    assert.equal(failed.eventName, 'Decrypt');
    assert.equal(failed.errorCode, 'InvalidCiphertextException');
    assert.deepEqual(failed.resources, [{ ARN: key.arn, accountId: key.accountId, type: 'AWS::KMS::Key' }]);
    const logged = JSON.stringify(all);
    assert.ok(!logged.includes(plaintext) && !logged.includes(Buffer.from(plaintext).toString('base64')));
    assert.ok(!logged.includes(Buffer.from(gdk.Plaintext!).toString('base64')) && !logged.includes(Buffer.from(gdk.Plaintext!).toString('hex')));
  });
});

describe('request members', () => {
  it('a member with an empty name is ignored like any unknown member (found by the kms fuzz target: the audit record turned it into KMSInternalException)', async () => {
    for (const [operation, body] of [['ListKeys', { '': 1 }], ['GenerateRandom', { NumberOfBytes: 8, '': 'x' }], ['DescribeKey', { KeyId: key.keyId, '': {} }]] as const) {
      const r = await rawKms(operation, body);
      assert.equal(r.status, 200, `${operation}: ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  });
});

describe('the operation table', () => {
  it('an operation named like a property every JavaScript object has is UnknownOperationException, never run or answered', async () => {
    for (const operation of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__', 'isPrototypeOf']) {
      const r = await rawKms(operation, {});
      assert.equal(r.status, 400, `TrentService.${operation}`);
      assert.equal(r.body.__type, 'UnknownOperationException', `TrentService.${operation}: ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  });
});
