// Where settings come from besides flags: the COFFER_* environment, the *_FILE variants of
// secret variables, and a configuration file (TOML, YAML or JSON). Precedence is flags >
// environment > file > defaults: the file becomes one more layer of COFFER_* values under
// the environment, so config.ts validates every source with the same rules and messages.
//
// A file key is its environment variable without COFFER_, in lower case with dashes:
// COFFER_MAX_CONNECTIONS is `max-connections` (underscores are accepted too).

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';

/** Every COFFER_* variable the server reads, with its flag when it has one. */
export interface SettingSource {
  env: string;
  flag?: string;
  /** A secret: masked by `coffer config check`, and readable from a file with <env>_FILE. */
  secret?: boolean;
}

export const SETTINGS: readonly SettingSource[] = [
  { env: 'COFFER_ADDRESS', flag: 'address' },
  { env: 'COFFER_PORT', flag: 'port' },
  { env: 'COFFER_DATA_DIR', flag: 'dataDir' },
  { env: 'COFFER_REGION', flag: 'region' },
  { env: 'COFFER_DOMAIN', flag: 'domain' },
  { env: 'COFFER_FSYNC', flag: 'fsync' },
  { env: 'COFFER_LOG_LEVEL', flag: 'logLevel' },
  { env: 'COFFER_ACCESS_LOG' },
  { env: 'COFFER_ROOT_ACCESS_KEY_ID' },
  { env: 'COFFER_ROOT_SECRET_ACCESS_KEY', secret: true },
  { env: 'COFFER_ROOT_KEY', secret: true },
  { env: 'COFFER_ROOT_PASSPHRASE', secret: true },
  { env: 'COFFER_MAX_OBJECT_SIZE' },
  { env: 'COFFER_ENCRYPTION_AT_REST', flag: 'encryptionAtRest' },
  { env: 'COFFER_DEFAULT_KMS_KEY_ID', flag: 'defaultKmsKeyId' },
  { env: 'COFFER_BUCKET_KEY_TTL_SECONDS' },
  { env: 'COFFER_TLS_CERT', flag: 'tlsCert' },
  { env: 'COFFER_TLS_KEY', flag: 'tlsKey' },
  { env: 'COFFER_ALLOW_SECRETS_OVER_HTTP', flag: 'allowSecretsOverHttp' },
  { env: 'COFFER_ALLOW_SSE_OVER_HTTP' },
  { env: 'COFFER_AUDIT_MAX_FILE_MB' },
  { env: 'COFFER_AUDIT_MAX_FILE_BYTES' },
  { env: 'COFFER_AUDIT_MAX_FILES' },
  { env: 'COFFER_AUDIT_PREALLOCATE_MB' },
  { env: 'COFFER_AUDIT_BUCKET' },
  { env: 'COFFER_AUDIT_DELIVERY_SECONDS' },
  { env: 'COFFER_AUDIT_RETENTION_DAYS' },
  { env: 'COFFER_SHUTDOWN_GRACE_SECONDS' },
  { env: 'COFFER_LIFECYCLE_INTERVAL_SECONDS' },
  { env: 'COFFER_HEADERS_TIMEOUT_SECONDS' },
  { env: 'COFFER_BODY_IDLE_TIMEOUT_SECONDS' },
  { env: 'COFFER_MAX_CONNECTIONS' },
  { env: 'COFFER_MAX_CONNECTIONS_PER_CLIENT' },
  { env: 'COFFER_CONNECTION_RESERVE' },
  { env: 'COFFER_SIGV2', flag: 'sigv2' },
  { env: 'COFFER_PKCS11_MODULE', flag: 'pkcs11Module' },
  { env: 'COFFER_PKCS11_TOKEN', flag: 'pkcs11Token' },
  { env: 'COFFER_PKCS11_SLOT', flag: 'pkcs11Slot' },
  { env: 'COFFER_PKCS11_KEY_LABEL', flag: 'pkcs11KeyLabel' },
  { env: 'COFFER_PKCS11_PIN_FILE', flag: 'pkcs11PinFile' },
  { env: 'COFFER_PKCS11_PIN', secret: true },
  { env: 'COFFER_EXTERNAL_KMS_ENDPOINT', flag: 'externalKmsEndpoint' },
  { env: 'COFFER_EXTERNAL_KMS_REGION', flag: 'externalKmsRegion' },
  { env: 'COFFER_EXTERNAL_KMS_KEY_ID', flag: 'externalKmsKeyId' },
  { env: 'COFFER_EXTERNAL_KMS_ACCESS_KEY_ID' },
  { env: 'COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY', secret: true },
  { env: 'COFFER_EXTERNAL_KMS_SESSION_TOKEN', secret: true },
  { env: 'COFFER_EXTERNAL_KMS_CHECK_SECONDS' },
  { env: 'COFFER_EXTERNAL_KMS_TIMEOUT_SECONDS' },
  { env: 'COFFER_METERING' },
  { env: 'COFFER_METRICS' },
  { env: 'COFFER_AUDIT' },
  { env: 'COFFER_PRICE_KEY_MONTH' },
  { env: 'COFFER_PRICE_PER_10K_REQUESTS' },
  { env: 'COFFER_FREE_REQUESTS_PER_MONTH' },
  { env: 'COFFER_BLOBS', flag: 'blobs' },
  { env: 'COFFER_METADATA', flag: 'metadata' },
  { env: 'COFFER_BLOB_GC_GRACE_SECONDS' },
  { env: 'COFFER_BLOB_S3_ACCESS_KEY_ID', secret: true },
  { env: 'COFFER_BLOB_S3_SECRET_ACCESS_KEY', secret: true },
];

