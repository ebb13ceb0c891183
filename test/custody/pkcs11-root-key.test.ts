// Pkcs11RootKeyProvider against a real SoftHSM2 token: the contract, the key's protection
// attributes, the start-up errors, and a token that goes away mid-run and comes back.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { RootKeyConfigError, RootKeyUnavailableError } from '../../src/custody/errors.js';
import { Pkcs11RootKeyProvider, pkcs11Fingerprint } from '../../src/custody/pkcs11-root-key.js';
import { pkcs11Settings, type Pkcs11Settings } from '../../src/custody/pkcs11-settings.js';
import { rejectsWith, runRootKeyContract } from './root-key.contract.js';
import { makeSoftHsm, SOFTHSM_MODULE, skipWithoutSoftHsm, USER_PIN, type SoftHsm } from './softhsm.js';

const skip = skipWithoutSoftHsm();
let hsm: Promise<SoftHsm> | undefined;
// Tokens are made before the module is first initialized: SoftHSM2 lists tokens as of C_Initialize.
const softhsm = () => (hsm ??= makeSoftHsm().then((h) => (h.initToken('coffer-contract'), h.initToken('coffer-pin'), h)));
after(async () => {
  if (hsm) await (await hsm).remove();
});
let n = 0;
const settings = (over: Partial<Pkcs11Settings> = {}): Pkcs11Settings => ({
  module: SOFTHSM_MODULE, token: { label: 'coffer-contract' }, keyLabel: `root-${process.pid}-${++n}`, pin: USER_PIN, ...over,
});
const aad = Buffer.from('aad');

