// HTTPS: with --tls-cert/--tls-key (or COFFER_TLS_CERT/COFFER_TLS_KEY) the real server
// speaks TLS on its one port, and real clients — the AWS SDK's S3 and KMS clients, the
// AWS CLI with --ca-bundle — work over it; plain HTTP to that port and clients that do
// not trust the certificate fail. Bad certificate/key configurations stop start-up
// with a message and a hint, through loadConfig and through `coffer server`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateKeyCommand, DecryptCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { ROOT_KEY_ID, ROOT_SECRET, startTestServer, uniqueBucket, type TestServer } from '../helpers/server.js';
import { encryptKey, makeTestCertificate, type TestCertificate } from '../helpers/tls.js';
import { CLI_MAIN, patternBytes, startChildServer, type ChildServer } from '../interop/support.js';
import { awsCli, awsCliEnv, writeAwsConfig } from '../interop/aws-cli-runner.js';

let cert: TestCertificate;
let other: TestCertificate;
let srv: TestServer;
const bucket = uniqueBucket('tls');

before(async () => {
  cert = makeTestCertificate();
  other = makeTestCertificate();
  srv = await startTestServer({ COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
  await srv.s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  await srv?.stop();
  for (const c of [cert, other]) if (c) await fs.rm(c.dir, { recursive: true, force: true });
});

/** A raw GET over TLS; resolves with the status and the server certificate's fingerprint. */
function httpsGet(url: string, opts: https.RequestOptions): Promise<{ status: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, ...opts }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint }));
    });
    req.on('error', reject);
  });
}

// --- the server over HTTPS ---------------------------------------------------------

test('with a certificate the running server reports an https:// url on its one port', () => {
  assert.equal(srv.url, `https://127.0.0.1:${srv.coffer.port}`);
});

test('the server presents the configured certificate', async () => {
  const r = await httpsGet(srv.url + '/', { ca: cert.cert });
  assert.equal(r.fingerprint, new X509Certificate(cert.cert).fingerprint256);
  assert.equal(r.status, 403, 'an anonymous ListBuckets is refused — by S3, over TLS');
});

test('S3 over HTTPS: PutObject and GetObject round-trip bytes (small, and 6 MiB aws-chunked)', async () => {
  for (const [key, body] of [['small.txt', Buffer.from('hello over tls')], ['big.bin', patternBytes(6 * 1024 * 1024, 7)]] as const) {
    await srv.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const got = await srv.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    assert.ok(bytes.equals(body), `${key} read back byte for byte`);
  }
});

test('KMS over HTTPS: CreateKey, Encrypt, Decrypt', async () => {
  const { KeyMetadata } = await srv.kms.send(new CreateKeyCommand({ Description: 'tls test' }));
  const plaintext = Buffer.from('secret over tls');
  const enc = await srv.kms.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId, Plaintext: plaintext, EncryptionContext: { t: 'tls' } }));
  const dec = await srv.kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { t: 'tls' } }));
  assert.ok(Buffer.from(dec.Plaintext!).equals(plaintext));
  assert.equal(dec.KeyId, KeyMetadata!.Arn);
});

