// Writes that race across nodes (docs/CLUSTER.md): the same key written with
// If-None-Match: * from three nodes at once, two uploads of one key completed at once with
// If-None-Match: *, one upload completed from three nodes at once, one import token used
// on two nodes at once, and key changes on two nodes at once that must not undo each other.
// Three real nodes on one PostgreSQL (test/helpers/cluster.ts), real SDK clients; each race
// is run several times so the requests overlap in some round.

import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListObjectVersionsCommand,
  PutBucketVersioningCommand, PutObjectCommand, S3ServiceException, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand, GetParametersForImportCommand, ImportKeyMaterialCommand,
  KMSServiceException, ListAliasesCommand, ListKeyRotationsCommand, ListKeysCommand, RotateKeyOnDemandCommand, UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { describePostgres } from '../helpers/postgres.js';

const MiB = 1024 * 1024;

/** Settles all; asserts exactly one fulfilled and every other rejected with one of `codes`. Returns the winner's index. */
async function exactlyOne(writes: Promise<unknown>[], codes: string[]): Promise<number> {
  const results = await Promise.allSettled(writes);
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  const shown = results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).name))).join(', ');
  assert.equal(won.length, 1, `exactly one of ${writes.length} concurrent writes wins: ${shown}`);
  for (const r of results) {
    if (r.status === 'rejected') {
      const e = r.reason as S3ServiceException | KMSServiceException;
      assert.ok((e instanceof S3ServiceException || e instanceof KMSServiceException) && codes.includes(e.name), `a loser gets one of ${codes.join(', ')}: ${shown}`);
    }
  }
  return won[0]!;
}

