// Replays every scenario of the real-AWS KMS recordings
// (../shared/reference/aws-recordings/kms.json: LocalStack's @markers.aws.validated tests of
// tests/aws/services/kms/test_kms.py, run against AWS, responses as boto3 parsed them)
// against a real Coffer server through @aws-sdk/client-kms. Requests are rebuilt from each
// test's steps with our key ids. Per step it compares the HTTP status, the error code and
// message (placeholders such as "<key-arn>" match anything), and the response members
// (names both ways; literal values exactly, LocalStack's placeholders and redactions such as
// "ciphertext-blob" or "datetime" by kind). Differences left are listed in EXPLAINED with the
// reason the recordings give; every listed difference must still occur.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants, createCipheriv, createHash, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, verify as verifySignature } from 'node:crypto';
import {
  CreateAliasCommand, CreateKeyCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DeriveSharedSecretCommand, DescribeKeyCommand, DisableKeyCommand,
  EnableKeyRotationCommand, EncryptCommand, GenerateDataKeyCommand, GenerateDataKeyPairCommand, GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand, GenerateMacCommand, GenerateRandomCommand, GetKeyRotationStatusCommand, GetParametersForImportCommand,
  GetPublicKeyCommand, ImportKeyMaterialCommand, ListAliasesCommand, ListResourceTagsCommand, ReEncryptCommand, ReplicateKeyCommand,
  RotateKeyOnDemandCommand, SignCommand, TagResourceCommand, UntagResourceCommand, VerifyCommand, VerifyMacCommand,
  type CreateKeyCommandInput, type KMSClient, type KeyMetadata,
} from '@aws-sdk/client-kms';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { Json } from '../s3/aws-recordings/replay.js';

const RECORDINGS = JSON.parse(readFileSync(new URL('../../../../shared/reference/aws-recordings/kms.json', import.meta.url), 'utf8')) as Record<
  string,
  { 'recorded-content': Record<string, Json> }
>;

/**
 * Differences the recordings themselves explain, by "scenario/step" (a step's every
 * difference) with the reason. The test fails if one of them no longer occurs.
 */
const EXPLAINED: Record<string, string> = {
  'test_create_multi_region_key/create_multi_region_key': 'multi-Region keys are not supported: Coffer answers UnsupportedOperationException naming them',
  'test_replicate_key/replicate-key': 'multi-Region keys are not supported (ReplicateKey is UnsupportedOperationException)',
  'test_replicate_key/describe-key-from-region': 'multi-Region keys are not supported: no MultiRegionConfiguration, the key was never replicated',
  'test_replicate_key/describe-replicated-key': 'multi-Region keys are not supported: there is no replica to describe',
  'test_replicate_replica_key_should_fail/fail-replicate-non-primary-key': 'multi-Region keys are not supported: Coffer refuses the first ReplicateKey already, naming the feature',
  'test_get_key_in_different_region/describe-key-diff-region-with-id': 'Coffer serves one region: a key created "in another region" is in this one',
  'test_get_key_in_different_region/describe-key-diff-region-with-arn': 'Coffer serves one region: a key created "in another region" is in this one',
  'test_replicate_key/describe-key-from-different-region':
    'Coffer serves one region: a request signed for another region is refused at authentication (IncompleteSignatureException), not answered NotFoundException',
  'test_hmac_create_key_invalid_operations/create-hmac-key-invalid-spec': 'recorded 2023-04, before AWS added SM2, ML_DSA_* and ECC_NIST_EDWARDS25519 to the KeySpec enum its message lists',
  'test_hmac_create_key_invalid_operations/create-hmac-key-invalid-key-usage': 'recorded 2023-04, before AWS added KEY_AGREEMENT to the KeyUsage enum its message lists',
  'test_generate_data_key/generate-data-key-result': 'recorded 2023-05, before AWS added KeyMaterialId to the responses (the 2025-09 Decrypt recording has it)',
  'test_generate_data_key_without_plaintext/generate-data-key-without-plaintext': 'recorded 2023-05, before AWS added KeyMaterialId to the responses (the 2025-09 Decrypt recording has it)',
  'test_re_encrypt[SYMMETRIC_DEFAULT-SYMMETRIC_DEFAULT]/test_re_encrypt': 'recorded 2025-06-09, before AWS added SourceKeyMaterialId and DestinationKeyMaterialId (the 2025-09 Decrypt recording has KeyMaterialId)',
  'test_rotate_key_on_demand_raises_error_given_key_with_imported_key_material/error-response':
    'recorded 2025-03-08, before AWS allowed on-demand rotation of imported symmetric keys; the 2025-11 recordings (test_rotate_key_on_demand_raises_for_no_pending_key_material) show today\'s answer, which Coffer gives',
};

/** Scenarios not replayed, with the reason. */
const NOT_REPLAYED: Record<string, string> = {
  'test_sign_verify[ECC_NIST_P256-ECDSA_SHA_384]': 'the recording has no steps (the algorithm does not fit the key: the test never reached a snapshot)',
  'test_sign_verify[ECC_SECG_P256K1-ECDSA_SHA_512]': 'the recording has no steps (the algorithm does not fit the key: the test never reached a snapshot)',
};

let srv: TestServer;
let kms: KMSClient;
before(async () => {
  srv = await startTestServer();
  kms = srv.kms;
});
after(async () => {
  await srv?.stop();
});

// ---- observing and comparing ----

function toJson(v: unknown): Json | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Date) return 'datetime';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map((x) => toJson(x) ?? null);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) {
      const j = toJson(x);
      if (j !== undefined) out[k] = j;
    }
    return out;
  }
  return v as Json;
}

type Observed = Record<string, Json>;

