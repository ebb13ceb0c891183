// GETs of blobs whose file refuses O_DIRECT although the blob directory takes it (the
// store reads direct: BlobStore.readsDirect). The blob file is replaced by a symbolic link
// to the same bytes elsewhere, where the kernel refuses a direct read with EINVAL:
//   - at open: a file on a ramfs (no direct I/O at all; tmpfs takes O_DIRECT since Linux 6.6),
//   - at read: a loop block device with 64 KiB logical blocks (the device holds the blob's
//     bytes, zero-padded), which opens with O_DIRECT and refuses our 4 KiB-aligned reads —
//     as a filesystem on a device with larger blocks than we align to would.
// Every read path is taken: the whole read of up to ~1 MiB and the read-ahead stream
// (unencrypted, and DSSE-KMS whose two layers decrypt on the main thread), the decrypt
// worker's file jobs (SSE-S3 and SSE-KMS, whole and ranged), small encrypted ranges. Each
// GET must return the object's bytes (read buffered), the server must warn once per store
// naming the directory, and no descriptor may be left open. Needs root (mount, losetup).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readlink, rename, rm, stat, symlink, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { openFilesUnder } from '../helpers/cut-get.js';
import { LOOP_BLOCK as DEVICE_BLOCK, LoopDevices, loopDeviceSkipReason } from '../helpers/loop-device.js';

const MiB = 1024 * 1024;

const skip = loopDeviceSkipReason('mount -t ramfs, losetup');

interface Logged { level: number; msg: string }

interface Server { srv: TestServer; logs: Logged[]; bucket: string; kmsKey?: string }

let plain: Server;
let encrypted: Server;
/** Scratch space on the disk (device images) and the ramfs mount point. */
let work: string;
let ramfs: string | undefined;
const devices = new LoopDevices();

async function start(env: Record<string, string>): Promise<Server> {
  const logs: Logged[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void logs.push(JSON.parse(s) as Logged) });
  const srv = await startTestServer(env, { fsync: true, log });
  const bucket = uniqueBucket('direct-refused');
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return { srv, logs, bucket };
}

before(async () => {
  if (skip) return;
  plain = await start({ COFFER_ENCRYPTION_AT_REST: 'off' });
  encrypted = await start({});
  encrypted.kmsKey = (await encrypted.srv.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  // Under the working directory (the disk), as the servers' data directories are.
  work = await mkdtemp(join(process.cwd(), '.direct-refused-test-'));
  ramfs = join(work, 'ramfs');
  await mkdir(ramfs);
  execFileSync('mount', ['-t', 'ramfs', 'ramfs', ramfs]);
});

after(async () => {
  await plain?.srv.stop();
  await encrypted?.srv.stop();
  devices.detachAll();
  if (ramfs !== undefined) {
    try {
      execFileSync('umount', [ramfs]);
    } catch {
      // not mounted
    }
  }
  if (work) await rm(work, { recursive: true, force: true });
});

/** Blob files (not temporaries) under a server's blob directory. */
async function blobFiles(srv: TestServer): Promise<string[]> {
  const root = join(srv.dataDir, 'blobs');
  const out: string[] = [];
  for (const fan of await readdir(root)) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    for (const name of await readdir(join(root, fan))) out.push(join(root, fan, name));
  }
  return out;
}

type Place = 'ramfs' | 'device';

/** Moves a blob file's bytes where direct reads are refused and links the blob's path to them. */
async function relocate(file: string, place: Place): Promise<string> {
  const name = file.split('/').at(-1)!;
  let target: string;
  if (place === 'ramfs') {
    target = join(ramfs!, name);
    await copyFile(file, target);
  } else {
    const image = join(work, `${name}.img`);
    await copyFile(file, image);
    const size = (await stat(image)).size;
    await truncate(image, Math.ceil(size / DEVICE_BLOCK) * DEVICE_BLOCK);
    target = devices.attachImage(image);
  }
  await rename(file, `${file}.moved`);
  await symlink(target, file);
  await rm(`${file}.moved`);
  return target;
}

interface Case { key: string; body: Buffer; put: Partial<PutObjectCommandInput>; ranges: [number, number][] }

