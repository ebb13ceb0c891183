// Versions and delete markers under kill -9 on the embedded backend: the real `coffer server`
// runs as a child process on a data directory (SQLite metadata, file blobs); ten clients write
// versions, delete markers and deletes by version id while it is SIGKILLed at random moments,
// eight times, and after each restart test/helpers/versions-under-kills.ts checks the history
// against what the clients were told — and that the blob files are exactly those of the
// versions stored in files, with no temporary left behind.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { ROOT_KEY_ID, ROOT_SECRET, committedBlobs, startChildServer, tmpBlobs, type ChildServer } from './support.js';
import { versionsUnderKills } from '../helpers/versions-under-kills.js';

const BUCKET = 'versions-crash';

let dataDir: string;
let server: ChildServer | undefined;
let s3: S3Client | undefined;

async function start(): Promise<void> {
  server = await startChildServer(dataDir);
  s3 = new S3Client({
    endpoint: server.url, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1,
  });
}

async function kill(): Promise<void> {
  await server?.kill();
  s3?.destroy();
  server = undefined;
  s3 = undefined;
}

describe('versions and delete markers under kill -9 (one server, SQLite and file blobs)', () => {
  before(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-versions-crash-'));
    await start();
    await s3!.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3!.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  });
  after(async () => {
    await kill();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged version and marker, invents none, and lists what GET by id reads, across random kills', async (t) => {
    await versionsUnderKills(t, {
      writer: () => s3,
      kill,
      async restart() {
        await start();
        // Recovery at start empties the temporary area: nothing of a write cut by the kill is left.
        assert.deepEqual(await tmpBlobs(dataDir), []);
      },
      reader: () => ({ s3: s3!, url: server!.url }),
      blobFiles: async () => (await committedBlobs(dataDir)).length,
    }, BUCKET, 8);
  });
});