if (skip) {
  describe('Pkcs11RootKeyProvider (SoftHSM2)', { skip }, () => {});
} else {
  runRootKeyContract('Pkcs11RootKeyProvider (SoftHSM2)', async () => {
    await softhsm();
    return Pkcs11RootKeyProvider.open(settings(), { create: true }).provider;
  });

  describe('Pkcs11RootKeyProvider (SoftHSM2)', () => {
    it('creates a non-extractable, sensitive token key, and names it by label and CKA_ID', async () => {
      await softhsm();
      const s = settings();
      const { provider, created } = Pkcs11RootKeyProvider.open(s, { create: true });
      assert.equal(created, true);
      assert.deepEqual(provider.attributes(), { extractable: false, sensitive: true, token: true });
      assert.match(provider.id, /^pkcs11:[0-9a-f]{16}$/);
      assert.equal(provider.where, `token "coffer-contract", key label "${s.keyLabel}"`);
      const again = Pkcs11RootKeyProvider.open(s, { create: true });
      assert.equal(again.created, false);
      assert.equal(again.provider.id, provider.id);
      const w = await provider.wrap(Buffer.from('secret'), aad);
      assert.equal((await again.provider.unwrap(w, aad)).toString(), 'secret');
      assert.equal(w.subarray(0, 2).toString('hex'), '0103');
    });

    it('destroy: only the key of the id given (a cancelled rotation\'s); another key of that label, or none, is left alone', async () => {
      await softhsm();
      const s = settings();
      const { provider } = Pkcs11RootKeyProvider.open(s, { create: true });
      const id = provider.id;
      provider.close();
      assert.equal(Pkcs11RootKeyProvider.destroy(s, 'pkcs11:0000000000000000'), false);
      assert.equal(Pkcs11RootKeyProvider.open(s).provider.id, id, 'a key of another id is kept');
      assert.equal(Pkcs11RootKeyProvider.destroy(s, id), true);
      assert.throws(() => Pkcs11RootKeyProvider.open(s), (e: unknown) => e instanceof RootKeyConfigError && /has no AES key labelled/.test(e.message));
      assert.equal(Pkcs11RootKeyProvider.destroy(s, id), false, 'gone already');
      assert.equal(Pkcs11RootKeyProvider.open(s, { create: true }).created, true);
    });

    it('fingerprint: SHA-256 over the label and CKA_ID, length-prefixed (spec vector)', () => {
      assert.equal(pkcs11Fingerprint('coffer-root-key', Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')).toString('hex'), '715c4345859293b4');
    });

    it('without the key, refuses to start naming the token, label and the command that creates it', async () => {
      await softhsm();
      const s = settings();
      assert.throws(() => Pkcs11RootKeyProvider.open(s), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.equal(e.message, `token "coffer-contract" has no AES key labelled "${s.keyLabel}" (module ${SOFTHSM_MODULE})`);
        assert.match(e.hint ?? '', /coffer custody init --pkcs11 --create-key/);
        return true;
      });
    });

    it('an unknown token, a bad module path, a wrong PIN: errors that name module and token, never the PIN', async () => {
      await softhsm();
      assert.throws(() => Pkcs11RootKeyProvider.open(settings({ token: { label: 'no-such-token' } })), /no PKCS#11 token "no-such-token" in module/);
      assert.throws(() => Pkcs11RootKeyProvider.open(settings({ module: '/nonexistent/libpkcs11.so' })), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.match(e.message, /cannot use the PKCS#11 token "coffer-contract" through module \/nonexistent\/libpkcs11\.so/);
        return true;
      });
      // A token nobody in this process has logged in to (a login holds for the whole token).
      const pin = 'wrong-pin-98765';
      assert.throws(() => Pkcs11RootKeyProvider.open(settings({ pin, token: { label: 'coffer-pin' } }), { create: true }), (e: unknown) => {
        assert.ok(e instanceof RootKeyConfigError);
        assert.match(e.message, /CKR_PIN_INCORRECT/);
        assert.ok(!e.message.includes(pin) && !(e.hint ?? '').includes(pin));
        return true;
      });
    });

    it('token gone mid-run: fails with RootKeyUnavailableError, and recovers when it returns', async () => {
      const h = await softhsm();
      const { provider } = Pkcs11RootKeyProvider.open(settings(), { create: true });
      const secret = randomBytes(32);
      const wrapped = await provider.wrap(secret, aad);
      await fs.rename(h.tokenDir, `${h.tokenDir}.away`);
      try {
        await assert.rejects(provider.unwrap(wrapped, aad), (e: unknown) => {
          assert.ok(e instanceof RootKeyUnavailableError, String(e));
          assert.match(e.message, /PKCS#11 token is unavailable .*token "coffer-contract", module /);
          return true;
        });
        await assert.rejects(provider.wrap(secret, aad), RootKeyUnavailableError);
      } finally {
        await fs.rename(`${h.tokenDir}.away`, h.tokenDir);
      }
      assert.deepEqual(await provider.unwrap(wrapped, aad), secret);
      // Still an auth failure (not "unavailable") for bad bytes once it is back.
      const t = Buffer.from(wrapped);
      t[t.length - 1]! ^= 1;
      await rejectsWith(provider.unwrap(t, aad), 'auth');
    });

    it('settings: PIN from a 0600 file or the environment, never needed on the command line', async () => {
      const h = await softhsm();
      const pinFile = `${h.root}/pin`;
      await fs.writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
      const s = pkcs11Settings({ COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: 'coffer-contract', COFFER_PKCS11_PIN_FILE: pinFile });
      assert.equal(s.pin, USER_PIN);
      assert.equal(s.keyLabel, 'coffer-root-key');
      await fs.chmod(pinFile, 0o644);
      assert.throws(() => pkcs11Settings({ COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: 'x', COFFER_PKCS11_PIN_FILE: pinFile }), /has mode 0644/);
      assert.throws(() => pkcs11Settings({ COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_TOKEN: 'x' }), /no PIN for the PKCS#11 token/);
      assert.throws(() => pkcs11Settings({ COFFER_PKCS11_MODULE: SOFTHSM_MODULE, COFFER_PKCS11_PIN: '1' }), /the PKCS#11 token is not named/);
    });
  });
}
