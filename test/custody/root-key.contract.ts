// The RootKeyProvider contract: every provider (file, COFFER_ROOT_KEY, passphrase, later
// PKCS#11) runs this suite through runRootKeyContract from its own *.test.ts file.
// `make` must return a provider with a fresh, distinct root key on every call.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CustodyError, type OpenFailure } from '../../src/custody/errors.js';
import type { RootKeyProvider } from '../../src/custody/root-key.js';

/** Asserts that `p` rejects with a CustodyError, of `kind` if given. */
export async function rejectsWith(p: Promise<unknown>, kind?: OpenFailure, what = ''): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CustodyError, `${what}: expected a CustodyError, got ${String(e)}`);
    if (kind) assert.equal(e.kind, kind, `${what}: ${e.message}`);
    return true;
  });
}

export function runRootKeyContract(name: string, make: () => Promise<RootKeyProvider>): void {
  describe(`RootKeyProvider contract: ${name}`, () => {
    const aad = Buffer.from('coffer test aad');

    it('unwraps what it wrapped, for 32-byte keys and other lengths, with and without aad', async () => {
      const p = await make();
      for (const len of [1, 16, 32, 64, 1024]) {
        const key = randomBytes(len);
        assert.deepEqual(await p.unwrap(await p.wrap(key, aad), aad), key);
        assert.deepEqual(await p.unwrap(await p.wrap(key, Buffer.alloc(0)), Buffer.alloc(0)), key);
      }
    });

    it('refuses to wrap nothing', async () => {
      const p = await make();
      await assert.rejects(p.wrap(Buffer.alloc(0), aad), RangeError);
    });

    it('has a stable id that does not contain the wrapped secret', async () => {
      const p = await make();
      assert.match(p.id, /^[a-z0-9-]+:\S+$/);
      const key = randomBytes(32);
      const wrapped = await p.wrap(key, aad);
      assert.equal(p.id, p.id);
      assert.ok(!wrapped.includes(key), 'plaintext key appears in the wrapped bytes');
    });

    it('fails to unwrap with a different aad, including an aad that is a prefix or extension', async () => {
      const p = await make();
      const wrapped = await p.wrap(randomBytes(32), aad);
      for (const other of [Buffer.from('coffer test aaD'), aad.subarray(0, aad.length - 1), Buffer.concat([aad, Buffer.of(0)]), Buffer.alloc(0)]) {
        await rejectsWith(p.unwrap(wrapped, other), 'auth', `aad ${JSON.stringify(other.toString())}`);
      }
    });

    it('fails to unwrap when any single byte is changed', async () => {
      const p = await make();
      const wrapped = await p.wrap(randomBytes(32), aad);
      for (let i = 0; i < wrapped.length; i++) {
        const t = Buffer.from(wrapped);
        t[i] ^= 0x01;
        await rejectsWith(p.unwrap(t, aad), undefined, `byte ${i}`);
      }
    });

    it('fails with kind wrong-key under another provider instance (another root key)', async () => {
      const a = await make();
      const b = await make();
      assert.notEqual(a.id, b.id);
      await rejectsWith(b.unwrap(await a.wrap(randomBytes(32), aad), aad), 'wrong-key');
    });

    it('fails on every truncation, including empty input', async () => {
      const p = await make();
      const wrapped = await p.wrap(randomBytes(32), aad);
      for (let n = 0; n < wrapped.length; n++) {
        await rejectsWith(p.unwrap(wrapped.subarray(0, n), aad), undefined, `truncated to ${n}`);
      }
    });

    it('fails on trailing bytes', async () => {
      const p = await make();
      const wrapped = await p.wrap(randomBytes(32), aad);
      await rejectsWith(p.unwrap(Buffer.concat([wrapped, Buffer.of(0)]), aad), undefined);
    });

    it('wraps the same key differently each time', async () => {
      const p = await make();
      const key = randomBytes(32);
      const [w1, w2] = [await p.wrap(key, aad), await p.wrap(key, aad)];
      assert.notDeepEqual(w1, w2);
    });
  });
}
