// EnvRootKeyProvider: the contract, plus validation of COFFER_ROOT_KEY and its messages.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { EnvRootKeyProvider } from '../../src/custody/env-root-key.js';
import { RootKeyConfigError } from '../../src/custody/errors.js';
import { runRootKeyContract } from './root-key.contract.js';

runRootKeyContract('EnvRootKeyProvider', async () => EnvRootKeyProvider.fromBase64(randomBytes(32).toString('base64')));

function refused(value: string, message: RegExp): void {
  assert.throws(
    () => EnvRootKeyProvider.fromBase64(value),
    (e: unknown) => {
      assert.ok(e instanceof RootKeyConfigError);
      assert.match(e.message, message);
      assert.equal(e.hint, 'generate one with: openssl rand -base64 32');
      if (value.trim().length > 3) {
        assert.ok(!e.message.includes(value.trim()) && !e.hint!.includes(value.trim()), 'the message repeats the secret value');
      }
      return true;
    },
  );
}

describe('EnvRootKeyProvider', () => {
  it('accepts 32 bytes of base64, with surrounding whitespace (a trailing newline from a file)', () => {
    const key = randomBytes(32).toString('base64');
    const p = EnvRootKeyProvider.fromBase64(`${key}\n`);
    assert.equal(p.id, EnvRootKeyProvider.fromBase64(key).id);
    assert.match(p.id, /^key:[0-9a-f]{16}$/);
  });

  it('has the id from the spec: key: and the HMAC fingerprint (32 bytes of 0x11 -> 06dcdceee57fdb8f)', () => {
    assert.equal(EnvRootKeyProvider.fromBase64(Buffer.alloc(32, 0x11).toString('base64')).id, 'key:06dcdceee57fdb8f');
  });

  it('refuses base64 of the wrong length, saying how many bytes it decodes to', () => {
    refused(randomBytes(16).toString('base64'), /^COFFER_ROOT_KEY must be 32 bytes in base64, but it decodes to 16 bytes$/);
    refused(randomBytes(31).toString('base64'), /decodes to 31 bytes/);
    refused(randomBytes(33).toString('base64'), /decodes to 33 bytes/);
    refused(randomBytes(32).toString('hex'), /decodes to 48 bytes/);
  });

  it('refuses text that is not standard base64 (url-safe alphabet, spaces inside, hex with dashes)', () => {
    const urlSafe = randomBytes(32).toString('base64url');
    refused(urlSafe.includes('-') || urlSafe.includes('_') ? urlSafe : `${urlSafe.slice(0, 42)}-`, /standard base64/);
    refused('abc def', /standard base64/);
  });

  it('refuses an empty value', () => {
    refused('', /^COFFER_ROOT_KEY is set but empty$/);
    refused('  \n', /is set but empty/);
  });
});
