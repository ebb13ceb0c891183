// A decrypt worker that dies (an out-of-memory error, a crash, a terminate) must end the
// reads it was serving with an error — a reader waiting for its next slot would otherwise
// wait forever — and the next read gets a new worker.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { asPartKey, createEncryptStream, createFileDecryptStream, decryptPool, stopDecryptWorkers } from '../../src/crypto/index.js';
import { decryptSettled, run } from './helpers.js';

const MiB = 1024 * 1024;
const key = asPartKey(randomBytes(32));
const plaintext = randomBytes(24 * MiB + 17);
let dir: string;
let sealed: string;
let ctLength: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'decrypt-worker-lost-'));
  const ct = await run(createEncryptStream(key), [plaintext]);
  ctLength = ct.length;
  sealed = join(dir, 'sealed');
  await writeFile(sealed, ct);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function open(): Readable {
  return createFileDecryptStream(key, { plaintextSize: plaintext.length }, { path: sealed, start: 0, end: ctLength - 1 });
}

test('reads on a decrypt worker that dies end with an error, not a wait; the next read gets a new worker', async () => {
  // Readers that take one chunk and then stop reading: the worker fills their rings and waits for slots.
  const readers = Array.from({ length: 3 }, () => open());
  const ended = readers.map(
    (r) =>
      new Promise<Error | undefined>((resolve) => {
        r.once('error', (e) => resolve(e));
        r.once('end', () => resolve(undefined));
      }),
  );
  for (const r of readers) await new Promise((res) => r.once('readable', res));
  await stopDecryptWorkers();
  for (const r of readers) r.resume(); // drain what was decrypted before the worker died
  const outcomes = await Promise.race([Promise.all(ended), sleep(5000).then(() => 'pending' as const)]);
  if (outcomes === 'pending') assert.fail('a read still waits for a dead worker after 5 s');
  for (const e of outcomes) {
    assert.ok(e instanceof Error, 'a read whose worker died ended without an error');
    assert.match(e.message, /decrypt worker/);
  }
  assert.equal(decryptPool().openJobs, 0, 'the dead worker\'s jobs are closed');

  const out: Buffer[] = [];
  await pipeline(open(), async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  assert.ok(Buffer.concat(out).equals(plaintext), 'a read after the death comes back byte for byte');
  await decryptSettled(sealed);
});