describePostgres('a three-node cluster: writes racing across nodes', () => {
  let cluster: TestCluster;
  let s3: S3Client[];
  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    s3 = cluster.nodes.map((n) => n.s3());
    await s3[0]!.send(new CreateBucketCommand({ Bucket: 'race' }));
    await s3[0]!.send(new PutBucketVersioningCommand({ Bucket: 'race', VersioningConfiguration: { Status: 'Enabled' } }));
  });
  after(async () => {
    await cluster?.stop();
  });

  const body = async (Key: string, node = 0) =>
    Buffer.from(await (await s3[node]!.send(new GetObjectCommand({ Bucket: 'race', Key }))).Body!.transformToByteArray()).toString();
  const versions = async (Key: string) =>
    ((await s3[1]!.send(new ListObjectVersionsCommand({ Bucket: 'race', Prefix: Key }))).Versions ?? []).filter((v) => v.Key === Key);

  it('the first SSE-KMS PUTs with the default key (aws/s3), from three nodes at once: every one succeeds, all under one key', async () => {
    // Runs first: the AWS managed key does not exist yet, so each node sets out to create it.
    const results = await Promise.all(s3.map((c, i) => c.send(new PutObjectCommand({ Bucket: 'race', Key: `default-kms-${i}`, Body: 'x', ServerSideEncryption: 'aws:kms' }))));
    const arns = new Set(results.map((r) => r.SSEKMSKeyId));
    assert.equal(arns.size, 1, `one aws/s3 key: ${[...arns].join(', ')}`);
    const aliases = (await cluster.nodes[0]!.kms().send(new ListAliasesCommand({}))).Aliases!.filter((a) => a.AliasName === 'alias/aws/s3');
    assert.equal(aliases.length, 1);
    assert.equal(aliases[0]!.TargetKeyId, [...arns][0]!.split('/').pop());
    const keys = (await cluster.nodes[1]!.kms().send(new ListKeysCommand({}))).Keys!;
    assert.equal(keys.length, 1, 'no orphan AWS managed key left by the nodes that lost the race');
  });

  it('PUT with If-None-Match: * of one key from three nodes at once: exactly one wins, the others are refused, its body is stored', async () => {
    for (let round = 0; round < 6; round++) {
      const Key = `inm-${round}`;
      const w = await exactlyOne(
        s3.map((c, i) => c.send(new PutObjectCommand({ Bucket: 'race', Key, Body: `from node ${i}`, IfNoneMatch: '*' }))),
        ['PreconditionFailed', 'ConditionalRequestConflict'],
      );
      assert.equal(await body(Key, (w + 1) % 3), `from node ${w}`);
      assert.equal((await versions(Key)).length, 1, 'one version, the winner\'s');
    }
  });

  /** A multipart upload of `Key` with one part of `fill`, through node `via`. */
  async function upload(Key: string, via: number, fill: string) {
    const { UploadId } = await s3[via]!.send(new CreateMultipartUploadCommand({ Bucket: 'race', Key }));
    const { ETag } = await s3[via]!.send(new UploadPartCommand({ Bucket: 'race', Key, UploadId, PartNumber: 1, Body: Buffer.alloc(MiB / 4, fill) }));
    return { UploadId: UploadId!, Parts: [{ PartNumber: 1, ETag: ETag! }] };
  }

  it('two uploads of one key completed at once on two nodes with If-None-Match: *: exactly one wins, its parts are the object', async () => {
    for (let round = 0; round < 4; round++) {
      const Key = `mpu-inm-${round}`;
      const ups = [await upload(Key, 0, 'a'), await upload(Key, 1, 'b')];
      const w = await exactlyOne(
        ups.map((u, i) => s3[i]!.send(new CompleteMultipartUploadCommand({ Bucket: 'race', Key, UploadId: u.UploadId, MultipartUpload: { Parts: u.Parts }, IfNoneMatch: '*' }))),
        ['PreconditionFailed', 'ConditionalRequestConflict'],
      );
      const got = await body(Key, 2);
      assert.equal(got.length, MiB / 4);
      assert.equal(got[0], 'ab'[w]);
      assert.equal((await versions(Key)).length, 1);
    }
  });

  it('one upload completed from three nodes at once: every answer names the same object (none is InvalidPart), and there is one version of it', async () => {
    for (let round = 0; round < 10; round++) {
      const Key = `mpu-same-${round}`;
      const u = await upload(Key, round % 3, 'c');
      const results = await Promise.allSettled(s3.map((c) => c.send(new CompleteMultipartUploadCommand({ Bucket: 'race', Key, UploadId: u.UploadId, MultipartUpload: { Parts: u.Parts } }))));
      const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      assert.ok(ok.length >= 1, 'at least one completion answers 200');
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as S3ServiceException).name, 'NoSuchUpload', String(r.reason));
      }
      assert.equal(new Set(ok.map((o) => `${o.ETag}/${o.VersionId}`)).size, 1, 'a repeated completion answers as the first did');
      const vs = await versions(Key);
      assert.equal(vs.length, 1, 'the upload became one version, not one per node');
      assert.equal(vs[0]!.VersionId, ok[0]!.VersionId);
    }
  });

  it('ImportKeyMaterial with one import token on two nodes at once: exactly one import lands, the other is InvalidImportTokenException', async () => {
    const kms = cluster.nodes.map((n) => n.kms());
    for (let round = 0; round < 5; round++) {
      const keyId = (await kms[0]!.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
      const params = await kms[round % 3]!.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const publicKey = createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' });
      const wrap = (m: Buffer) => publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, m);
      // Two different materials, so a second landing would be visible (a re-import of the same material is allowed).
      const imports = [1, 2].map((n) => kms[n]!.send(new ImportKeyMaterialCommand({
        KeyId: keyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrap(randomBytes(32)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      })));
      await exactlyOne(imports, ['InvalidImportTokenException']);
      const meta = (await kms[0]!.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      assert.equal(meta.KeyState, 'Enabled');
    }
  });

  it('the last on-demand rotation a key has left, asked of three nodes at once: exactly one rotates, the others are LimitExceededException', async () => {
    const kms = cluster.nodes.map((n) => n.kms());
    const KeyId = (await kms[0]!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    for (let i = 0; i < 24; i++) await kms[i % 3]!.send(new RotateKeyOnDemandCommand({ KeyId }));
    await exactlyOne(kms.map((c) => c.send(new RotateKeyOnDemandCommand({ KeyId }))), ['LimitExceededException']);
    const rotations = (await kms[1]!.send(new ListKeyRotationsCommand({ KeyId, Limit: 100 }))).Rotations!;
    assert.equal(rotations.length, 25);
  });

  it('DisableKey on one node while another changes the description: neither undoes the other', async () => {
    const kms = cluster.nodes.map((n) => n.kms());
    const KeyId = (await kms[0]!.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    for (let round = 0; round < 10; round++) {
      await Promise.all([
        kms[round % 3]!.send(new DisableKeyCommand({ KeyId })),
        kms[(round + 1) % 3]!.send(new UpdateKeyDescriptionCommand({ KeyId, Description: `d${round}` })),
      ]);
      const meta = (await kms[(round + 2) % 3]!.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!;
      assert.deepEqual([meta.KeyState, meta.Description], ['Disabled', `d${round}`], `round ${round}`);
      await kms[0]!.send(new EnableKeyCommand({ KeyId }));
    }
  });
});
