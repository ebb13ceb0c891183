// The custody section of `npm run bench` (`--only custody`): KMS GenerateDataKey+Decrypt
// with the root key in root.key and in a PKCS#11 token (SoftHSM2), side by side, through
// the in-process KMS port (the path S3 uses) of a server started in this process.
//
// The token must not be on the per-request path: KMS material is unwrapped once per key
// version and cached. Each variant counts the root key's unwraps during the measured run
// and its warm-up (after the first pair); the target is zero, and a rate with the token within 0.8× of
// the file key's. A third row times root-key unwraps themselves (software AES-GCM vs a
// round trip to the token), which is what every request would cost if the cache failed.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { randomBytes } from 'node:crypto';
import { startCoffer } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import type { RootKeyProvider } from '../src/custody/root-key.js';
import { Pkcs11RootKeyProvider } from '../src/custody/pkcs11-root-key.js';
import { InProcessKms } from '../src/kms/port.js';
import type { Caller } from '../src/kms/service.js';
import { runOps } from './measure.js';
import { fmtInt, type Row } from './report.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './server-process.js';
import { createKmsKey } from './sse.js';

const SCENARIO = 'Custody: KMS GenerateDataKey+Decrypt, in-process port';
const MODULE = process.env.BENCH_PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '246810';
const MIN_RATIO = 0.8;

export async function benchCustody(opts: { quick: boolean }): Promise<Row[]> {
  const pairs = opts.quick ? 4_000 : 20_000;
  const concurrency = 32;
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-custody-'));
  const rows: Row[] = [];
  const providers: Record<string, RootKeyProvider> = {};
  try {
    let pkcs11Env: Record<string, string> | undefined;
    try {
      pkcs11Env = await softhsm(dir);
    } catch (e) {
      rows.push({ scenario: SCENARIO, variant: 'PKCS#11 (SoftHSM2)', result: `error: ${(e as Error).message}`, target: '', met: false });
    }
    for (const [variant, env] of [['root.key', {}], ...(pkcs11Env ? [['PKCS#11 (SoftHSM2)', pkcs11Env]] : [])] as [string, Record<string, string>][]) {
      const config = loadConfig({ port: 0, dataDir: join(dir, `data-${rows.length}-${variant.length}`), fsync: false, address: '127.0.0.1' }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, ...env });
      const coffer = await startCoffer(config, pino({ level: 'warn' }));
      try {
        // Count the root key's unwraps (the KMS holds this same object).
        const rootKey = coffer.rootKey as RootKeyProvider & { unwrap: RootKeyProvider['unwrap'] };
        const unwrap = rootKey.unwrap.bind(rootKey);
        let unwraps = 0;
        rootKey.unwrap = (w, aad) => (unwraps++, unwrap(w, aad));
        providers[variant] = { id: rootKey.id, wrap: (k, a) => rootKey.wrap(k, a), unwrap };
        const caller: Caller = { principal: coffer.root.credential.principal, requestId: 'bench', secureTransport: false, viaService: 's3.us-east-1.amazonaws.com' };
        const port = new InProcessKms(coffer.kms);
        const keyId = await createKmsKey(new URL(coffer.url));
        const op = async (i: number) => {
          const encryptionContext = { 'aws:s3:arn': `arn:aws:s3:::bench-bucket/object-${i}` };
          const dk = await port.generateDataKey({ caller, keyId, numberOfBytes: 32, encryptionContext });
          const dec = await port.decrypt({ caller, ciphertextBlob: dk.ciphertextBlob, encryptionContext });
          if (!dec.plaintext.equals(dk.plaintext)) throw new Error(`Decrypt ${i} returned another data key`);
        };
        await op(-1);
        const warmUnwraps = unwraps;
        // Warm-up (JIT, caches), counted with the run: the first variant must not pay for both.
        await runOps(500, concurrency, (i) => op(pairs + i));
        const t0 = performance.now();
        await runOps(pairs, concurrency, op);
        const seconds = (performance.now() - t0) / 1000;
        const rate = (2 * pairs) / seconds;
        const during = unwraps - warmUnwraps;
        rows.push({
          scenario: SCENARIO,
          variant,
          result: `${fmtInt(rate)} req/s (${fmtInt(pairs)} pairs, ${concurrency} in flight, ${seconds.toFixed(1)} s); root-key unwraps: ${warmUnwraps} in the first pair, ${during} in 500 warm-up pairs and the run`,
          target: 'no unwrap during the run',
          met: during === 0,
          value: rate,
        });
      } finally {
        await coffer.close();
      }
    }
    const file = rows.find((r) => r.variant === 'root.key')?.value;
    const token = rows.find((r) => r.variant === 'PKCS#11 (SoftHSM2)')?.value;
    if (file && token) {
      rows.push({ scenario: SCENARIO, variant: 'PKCS#11 ÷ root.key', result: `${(token / file).toFixed(2)}×`, target: `≥ ${MIN_RATIO}×`, met: token / file >= MIN_RATIO });
    }
    rows.push(await unwrapCost(providers));
  } catch (e) {
    rows.push({ scenario: SCENARIO, variant: 'setup', result: `error: ${(e as Error).message.split('\n')[0]}`, target: '', met: false });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  for (const r of rows) process.stderr.write(`bench: custody: ${r.variant}: ${r.result}\n`);
  return rows;
}

/** Unwraps per second straight from each provider: the cost the cache keeps off the request path. */
async function unwrapCost(providers: Record<string, RootKeyProvider>): Promise<Row> {
  const parts: string[] = [];
  for (const [name, p] of Object.entries(providers)) {
    const aad = Buffer.from('bench');
    const wrapped = await p.wrap(randomBytes(32), aad);
    const n = 2_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) (await p.unwrap(wrapped, aad)).fill(0);
    parts.push(`${name} ${fmtInt(n / ((performance.now() - t0) / 1000))}/s`);
  }
  return { scenario: SCENARIO, variant: 'root-key unwrap alone', result: parts.join(', '), target: '' };
}

/** A SoftHSM2 token with a root key made by the provider, in `dir`; the server's COFFER_PKCS11_* settings. */
async function softhsm(dir: string): Promise<Record<string, string>> {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('SoftHSM2 is not installed (apt-get install -y softhsm2)');
  }
  if (!existsSync(MODULE)) throw new Error(`no PKCS#11 module at ${MODULE} (BENCH_PKCS11_MODULE)`);
  const tokens = join(dir, 'tokens');
  await mkdir(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'coffer-bench', '--so-pin', '13579111', '--pin', PIN], { stdio: 'ignore' });
  const pinFile = join(dir, 'pin');
  await writeFile(pinFile, PIN, { mode: 0o600 });
  Pkcs11RootKeyProvider.open({ module: MODULE, token: { label: 'coffer-bench' }, keyLabel: 'coffer-root-key', pin: PIN }, { create: true }).provider.close();
  return { COFFER_PKCS11_MODULE: MODULE, COFFER_PKCS11_TOKEN: 'coffer-bench', COFFER_PKCS11_PIN_FILE: pinFile };
}
