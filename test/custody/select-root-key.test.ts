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
});
