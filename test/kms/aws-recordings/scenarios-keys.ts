// The other KMS recording scenarios (keys, tags, aliases, crypto, MACs, signatures, data
// keys, multi-Region refusals): each rebuilds the requests of one LocalStack test of
// tests/aws/services/kms/test_kms.py and compares each snapshot step.

import assert from 'node:assert/strict';
import { constants, createHash, createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import {
  CreateAliasCommand, CreateKeyCommand, DecryptCommand, DescribeKeyCommand,
  EncryptCommand, GenerateDataKeyCommand, GenerateDataKeyPairCommand, GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand, GenerateMacCommand, GenerateRandomCommand,
  GetPublicKeyCommand, ListAliasesCommand, ListResourceTagsCommand, ReEncryptCommand, ReplicateKeyCommand,
  SignCommand, TagResourceCommand, UntagResourceCommand, VerifyCommand, VerifyMacCommand,
  type CreateKeyCommandInput, type KMSClient, type KeyMetadata,
} from '@aws-sdk/client-kms';
import type { TestServer } from '../../helpers/server.js';
import { createKey as create, flat, observe, toJson, type Json, type Scenario } from './replay-kms.js';

export function keyScenarios(srv: TestServer): Record<string, Scenario> {
  const kms: KMSClient = srv.kms;
  const createKey = (input: CreateKeyCommandInput = {}): Promise<KeyMetadata> => create(kms, input);

  const tags = (o: Record<string, string>) => Object.entries(o).map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
  const HASHES: Record<string, string> = { SHA_256: 'sha256', SHA_384: 'sha384', SHA_512: 'sha512' };
  const hashOf = (alg: string) => HASHES[Object.keys(HASHES).find((h) => alg.endsWith(h))!]!;

  return {
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
}