async function observe(p: Promise<unknown>): Promise<Observed> {
  try {
    const { $metadata, ...rest } = (await p) as Record<string, unknown> & { $metadata: { httpStatusCode?: number } };
    return { ...(toJson(rest) as Observed), ResponseMetadata: { HTTPHeaders: {}, HTTPStatusCode: $metadata.httpStatusCode ?? 0 } };
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number } };
    if (err.$metadata === undefined) throw e;
    // The JS SDK puts "UnknownError" where the body's message is empty (boto3 keeps "").
    return { Error: { Code: err.name, Message: err.message === 'UnknownError' ? '' : err.message }, ResponseMetadata: { HTTPHeaders: {}, HTTPStatusCode: err.$metadata.httpStatusCode ?? 0 } };
  }
}

/** CreateKey as LocalStack's kms_create_key fixture returns it: the KeyMetadata alone. */
async function createKey(input: CreateKeyCommandInput = {}): Promise<KeyMetadata> {
  return (await kms.send(new CreateKeyCommand(input))).KeyMetadata!;
}
const flat = (md: KeyMetadata): Observed => toJson(md) as Observed;

// LocalStack's redactions of values (snapshot transformers): any value of the kind matches.
const REDACTED = new Set(['datetime', 'ciphertext-blob', 'plaintext', 'shared-secret', 'public-key', 'import-token', 'private-key-ciphertext-blob', 'private-key-plaintext']);

class KmsReplay {
  readonly diffs: string[] = [];
  constructor(readonly name: string, private readonly recorded: Record<string, Json>) {}

  compare(step: string, observed: Observed | number | Json[]): void {
    const where = `${this.name}/${step}`;
    if (!(step in this.recorded)) {
      this.diffs.push(`${where}: no such step in the recording`);
      return;
    }
    const rec = this.recorded[step]!;
    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec) && 'Error' in rec) {
      const o = observed as Observed;
      const re = rec.Error as { Code: string; Message: string };
      const oe = o.Error as { Code: string; Message: string } | undefined;
      if (!oe) {
        this.diffs.push(`${where}: succeeded, AWS ${re.Code}: ${re.Message}`);
        return;
      }
      if (oe.Code !== re.Code) this.diffs.push(`${where}: ${oe.Code} (${oe.Message}), AWS ${re.Code} (${re.Message})`);
      else if (!matches(re.Message, oe.Message)) this.diffs.push(`${where}: message "${oe.Message}", AWS "${re.Message}"`);
      this.status(where, rec, o);
      return;
    }
    if (!Array.isArray(observed) && typeof observed === 'object' && 'Error' in observed) {
      const oe = observed.Error as { Code: string; Message: string };
      this.diffs.push(`${where}: ${oe.Code} (${oe.Message}) where AWS succeeded`);
      return;
    }
    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec)) this.status(where, rec, observed as Observed);
    this.walk(where, '', strip(rec), Array.isArray(observed) || typeof observed !== 'object' ? observed : strip(observed));
  }

  private status(where: string, rec: Record<string, Json>, o: Observed): void {
    const rs = (rec.ResponseMetadata as { HTTPStatusCode?: number } | undefined)?.HTTPStatusCode;
    const os = (o.ResponseMetadata as { HTTPStatusCode?: number } | undefined)?.HTTPStatusCode;
    if (rs !== undefined && rs !== os) this.diffs.push(`${where}: status ${os}, AWS ${rs}`);
  }

  private walk(where: string, path: string, rec: Json, obs: Json | undefined): void {
    const at = path || '(root)';
    if (obs === undefined) {
      this.diffs.push(`${where}: ${at} missing (AWS: ${JSON.stringify(rec)})`);
      return;
    }
    if (Array.isArray(rec)) {
      if (!Array.isArray(obs) || obs.length !== rec.length) this.diffs.push(`${where}: ${at} is ${JSON.stringify(obs)}, AWS ${JSON.stringify(rec)}`);
      else rec.forEach((r, i) => this.walk(where, `${path}[${i}]`, r, obs[i]));
      return;
    }
    if (rec !== null && typeof rec === 'object') {
      if (obs === null || typeof obs !== 'object' || Array.isArray(obs)) {
        this.diffs.push(`${where}: ${at} is ${JSON.stringify(obs)}, AWS has an object`);
        return;
      }
      for (const k of Object.keys(rec)) this.walk(where, path ? `${path}.${k}` : k, rec[k]!, obs[k]);
      for (const k of Object.keys(obs)) if (!(k in rec)) this.diffs.push(`${where}: ${path ? `${path}.${k}` : k} = ${JSON.stringify(obs[k])} where AWS sends none`);
      return;
    }
    if (typeof rec === 'string' && typeof obs === 'string' && matches(rec, obs)) return;
    if (rec === obs) return;
    this.diffs.push(`${where}: ${at} = ${JSON.stringify(obs)}, AWS ${JSON.stringify(rec)}`);
  }
}

function strip(o: Json): Json {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o;
  // boto3 adds a lower-case "message" beside Error for modelled exceptions; ResponseMetadata is compared apart.
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'ResponseMetadata' && k !== 'message'));
}