function cases(s: Server): Case[] {
  const whole = 1 * MiB + 1000;
  const big = 5 * MiB + 777;
  const ranges: [number, number][] = [[4097, 700_000], [100, 4_000_000], [70_000, 170_000], [big - 300_001, big - 1]];
  if (s === plain) {
    return [
      { key: 'whole', body: randomBytes(whole), put: {}, ranges: [[1, 5000]] },
      { key: 'stream', body: randomBytes(big), put: {}, ranges },
    ];
  }
  const kms = { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: s.kmsKey } as const;
  return [
    { key: 'sse-s3-whole', body: randomBytes(whole), put: { ServerSideEncryption: 'AES256' }, ranges: [[70_000, 170_000]] },
    { key: 'sse-s3-stream', body: randomBytes(big), put: { ServerSideEncryption: 'AES256' }, ranges },
    { key: 'sse-kms-whole', body: randomBytes(whole), put: kms, ranges: [[1, 400_000]] },
    { key: 'sse-kms-stream', body: randomBytes(big), put: kms, ranges },
    { key: 'dsse-kms-stream', body: randomBytes(big), put: { ServerSideEncryption: 'aws:kms:dsse', SSEKMSKeyId: s.kmsKey }, ranges },
  ];
}

async function get(s: Server, key: string, range?: [number, number]): Promise<Buffer> {
  const client = s.srv.client({ maxAttempts: 1 });
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: key, Range: range ? `bytes=${range[0]}-${range[1]}` : undefined }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

/** Descriptors of this process (the server runs in it) open on `targets`; closes are asynchronous, so it waits a little for them. */
async function openOn(targets: string[]): Promise<string[]> {
  let open: string[] = [];
  for (let i = 0; i < 50; i++) {
    open = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const t = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (targets.includes(t)) open.push(t);
    }
    if (open.length === 0) return open;
    await new Promise((r) => setTimeout(r, 20));
  }
  return open;
}

async function run(place: Place): Promise<void> {
  // Every GET of both servers is tried, and the failures listed together.
  const failed: string[] = [];
  for (const s of [plain, encrypted]) {
    assert.ok((await openFilesUnder(s.srv.dataDir)).some((f) => f.includes('/direct-probe-')), 'the blob directory takes O_DIRECT: the store reads direct');
    const before = new Set(await blobFiles(s.srv));
    const all = cases(s);
    for (const c of all) await s.srv.s3.send(new PutObjectCommand({ Bucket: s.bucket, Key: `${place}/${c.key}`, Body: c.body, ...c.put }));
    const moved = (await blobFiles(s.srv)).filter((f) => !before.has(f));
    assert.equal(moved.length, all.length, 'one blob file per object');
    const targets: string[] = [];
    for (const f of moved) targets.push(await relocate(f, place));
    const check = async (key: string, want: Buffer, range?: [number, number]): Promise<void> => {
      const what = `${key}${range ? ` bytes ${range[0]}-${range[1]}` : ''}`;
      try {
        if (!(await get(s, key, range)).equals(want)) failed.push(`${what}: other bytes`);
      } catch (e) {
        failed.push(`${what}: ${(e as Error).name} ${(e as Error).message}`);
      }
    };
    for (const c of all) {
      const key = `${place}/${c.key}`;
      await check(key, c.body);
      for (const r of c.ranges) await check(key, c.body.subarray(r[0], r[1] + 1), r);
    }
    for (const open of await openOn(targets)) failed.push(`${open}: a descriptor left open`);
    const warned = s.logs.filter((l) => l.level === 40 && /direct reads/i.test(l.msg));
    if (warned.length !== 1) failed.push(`${s === plain ? 'plain' : 'encrypted'}: ${warned.length} warnings of refused direct reads, not one per store: ${JSON.stringify(warned.map((l) => l.msg))}`);
    // Once per store: the first refusal's directory (a blob's of the first scenario run).
    else if (!new RegExp(`${join(s.srv.dataDir, 'blobs')}/[0-9a-f]{2}\\b`).test(warned[0]!.msg)) failed.push(`the warning names no blob directory: ${warned[0]!.msg}`);
  }
  assert.deepEqual(failed, [], 'every GET returns the object\'s bytes, nothing is left open, one warning per store');
}

test('a blob file on a filesystem that refuses O_DIRECT at open is read buffered, with one warning per store', { skip }, async () => {
  await run('ramfs');
});

test('a blob file whose direct reads are refused (EINVAL) is read buffered: every read path returns the bytes', { skip }, async () => {
  await run('device');
});
