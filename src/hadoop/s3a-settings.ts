// What S3A (hadoop-aws 3.5) will use for one bucket, from a parsed core-site.xml, with
// the property each value came from. The lookup order is S3A's:
//   encryption algorithm and key (S3AUtils.buildEncryptionSecrets / getS3EncryptionKey),
//   encryption context (S3AEncryption), access key, secret key, session token:
//     1. fs.s3a.bucket.B.fs.s3a.<option>  (the long per-bucket form: wins when set)
//     2. fs.s3a.bucket.B.<option>
//     3. the same two with the deprecated name (server-side-encryption-algorithm, ...)
//     4. fs.s3a.<option>, where the deprecated name is the same property (core-site.ts)
//   any other option (endpoint, region, ...): fs.s3a.bucket.B.<option>, else fs.s3a.<option>
//   (S3AUtils.propagateBucketOptions).
// Hadoop credential providers (hadoop.security.credential.provider.path, e.g. jceks://)
// are consulted by S3A before the XML for every secret; Coffer cannot open them, so a
// check reports them and what it could therefore not know.

import { lookup, type CoreSite, type Setting } from './core-site.js';

export const ALGORITHM = 'fs.s3a.encryption.algorithm';
export const KEY = 'fs.s3a.encryption.key';
export const LEGACY_ALGORITHM = 'fs.s3a.server-side-encryption-algorithm';
export const LEGACY_KEY = 'fs.s3a.server-side-encryption.key';
export const CONTEXT = 'fs.s3a.encryption.context';

/** S3AEncryptionMethods by their configured names (matched case-insensitively, as S3A does). */
export const METHODS = ['AES256', 'SSE-KMS', 'SSE-C', 'CSE-KMS', 'CSE-CUSTOM', 'DSSE-KMS'] as const;
export type Method = 'NONE' | (typeof METHODS)[number];

export interface Found {
  value: string;
  /** The property as written in the file. */
  from: string;
}

export interface S3aSettings {
  /** undefined: the base configuration (a bucket without overrides). */
  bucket: string | undefined;
  method: Method | { unknown: string };
  algorithmFrom?: string;
  key?: Found;
  context?: Found & { pairs: Record<string, string> };
  accessKey?: Found;
  secretKey?: Found;
  sessionToken?: Found;
  credentialsProvider?: Found;
  endpoint?: Found;
  region?: Found;
  pathStyle?: Found;
  ssl?: Found;
  /** Hadoop credential provider URIs (jceks://...), which Coffer cannot read. */
  credentialProviders: Found[];
}

function found(s: Setting | undefined): Found | undefined {
  return s === undefined ? undefined : { value: s.value, from: s.from };
}

/** S3A's lookupBucketSecret: the long per-bucket form when set, else the short one. */
function perBucket(site: CoreSite, bucket: string, option: string): Found | undefined {
  const long = lookup(site, `fs.s3a.bucket.${bucket}.${option}`);
  if (long) return found(long);
  return found(lookup(site, `fs.s3a.bucket.${bucket}.${option.slice('fs.s3a.'.length)}`));
}

/** A secret-like option: per bucket (new name, then old), then global. */
function secret(site: CoreSite, bucket: string | undefined, option: string, legacy?: string): Found | undefined {
  if (bucket !== undefined) {
    const b = perBucket(site, bucket, option) ?? (legacy ? perBucket(site, bucket, legacy) : undefined);
    if (b) return b;
  }
  return found(lookup(site, option));
}

/** Any other option: the short per-bucket form, else global. */
function option(site: CoreSite, bucket: string | undefined, name: string): Found | undefined {
  if (bucket !== undefined) {
    const b = lookup(site, `fs.s3a.bucket.${bucket}.${name.slice('fs.s3a.'.length)}`);
    if (b) return found(b);
  }
  return found(lookup(site, name));
}

export function methodOf(value: string | undefined): Method | { unknown: string } {
  const v = (value ?? '').trim();
  if (v === '') return 'NONE';
  const m = METHODS.find((x) => x.toLowerCase() === v.toLowerCase());
  return m ?? { unknown: v };
}

/** fs.s3a.encryption.context: "k=v, k=v" (S3A splits on commas, then on the first '='). */
export function parseContext(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq < 0) out[t] = '';
    else out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return out;
}

export function s3aSettings(site: CoreSite, bucket: string | undefined): S3aSettings {
  const alg = secret(site, bucket, ALGORITHM, LEGACY_ALGORITHM);
  const key = secret(site, bucket, KEY, LEGACY_KEY);
  const ctx = secret(site, bucket, CONTEXT);
  const providers: Found[] = [];
  const global = found(lookup(site, 'hadoop.security.credential.provider.path'));
  // S3A puts fs.s3a.security.credential.provider.path (per bucket too) in front of Hadoop's own list.
  const s3aOwn = option(site, bucket, 'fs.s3a.security.credential.provider.path');
  for (const f of [s3aOwn, global]) {
    if (!f) continue;
    for (const uri of f.value.split(',').map((u) => u.trim()).filter(Boolean)) providers.push({ value: uri, from: f.from });
  }
  const out: S3aSettings = {
    bucket,
    method: methodOf(alg?.value),
    credentialProviders: providers,
  };
  if (alg) out.algorithmFrom = alg.from;
  if (key && key.value !== '') out.key = key;
  if (ctx && ctx.value !== '') out.context = { ...ctx, pairs: parseContext(ctx.value) };
  const set = <K extends keyof S3aSettings>(k: K, v: S3aSettings[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('accessKey', secret(site, bucket, 'fs.s3a.access.key'));
  set('secretKey', secret(site, bucket, 'fs.s3a.secret.key'));
  set('sessionToken', secret(site, bucket, 'fs.s3a.session.token'));
  set('credentialsProvider', option(site, bucket, 'fs.s3a.aws.credentials.provider'));
  set('endpoint', option(site, bucket, 'fs.s3a.endpoint'));
  set('region', option(site, bucket, 'fs.s3a.endpoint.region'));
  set('pathStyle', option(site, bucket, 'fs.s3a.path.style.access'));
  set('ssl', option(site, bucket, 'fs.s3a.connection.ssl.enabled'));
  return out;
}

/** Whether S3A talks TLS: fs.s3a.connection.ssl.enabled (default true), or the endpoint's scheme. */
export function usesTls(s: S3aSettings): boolean {
  const ep = s.endpoint?.value;
  if (ep?.startsWith('https://')) return true;
  if (ep?.startsWith('http://')) return false;
  return (s.ssl?.value ?? 'true').toLowerCase() !== 'false';
}
