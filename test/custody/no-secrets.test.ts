// Errors carry no secrets (STYLE rule 13): every failure path of key custody is made to
// throw with known key material, plaintext, root key and passphrase, and each error is
// rendered every way a log might render it and searched for those secrets.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { decryptCiphertext, encodeCiphertext } from '../../src/kms/format/ciphertext.js';
import { EnvRootKeyProvider } from '../../src/custody/env-root-key.js';
import { FileRootKeyProvider } from '../../src/custody/file-root-key.js';
import { asKeyMaterial, openKeyMaterial, sealKeyMaterial } from '../../src/kms/format/key-material.js';
import { PassphraseRootKeyProvider } from '../../src/custody/passphrase-root-key.js';
import { tempDirs } from './tmp-dirs.js';

const fresh = tempDirs('no-secrets');

/** Every way a secret might show up in text: hex (either case), base64, inspect's spaced hex, latin1. */
function forms(secret: Buffer | string): string[] {
  if (typeof secret === 'string') return [secret];
  const hex = secret.toString('hex');
  const spaced = [...secret.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return [hex, hex.toUpperCase(), secret.toString('base64'), secret.toString('base64url'), spaced, secret.toString('latin1')];
}

function render(e: unknown): string {
  const err = e as Error & { cause?: unknown };
  return [String(e), err.stack ?? '', inspect(e, { depth: 10, showHidden: true }), JSON.stringify(e), JSON.stringify(Object.entries(err)), String(err.cause ?? '')].join('\n');
}

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a throw');
}

function assertClean(e: unknown, secrets: (Buffer | string)[], what: string): void {
  const text = render(e);
  for (const s of secrets) for (const f of forms(s)) assert.ok(!text.includes(f), `${what}: error text contains a secret (${f.slice(0, 12)}...)`);
}

describe('no secrets in errors', () => {
  it('ciphertext failures name neither the material nor the plaintext', async () => {
    const material = asKeyMaterial(randomBytes(32));
    const plaintext = randomBytes(64);
    const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
    const blob = encodeCiphertext({ keyId, materialVersion: 1, material, plaintext, context: { a: 'b' } });
    const tampered = Buffer.from(blob);
    tampered[80]! ^= 1;
    const cases: [string, () => unknown][] = [
      ['wrong context', () => decryptCiphertext(blob, material, { a: 'c' })],
      ['wrong material', () => decryptCiphertext(blob, asKeyMaterial(randomBytes(32)), { a: 'b' })],
      ['tampered', () => decryptCiphertext(tampered, material, { a: 'b' })],
      ['truncated', () => decryptCiphertext(blob.subarray(0, 60), material, { a: 'b' })],
      ['plaintext too long', () => encodeCiphertext({ keyId, materialVersion: 1, material, plaintext: Buffer.concat([plaintext, randomBytes(4096)]), context: {} })],
      ['short material', () => decryptCiphertext(blob, material.subarray(0, 31) as never, { a: 'b' })],
    ];
    for (const [what, fn] of cases) assertClean(await thrown(fn), [material, plaintext, material.subarray(0, 31)], what);
  });

  it('root-key and key-material failures name neither the root key nor the material', async () => {
    const rootKey = randomBytes(32);
    const provider = EnvRootKeyProvider.fromBase64(rootKey.toString('base64'));
    const other = EnvRootKeyProvider.fromBase64(randomBytes(32).toString('base64'));
    const material = asKeyMaterial(randomBytes(32));
    const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
    const sealed = await sealKeyMaterial(provider, keyId, 1, material);
    const tampered = Buffer.from(sealed);
    tampered[sealed.length - 20]! ^= 1;
    const cases: [string, () => unknown][] = [
      ['wrong root key', () => openKeyMaterial(other, keyId, 1, sealed)],
      ['tampered', () => openKeyMaterial(provider, keyId, 1, tampered)],
      ['other version', () => openKeyMaterial(provider, keyId, 2, sealed)],
      ['truncated', () => openKeyMaterial(provider, keyId, 1, sealed.subarray(0, 70))],
      ['unwrap with wrong aad', () => provider.unwrap(sealed.subarray(41), Buffer.from('x'))],
    ];
    for (const [what, fn] of cases) assertClean(await thrown(fn), [rootKey, material], what);
  });

  it('configuration failures do not repeat COFFER_ROOT_KEY, root.key contents or the passphrase', async () => {
    for (const bad of [randomBytes(16), randomBytes(48)]) {
      assertClean(await thrown(() => EnvRootKeyProvider.fromBase64(bad.toString('base64'))), [bad], 'COFFER_ROOT_KEY wrong length');
    }
    const urlSafe = `${randomBytes(32).toString('base64url').slice(0, 42)}_=`;
    assertClean(await thrown(() => EnvRootKeyProvider.fromBase64(urlSafe)), [urlSafe], 'COFFER_ROOT_KEY not base64');

    const dir = fresh();
    await fs.mkdir(dir, { recursive: true });
    const short = randomBytes(31);
    await fs.writeFile(path.join(dir, 'root.key'), short, { mode: 0o600 });
    assertClean(await thrown(() => FileRootKeyProvider.open(dir)), [short], 'root.key wrong length');

    const pdir = fresh();
    await PassphraseRootKeyProvider.open(pdir, 'first secret passphrase');
    assertClean(await thrown(() => PassphraseRootKeyProvider.open(pdir, 'second secret passphrase')), ['first secret passphrase', 'second secret passphrase'], 'wrong passphrase');
  });

  it('inspecting or serializing a provider does not show its root key', () => {
    const rootKey = randomBytes(32);
    const provider = EnvRootKeyProvider.fromBase64(rootKey.toString('base64'));
    const text = [inspect(provider, { depth: 10, showHidden: true }), JSON.stringify(provider), String(provider)].join('\n');
    for (const f of forms(rootKey)) assert.ok(!text.includes(f), 'provider rendering contains the root key');
  });
});
