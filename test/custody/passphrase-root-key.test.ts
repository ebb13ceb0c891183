// PassphraseRootKeyProvider: the contract, plus the salt file and wrong-passphrase detection.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { PassphraseRootKeyProvider } from '../../src/custody/passphrase-root-key.js';
import { runRootKeyContract } from './root-key.contract.js';
import { tempDirs } from './tmp-dirs.js';

const fresh = tempDirs('passphrase-root-key');
const posix = process.platform !== 'win32';

runRootKeyContract('PassphraseRootKeyProvider', async () => (await PassphraseRootKeyProvider.open(fresh(), 'correct horse battery staple')).provider);

describe('PassphraseRootKeyProvider', () => {
  it('creates root.salt: version 1, N=2^15, r=8, p=1, a 32-byte salt and check value, mode 0600', async () => {
    const dir = fresh();
    const { provider, created } = await PassphraseRootKeyProvider.open(dir, 'pass phrase');
    assert.equal(created, true);
    assert.match(provider.id, /^passphrase:[0-9a-f]{16}$/);
    const raw = await fs.readFile(path.join(dir, 'root.salt'));
    assert.equal(raw.length, 74);
    assert.equal(raw[0], 1);
    assert.equal(raw[1], 15);
    assert.equal(raw.readUInt32BE(2), 8);
    assert.equal(raw.readUInt32BE(6), 1);
    if (posix) assert.equal((await fs.stat(path.join(dir, 'root.salt'))).mode & 0o777, 0o600);
    assert.deepEqual(await fs.readdir(dir), ['root.salt']);
  });

  it('reopens with the same passphrase: same id, old wraps unwrap', async () => {
    const dir = fresh();
    const first = await PassphraseRootKeyProvider.open(dir, 'pass phrase');
    const secret = randomBytes(32);
    const wrapped = await first.provider.wrap(secret, Buffer.alloc(0));
    const again = await PassphraseRootKeyProvider.open(dir, 'pass phrase');
    assert.equal(again.created, false);
    assert.equal(again.provider.id, first.provider.id);
    assert.deepEqual(await again.provider.unwrap(wrapped, Buffer.alloc(0)), secret);
  });

  it('detects a wrong passphrase at open', async () => {
    const dir = fresh();
    await PassphraseRootKeyProvider.open(dir, 'pass phrase');
    await assert.rejects(PassphraseRootKeyProvider.open(dir, 'pass phrasE'), (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.equal(e.message, 'wrong passphrase for this data directory');
      assert.match(e.hint ?? '', /COFFER_ROOT_PASSPHRASE must be the passphrase this data directory was created with/);
      assert.ok(!`${e.message}${e.hint}${e.stack}`.includes('pass phrase'));
      return true;
    });
  });

  it('derives the same key from composed and decomposed forms of a passphrase (NFC)', async () => {
    const dir = fresh();
    const a = await PassphraseRootKeyProvider.open(dir, 'caf\u00e9');
    const b = await PassphraseRootKeyProvider.open(dir, 'cafe\u0301');
    assert.equal(a.provider.id, b.provider.id);
  });

  it('gives the same passphrase a different key in another data directory (per-directory salt)', async () => {
    const a = await PassphraseRootKeyProvider.open(fresh(), 'same');
    const b = await PassphraseRootKeyProvider.open(fresh(), 'same');
    assert.notEqual(a.provider.id, b.provider.id);
  });

  it('refuses an empty passphrase', async () => {
    await assert.rejects(PassphraseRootKeyProvider.open(fresh(), ''), /^RootKeyConfigError: COFFER_ROOT_PASSPHRASE is set but empty$/);
  });

  it('refuses a damaged salt file with a hint to restore it: wrong version, length, parameters', async () => {
    const dir = fresh();
    await PassphraseRootKeyProvider.open(dir, 'p');
    const file = path.join(dir, 'root.salt');
    const good = await fs.readFile(file);
    const damaged: [Buffer, RegExp][] = [
      [Buffer.concat([Buffer.of(2), good.subarray(1)]), /unsupported version/],
      [good.subarray(0, 73), /is 73 bytes; version 1 is 74/],
      [Buffer.concat([good.subarray(0, 1), Buffer.of(30), good.subarray(2)]), /scrypt parameters out of range \(log2 N=30/],
      [Buffer.concat([good.subarray(0, 2), Buffer.from([0, 0, 0, 0]), good.subarray(6)]), /r=0/],
    ];
    for (const [bytes, message] of damaged) {
      await fs.writeFile(file, bytes, { mode: 0o600 });
      await assert.rejects(PassphraseRootKeyProvider.open(dir, 'p'), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.match(e.message, message);
        assert.match(e.hint ?? '', /restore root.salt from a backup/);
        return true;
      });
    }
  });

  it('refuses a salt file that group or others can read', { skip: !posix }, async () => {
    const dir = fresh();
    await PassphraseRootKeyProvider.open(dir, 'p');
    await fs.chmod(path.join(dir, 'root.salt'), 0o644);
    await assert.rejects(PassphraseRootKeyProvider.open(dir, 'p'), /mode 0644/);
  });
});
