// Self-signed certificates for the TLS tests, made with the openssl command line at
// test time (nothing secret is checked in). The certificate is its own CA: a client
// that trusts `cert` trusts the server.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  dir: string;
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh RSA key and a self-signed certificate for localhost and 127.0.0.1, in a new temp dir. */
export function makeTestCertificate(cn = 'localhost'): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  openssl(
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-keyout', keyPath, '-out', certPath,
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  );
  return { dir, certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** `keyPath` re-written under a passphrase (PKCS#8, BEGIN ENCRYPTED PRIVATE KEY). */
export function encryptKey(keyPath: string, outPath: string): string {
  openssl('pkey', '-in', keyPath, '-aes256', '-passout', 'pass:coffer-test', '-out', outPath);
  return outPath;
}

/** This machine's first non-loopback IPv4 address, for tests of what a client on the network sees; undefined when there is none. */
export function nonLoopbackIPv4(): string | undefined {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((i) => i.family === 'IPv4' && !i.internal)?.address;
}
