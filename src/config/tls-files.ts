// Reads and checks the TLS certificate and private key named by --tls-cert and
// --tls-key. Used twice: by loadConfig, so a bad pair fails at start-up with a message
// that says what to fix, and by app.ts to get the bytes it serves with.

import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { ConfigError } from './errors.js';

export interface TlsMaterial {
  /** PEM: the server certificate first, then any intermediates. */
  cert: Buffer;
  /** PEM, unencrypted. */
  key: Buffer;
}

const CERT_OPTION = '--tls-cert (or COFFER_TLS_CERT)';
const KEY_OPTION = '--tls-key (or COFFER_TLS_KEY)';

function readPem(path: string, what: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${what} ${path} does not exist`, `check the path given to ${option}`);
    if (code === 'EACCES' || code === 'EPERM') throw new ConfigError(`cannot read ${what} ${path}: permission denied`, 'make the file readable by the user that runs coffer');
    if (code === 'EISDIR') throw new ConfigError(`${what} ${path} is a directory`, `give ${option} the path of a PEM file`);
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`, `check the path given to ${option}`);
  }
}

/** Reads both files and checks that they are PEM and belong together; throws ConfigError. */
export function loadTlsMaterial(certPath: string, keyPath: string): TlsMaterial {
  const cert = readPem(certPath, 'TLS certificate', CERT_OPTION);
  const key = readPem(keyPath, 'TLS private key', KEY_OPTION);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`TLS certificate ${certPath} is not a PEM certificate`, `give ${CERT_OPTION} a file that begins with -----BEGIN CERTIFICATE-----`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    // PKCS#8 "BEGIN ENCRYPTED PRIVATE KEY", or the traditional "Proc-Type: 4,ENCRYPTED".
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(key.toString('latin1'))) {
      throw new ConfigError(`TLS private key ${keyPath} is encrypted`, `coffer needs an unencrypted key; decrypt it with: openssl pkey -in ${keyPath} -out key.pem (and keep that file readable only by coffer)`);
    }
    throw new ConfigError(`TLS private key ${keyPath} is not a PEM private key`, `give ${KEY_OPTION} a file that begins with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      `TLS certificate ${certPath} and private key ${keyPath} do not match`,
      'give --tls-key the key the certificate was issued for (compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`)',
    );
  }
  try {
    // What https.createServer will do with them; catches anything the checks above let through.
    createSecureContext({ cert, key });
  } catch (e) {
    throw new ConfigError(`TLS certificate ${certPath} and key ${keyPath} cannot be used: ${(e as Error).message}`, `check the files given to ${CERT_OPTION} and ${KEY_OPTION}`);
  }
  return { cert, key };
}