export const SECRET_ENV = SETTINGS.filter((s) => s.secret).map((s) => s.env);

/** COFFER_MAX_CONNECTIONS -> max-connections. */
export const fileKeyOf = (env: string): string => env.slice('COFFER_'.length).toLowerCase().replaceAll('_', '-');

const BY_FILE_KEY = new Map(SETTINGS.flatMap((s) => {
  const key = fileKeyOf(s.env);
  return s.secret ? [[key, s.env], [`${key}-file`, `${s.env}_FILE`]] : [[key, s.env]];
}));

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** Known file keys close to an unknown one, closest first. */
export function closeKeys(key: string): string[] {
  const k = key.toLowerCase().replaceAll('_', '-');
  return [...BY_FILE_KEY.keys()]
    .map((known) => ({ known, d: known.includes(k) || k.includes(known) ? 1 : distance(k, known) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(k.length / 4)))
    .sort((a, b) => a.d - b.d || a.known.localeCompare(b.known))
    .slice(0, 3)
    .map((x) => x.known);
}

function asEnvValue(key: string, v: unknown, file: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new ConfigError(`${file}: ${key} must be a string, number or boolean`, `write it as ${key} = "…", a number, or true/false`);
}

/** A configuration file's settings as COFFER_* values (the file layer). Unknown keys are an error naming close matches. */
export function readConfigFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the configuration file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check the path given to --config (or COFFER_CONFIG)');
  }
  const ext = extname(file).toLowerCase();
  let doc: unknown;
  try {
    if (ext === '.toml') doc = parseToml(text);
    else if (ext === '.yaml' || ext === '.yml') doc = parseYaml(text);
    else if (ext === '.json') doc = JSON.parse(text);
    else throw new ConfigError(`the configuration file ${file} has an unknown format`, 'name it *.toml, *.yaml, *.yml or *.json');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`the configuration file ${file} is not valid ${ext.slice(1).toUpperCase()}: ${(e as Error).message.split('\n')[0]}`, 'fix the syntax at the place named');
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`the configuration file ${file} must hold a table of settings (key = value)`, 'see README, "Configuration file"');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const env = BY_FILE_KEY.get(key.toLowerCase().replaceAll('_', '-'));
    if (env === undefined) {
      const close = closeKeys(key);
      throw new ConfigError(`unknown setting "${key}" in ${file}`, close.length ? `did you mean ${close.map((c) => `"${c}"`).join(', ')}?` : 'the keys are the COFFER_* variables without COFFER_, in lower case with dashes (README, "Server options")');
    }
    out[env] = asEnvValue(key, value, file);
  }
  return out;
}

/**
 * Reads <VAR>_FILE for each secret variable: the file's content without one trailing
 * newline becomes <VAR>. Both set is an error; `where` names the layer in messages.
 */
export function expandSecretFiles(vars: Record<string, string | undefined>, where: string): Record<string, string | undefined> {
  const out = { ...vars };
  for (const env of SECRET_ENV) {
    const path = vars[`${env}_FILE`];
    if (path === undefined || path === '') continue;
    if (vars[env] !== undefined && vars[env] !== '') {
      throw new ConfigError(`both ${env} and ${env}_FILE are set${where}`, `keep one: ${env}_FILE names a file holding the secret, ${env} is the secret itself`);
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read ${env}_FILE ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `give ${env}_FILE the path of a readable file holding the secret`);
    }
    out[env] = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
    delete out[`${env}_FILE`];
  }
  return out;
}

export type Origin = 'flag' | 'env' | 'file' | 'default';

/** The layers after *_FILE expansion, and where each variable came from. */
export interface Layers {
  /** Environment over file: what config.ts reads. */
  env: Record<string, string | undefined>;
  origin(envName: string, flagGiven: boolean): Origin;
}

export function layerSources(env: Record<string, string | undefined>, configFile: string | undefined): Layers {
  const file = configFile ? expandSecretFiles(readConfigFile(configFile), ` in ${configFile}`) : {};
  const fromEnv = expandSecretFiles(env, ' in the environment');
  const present = (v: string | undefined) => v !== undefined && v !== '';
  return {
    // An empty variable (common in container definitions) does not hide the file's value.
    env: { ...file, ...Object.fromEntries(Object.entries(fromEnv).filter(([k, v]) => v !== undefined && (present(v) || !(k in file)))) },
    origin: (name, flagGiven) => (flagGiven ? 'flag' : present(fromEnv[name]) ? 'env' : present(file[name]) ? 'file' : 'default'),
  };
}
