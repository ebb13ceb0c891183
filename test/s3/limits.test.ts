// Size limits: a body beyond the largest object size is EntityTooLarge and stores nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { loadConfig, ConfigError } from '../../src/config/config.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ COFFER_MAX_OBJECT_SIZE: String(1024 * 1024) });
  await srv.s3.send(new CreateBucketCommand({ Bucket: 'limits' }));
});
after(async () => srv?.stop());

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

test('a PUT larger than the maximum object size is EntityTooLarge and leaves no blob', async () => {
  const before = (await files(join(srv.dataDir, 'blobs'))).length;
  await assert.rejects(srv.s3.send(new PutObjectCommand({ Bucket: 'limits', Key: 'big', Body: Buffer.alloc(1024 * 1024 + 1) })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'EntityTooLarge');
    assert.equal(e.$metadata?.httpStatusCode, 400);
    return true;
  });
  await assert.rejects(srv.s3.send(new HeadObjectCommand({ Bucket: 'limits', Key: 'big' })));
  assert.equal((await files(join(srv.dataDir, 'blobs'))).length, before);
  await srv.s3.send(new PutObjectCommand({ Bucket: 'limits', Key: 'fits', Body: Buffer.alloc(1024 * 1024) }));
});

test('config errors say how to fix them', () => {
  assert.throws(() => loadConfig({ port: 'abc' }, {}), (e: ConfigError) => e instanceof ConfigError && /port/.test(e.message) && /--port/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({ region: 'Mars' }, {}), (e: ConfigError) => /region/.test(e.message) && /us-east-1/.test(e.hint ?? ''));
  assert.throws(() => loadConfig({}, { COFFER_ROOT_ACCESS_KEY_ID: 'AKIAONLYONE000000' }), (e: ConfigError) => /both/.test(e.hint ?? ''));
});
