// custody.json's rotation section as docs/spec/custody-record.md gives it: an online
// rotation's `online` and `settings` are read back; a setting outside the allowed names (a
// secret variable) or another `online` value is refused as damage, naming the file.

import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readCustodyRecord } from '../../src/custody/custody-record.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { tempDirs } from './tmp-dirs.js';

const dir = tempDirs('custody-record');
// The spec's example, verbatim.
const EXAMPLE = '{"version":1,"rootKey":"key:06dcdceee57fdb8f","canary":"AQEG","rotation":{"to":"pkcs11:5d0c41f7a2e9b318","target":"pkcs11","keyLabel":"root-a","toWhere":"token \\"coffer\\", key label \\"root-a\\"","startedAt":"2026-12-06T14:50:00.000Z","online":true,"settings":{"COFFER_PKCS11_MODULE":"/usr/lib/softhsm/libsofthsm2.so","COFFER_PKCS11_TOKEN":"coffer","COFFER_PKCS11_KEY_LABEL":"root-a","COFFER_PKCS11_PIN_FILE":"/etc/coffer/pin"}}}\n';

async function withRecord(text: string): Promise<string> {
  const d = dir();
  await fs.mkdir(d, { recursive: true });
  await fs.writeFile(path.join(d, 'custody.json'), text);
  return d;
}

describe('custody.json rotation section', () => {
  it('reads an online rotation with its settings', async () => {
    const r = await readCustodyRecord(await withRecord(EXAMPLE));
    assert.deepEqual(r?.rotation, {
      to: 'pkcs11:5d0c41f7a2e9b318', target: 'pkcs11', keyLabel: 'root-a', toWhere: 'token "coffer", key label "root-a"', startedAt: '2026-12-06T14:50:00.000Z', online: true,
      settings: { COFFER_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so', COFFER_PKCS11_TOKEN: 'coffer', COFFER_PKCS11_KEY_LABEL: 'root-a', COFFER_PKCS11_PIN_FILE: '/etc/coffer/pin' },
    });
  });

  for (const [what, text, field] of [
    ['a secret variable in settings', EXAMPLE.replace('"COFFER_PKCS11_PIN_FILE"', '"COFFER_PKCS11_PIN"'), 'settings'],
    ['a setting that is not a string', EXAMPLE.replace('"coffer","COFFER_PKCS11_KEY_LABEL"', '7,"COFFER_PKCS11_KEY_LABEL"'), 'settings'],
    ['online other than true', EXAMPLE.replace('"online":true', '"online":"yes"'), 'online'],
  ] as const) {
    it(`refuses ${what}`, async () => {
      const d = await withRecord(text);
      await assert.rejects(readCustodyRecord(d), (e: unknown) => e instanceof RootKeyConfigError && e.message === `custody record ${path.join(d, 'custody.json')} has a damaged rotation section (${field})`);
    });
  }
});
