// What every S3 handler receives: the services it may use, the parsed request and
// helpers to answer. Handlers never parse the URL or authenticate themselves.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CofferConfig } from '../config/config.js';
import type { BlobStore, BucketRecord, MetadataStore } from '../storage/types.js';
import type { RequestReader, RequestReads } from '../storage/request-reads.js';
import type { AuthResult, CredentialLookup, Principal } from '../auth/types.js';
import type { NamedPolicy } from '../iam/policy/index.js';
import type { Transport } from '../http/transport.js';
import type { RequestFacts } from '../http/request-facts.js';
import type { Endpoint } from './router.js';
import type { KmsPort } from '../kms/port.js';
import type { RootKeyProvider } from '../custody/root-key.js';
import type { BucketKeyCache } from './sse/bucket-keys.js';
import { accountCanonicalId } from '../iam/canonical-user.js';

export interface S3Services {
  config: CofferConfig;
  meta: MetadataStore;
  blobs: BlobStore;
  accountId: string;
  log: Logger;
  /** Deletes garbage blobs after a commit; never throws. */
  collectGarbage(): void;
  /** Access keys: SigV4 of every request, and PostObject's signed form policy. */
  lookup: CredentialLookup;
  /**
   * Loads the credential of the access key a request names, before the synchronous lookup
   * (see iam/credentials.ts); `iamVersion`: the IAM store's version as this request read it.
   */
  prepareCredential(accessKeyId: string | undefined, iamVersion?: Promise<string>): Promise<void>;
  /** The caller's identity-based policies (IAM users, their groups, roles); the account root needs none. `iamVersion` as above. */
  identityPolicies(principal: Principal, iamVersion?: Promise<string>): Promise<NamedPolicy[]>;
  /** On PostgreSQL: starts a request's first reads together, in one round trip (storage/request-reads.ts). */
  requestReads?: RequestReader;
  /** The session policy limiting a temporary principal, if any. */
  sessionPolicy(principal: Principal): NamedPolicy | undefined;
  /** The KMS that SSE-KMS uses as the caller. */
  kms: KmsPort;
  /** The root key that wraps SSE-S3 object keys. */
  rootKey: RootKeyProvider;
  /** S3 Bucket Keys in use. */
  bucketKeys: BucketKeyCache;
  /** The clock object lock measures retention with (ms since the epoch): Date.now, or a test's clock (startCoffer's options). */
  now(): number;
}

export interface Owner {
  id: string;
  displayName: string;
}

export interface S3Context {
  services: S3Services;
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  /** TLS or not, loopback or not, the peer address: decided once, read by every rule that depends on them. */
  transport: Transport;
  endpoint: Endpoint;
  query: URLSearchParams;
  /** The decoded request path, for error <Resource> elements. */
  path: string;
  auth: AuthResult;
  /** How the request was signed and carried, for the condition keys of every decision it makes (PostObject sets its form's). */
  facts: RequestFacts;
  principal: Principal;
  owner: Owner;
  /**
   * The bucket's record as the request's authorization read it, taken by the operation's
   * first requireBucket (bucket-access.ts) instead of a second read: on PostgreSQL each read
   * is a round trip. Later lookups read the store again (the operation may have changed it).
   */
  bucketRead?: BucketRecord | undefined;
  /** This request's first reads, started when it was routed (PostgreSQL; S3Services.requestReads). */
  reads?: RequestReads | undefined;
}

export function header(ctx: S3Context, name: string): string | undefined {
  const v = ctx.req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/** S3's canonical user id for an account: 64 hex characters, stable per account. */
export function canonicalUserId(accountId: string): string {
  return accountCanonicalId(accountId);
}

export function ownerFor(accountId: string): Owner {
  return { id: canonicalUserId(accountId), displayName: 'coffer' };
}

export function sendXml(ctx: S3Context, status: number, xml: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(xml, 'utf8');
  ctx.res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': String(body.length) });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

export function sendEmpty(ctx: S3Context, status: number, headers: Record<string, string | number> = {}): void {
  ctx.res.writeHead(status, { ...headers, 'content-length': '0' });
  ctx.res.end();
}
