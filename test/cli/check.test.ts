// Issue 12, `coffer check`: SQLite's integrity check of every database and every blob
// against its metadata (missing blobs, wrong sizes, orphans), exit 1 with a report on a
// problem; and the server's quick_check at start, which refuses a damaged metadata
// database and says to run `coffer check`. The data directory is a real server's,
// stopped, then damaged by hand: a deleted blob file, a stray file, overwritten pages.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, openSync, readdirSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync, mkdirSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand, CreateMultipartUploadCommand, PutBucketVersioningCommand, PutObjectCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startTestServer } from '../helpers/server.js';
import { CLI_MAIN, patternBytes, startChildServer } from '../interop/support.js';

const KiB = 1024;

function check(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, 'check', '--data-dir', dataDir, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The committed blob files under blobs/xx/. */
function blobFiles(dataDir: string): string[] {
  const root = path.join(dataDir, 'blobs');
  return readdirSync(root).filter((d) => /^[0-9a-f]{2}$/.test(d)).flatMap((d) => readdirSync(path.join(root, d)).map((f) => path.join(root, d, f)));
}

describe('coffer check', () => {
  let dataDir: string;

  before(async () => {
    dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'coffer-check-')), 'data');
    const srv = await startTestServer({}, { dataDir });
    await srv.s3.send(new CreateBucketCommand({ Bucket: 'bkt' }));
    // Enough rows for a metadata database of many pages, so damage in its middle hits a b-tree page.
    for (let i = 0; i < 300; i++) {
      await srv.s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: `small-${String(i).padStart(4, '0')}`, Body: patternBytes(2 * KiB, i), Metadata: { note: 'x'.repeat(200) } }));
    }
    await srv.s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'big', Body: patternBytes(300 * KiB, 7) }));
    const up = await srv.s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'mp' }));
    await srv.s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'mp', UploadId: up.UploadId!, PartNumber: 1, Body: patternBytes(200 * KiB, 8) }));
    // A noncurrent version's blob is referenced, not an orphan.
    await srv.s3.send(new CreateBucketCommand({ Bucket: 'ver' }));
    await srv.s3.send(new PutBucketVersioningCommand({ Bucket: 'ver', VersioningConfiguration: { Status: 'Enabled' } }));
    await srv.s3.send(new PutObjectCommand({ Bucket: 'ver', Key: 'doc', Body: patternBytes(20 * KiB, 9) }));
    await srv.s3.send(new PutObjectCommand({ Bucket: 'ver', Key: 'doc', Body: patternBytes(20 * KiB, 10) }));
    await srv.stop();
  });

  after(() => {
    rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  it('a whole data directory: every database ok, every blob present, exit 0', async () => {
    const r = await check(dataDir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /metadata\.sqlite: ok \(integrity_check\)/);
    assert.match(r.stdout, /kms\.sqlite: ok/);
    assert.match(r.stdout, /blobs: 304 referenced, 0 missing, 0 of the wrong size, 0 orphans/);
    assert.match(r.stdout, /no problems found/);
  });

  it('a deleted blob file and a stray one: exit 1 naming the object and the orphan', async () => {
    const files = blobFiles(dataDir);
    assert.equal(files.length, 2, 'big and the upload part are files');
    // The larger of the two (stored sealed, a little over 300 KiB, when objects are encrypted by default).
    const bigFile = files.sort((a, c) => statSync(c).size - statSync(a).size)[0]!;
    unlinkSync(bigFile);
    const partFile = files.find((f) => f !== bigFile)!;
    truncateSync(partFile, statSync(partFile).size - 1);
    mkdirSync(path.join(dataDir, 'blobs', 'ab'), { recursive: true });
    writeFileSync(path.join(dataDir, 'blobs', 'ab', 'ab' + '0'.repeat(30)), 'stray');
    const r = await check(dataDir, '--quick');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /missing blob: bkt\/big \(blob /);
    assert.match(r.stdout, /orphan blob: ab0{30}/);
    assert.match(r.stdout, /wrong size: upload \S+ of bkt\/mp part 1 \(blob \S+: \d+ bytes stored, \d+ expected\)/);
    assert.match(r.stdout, /blobs: 304 referenced, 1 missing, 1 of the wrong size, 1 orphans/);
    assert.match(r.stdout, /restore the data directory from a backup/);
  });

  it('overwritten pages in the middle of metadata.sqlite: check reports it, and the server refuses to start', async () => {
    const file = path.join(dataDir, 'metadata.sqlite');
    const size = statSync(file).size;
    assert.ok(size > 64 * 4096, `metadata.sqlite has ${size} bytes`);
    const fd = openSync(file, 'r+');
    const pageSize = 4096;
    const middle = Math.floor(size / pageSize / 2) * pageSize;
    writeSync(fd, Buffer.alloc(4 * pageSize, 0xa5), 0, 4 * pageSize, middle);
    closeSync(fd);
    const r = await check(dataDir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /metadata\.sqlite: DAMAGED/);
    assert.match(r.stdout, /PROBLEMS FOUND/);
    await assert.rejects(startChildServer(dataDir), (e: Error) => {
      assert.match(e.message, /exited \(2\)/);
      assert.match(e.message, /coffer: error: the metadata database .* is damaged/);
      assert.match(e.message, /coffer: hint: run `coffer check --data-dir .*` for a full report, then restore the data directory from a backup/);
      return true;
    });
  });
});