/** A recorded string against an observed one: redactions match anything, placeholders any text, the recording's account any account. */
function matches(rec: string, obs: string): boolean {
  if (REDACTED.has(rec)) return true;
  if (rec === obs) return true;
  if (!/<[^>]+>|111111111111/.test(rec)) return false;
  const pattern = rec.replace(/<[^>]+>|111111111111|[^<1]+|1/g, (part) => {
    if (part.startsWith('<')) return '(.+?)';
    if (part === '111111111111') return '\\d{12}';
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${pattern}$`, 's').test(obs);
}

// ---- helpers the scenarios share ----

const oaep = (spki: Uint8Array, data: Buffer, hash = 'sha256') =>
  publicEncrypt({ key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);

async function importParams(KeyId: string, WrappingAlgorithm = 'RSAES_OAEP_SHA_256', WrappingKeySpec = 'RSA_2048') {
  return kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: WrappingAlgorithm as 'RSAES_OAEP_SHA_256', WrappingKeySpec: WrappingKeySpec as 'RSA_2048' }));
}

async function importRaw(KeyId: string, material: Buffer, extra: Record<string, unknown> = {}) {
  const p = await importParams(KeyId);
  return kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: oaep(p.PublicKey!, material), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ...extra }));
}

const tags = (o: Record<string, string>) => Object.entries(o).map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
const HASHES: Record<string, string> = { SHA_256: 'sha256', SHA_384: 'sha384', SHA_512: 'sha512' };
const hashOf = (alg: string) => HASHES[Object.keys(HASHES).find((h) => alg.endsWith(h))!]!;
const CURVES: Record<string, string> = { ECC_NIST_P256: 'prime256v1', ECC_NIST_P384: 'secp384r1', ECC_NIST_P521: 'secp521r1', ECC_SECG_P256K1: 'secp256k1' };

// ---- the scenarios, by test name (parameters after the name in brackets) ----

type Scenario = (r: KmsReplay, param: string[]) => Promise<void>;

const SCENARIOS: Record<string, Scenario> = {
  test_create_alias: async (r) => {
    const k = await createKey();
    r.compare('create_alias', await observe(kms.send(new CreateAliasCommand({ AliasName: `a${randomBytes(4).toString('hex')}`, TargetKeyId: k.KeyId }))));
  },
  test_create_key: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT' });
    r.compare('describe-key', flat((await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!));
  },
  test_create_key_with_invalid_tag_key: async (r, [which]) => {
    const key = { lowercase_prefix: 'aws:key1', uppercase_prefix: 'AWS:key1', too_long_key: 'a'.repeat(129) }[which as 'lowercase_prefix']!;
    r.compare('invalid-tag-key', await observe(kms.send(new CreateKeyCommand({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags({ [key]: 'value1' }) }))));
  },
  test_create_key_with_tag_and_untag: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags({ tag1: 'value1', tag2: 'value2' }) });
    r.compare('list-resource-tags', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
    await kms.send(new UntagResourceCommand({ KeyId: k.KeyId, TagKeys: ['tag1', 'tag2'] }));
    r.compare('list-resource-tags-after-all-untagged', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
  },
  test_create_key_with_too_many_tags_raises_error: async (r) => {
    const many: Record<string, string> = {};
    for (let i = 0; i <= 50; i++) many[`key${i}`] = `value${i}`;
    r.compare('invalid-tag-key', await observe(kms.send(new CreateKeyCommand({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags(many) }))));
  },
  test_create_multi_region_key: async (r) => {
    const o = await observe(kms.send(new CreateKeyCommand({ MultiRegion: true, Description: 'test multi region key' })));
    r.compare('create_multi_region_key', o.Error ? o : flat(o.KeyMetadata as unknown as KeyMetadata));
  },
  test_derive_shared_secret: async (r) => {
    const k1 = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
    const k2 = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
    const pub1 = (await kms.send(new GetPublicKeyCommand({ KeyId: k1.KeyId }))).PublicKey!;
    const pub2 = (await kms.send(new GetPublicKeyCommand({ KeyId: k2.KeyId }))).PublicKey!;
    const s1 = await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k1.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub2 })));
    r.compare('response', s1);
    const s2 = await kms.send(new DeriveSharedSecretCommand({ KeyId: k2.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub1 }));
    assert.equal(Buffer.from(s2.SharedSecret!).toString('base64'), s1.SharedSecret, 'both sides derive the same secret');
    const k3 = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    r.compare('response-invalid-key-usage', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k3.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub2 }))));
    r.compare('response-invalid-key-spec', await observe(kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'KEY_AGREEMENT' }))));
    r.compare('response-invalid-key-agreement-algo', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k1.KeyId, KeyAgreementAlgorithm: 'INVALID' as 'ECDH', PublicKey: pub2 }))));
    const k4 = await createKey();
    r.compare('response-invalid-key', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k4.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: pub2 }))));
    r.compare('response-invalid-public-key', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k1.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: Buffer.from('InvalidPublicKey') }))));
  },
  test_derive_shared_secret_matches_openssl: async (r) => {
    const k = await createKey({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' });
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    r.compare('derived-shared-key-resp', await observe(kms.send(new DeriveSharedSecretCommand({ KeyId: k.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer.publicKey.export({ type: 'spki', format: 'der' }) }))));
  },
  test_describe_with_alias_arn: async (r) => {
    const k = await createKey({ Description: 'test - description' });
    r.compare('created-key', flat(k));
    const name = `alias/${randomBytes(4).toString('hex')}`;
    await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: k.KeyId }));
    const alias = (await kms.send(new ListAliasesCommand({}))).Aliases!.find((a) => a.AliasName === name)!;
    r.compare('describe-key', await observe(kms.send(new DescribeKeyCommand({ KeyId: alias.AliasArn }))));
  },
  test_encrypt_decrypt_encryption_context: async (r) => {
    const k = await createKey();
    const message = Buffer.from(Buffer.from('test message 123 !%$@ 1234567890').toString('base64'));
    const ctx = { 'context-key': 'context-value' };
    const enc = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: message, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', EncryptionContext: ctx })));
    r.compare('encrypt_response', enc);
    const blob = Buffer.from(enc.CiphertextBlob as string, 'base64');
    r.compare('decrypt_response_with_encryption_context', await observe(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: blob, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', EncryptionContext: ctx }))));
    r.compare('decrypt_response_without_encryption_context', await observe(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: blob, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }))));
    // LocalStack cuts its own header off; any ciphertext without its header is as invalid.
    r.compare('decrypt_response_with_invalid_ciphertext', await observe(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: blob.subarray(60), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', EncryptionContext: ctx }))));
  },
  test_encrypt_validate_plaintext_size_per_key_type: async (r, [spec, algo]) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: spec as 'RSA_2048' });
    const message = Buffer.from(Buffer.from('more than 500 bytes and less than 4096 bytes'.repeat(20)).toString('base64'));
    r.compare('generate-random-exc', await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: message, EncryptionAlgorithm: algo as 'RSAES_OAEP_SHA_1' }))));
  },
  test_error_messaging_for_invalid_keys: async (r) => {
    const hmac = await createKey({ Description: 'test key hmac', KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' });
    const ed = await createKey({ Description: 'test key encrypt decrypt' });
    const sv = await createKey({ Description: 'test key sign verify', KeyUsage: 'SIGN_VERIFY', KeySpec: 'RSA_2048' });
    r.compare('generate-mac-invalid-key-id', await observe(kms.send(new GenerateMacCommand({ KeyId: ed.KeyId, Message: Buffer.from('some important message'), MacAlgorithm: 'HMAC_SHA_224' }))));
    r.compare('sign-invalid-key-id', await observe(kms.send(new SignCommand({ KeyId: hmac.KeyId, SigningAlgorithm: 'RSASSA_PSS_SHA_256', MessageType: 'RAW', Message: Buffer.from('test message 123!@#') }))));
    r.compare('verify-invalid-key-id', await observe(kms.send(new VerifyCommand({ KeyId: ed.KeyId, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW', Message: Buffer.from('test message'), Signature: Buffer.from('random text') }))));
    r.compare('encrypt-invalid-key-id', await observe(kms.send(new EncryptCommand({ KeyId: sv.KeyId, Plaintext: Buffer.from('test message 123!@#') }))));
    const blob = (await kms.send(new EncryptCommand({ KeyId: ed.KeyId, Plaintext: Buffer.from('test message 123!@#') }))).CiphertextBlob;
    r.compare('decrypt-invalid-key-id', await observe(kms.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: hmac.KeyId }))));
  },
  test_generate_and_verify_mac: async (r, [spec, algo]) => {
    const k = await createKey({ Description: 'test hmac key', KeySpec: spec as 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    const msg = Buffer.from('some important message');
    const mac = await observe(kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: algo as 'HMAC_SHA_256' })));
    r.compare('generate-mac', mac);
    const macBytes = Buffer.from(mac.Mac as string, 'base64');
    r.compare('verify-mac', await observe(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: algo as 'HMAC_SHA_256', Mac: macBytes }))));
    r.compare('generate-mac-invalid-key-id', await observe(kms.send(new GenerateMacCommand({ KeyId: 'key_id', Message: msg, MacAlgorithm: algo as 'HMAC_SHA_256' }))));
    r.compare('verify-mac-invalid-key-id', await observe(kms.send(new VerifyMacCommand({ KeyId: 'key_id', Message: msg, MacAlgorithm: algo as 'HMAC_SHA_256', Mac: macBytes }))));
  },
  test_generate_random: async (r, [n]) => {
    r.compare('result_length', (await kms.send(new GenerateRandomCommand({ NumberOfBytes: Number(n) }))).Plaintext!.length);
  },
  test_generate_random_invalid_number_of_bytes: async (r, [n]) => {
    r.compare('generate-random-exc', await observe(kms.send(new GenerateRandomCommand(n === 'None' ? {} : { NumberOfBytes: Number(n) }))));
  },
  test_get_key_does_not_exist: async (r) => {
    const k = await createKey({ Description: 'test key 123' });
    const fake = '134f2428-cec1-4b25-a1ae-9048164dba47';
    r.compare('describe-nonexistent-key-with-id', await observe(kms.send(new DescribeKeyCommand({ KeyId: fake }))));
    r.compare('describe-nonexistent-with-arn', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.Arn!.replace(k.KeyId!, fake) }))));
    r.compare('describe-key-with-valid-id-mrk', await observe(kms.send(new DescribeKeyCommand({ KeyId: 'mrk-d3b95762d3b95762d3b95762d3b95762' }))));
  },
  test_get_key_in_different_region: async (r) => {
    // Coffer has one region: the "secondary region" key is created in it (EXPLAINED).
    const k = await createKey({ Description: 'test key 123' });
    const other = srv.kmsClient({ region: 'eu-west-3' });
    try {
      r.compare('describe-key-diff-region-with-id', await observe(other.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
      r.compare('describe-key-diff-region-with-arn', await observe(other.send(new DescribeKeyCommand({ KeyId: k.Arn }))));
    } finally {
      other.destroy();
    }
    r.compare('describe-key-same-specific-region-with-id', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    r.compare('describe-key-same-specific-region-with-arn', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.Arn }))));
  },
  test_get_key_invalid_uuid: async (r) => {
    r.compare('describe-key-with-invalid-uuid', await observe(kms.send(new DescribeKeyCommand({ KeyId: 'fake-key-id' }))));
    r.compare('describe-key-with-invalid-uuid-2', await observe(kms.send(new DescribeKeyCommand({ KeyId: '134f2428cec14b25a1ae9048164dba47' }))));
    r.compare('describe-key-with-invalid-uuid-mrk', await observe(kms.send(new DescribeKeyCommand({ KeyId: 'mrk-fake-key-id' }))));
  },
  test_get_parameters_for_import: async (r) => {
    const sv = await createKey({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256', Origin: 'EXTERNAL' });
    const p = await importParams(sv.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_4096');
    assert.equal(p.KeyId, sv.Arn);
    assert.ok(p.ImportToken?.length && p.PublicKey?.length && p.ParametersValidTo instanceof Date);
    const ed = await createKey();
    r.compare('response-error', await observe(importParams(ed.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_4096')));
  },
  test_get_parameters_for_import_raises_for_non_external_kms_keys: async (r) => {
    const k = await createKey();
    r.compare('get-import-parameters-error', await observe(importParams(k.KeyId!)));
  },
  test_hmac_create_key: async (r) => {
    const k = await createKey({ Description: 'test key', KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    r.compare('create-hmac-key', flat(k));
    r.compare('describe-key', flat((await kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))).KeyMetadata!));
  },
  test_hmac_create_key_invalid_operations: async (r) => {
    r.compare('create-hmac-key-without-key-usage', await observe(kms.send(new CreateKeyCommand({ Description: 'test HMAC key without key usage', KeySpec: 'HMAC_256' }))));
    r.compare('create-hmac-key-invalid-spec', await observe(kms.send(new CreateKeyCommand({ Description: 'test invalid HMAC spec', KeySpec: 'HMAC_random' as 'HMAC_256' }))));
    r.compare('create-hmac-key-invalid-key-usage', await observe(kms.send(new CreateKeyCommand({ Description: 'test invalid HMAC spec', KeySpec: 'HMAC_256', KeyUsage: 'RANDOM' as 'SIGN_VERIFY' }))));
  },
  test_import_key_asymmetric: async (r) => {
    // LocalStack's kms_create_key fixture describes a key created without a description ("<description:1>").
    const k = await createKey({ Origin: 'EXTERNAL', KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'test key' });
    r.compare('created-key', flat(k));
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const p = await importParams(k.KeyId!);
    const enc = oaep(p.PublicKey!, pair.privateKey.export({ type: 'pkcs8', format: 'der' }));
    r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    const pub = (await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!;
    assert.ok(Buffer.from(pub).equals(pair.publicKey.export({ type: 'spki', format: 'der' })));
    const msg = Buffer.from('test content 123 !#');
    const sig = await kms.send(new SignCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal((await kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256', Signature: sig.Signature }))).SignatureValid, true);
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
    r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
  },
  test_import_key_ecc_keys: async (r, [spec]) => {
    const [oaepHash, signing, wrapSpec, wrapAlg] = {
      ECC_NIST_P256: ['sha1', 'ECDSA_SHA_256', 'RSA_2048', 'RSAES_OAEP_SHA_1'], ECC_NIST_P384: ['sha1', 'ECDSA_SHA_384', 'RSA_2048', 'RSAES_OAEP_SHA_1'],
      ECC_NIST_P521: ['sha256', 'ECDSA_SHA_512', 'RSA_4096', 'RSAES_OAEP_SHA_256'], ECC_SECG_P256K1: ['sha1', 'ECDSA_SHA_256', 'RSA_2048', 'RSAES_OAEP_SHA_1'],
    }[spec as 'ECC_NIST_P256']!;
    const k = await createKey({ Origin: 'EXTERNAL', KeySpec: spec as 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'test ecc key import' });
    const pair = generateKeyPairSync('ec', { namedCurve: CURVES[spec!]! });
    const p = await importParams(k.KeyId!, wrapAlg, wrapSpec);
    const enc = oaep(p.PublicKey!, pair.privateKey.export({ type: 'pkcs8', format: 'der' }), oaepHash);
    r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    assert.ok(Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!).equals(pair.publicKey.export({ type: 'spki', format: 'der' })));
    const msg = Buffer.from('test sign verify 123 !%$@ 1234567890');
    const sig = await observe(kms.send(new SignCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: signing as 'ECDSA_SHA_256' })));
    r.compare('sign-result', sig);
    r.compare('verify-result', await observe(kms.send(new VerifyCommand({ KeyId: k.KeyId, Message: msg, MessageType: 'RAW', SigningAlgorithm: signing as 'ECDSA_SHA_256', Signature: Buffer.from(sig.Signature as string, 'base64') }))));
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
    r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
  },
  test_import_key_hmac_keys: async (r, [spec]) => {
    const [len, algo] = { HMAC_224: [28, 'HMAC_SHA_224'], HMAC_256: [32, 'HMAC_SHA_256'], HMAC_384: [48, 'HMAC_SHA_384'], HMAC_512: [64, 'HMAC_SHA_512'] }[spec as 'HMAC_224']! as [number, 'HMAC_SHA_224'];
    const k = await createKey({ Origin: 'EXTERNAL', KeySpec: spec as 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC', Description: 'test import hmac key' });
    const p = await importParams(k.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_4096');
    const enc = oaep(p.PublicKey!, randomBytes(len));
    r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    const msg = Buffer.from('test-mac-message');
    const mac = await observe(kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: algo })));
    r.compare('generate-mac-response', mac);
    r.compare('verify-mac-response', await observe(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: msg, MacAlgorithm: algo, Mac: Buffer.from(mac.Mac as string, 'base64') }))));
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
    r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
  },
  test_import_key_material_raises_if_there_is_already_key_material_pending: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    r.compare('import-initial-material-response', await observe(importRaw(k.KeyId!, randomBytes(32))));
    r.compare('import-pending-material-response', await observe(importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })));
    r.compare('existing-pending-material-error', await observe(importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })));
  },
  test_import_key_rsa_aes_wrap_sha256: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL', KeySpec: 'RSA_4096', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    const pair = generateKeyPairSync('rsa', { modulusLength: 4096 });
    const aesKey = randomBytes(32);
    const c = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
    const kwp = Buffer.concat([c.update(pair.privateKey.export({ type: 'pkcs8', format: 'der' })), c.final()]);
    const p = await importParams(k.KeyId!, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096');
    const blob = Buffer.concat([oaep(p.PublicKey!, aesKey), kwp]);
    r.compare('describe-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: blob, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    r.compare('import-key-material-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    assert.ok(Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!).equals(pair.publicKey.export({ type: 'spki', format: 'der' })));
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
    r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
  },
  test_import_key_symmetric: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL', Description: 'test key' });
    r.compare('created-key', flat(k));
    const plaintext = Buffer.from('test content 123 !#');
    r.compare('encrypt-before-import-error', await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext }))));
    const p = await importParams(k.KeyId!);
    const enc = oaep(p.PublicKey!, randomBytes(32));
    r.compare('describe-key-before-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    r.compare('import-expiring-key-without-valid-to', await observe(kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc }))));
    await kms.send(new ImportKeyMaterialCommand({ KeyId: k.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    r.compare('describe-key-after-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    const ct = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext }));
    assert.ok(Buffer.from((await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ct.CiphertextBlob }))).Plaintext!).equals(plaintext));
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: k.KeyId }));
    r.compare('describe-key-after-deleted-import', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    r.compare('encrypt-after-delete-error', await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext }))));
  },
  test_invalid_generate_mac: async (r, [spec, algo]) => {
    const k = await createKey({ Description: 'test hmac key', KeySpec: spec as 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' });
    r.compare('generate-mac', await observe(kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: Buffer.from('some important message'), MacAlgorithm: algo as 'HMAC_SHA_256' }))));
  },
  test_invalid_verify_mac: async (r, [spec, algo, msg]) => {
    const k = await createKey({ Description: 'test hmac key', KeySpec: spec as 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    const mac = await observe(kms.send(new GenerateMacCommand({ KeyId: k.KeyId, Message: Buffer.from('some important message'), MacAlgorithm: 'HMAC_SHA_256' })));
    r.compare('generate-mac', mac);
    r.compare('verify-mac', await observe(kms.send(new VerifyMacCommand({ KeyId: k.KeyId, Message: Buffer.from(msg!), MacAlgorithm: algo as 'HMAC_SHA_256', Mac: Buffer.from(mac.Mac as string, 'base64') }))));
  },
  test_key_enable_rotation_status: async (r, [days]) => {
    const k = await createKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId, RotationPeriodInDays: Number(days) }));
    r.compare('match_response', await observe(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))));
  },
  test_key_rotation_updates_current_key_material_id_for_aws_symmetric_keys: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    r.compare('describe-key-before-rotation', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
    r.compare('describe-key-after-rotation', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
  },
  test_key_rotations_encryption_decryption: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
    const ct = (await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('test message 123 !%$@ 1234567890'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }))).CiphertextBlob!;
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
    await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }));
    r.compare('bad-ciphertext', await observe(kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: Buffer.concat([ct, Buffer.from('bad_data')]), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }))));
  },
  test_key_rotations_limits: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
    for (let i = 0; i < 25; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
    r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_key_with_long_tag_value_raises_error: async (r) => {
    r.compare('too-long-tag-value', await observe(kms.send(new CreateKeyCommand({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags({ tag1: 'v'.repeat(257) }) }))));
  },
  test_non_multi_region_keys_should_not_have_multi_region_properties: async (r) => {
    r.compare('non_multi_region_keys_should_not_have_multi_region_properties', flat(await createKey({ MultiRegion: false, Description: 'test non multi region key' })));
  },
  test_plaintext_size_for_encrypt: async (r) => {
    const k = await createKey();
    const big = Buffer.from(Buffer.from('test message 123 !%$@ 1234567890'.repeat(100)).toString('base64'));
    r.compare('invalid-plaintext-size-encrypt', await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: big }))));
  },
  test_re_encrypt: async (r, [spec, algo]) => {
    const src = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: spec as 'RSA_2048' });
    const dst = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: spec as 'RSA_2048' });
    const ct = (await kms.send(new EncryptCommand({ KeyId: src.KeyId, Plaintext: Buffer.from('dGVzdCBtZXNzYWdl'), EncryptionAlgorithm: algo as 'SYMMETRIC_DEFAULT' }))).CiphertextBlob;
    r.compare('test_re_encrypt', await observe(kms.send(new ReEncryptCommand({
      SourceKeyId: src.KeyId, DestinationKeyId: dst.KeyId, CiphertextBlob: ct, SourceEncryptionAlgorithm: algo as 'SYMMETRIC_DEFAULT', DestinationEncryptionAlgorithm: algo as 'SYMMETRIC_DEFAULT',
    }))));
  },
  test_re_encrypt_incorrect_source_key: async (r) => {
    const src = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
    const ct = (await kms.send(new EncryptCommand({ KeyId: src.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob;
    const bad = await createKey({ Description: 'test hmac key', KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' });
    r.compare('incorrect-source-key', await observe(kms.send(new ReEncryptCommand({
      SourceKeyId: bad.KeyId, DestinationKeyId: bad.KeyId, CiphertextBlob: ct, SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    }))));
  },
  test_replicate_key: async (r) => {
    const k = await createKey({ Description: 'test replicated key' });
    const other = srv.kmsClient({ region: 'ap-southeast-1' });
    try {
      r.compare('describe-key-from-different-region', await observe(other.send(new DescribeKeyCommand({ KeyId: k.Arn!.replace(':us-east-1:', ':ap-southeast-1:') }))));
    } finally {
      other.destroy();
    }
    r.compare('replicate-key', await observe(kms.send(new ReplicateKeyCommand({ KeyId: k.KeyId, ReplicaRegion: 'ap-southeast-1' }))));
    r.compare('describe-key-from-region', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    r.compare('describe-replicated-key', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
  },
  test_replicate_replica_key_should_fail: async (r) => {
    const k = await createKey({ Description: 'test primary key' });
    r.compare('fail-replicate-non-primary-key', await observe(kms.send(new ReplicateKeyCommand({ KeyId: k.KeyId, ReplicaRegion: 'ap-southeast-1' }))));
  },
  test_rotate_key_on_demand_for_external_keys_decrypts_with_previous_material: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    r.compare('create-kms-external-key', flat(k));
    r.compare('import-key-material-response', await observe(importRaw(k.KeyId!, randomBytes(32))));
    const plaintext = Buffer.from('Hello World!1/?');
    const enc = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })));
    r.compare('kms-encrypt-initial-response', enc);
    await importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
    r.compare('rotate-key-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    assert.ok(Buffer.from((await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: Buffer.from(enc.CiphertextBlob as string, 'base64') }))).Plaintext!).equals(plaintext));
  },
  test_rotate_key_on_demand_modifies_key_material: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
    r.compare('rotate-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_on_external_key_with_no_key_material: async (r, [spec]) => {
    // The test passes no KeySpec (its parameter only names the step): both keys are symmetric.
    const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    r.compare('create-kms-external-key', flat(k));
    r.compare(`rotate-key-on-demand-error-response-${spec}`, await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_raises_error_given_key_is_disabled: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'RSA_4096' });
    await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
    r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_raises_error_given_key_that_does_not_exist: async (r) => {
    r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }))));
  },
  test_rotate_key_on_demand_raises_error_given_key_with_imported_key_material: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL' });
    await importRaw(k.KeyId!, randomBytes(32));
    r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_raises_error_given_non_symmetric_key: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'RSA_4096' });
    r.compare('error-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_raises_for_no_pending_key_material: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    await importRaw(k.KeyId!, randomBytes(32));
    r.compare('rotate-key-on-demand-invalid-state-error', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_updates_current_key_material_for_external_keys: async (r) => {
    const k = await createKey({ Origin: 'EXTERNAL', KeyUsage: 'ENCRYPT_DECRYPT', Description: 'test-key' });
    r.compare('create-kms-external-key', flat(k));
    const p = await observe(importParams(k.KeyId!));
    r.compare('get-import-parameters-response', p);
    const enc = oaep(Buffer.from(p.PublicKey as string, 'base64'), randomBytes(32));
    r.compare('describe-empty-key-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    r.compare('import-key-material-response', await observe(kms.send(new ImportKeyMaterialCommand({
      KeyId: k.KeyId, ImportToken: Buffer.from(p.ImportToken as string, 'base64'), EncryptedKeyMaterial: enc, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    }))));
    r.compare('describe-key-with-material-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    const plaintext = Buffer.from('Hello World!1/?');
    const first = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })));
    r.compare('kms-encrypt-initial-response', first);
    r.compare('import-new-key-material-response', await observe(importRaw(k.KeyId!, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' })));
    r.compare('describe-key-with-new-material-response', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    r.compare('rotate-key-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    r.compare('describe-key-after-rotation', await observe(kms.send(new DescribeKeyCommand({ KeyId: k.KeyId }))));
    const second = await observe(kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: plaintext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })));
    r.compare('kms-encrypt-rotated-key-response', second);
    assert.ok(Buffer.from((await kms.send(new DecryptCommand({ KeyId: k.KeyId, CiphertextBlob: Buffer.from(second.CiphertextBlob as string, 'base64') }))).Plaintext!).equals(plaintext));
  },
  test_rotate_key_on_demand_with_symmetric_key_and_automatic_rotation_disabled: async (r) => {
    const k = await createKey();
    r.compare('rotate-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    r.compare('rotation-status-response-after-rotation', await observe(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))));
  },
  test_rotate_key_on_demand_with_symmetric_key_and_automatic_rotation_enabled: async (r) => {
    const k = await createKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId }));
    const before = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }));
    r.compare('rotate-on-demand-response', await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))));
    const status = await observe(kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId })));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))).NextRotationDate?.getTime(), before.NextRotationDate?.getTime());
    r.compare('rotation-status-response-after-rotation', status);
  },
  test_rotate_on_demand_returns_arn_for_key_id: async (r) => {
    const k = await createKey({ KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' });
    const o = await observe(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId })));
    r.compare('rotate-on-demand-aws-key', o);
    assert.equal(o.KeyId, k.Arn);
  },
  test_sign_verify: async (r, [spec, algo]) => {
    const k = await createKey({ KeyUsage: 'SIGN_VERIFY', KeySpec: spec as 'RSA_2048' });
    const base = { KeyId: k.KeyId, SigningAlgorithm: algo as 'ECDSA_SHA_256' };
    const plaintext = Buffer.from('test message !%$@ 1234567890');
    const badSig = (await kms.send(new SignCommand({ ...base, MessageType: 'RAW', Message: Buffer.from('bad') }))).Signature;
    const sig = await observe(kms.send(new SignCommand({ ...base, MessageType: 'RAW', Message: plaintext })));
    r.compare('signature', sig);
    r.compare('verification', await observe(kms.send(new VerifyCommand({ ...base, MessageType: 'RAW', Message: plaintext, Signature: Buffer.from(sig.Signature as string, 'base64') }))));
    r.compare('bad-digest', await observe(kms.send(new SignCommand({ ...base, MessageType: 'DIGEST', Message: plaintext }))));
    r.compare('bad-signature', await observe(kms.send(new VerifyCommand({ ...base, MessageType: 'RAW', Message: plaintext, Signature: badSig }))));
  },
  test_verify_salt_length: async (_r, [spec, algo]) => {
    // No snapshot: the test's own check, offline verification of RAW and DIGEST signatures.
    const k = await createKey({ KeyUsage: 'SIGN_VERIFY', KeySpec: spec as 'RSA_2048' });
    const pub = createPublicKey({ key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: k.KeyId }))).PublicKey!), format: 'der', type: 'spki' });
    const plaintext = Buffer.from('test message !%$@ 1234567890');
    const hash = hashOf(algo!);
    const pss = algo!.includes('PSS') ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: { sha256: 32, sha384: 48, sha512: 64 }[hash as 'sha256'] } : {};
    const sig = (await kms.send(new SignCommand({ KeyId: k.KeyId, SigningAlgorithm: algo as 'ECDSA_SHA_256', MessageType: 'RAW', Message: plaintext }))).Signature!;
    assert.ok(verifySignature(hash, plaintext, { key: pub, ...pss }, Buffer.from(sig)), `${spec} ${algo} RAW`);
    const digest = createHash(hash).update(plaintext).digest();
    const sig2 = (await kms.send(new SignCommand({ KeyId: k.KeyId, SigningAlgorithm: algo as 'ECDSA_SHA_256', MessageType: 'DIGEST', Message: digest }))).Signature!;
    assert.ok(verifySignature(hash, plaintext, { key: pub, ...pss }, Buffer.from(sig2)), `${spec} ${algo} DIGEST`);
  },
  test_tag_existing_key_and_untag: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT' });
    await kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: tags({ tag1: 'value1', tag2: 'value2' }) }));
    r.compare('list-resource-tags', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
    await kms.send(new UntagResourceCommand({ KeyId: k.KeyId, TagKeys: ['tag1', 'tag2'] }));
    r.compare('list-resource-tags-after-all-untagged', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
  },
  test_tag_existing_key_with_invalid_tag_key: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT' });
    r.compare('invalid-tag-key', await observe(kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: tags({ 'aws:key1': 'value1' }) }))));
  },
  test_tag_key_with_duplicate_tag_keys_raises_error: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT' });
    r.compare('duplicate-tag-keys', await observe(kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: [{ TagKey: 'tag1', TagValue: 'value1' }, { TagKey: 'tag1', TagValue: 'another-value1' }] }))));
  },
  test_untag_key_partially: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags({ tag1: 'value1', tag2: 'value2', tag3: 'value3' }) });
    r.compare('list-resource-tags', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
    await kms.send(new UntagResourceCommand({ KeyId: k.KeyId, TagKeys: ['tag2'] }));
    r.compare('list-resource-tags-after-partially-untagged', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
  },
  test_update_and_add_tags_on_tagged_key: async (r) => {
    const k = await createKey({ Description: 'test key 123', KeyUsage: 'ENCRYPT_DECRYPT', Tags: tags({ tag1: 'value1', tag2: 'value2', tag3: 'value3' }) });
    r.compare('list-resource-tags', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
    await kms.send(new TagResourceCommand({ KeyId: k.KeyId, Tags: tags({ tag4: 'value4', tag2: 'updated_value2', tag5: 'value5' }) }));
    r.compare('list-resource-tags-after-tags-updated', toJson((await kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags) as Json[]);
  },
  test_encryption_context_generate_data_key: async (r) => {
    const k = await createKey();
    const res = await kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', EncryptionContext: { 'context-key': 'context-value' } }));
    r.compare('decrypt-without-encryption-context', await observe(kms.send(new DecryptCommand({ CiphertextBlob: res.CiphertextBlob, KeyId: k.KeyId }))));
  },
  test_encryption_context_generate_data_key_without_plaintext: async (r) => {
    const k = await createKey();
    const res = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.KeyId, KeySpec: 'AES_256', EncryptionContext: { 'context-key': 'context-value' } }));
    r.compare('decrypt-without-encryption-context', await observe(kms.send(new DecryptCommand({ CiphertextBlob: res.CiphertextBlob, KeyId: k.KeyId }))));
  },
  test_encryption_context_generate_data_key_pair: async (r) => {
    const k = await createKey();
    const res = await kms.send(new GenerateDataKeyPairCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048', EncryptionContext: { 'context-key': 'context-value' } }));
    r.compare('decrypt-without-encryption-context', await observe(kms.send(new DecryptCommand({ CiphertextBlob: res.PrivateKeyCiphertextBlob, KeyId: k.KeyId }))));
  },
  test_encryption_context_generate_data_key_pair_without_plaintext: async (r) => {
    const k = await createKey();
    const res = await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048', EncryptionContext: { 'context-key': 'context-value' } }));
    r.compare('decrypt-without-encryption-context', await observe(kms.send(new DecryptCommand({ CiphertextBlob: res.PrivateKeyCiphertextBlob, KeyId: k.KeyId }))));
  },
  test_generate_data_key: async (r) => {
    const k = await createKey();
    r.compare('generate-data-key-result', await observe(kms.send(new GenerateDataKeyCommand({ KeyId: k.KeyId, KeySpec: 'AES_256' }))));
  },
  test_generate_data_key_pair: async (r) => {
    const k = await createKey();
    r.compare('generate-data-key-pair', await observe(kms.send(new GenerateDataKeyPairCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048' }))));
  },
  test_generate_data_key_pair_dry_run: async (r) => {
    const k = await createKey();
    r.compare('dryrun_exception', await observe(kms.send(new GenerateDataKeyPairCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048', DryRun: true }))));
  },
  test_generate_data_key_pair_without_plaintext: async (r) => {
    const k = await createKey();
    r.compare('generate-data-key-pair-without-plaintext', await observe(kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048' }))));
  },
  test_generate_data_key_pair_without_plaintext_dry_run: async (r) => {
    const k = await createKey();
    await kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048' }));
    r.compare('dryrun_exception', await observe(kms.send(new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: k.KeyId, KeyPairSpec: 'RSA_2048', DryRun: true }))));
  },
  test_generate_data_key_without_plaintext: async (r) => {
    const k = await createKey();
    r.compare('generate-data-key-without-plaintext', await observe(kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k.KeyId, KeySpec: 'AES_256' }))));
  },
};

/** "tests/...::TestKMS::test_x[a-b]" → ["test_x", ["a", "b"]] (parameters split on "-", except a MAC message, which is the last and may hold spaces). */
function parseName(full: string): [string, string[]] {
  const short = full.split('::').pop()!;
  const m = /^([^[]+)(?:\[(.*)\])?$/.exec(short)!;
  const params = m[2] === undefined ? [] : m[2].split('-');
  if (m[1] === 'test_invalid_verify_mac') return [m[1], [params[0]!, params[1]!, params.slice(2).join('-')]];
  return [m[1]!, params];
}

test('every scenario of the AWS KMS recordings replays against Coffer; only the explained differences remain', { timeout: 600_000 }, async () => {
  const all: string[] = [];
  const replayed: string[] = [];
  for (const [full, rec] of Object.entries(RECORDINGS)) {
    const short = full.split('::').pop()!;
    if (short in NOT_REPLAYED) continue;
    const [name, params] = parseName(full);
    const scenario = SCENARIOS[name];
    assert.ok(scenario, `no replay written for ${short}`);
    const r = new KmsReplay(short.replace(/\[.*$/, '') + (params.length ? `[${params.join('-')}]` : ''), rec['recorded-content']);
    await scenario(r, params);
    all.push(...r.diffs);
    replayed.push(short);
  }
  const explainedKey = (d: string) => Object.keys(EXPLAINED).find((k) => d.startsWith(`${k}:`));
  const unexplained = all.filter((d) => explainedKey(d) === undefined);
  const stale = Object.keys(EXPLAINED).filter((k) => !all.some((d) => d.startsWith(`${k}:`)));
  assert.equal(replayed.length + Object.keys(NOT_REPLAYED).length, Object.keys(RECORDINGS).length);
  assert.deepEqual(unexplained, [], `${unexplained.length} differences from AWS`);
  assert.deepEqual(stale, [], 'explained differences that no longer occur');
});
