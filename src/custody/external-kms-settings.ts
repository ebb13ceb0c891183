// Settings of the external-KMS root-key provider, from COFFER_EXTERNAL_KMS_* (the server's
// --external-kms-* flags land in the same names, config/config.ts custodyEnv). The secret
// access key and session token come from a file (…_FILE, mode 0600) or the variable,
// never from the command line, and never appear in a message.

import { readFileSync, statSync } from 'node:fs';
import { RootKeyConfigError } from './errors.js';

export const EXTERNAL_KMS_ENDPOINT_ENV = 'COFFER_EXTERNAL_KMS_ENDPOINT';
export const EXTERNAL_KMS_REGION_ENV = 'COFFER_EXTERNAL_KMS_REGION';
export const EXTERNAL_KMS_KEY_ID_ENV = 'COFFER_EXTERNAL_KMS_KEY_ID';
export const EXTERNAL_KMS_ACCESS_KEY_ID_ENV = 'COFFER_EXTERNAL_KMS_ACCESS_KEY_ID';
export const EXTERNAL_KMS_SECRET_ENV = 'COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY';
export const EXTERNAL_KMS_SESSION_TOKEN_ENV = 'COFFER_EXTERNAL_KMS_SESSION_TOKEN';
export const EXTERNAL_KMS_CHECK_SECONDS_ENV = 'COFFER_EXTERNAL_KMS_CHECK_SECONDS';
export const EXTERNAL_KMS_TIMEOUT_SECONDS_ENV = 'COFFER_EXTERNAL_KMS_TIMEOUT_SECONDS';
export const DEFAULT_CHECK_SECONDS = 300;
export const DEFAULT_TIMEOUT_SECONDS = 10;

export interface ExternalKmsSettings {
  /** e.g. https://kms.eu-west-1.amazonaws.com, or another Coffer's URL. */
  endpoint: string;
  region: string;
  /** The wrapping key in the external KMS: key id, ARN, or alias. */
  keyId: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** How often a running server asks the external KMS again whether it may still use the key. */
  checkSeconds: number;
  /** Per call, connect to last byte. */
  timeoutSeconds: number;
}

/** True if `env` configures the external-KMS provider. */
export function wantsExternalKms(env: Record<string, string | undefined>): boolean {
  return Boolean(env[EXTERNAL_KMS_ENDPOINT_ENV]);
}

/** Reads and validates the settings; throws RootKeyConfigError saying what to set. */
export function externalKmsSettings(env: Record<string, string | undefined>): ExternalKmsSettings {
  const endpoint = env[EXTERNAL_KMS_ENDPOINT_ENV] ?? '';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new RootKeyConfigError(`${EXTERNAL_KMS_ENDPOINT_ENV} is not a URL: ${JSON.stringify(endpoint.slice(0, 200))}`, 'give the external KMS endpoint with --external-kms-endpoint, e.g. https://kms.eu-west-1.amazonaws.com');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RootKeyConfigError(`${EXTERNAL_KMS_ENDPOINT_ENV} must be an http or https URL, got ${url.protocol}`, 'use https:// (http:// only on loopback or a trusted network)');
  const keyId = env[EXTERNAL_KMS_KEY_ID_ENV];
  if (!keyId) throw new RootKeyConfigError(`${EXTERNAL_KMS_KEY_ID_ENV} is not set`, 'name the wrapping key in the external KMS (key id, ARN or alias) with --external-kms-key-id');
  const accessKeyId = env[EXTERNAL_KMS_ACCESS_KEY_ID_ENV];
  if (!accessKeyId) throw new RootKeyConfigError(`${EXTERNAL_KMS_ACCESS_KEY_ID_ENV} is not set`, `give Coffer its own credentials for the external KMS: ${EXTERNAL_KMS_ACCESS_KEY_ID_ENV} and ${EXTERNAL_KMS_SECRET_ENV}_FILE (or ${EXTERNAL_KMS_SECRET_ENV})`);
  const secretAccessKey = secret(env, EXTERNAL_KMS_SECRET_ENV, 'secret access key');
  if (secretAccessKey === undefined) throw new RootKeyConfigError(`no secret access key for the external KMS`, `set ${EXTERNAL_KMS_SECRET_ENV}_FILE to a file (mode 0600) holding it, or ${EXTERNAL_KMS_SECRET_ENV}`);
  const sessionToken = secret(env, EXTERNAL_KMS_SESSION_TOKEN_ENV, 'session token');
  return {
    endpoint: url.toString().replace(/\/$/, ''),
    region: env[EXTERNAL_KMS_REGION_ENV] || 'us-east-1',
    keyId,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    checkSeconds: seconds(env, EXTERNAL_KMS_CHECK_SECONDS_ENV, DEFAULT_CHECK_SECONDS),
    timeoutSeconds: seconds(env, EXTERNAL_KMS_TIMEOUT_SECONDS_ENV, DEFAULT_TIMEOUT_SECONDS),
  };
}

function seconds(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new RootKeyConfigError(`${name} must be a number of seconds between 0 and 86400, got ${JSON.stringify(v.slice(0, 40))}`);
  return n;
}

/** NAME_FILE (a 0600 file, one trailing newline dropped) wins over NAME. */
function secret(env: Record<string, string | undefined>, name: string, what: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (!file) return env[name] || undefined;
  let text: string;
  try {
    const st = statSync(file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new RootKeyConfigError(`external KMS ${what} file ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: group and others must have no access`, `run: chmod 600 ${file}`);
    }
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof RootKeyConfigError) throw e;
    throw new RootKeyConfigError(`cannot read the external KMS ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, `${name}_FILE must name a readable file`);
  }
  const v = text.replace(/\r?\n$/, '');
  if (v === '') throw new RootKeyConfigError(`external KMS ${what} file ${file} is empty`);
  return v;
}
