// The custody section of `npm run bench` (`--only custody`): with the root key in root.key,
// in a PKCS#11 token (SoftHSM2) and in an external KMS (a second Coffer started here), side
// by side: KMS GenerateDataKey+Decrypt through the in-process KMS port (the path S3 uses),
// and small SSE-KMS PUTs over HTTP (a bucket default aws:kms, bucket keys off: one
// GenerateDataKey per object).
//
// The root key's holder must not be on the per-request path: KMS material is unwrapped once
// per key version and cached, and an external KMS is asked once per start (and by its
// health check). Each variant counts the root key's unwraps during the measured runs and
// their warm-up (after the first operation); the target is zero, and, for the external
// KMS, zero requests reaching it. Rates with the token and the external KMS should be
// within 0.8× of the file key's. A last row times root-key unwraps themselves, which is
// what every request would cost if the cache failed.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { randomBytes } from 'node:crypto';
import { startCoffer, type RunningCoffer } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import type { RootKeyProvider } from '../src/custody/root-key.js';
import { Pkcs11RootKeyProvider } from '../src/custody/pkcs11-root-key.js';
import { InProcessKms } from '../src/kms/port.js';
import type { Caller } from '../src/kms/service.js';
import { RawS3Client, payloadHash } from './raw-client.js';
import { runOps } from './measure.js';
import { fmtInt, type Row } from './report.js';
import { ROOT_KEY_ID, ROOT_SECRET } from './server-process.js';
import { createKmsKey, prepareBucket } from './sse.js';

const SCENARIO = 'Custody: KMS GenerateDataKey+Decrypt, in-process port';
const PUT_SCENARIO = 'Custody: SSE-KMS PUT 1 KiB over HTTP';
const MODULE = process.env.BENCH_PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '246810';
const MIN_RATIO = 0.8;
const FILE = 'root.key';
const TOKEN = 'PKCS#11 (SoftHSM2)';
const EXTERNAL = 'external KMS (a second Coffer)';

const serverEnv = { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET };
const start = (dataDir: string, env: Record<string, string>) =>
  startCoffer(loadConfig({ port: 0, dataDir, fsync: false, address: '127.0.0.1' }, { ...serverEnv, ...env }), pino({ level: 'warn' }));

export async function benchCustody(opts: { quick: boolean; smallOps?: number }): Promise<Row[]> {
  const pairs = opts.smallOps ?? (opts.quick ? 4_000 : 20_000);
  const puts = Math.max(200, Math.round(pairs / 4));
  const concurrency = 32;
  const dir = await mkdtemp(join(tmpdir(), 'coffer-bench-custody-'));
  const rows: Row[] = [];
  const providers: Record<string, RootKeyProvider> = {};
  let external: RunningCoffer | undefined;
  let externalCalls = 0;
  try {
    const variants: [string, Record<string, string>][] = [[FILE, {}]];
    try {
      variants.push([TOKEN, await softhsm(dir)]);
    } catch (e) {
      rows.push({ scenario: SCENARIO, variant: TOKEN, result: `error: ${(e as Error).message}`, target: '', met: false });
    }
    try {
      external = await start(join(dir, 'external'), {});
      external.server.on('request', () => externalCalls++);
      const keyId = await createKmsKey(new URL(external.url));
      const secretFile = join(dir, 'external.secret');
      await writeFile(secretFile, ROOT_SECRET, { mode: 0o600 });
      variants.push([EXTERNAL, { COFFER_EXTERNAL_KMS_ENDPOINT: external.url, COFFER_EXTERNAL_KMS_KEY_ID: keyId, COFFER_EXTERNAL_KMS_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE: secretFile }]);
    } catch (e) {
      rows.push({ scenario: SCENARIO, variant: EXTERNAL, result: `error: ${(e as Error).message.split('\n')[0]}`, target: '', met: false });
    }
    for (const [variant, env] of variants) {
      const coffer = await start(join(dir, `data-${Object.keys(providers).length}`), env);
      try {
        // Count the root key's unwraps (every service holds this same object).
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
        const externalBefore = externalCalls;
        // Warm-up (JIT, caches), counted with the run: the first variant must not pay for both.
        await runOps(500, concurrency, (i) => op(pairs + i));
        const t0 = performance.now();
        await runOps(pairs, concurrency, op);
        const seconds = (performance.now() - t0) / 1000;
        const rate = (2 * pairs) / seconds;
        const during = unwraps - warmUnwraps;

        // Small SSE-KMS PUTs over HTTP: the S3 path, a data key per object.
        const url = new URL(coffer.url);
        const client = new RawS3Client(url, { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET });
        await prepareBucket(client, url, 'bench-custody', 'kms');
        const body = randomBytes(1024);
        const hash = payloadHash(body);
        await client.putSmall('bench-custody', 'first', body, hash);
        const putWarm = unwraps;
        await runOps(100, 16, (i) => client.putSmall('bench-custody', `warm-${i}`, body, hash));
        const p0 = performance.now();
        await runOps(puts, 16, (i) => client.putSmall('bench-custody', `o-${i}`, body, hash));
        const putSeconds = (performance.now() - p0) / 1000;
        const putRate = puts / putSeconds;
        const putDuring = unwraps - putWarm;
        client.agent.destroy();
        const calls = variant === EXTERNAL ? externalCalls - externalBefore : 0;
        const extNote = variant === EXTERNAL ? `; requests to the external KMS: ${calls}` : '';
        rows.push({
          scenario: SCENARIO,
          variant,
          result: `${fmtInt(rate)} req/s (${fmtInt(pairs)} pairs, ${concurrency} in flight, ${seconds.toFixed(1)} s); root-key unwraps: ${warmUnwraps} in the first pair, ${during} in 500 warm-up pairs and the run${extNote}`,
          target: variant === EXTERNAL ? 'no unwrap, no external request during the run' : 'no unwrap during the run',
          met: during === 0 && calls === 0,
          value: rate,
        });
        rows.push({
          scenario: PUT_SCENARIO,
          variant,
          result: `${fmtInt(putRate)} PUT/s (${fmtInt(puts)} objects, 16 in flight, ${putSeconds.toFixed(1)} s); root-key unwraps: ${putDuring} in 100 warm-up PUTs and the run${extNote}`,
          target: 'no unwrap during the run',
          met: putDuring === 0 && calls === 0,
          value: putRate,
        });
      } finally {
        await coffer.close();
      }
    }
    for (const scenario of [SCENARIO, PUT_SCENARIO]) {
      const file = rows.find((r) => r.scenario === scenario && r.variant === FILE)?.value;
      for (const other of [TOKEN, EXTERNAL]) {
        const v = rows.find((r) => r.scenario === scenario && r.variant === other)?.value;
        if (file && v) rows.push({ scenario, variant: `${other} ÷ ${FILE}`, result: `${(v / file).toFixed(2)}×`, target: `≥ ${MIN_RATIO}×`, met: v / file >= MIN_RATIO });
      }
    }
    rows.push(await unwrapCost(providers));
  } catch (e) {
    rows.push({ scenario: SCENARIO, variant: 'setup', result: `error: ${(e as Error).message.split('\n')[0]}`, target: '', met: false });
  } finally {
    await external?.close();
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
