// Where object bytes go (`--blobs`, COFFER_BLOBS), validated once at start-up:
//   (unset)                          the data directory, exactly as before (blobs/ beside metadata.sqlite)
//   file:///shared/path              a directory several nodes share (NFS v4, CephFS, any POSIX mount)
//   s3://bucket[/prefix]?endpoint=https://host[:port]&region=us-east-1&forcePathStyle=true[&partSizeMiB=16]
//                                    any S3-compatible service; credentials from
//                                    COFFER_BLOB_S3_ACCESS_KEY_ID / COFFER_BLOB_S3_SECRET_ACCESS_KEY
//                                    (or their _FILE variants), else AWS_ACCESS_KEY_ID /
//                                    AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
// Blobs of up to 64 KiB stay in the metadata store's inline tier whichever is chosen.

import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';

export type BlobsConfig =
  | { kind: 'data-dir' }
  | { kind: 'file'; path: string }
  | {
      kind: 's3';
      /** The setting as given (it holds no secret), for messages and `coffer config check`. */
      url: string;
      endpoint: string;
      bucket: string;
      /** '' or ending in '/'. */
      prefix: string;
      region: string;
      forcePathStyle: boolean;
      partBytes: number;
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken?: string;
    };

const HINT = 'use --blobs (or COFFER_BLOBS) with file:///absolute/path, or s3://bucket/prefix?endpoint=https://host:port&region=us-east-1&forcePathStyle=true; leave it unset to keep blobs in the data directory';
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** The blob tier from the flag or COFFER_BLOBS; `env` also supplies the backend's credentials. */
export function loadBlobsConfig(setting: string | undefined, env: Record<string, string | undefined>): BlobsConfig {
  if (setting === undefined || setting === '') return { kind: 'data-dir' };
  let url: URL;
  try {
    url = new URL(setting);
  } catch {
    throw new ConfigError(`invalid COFFER_BLOBS: ${JSON.stringify(setting)} is not a URL`, HINT);
  }
  if (url.protocol === 'file:') {
    if (url.host !== '' || url.search !== '') throw new ConfigError(`invalid COFFER_BLOBS: ${JSON.stringify(setting)}`, 'a file: URL names a local path, file:///shared/path (no host, no query)');
    const path = fileURLToPath(url);
    if (!isAbsolute(path) || path === '/') throw new ConfigError(`invalid COFFER_BLOBS: ${JSON.stringify(setting)}`, 'name a directory of the shared mount, such as file:///mnt/coffer-blobs');
    return { kind: 'file', path };
  }
  if (url.protocol !== 's3:') throw new ConfigError(`invalid COFFER_BLOBS: unknown scheme ${JSON.stringify(url.protocol)}`, HINT);
  return s3Config(setting, url, env);
}

function s3Config(setting: string, url: URL, env: Record<string, string | undefined>): BlobsConfig {
  const bucket = url.hostname;
  if (!BUCKET.test(bucket)) throw new ConfigError(`invalid COFFER_BLOBS: ${JSON.stringify(bucket)} is not a bucket name`, HINT);
  let prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const known = new Set(['endpoint', 'region', 'forcePathStyle', 'partSizeMiB']);
  for (const k of url.searchParams.keys()) if (!known.has(k)) throw new ConfigError(`invalid COFFER_BLOBS: unknown parameter ${JSON.stringify(k)}`, `the parameters are ${[...known].join(', ')}`);
  const region = url.searchParams.get('region') || 'us-east-1';
  if (!REGION.test(region)) throw new ConfigError(`invalid COFFER_BLOBS: region ${JSON.stringify(region)}`, 'give region= an AWS-style region name such as us-east-1');
  const endpoint = url.searchParams.get('endpoint') || `https://s3.${region}.amazonaws.com`;
  let ep: URL;
  try {
    ep = new URL(endpoint);
  } catch {
    throw new ConfigError(`invalid COFFER_BLOBS: endpoint ${JSON.stringify(endpoint)} is not a URL`, 'give endpoint= as http(s)://host[:port]');
  }
  if ((ep.protocol !== 'https:' && ep.protocol !== 'http:') || (ep.pathname !== '/' && ep.pathname !== '') || ep.search !== '' || ep.username !== '' || ep.password !== '') {
    throw new ConfigError(`invalid COFFER_BLOBS: endpoint ${JSON.stringify(endpoint)}`, 'give endpoint= as http(s)://host[:port], with no path, query or credentials');
  }
  const style = url.searchParams.get('forcePathStyle') ?? 'false';
  if (!/^(true|false)$/.test(style)) throw new ConfigError(`invalid COFFER_BLOBS: forcePathStyle=${JSON.stringify(style)}`, 'forcePathStyle is true or false');
  const partMiB = Number(url.searchParams.get('partSizeMiB') ?? '16');
  if (!Number.isInteger(partMiB) || partMiB < 5 || partMiB > 5120) throw new ConfigError(`invalid COFFER_BLOBS: partSizeMiB=${url.searchParams.get('partSizeMiB')}`, 'partSizeMiB is a whole number from 5 (S3\'s smallest part) to 5120');
  const own = env.COFFER_BLOB_S3_ACCESS_KEY_ID || env.COFFER_BLOB_S3_SECRET_ACCESS_KEY;
  const accessKeyId = own ? env.COFFER_BLOB_S3_ACCESS_KEY_ID : env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = own ? env.COFFER_BLOB_S3_SECRET_ACCESS_KEY : env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new ConfigError('the s3:// blob backend has no credentials', 'set COFFER_BLOB_S3_ACCESS_KEY_ID and COFFER_BLOB_S3_SECRET_ACCESS_KEY (or COFFER_BLOB_S3_SECRET_ACCESS_KEY_FILE), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  return {
    kind: 's3',
    url: setting,
    endpoint: ep.origin,
    bucket,
    prefix,
    region,
    forcePathStyle: style === 'true',
    partBytes: partMiB * 1024 * 1024,
    accessKeyId,
    secretAccessKey,
    sessionToken: own ? undefined : env.AWS_SESSION_TOKEN || undefined,
  };
}

/** The setting as `coffer config check` shows it. */
export function shownBlobs(b: BlobsConfig): string | undefined {
  return b.kind === 'data-dir' ? undefined : b.kind === 'file' ? `file://${b.path}` : b.url;
}
