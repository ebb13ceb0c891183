// FileRootKeyProvider: the contract, plus how root.key is created and what is refused.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EnvRootKeyProvider } from '../../src/custody/env-root-key.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { FileRootKeyProvider } from '../../src/custody/file-root-key.js';
import { runRootKeyContract } from './root-key.contract.js';
import { tempDirs } from './tmp-dirs.js';

const fresh = tempDirs('file-root-key');
const posix = process.platform !== 'win32';

runRootKeyContract('FileRootKeyProvider', async () => (await FileRootKeyProvider.open(fresh())).provider);

describe('FileRootKeyProvider', () => {
  it('creates root.key on first open: 32 bytes, mode 0600, no temporary files left', async () => {
    const dir = fresh();
    const { provider, created } = await FileRootKeyProvider.open(dir);
    assert.equal(created, true);
    assert.match(provider.id, /^key:[0-9a-f]{16}$/);
    const stat = await fs.stat(path.join(dir, 'root.key'));
    assert.equal(stat.size, 32);
    if (posix) assert.equal(stat.mode & 0o777, 0o600);
    assert.deepEqual(await fs.readdir(dir), ['root.key']);
  });

  it('reopens the same key: created is false, the id is the same, and old wraps unwrap', async () => {
    const dir = fresh();
    const first = await FileRootKeyProvider.open(dir);
    const wrapped = await first.provider.wrap(Buffer.from('k'.repeat(32)), Buffer.from('aad'));
    const second = await FileRootKeyProvider.open(dir);
    assert.equal(second.created, false);
    assert.equal(second.provider.id, first.provider.id);
    assert.equal((await second.provider.unwrap(wrapped, Buffer.from('aad'))).toString(), 'k'.repeat(32));
  });

  it('concurrent first opens agree on one key (no start replaces a key another is using)', async () => {
    const dir = fresh();
    const opened = await Promise.all(Array.from({ length: 8 }, () => FileRootKeyProvider.open(dir)));
    assert.equal(new Set(opened.map((o) => o.provider.id)).size, 1);
    assert.equal(opened.filter((o) => o.created).length, 1);
    assert.deepEqual(await fs.readdir(dir), ['root.key']);
  });

  it('refuses a root.key that group or others can read, saying how to fix it', { skip: !posix }, async () => {
    const dir = fresh();
    await FileRootKeyProvider.open(dir);
    const file = path.join(dir, 'root.key');
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await fs.chmod(file, mode);
      await assert.rejects(FileRootKeyProvider.open(dir), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.match(e.message, new RegExp(`has mode 0${mode.toString(8)}: group and others must have no access`));
        assert.equal(e.hint, `run: chmod 600 ${file}`);
        return true;
      });
    }
    await fs.chmod(file, 0o400);
    await FileRootKeyProvider.open(dir);
  });

  it('refuses a root.key of the wrong length and does not replace it', async () => {
    const dir = fresh();
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, 'root.key');
    for (const len of [0, 31, 33, 44]) {
      await fs.writeFile(file, randomBytes(len), { mode: 0o600 });
      await assert.rejects(FileRootKeyProvider.open(dir), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.match(e.message, new RegExp(`is ${len} bytes; a root key is 32`));
        assert.match(e.hint ?? '', /restore the file from a backup/);
        return true;
      });
      assert.equal((await fs.stat(file)).size, len);
    }
  });

  it('refuses a root.key that is a directory', async () => {
    const dir = fresh();
    await fs.mkdir(path.join(dir, 'root.key'), { recursive: true });
    await assert.rejects(FileRootKeyProvider.open(dir), /is not a regular file/);
  });

  it('is the same kind of key as COFFER_ROOT_KEY: the file moved into the environment unwraps its keys', async () => {
    const dir = fresh();
    const { provider } = await FileRootKeyProvider.open(dir);
    const secret = randomBytes(32);
    const wrapped = await provider.wrap(secret, Buffer.from('aad'));
    const env = EnvRootKeyProvider.fromBase64((await fs.readFile(path.join(dir, 'root.key'))).toString('base64'));
    assert.equal(env.id, provider.id);
    assert.deepEqual(await env.unwrap(wrapped, Buffer.from('aad')), secret);
  });
});
