// Choosing the blob tier: COFFER_BLOBS / --blobs parsed by config/blobs.ts (with its
// credentials and messages), and open-backend.ts putting blobs where the setting says —
// the data directory by default, a shared directory for file://.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openBackend } from '../../src/backend/open-backend.js';
import { loadBlobsConfig } from '../../src/config/blobs.js';
import { explainConfig, loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/errors.js';
import { readAll, writeBlob } from '../storage/blob-store.contract.js';
import { filesUnder } from '../storage/fs-helpers.js';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'coffer-tier-select-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const CREDS = { COFFER_BLOB_S3_ACCESS_KEY_ID: 'AKIABLOBTIER0001', COFFER_BLOB_S3_SECRET_ACCESS_KEY: 'blob-tier-secret-0123456789' };

describe('COFFER_BLOBS', () => {
  it('unset or empty keeps the data directory', () => {
    assert.deepEqual(loadBlobsConfig(undefined, {}), { kind: 'data-dir' });
    assert.deepEqual(loadBlobsConfig('', {}), { kind: 'data-dir' });
    assert.deepEqual(loadConfig({ dataDir: root }, {}).blobs, { kind: 'data-dir' });
  });

  it('file:///path is a shared directory', () => {
    assert.deepEqual(loadBlobsConfig('file:///mnt/coffer-blobs', {}), { kind: 'file', path: '/mnt/coffer-blobs' });
    for (const bad of ['file://host/x', 'file:///', 'ftp://x/y', 'not a url']) assert.throws(() => loadBlobsConfig(bad, {}), ConfigError, bad);
  });

  it('s3:// with endpoint, region, path style, part size and prefix', () => {
    const c = loadBlobsConfig('s3://tier-bucket/a/b?endpoint=http://10.0.0.5:7480&region=eu-west-1&forcePathStyle=true&partSizeMiB=8', CREDS);
    assert.equal(c.kind, 's3');
    if (c.kind !== 's3') return;
    assert.deepEqual(
      { endpoint: c.endpoint, bucket: c.bucket, prefix: c.prefix, region: c.region, forcePathStyle: c.forcePathStyle, partBytes: c.partBytes, accessKeyId: c.accessKeyId },
      { endpoint: 'http://10.0.0.5:7480', bucket: 'tier-bucket', prefix: 'a/b/', region: 'eu-west-1', forcePathStyle: true, partBytes: 8 * 1024 * 1024, accessKeyId: 'AKIABLOBTIER0001' },
    );
    const aws = loadBlobsConfig('s3://tier-bucket', { AWS_ACCESS_KEY_ID: 'AKIAFROMAWSENV001', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't' });
    assert.ok(aws.kind === 's3' && aws.endpoint === 'https://s3.us-east-1.amazonaws.com' && aws.prefix === '' && !aws.forcePathStyle && aws.accessKeyId === 'AKIAFROMAWSENV001' && aws.sessionToken === 't');
  });

  it('refuses a bad s3:// setting with a hint, and never shows the secret', () => {
    for (const bad of ['s3://B/x?endpoint=http://h', 's3://b1b/x?endpoint=http://h/path', 's3://b1b?endpoint=ftp://h', 's3://b1b?region=mars', 's3://b1b?partSizeMiB=4', 's3://b1b?forcePathStyle=yes', 's3://b1b?bogus=1']) {
      assert.throws(() => loadBlobsConfig(bad, CREDS), (e: unknown) => e instanceof ConfigError && e.hint !== undefined, bad);
    }
    assert.throws(() => loadBlobsConfig('s3://b1b', {}), /no credentials/);
  });

  it('reads the secret from COFFER_BLOB_S3_SECRET_ACCESS_KEY_FILE, and config check masks it', async () => {
    const file = join(root, 'blob-secret');
    await writeFile(file, 'secret-from-a-file-0123456789\n');
    const { config, rows } = explainConfig({ dataDir: root }, { COFFER_BLOBS: 's3://b1b/p?endpoint=http://127.0.0.1:1', COFFER_BLOB_S3_ACCESS_KEY_ID: 'AKIABLOBTIER0001', COFFER_BLOB_S3_SECRET_ACCESS_KEY_FILE: file });
    assert.ok(config.blobs.kind === 's3' && config.blobs.secretAccessKey === 'secret-from-a-file-0123456789');
    assert.equal(rows.find((r) => r.env === 'COFFER_BLOBS')?.value, 's3://b1b/p?endpoint=http://127.0.0.1:1');
    assert.equal(rows.find((r) => r.env === 'COFFER_BLOB_S3_SECRET_ACCESS_KEY')?.value, '****');
    assert.ok(!JSON.stringify(rows).includes('secret-from-a-file'));
  });
});

describe('openBackend with a blob tier', () => {
  const base = (dataDir: string) => ({ dataDir, fsync: false, region: 'us-east-1', auditMaxFileBytes: 1024 * 1024, auditMaxFiles: 2 });

  it('file:// puts blobs over 64 KiB in the shared directory (<aa>/<bb>/<id>), none in the data directory', async () => {
    const dataDir = join(root, 'node-1');
    const shared = join(root, 'shared');
    await mkdir(dataDir);
    const b = await openBackend({ ...base(dataDir), blobs: { kind: 'file', path: shared } });
    try {
      const data = Buffer.alloc(200 * 1024, 7);
      const w = await writeBlob(b.blobs, data);
      const hex = w.blobId.replace(/^i/, '');
      assert.deepEqual(await filesUnder(shared), [join(hex.slice(0, 2), hex.slice(2, 4), hex)]);
      assert.ok(!(await readdir(dataDir)).includes('blobs'));
      assert.ok((await readAll(b.blobs.read(w.blobId))).equals(data));
    } finally {
      await b.close();
    }
  });

  it('s3:// with a backend that cannot be reached refuses the start with a hint', async () => {
    const blobs = loadBlobsConfig('s3://b1b/p?endpoint=http://127.0.0.1:1&forcePathStyle=true', CREDS);
    await mkdir(join(root, 'node-2'));
    await assert.rejects(openBackend({ ...base(join(root, 'node-2')), blobs }), (e: Error & { hint?: string }) => /cannot be reached/.test(e.hint ?? '') && !e.message.includes('blob-tier-secret'));
  });
});