test('plain HTTP to the TLS port fails, and the server keeps serving HTTPS', async () => {
  await assert.rejects(
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: srv.coffer.port, path: '/', agent: false }, resolve);
      req.on('error', reject);
    }),
    (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || /hang up|parse error/i.test(e.message),
  );
  const plainSdk = new S3Client({
    endpoint: `http://127.0.0.1:${srv.coffer.port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
  });
  try {
    await assert.rejects(plainSdk.send(new ListBucketsCommand({})));
  } finally {
    plainSdk.destroy();
  }
  const after = await srv.s3.send(new ListBucketsCommand({}));
  assert.ok(after.Buckets?.some((b) => b.Name === bucket));
});

test('a client that does not trust the certificate is refused by its own TLS check', async () => {
  await assert.rejects(httpsGet(srv.url + '/', {}), (e: NodeJS.ErrnoException) => /SELF_SIGNED|UNABLE_TO_VERIFY|self[- ]signed/i.test(`${e.code} ${e.message}`));
  // Trusting a different certificate does not help either.
  await assert.rejects(httpsGet(srv.url + '/', { ca: other.cert }));
});

// --- configuration -----------------------------------------------------------------

/** loadConfig must throw a ConfigError whose message matches `message` and hint matches `hint`. */
function configFails(flags: Parameters<typeof loadConfig>[0], env: NodeJS.ProcessEnv, message: RegExp, hint: RegExp): void {
  assert.throws(
    () => loadConfig(flags, env),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
      assert.match(e.message, message);
      assert.match(e.hint ?? '', hint);
      return true;
    },
  );
}

test('config: certificate and key from flags or COFFER_TLS_CERT/COFFER_TLS_KEY; flags win', () => {
  const fromEnv = loadConfig({}, { COFFER_TLS_CERT: cert.certPath, COFFER_TLS_KEY: cert.keyPath });
  assert.equal(fromEnv.tlsCert, cert.certPath);
  assert.equal(fromEnv.tlsKey, cert.keyPath);
  const fromFlags = loadConfig({ tlsCert: cert.certPath, tlsKey: cert.keyPath }, { COFFER_TLS_CERT: other.certPath, COFFER_TLS_KEY: other.keyPath });
  assert.equal(fromFlags.tlsCert, cert.certPath);
  const none = loadConfig({}, { COFFER_TLS_CERT: '', COFFER_TLS_KEY: '' });
  assert.equal(none.tlsCert, undefined, 'an empty variable means unset');
  assert.equal(none.tlsKey, undefined);
});

test('config: a certificate without a key, or a key without a certificate, says which is missing', () => {
  configFails({ tlsCert: cert.certPath }, {}, /certificate is given but no private key/, /--tls-key.*COFFER_TLS_KEY/);
  configFails({}, { COFFER_TLS_KEY: cert.keyPath }, /private key is given but no certificate/, /--tls-cert.*COFFER_TLS_CERT/);
});

test('config: a missing file or a directory names the file and the option', () => {
  const missing = path.join(cert.dir, 'nope.pem');
  configFails({ tlsCert: missing, tlsKey: cert.keyPath }, {}, new RegExp(`TLS certificate ${missing} does not exist`), /--tls-cert/);
  configFails({ tlsCert: cert.certPath, tlsKey: missing }, {}, new RegExp(`TLS private key ${missing} does not exist`), /--tls-key/);
  configFails({ tlsCert: cert.dir, tlsKey: cert.keyPath }, {}, /is a directory/, /PEM file/);
});

test('config: an unreadable key file says permission denied', { skip: process.getuid?.() === 0 && 'root reads any file' }, async () => {
  const locked = path.join(cert.dir, 'locked.pem');
  await fs.copyFile(cert.keyPath, locked);
  await fs.chmod(locked, 0o000);
  configFails({ tlsCert: cert.certPath, tlsKey: locked }, {}, /cannot read TLS private key .*permission denied/, /readable by the user that runs coffer/);
});

test('config: files that are not what they claim (key as cert, cert as key, garbage)', async () => {
  const junk = path.join(cert.dir, 'junk.pem');
  await fs.writeFile(junk, 'not a pem file\n');
  configFails({ tlsCert: cert.keyPath, tlsKey: cert.keyPath }, {}, /is not a PEM certificate/, /BEGIN CERTIFICATE/);
  configFails({ tlsCert: junk, tlsKey: cert.keyPath }, {}, /is not a PEM certificate/, /BEGIN CERTIFICATE/);
  configFails({ tlsCert: cert.certPath, tlsKey: cert.certPath }, {}, /is not a PEM private key/, /BEGIN PRIVATE KEY/);
  configFails({ tlsCert: cert.certPath, tlsKey: junk }, {}, /is not a PEM private key/, /BEGIN PRIVATE KEY/);
});

test('config: a passphrase-protected key says so and how to decrypt it', () => {
  const encrypted = encryptKey(cert.keyPath, path.join(cert.dir, 'encrypted.pem'));
  configFails({ tlsCert: cert.certPath, tlsKey: encrypted }, {}, /is encrypted/, /openssl pkey -in/);
});

test('config: a certificate with another certificate\'s key is a mismatch', () => {
  configFails({ tlsCert: cert.certPath, tlsKey: other.keyPath }, {}, /do not match/, /the key the certificate was issued for/);
});

test('config: --allow-secrets-over-http / COFFER_ALLOW_SECRETS_OVER_HTTP (formerly COFFER_ALLOW_SSE_OVER_HTTP), off by default, typos rejected', () => {
  assert.equal(loadConfig({}, {}).allowSecretsOverHttp, false);
  assert.equal(loadConfig({ allowSecretsOverHttp: true }, {}).allowSecretsOverHttp, true);
  for (const name of ['COFFER_ALLOW_SECRETS_OVER_HTTP', 'COFFER_ALLOW_SSE_OVER_HTTP']) {
    for (const v of ['1', 'true', 'on', 'YES']) assert.equal(loadConfig({}, { [name]: v }).allowSecretsOverHttp, true, `${name}=${v}`);
    for (const v of ['0', 'false', 'off', 'no', '']) assert.equal(loadConfig({}, { [name]: v }).allowSecretsOverHttp, false, `${name}=${v}`);
    configFails({}, { [name]: 'maybe' }, /allowSecretsOverHttp: "maybe"/, /COFFER_ALLOW_SECRETS_OVER_HTTP \(formerly COFFER_ALLOW_SSE_OVER_HTTP\) with 1 or 0/);
  }
  // The new name decides when both are set.
  assert.equal(loadConfig({}, { COFFER_ALLOW_SECRETS_OVER_HTTP: '0', COFFER_ALLOW_SSE_OVER_HTTP: '1' }).allowSecretsOverHttp, false);
});

// --- the `coffer server` command ---------------------------------------------------

function runCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as unknown as number) : 0, stdout, stderr });
    });
  });
}

test('coffer server --tls-cert/--tls-key: the banner shows https and HTTPS, and the SDK lists buckets over it', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-tls-cli-'));
  const child = await startChildServer(dataDir, {}, ['--tls-cert', cert.certPath, '--tls-key', cert.keyPath]);
  const s3 = new S3Client({
    endpoint: child.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
    requestHandler: { httpsAgent: new https.Agent({ ca: cert.cert }) },
  });
  try {
    assert.match(child.stdout(), /Coffer listening on https:\/\/127\.0\.0\.1:\d+ \(HTTPS, region us-east-1/);
    assert.match(child.stdout(), /Console: https:\/\/127\.0\.0\.1:\d+\/console /);
    const r = await s3.send(new ListBucketsCommand({}));
    assert.deepEqual(r.Buckets ?? [], []);
  } finally {
    s3.destroy();
    await stopAndDrain(child);
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

/** Stops a child server and waits until everything it wrote to stderr has been read ('exit' can come first). */
async function stopAndDrain(child: ChildServer): Promise<void> {
  const stderr = child.proc.stderr!;
  const closed = stderr.closed ? Promise.resolve() : once(stderr, 'close');
  await child.stop();
  await closed;
}

test('coffer server on a non-loopback address without TLS warns that SSE requests and secrets from other hosts will be refused', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-tls-cli-'));
  try {
    const plain = await startChildServer(dataDir, {}, ['--address', '0.0.0.0']);
    await stopAndDrain(plain);
    assert.match(plain.stdout(), /Coffer listening on http:\/\/0\.0\.0\.0:\d+ \(plain HTTP,/);
    // A warning of the server's log (JSON lines on stdout when it is not a terminal).
    assert.match(plain.stdout(), /"level":40,.*"hint":"[^"]*--tls-cert and --tls-key[^"]*--allow-secrets-over-http[^"]*","msg":"plain HTTP on 0\.0\.0\.0: SSE-KMS and SSE-C requests, KMS plaintext, IAM access keys and STS credentials from other hosts will be refused"/);
    // The flag, its older name, and the older environment variable all allow them.
    for (const [env, flags] of [[{}, ['--allow-secrets-over-http']], [{}, ['--allow-sse-over-http']], [{ COFFER_ALLOW_SSE_OVER_HTTP: '1' }, []]] as const) {
      const allowed = await startChildServer(dataDir, env, ['--address', '0.0.0.0', ...flags]);
      await stopAndDrain(allowed);
      assert.doesNotMatch(allowed.stdout() + allowed.stderr(), /plain HTTP on/, JSON.stringify([env, flags]));
    }
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('coffer server with a mismatched pair exits 2 with an error and a hint, before listening', async () => {
  const dataDir = path.join(cert.dir, 'never-created');
  const r = await runCli('server', '--port', '0', '--data-dir', dataDir, '--tls-cert', cert.certPath, '--tls-key', other.keyPath);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^coffer: error: TLS certificate .* and private key .* do not match\ncoffer: hint: /);
  await assert.rejects(fs.stat(dataDir), 'nothing was created');
  const half = await runCli('server', '--port', '0', '--data-dir', dataDir, '--tls-key', cert.keyPath);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /^coffer: error: a TLS private key is given but no certificate\n/);
});

// --- the AWS CLI -------------------------------------------------------------------

const hasAwsCli = (() => {
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('AWS CLI over HTTPS with --ca-bundle: s3 cp up and down, kms encrypt; without it, certificate verification fails', { skip: !hasAwsCli && 'aws CLI not installed' }, async () => {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-tls-aws-'));
  const env = awsCliEnv(work, { configFile: await writeAwsConfig(work, { signature_version: 's3v4' }) });
  const { run: aws } = awsCli(() => ({ endpoint: srv.url, env }));
  try {
    const src = path.join(work, 'up.bin');
    const body = patternBytes(100_000, 3);
    await fs.writeFile(src, body);
    const up = await aws('s3', 'cp', src, `s3://${bucket}/cli/up.bin`, '--ca-bundle', cert.certPath);
    assert.equal(up.code, 0, up.stderr);
    const down = path.join(work, 'down.bin');
    const dl = await aws('s3', 'cp', `s3://${bucket}/cli/up.bin`, down, '--ca-bundle', cert.certPath);
    assert.equal(dl.code, 0, dl.stderr);
    assert.ok((await fs.readFile(down)).equals(body));

    const key = await aws('kms', 'create-key', '--output', 'json', '--ca-bundle', cert.certPath);
    assert.equal(key.code, 0, key.stderr);
    const keyId = (JSON.parse(key.stdout) as { KeyMetadata: { KeyId: string } }).KeyMetadata.KeyId;
    const enc = await aws('kms', 'encrypt', '--key-id', keyId, '--plaintext', 'aGVsbG8=', '--output', 'json', '--ca-bundle', cert.certPath);
    assert.equal(enc.code, 0, enc.stderr);
    assert.ok((JSON.parse(enc.stdout) as { CiphertextBlob: string }).CiphertextBlob.length > 0);

    const untrusted = await aws('s3', 'ls', '--cli-read-timeout', '10');
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /SSL|certificate verify failed/i);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
});
