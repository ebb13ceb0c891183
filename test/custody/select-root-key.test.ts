// selectRootKey: COFFER_ROOT_KEY, else COFFER_ROOT_PASSPHRASE, else root.key — and the
// warnings a caller logs.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { selectRootKey } from '../../src/custody/select-root-key.js';
import { tempDirs } from './tmp-dirs.js';

const fresh = tempDirs('select-root-key');
const KEY = randomBytes(32).toString('base64');

describe('selectRootKey', () => {
  it('with nothing configured, creates root.key and warns with the file warning', async () => {
    const dataDir = fresh();
    const s = await selectRootKey({ dataDir, env: {} });
    assert.equal(s.source, 'file');
    assert.equal(s.created, true);
    assert.deepEqual(s.warnings, ['root key kept in a file beside the data; production should use COFFER_ROOT_KEY or a passphrase']);
    assert.deepEqual(await fs.readdir(dataDir), ['root.key']);
    const again = await selectRootKey({ dataDir, env: {} });
    assert.equal(again.created, false);
    assert.equal(again.provider.id, s.provider.id);
  });

  it('prefers COFFER_ROOT_KEY, writes nothing to the data directory, and says the passphrase is ignored', async () => {
    const dataDir = fresh();
    const s = await selectRootKey({ dataDir, env: { COFFER_ROOT_KEY: KEY, COFFER_ROOT_PASSPHRASE: 'p' } });
    assert.equal(s.source, 'env');
    assert.equal(s.created, false);
    assert.deepEqual(s.warnings, ['COFFER_ROOT_PASSPHRASE is ignored because COFFER_ROOT_KEY is set']);
    await assert.rejects(fs.readdir(dataDir), { code: 'ENOENT' });
  });

  it('uses COFFER_ROOT_PASSPHRASE when COFFER_ROOT_KEY is unset', async () => {
    const dataDir = fresh();
    const s = await selectRootKey({ dataDir, env: { COFFER_ROOT_PASSPHRASE: 'p' } });
    assert.equal(s.source, 'passphrase');
    assert.equal(s.created, true);
    assert.deepEqual(s.warnings, []);
    assert.match(s.provider.id, /^passphrase:/);
  });

  it('warns that an existing root.key is unused once a root key is configured', async () => {
    const dataDir = fresh();
    await selectRootKey({ dataDir, env: {} });
    const s = await selectRootKey({ dataDir, env: { COFFER_ROOT_KEY: KEY } });
    assert.deepEqual(s.warnings, [`${path.join(dataDir, 'root.key')} is not used because COFFER_ROOT_KEY is set; delete it once no key material depends on it`]);
  });

  it('fails on a malformed COFFER_ROOT_KEY instead of falling back to the file', async () => {
    const dataDir = fresh();
    await assert.rejects(selectRootKey({ dataDir, env: { COFFER_ROOT_KEY: 'short' } }), RootKeyConfigError);
    await assert.rejects(selectRootKey({ dataDir, env: { COFFER_ROOT_KEY: '' } }), RootKeyConfigError);
    await assert.rejects(fs.readdir(dataDir), { code: 'ENOENT' });
  });

  it('reads the key from the file named by COFFER_ROOT_KEY_FILE, the same key as COFFER_ROOT_KEY', async () => {
    const dataDir = fresh();
    const file = path.join(fresh(), 'root-key');
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, `${KEY}\n`, { mode: 0o600 });
    const s = await selectRootKey({ dataDir, env: { COFFER_ROOT_KEY_FILE: file } });
    assert.equal(s.source, 'env');
    assert.deepEqual(s.warnings, []);
    const fromEnv = await selectRootKey({ dataDir, env: { COFFER_ROOT_KEY: KEY } });
    assert.equal(s.provider.id, fromEnv.provider.id);
    await assert.rejects(fs.readdir(dataDir), { code: 'ENOENT' });
  });

  it('names the file and the fix when COFFER_ROOT_KEY_FILE is missing or malformed', async () => {
    const dataDir = fresh();
    const missing = path.join(dataDir, 'nope', 'root-key');
    await assert.rejects(selectRootKey({ dataDir, env: { COFFER_ROOT_KEY_FILE: missing } }), (e: RootKeyConfigError) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.equal(e.message, `COFFER_ROOT_KEY_FILE names ${missing}, which cannot be read (ENOENT)`);
      assert.match(e.hint ?? '', /openssl rand -base64 32 > /);
      return true;
    });
    const bad = path.join(fresh(), 'short');
    await fs.mkdir(path.dirname(bad), { recursive: true });
    await fs.writeFile(bad, 'c2hvcnQ=\n');
    await assert.rejects(selectRootKey({ dataDir, env: { COFFER_ROOT_KEY_FILE: bad } }), {
      message: `COFFER_ROOT_KEY_FILE (${bad}) must be 32 bytes in base64, but it decodes to 5 bytes`,
    });
  });
});
