// Where the server keeps its state (--metadata, COFFER_METADATA): unset, the embedded
// SQLite databases in the data directory; a postgres:// (or postgresql://) URL, one
// PostgreSQL database shared by the nodes of a cluster for the metadata, KMS, IAM and
// usage stores (docs/CLUSTER.md). backend/open-backend.ts opens the stores it names.

import { ConfigError } from './errors.js';

const HINT = 'use --metadata (or COFFER_METADATA) with postgres://user:password@host:5432/database, or leave it unset for the embedded SQLite databases';

/** The validated PostgreSQL URL, or undefined for the embedded stores. */
export function loadMetadataUrl(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`invalid metadata: ${JSON.stringify(shownMetadata(value))} is not a URL`, HINT);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`invalid metadata: ${JSON.stringify(shownMetadata(value))} is not a postgres:// URL`, HINT);
  }
  if (url.hostname === '' && !url.searchParams.has('host')) throw new ConfigError('invalid metadata: the PostgreSQL URL names no host', HINT);
  return value;
}

/** The URL as `config check` and messages show it: the password masked. */
export function shownMetadata(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.password !== '') url.password = '****';
    return url.toString();
  } catch {
    return value.replace(/:[^:@/]*@/, ':****@');
  }
}
