// coffer backup and coffer restore, end to end: a backup taken while the server runs
// (objects inline and in blob files, SSE-S3, a KMS key, an IAM user), restored into a new
// directory that a server then opens; a restore refused before writing anything for a
// wrong root key or a damaged file; the root key in the backup only when asked for.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CLI_MAIN } from '../interop/support.js';
import { startTestServer } from '../helpers/server.js';
import { tempDirs } from './tmp-dirs.js';

const run = promisify(execFile);
const dir = tempDirs('backup');
const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env } });
const refusal = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    return (e as { stderr: string }).stderr;
  }
  assert.fail('expected the command to fail');
};

describe('coffer backup / restore', () => {
  it('backs up a running server, and restores only a backup that matches its manifest and root key', async () => {
    const dataDir = dir();
    await fs.mkdir(dataDir, { recursive: true });
    const big = randomBytes(300 * 1024);
    const s = await startTestServer({}, { dataDir });
    let blob: Uint8Array;
    let oldVersion: string;
    const backup = dir();
    const withKey = dir();
    try {
      const keyId = (await s.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      blob = (await s.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kms plaintext') }))).CiphertextBlob!;
      await s.s3.send(new CreateBucketCommand({ Bucket: 'backup-bucket' }));
      await s.s3.send(new PutObjectCommand({ Bucket: 'backup-bucket', Key: 'small', Body: 'small body', ServerSideEncryption: 'AES256' }));
      await s.s3.send(new PutObjectCommand({ Bucket: 'backup-bucket', Key: 'big', Body: big }));
      // A noncurrent version's blob is in the backup too.
      await s.s3.send(new CreateBucketCommand({ Bucket: 'backup-versions' }));
      await s.s3.send(new PutBucketVersioningCommand({ Bucket: 'backup-versions', VersioningConfiguration: { Status: 'Enabled' } }));
      oldVersion = (await s.s3.send(new PutObjectCommand({ Bucket: 'backup-versions', Key: 'doc', Body: big }))).VersionId!;
      await s.s3.send(new PutObjectCommand({ Bucket: 'backup-versions', Key: 'doc', Body: 'current' }));
      const out = await cli(['backup', '--to', backup, '--data-dir', dataDir]);
      assert.match(out.stdout, /^backed up .*: \d+ files, \d+ bytes; 2 buckets, 3 objects, 1 KMS keys, 0 users\n  the backup does NOT include the root key key:[0-9a-f]{16}/);
      const withKeyOut = await cli(['backup', '--to', withKey, '--data-dir', dataDir, '--include-root-key']);
      assert.match(withKeyOut.stdout, /the backup INCLUDES the root key key:[0-9a-f]{16} \(root\.key\)/);
    } finally {
      await s.stop();
    }
    await assert.rejects(fs.stat(path.join(backup, 'root.key')), /ENOENT/);
    const manifest = JSON.parse(await fs.readFile(path.join(backup, 'manifest.json'), 'utf8')) as { files: { path: string }[]; rows: Record<string, Record<string, number>> };
    assert.equal(manifest.rows['metadata.sqlite']!.objects, 3);
    const blobFile = manifest.files.find((f) => f.path.startsWith('blobs/'))!;
    assert.ok(blobFile, 'the large object is a blob file in the backup');

    // A wrong root key: refused, nothing written.
    const wrong = dir();
    const e1 = await refusal(cli(['restore', '--from', backup, '--data-dir', wrong], { COFFER_ROOT_KEY: randomBytes(32).toString('base64') }));
    assert.match(e1, /\ncoffer: error: the backup was sealed under root key key:[0-9a-f]{16}, but the configured root key is key:[0-9a-f]{16}\n/);
    await assert.rejects(fs.stat(wrong), /ENOENT/);

    // A damaged file: refused, naming it, nothing written.
    const damaged = dir();
    await fs.cp(backup, damaged + '-src', { recursive: true });
    const f = path.join(damaged + '-src', blobFile.path);
    const bytes = await fs.readFile(f);
    bytes[100] ^= 1;
    await fs.writeFile(f, bytes);
    const e2 = await refusal(cli(['restore', '--from', damaged + '-src', '--data-dir', damaged]));
    assert.match(e2, new RegExp(`coffer: error: .*${blobFile.path.replace(/\//g, '\\/')} does not match the manifest`));
    await assert.rejects(fs.stat(damaged), /ENOENT/);

    // The backup without its key, with the key given: restored, and a server opens everything.
    const rootKey = (await fs.readFile(path.join(dataDir, 'root.key'))).toString('base64');
    const restored = dir();
    const ok = await cli(['restore', '--from', backup, '--data-dir', restored], { COFFER_ROOT_KEY: rootKey });
    assert.match(ok.stdout, /^restored \d+ files from .* into .*\n  root key key:[0-9a-f]{16} checked/);
    const r = await startTestServer({ COFFER_ROOT_KEY: rootKey }, { dataDir: restored });
    try {
      assert.equal(Buffer.from((await r.kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'kms plaintext');
      assert.equal(await (await r.s3.send(new GetObjectCommand({ Bucket: 'backup-bucket', Key: 'small' }))).Body!.transformToString(), 'small body');
      assert.ok(Buffer.from(await (await r.s3.send(new GetObjectCommand({ Bucket: 'backup-bucket', Key: 'big' }))).Body!.transformToByteArray()).equals(big));
      const old = await r.s3.send(new GetObjectCommand({ Bucket: 'backup-versions', Key: 'doc', VersionId: oldVersion! }));
      assert.ok(Buffer.from(await old.Body!.transformToByteArray()).equals(big), 'the noncurrent version reads back from the restored copy');
    } finally {
      await r.stop();
    }

    // The backup with its key checks that key itself; into a non-empty directory it refuses.
    const restored2 = dir();
    assert.match((await cli(['restore', '--from', withKey, '--data-dir', restored2])).stdout, /root key key:[0-9a-f]{16} checked/);
    assert.match(await refusal(cli(['restore', '--from', withKey, '--data-dir', restored2])), /is not empty/);
  });
});
