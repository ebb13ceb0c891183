// The decisions behind `coffer hadoop config`: where S3A should connect, which key to
// name, whose credentials to write — validated against the data directory, with every
// doubt returned as a warning (the snippet is still written). A secret cannot be read
// back after it was created (as on AWS), so a snippet for a user gets a new access key
// unless the caller supplies one.

import { IamStoreConflict } from '../iam/store/types.js';
import { isKeyId } from '../kms/format/key-id.js';
import { checkCoreSite } from './check.js';
import type { CofferView } from './coffer-view.js';
import { renderSnippet, type SnippetCredentials, type SnippetInput } from './config-snippet.js';

/** A snippet that cannot be written as asked: what is wrong, and a hint how to fix it (the CLI prints both). */
export class MakeConfigError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export interface MakeConfigOptions {
  bucket: string;
  key?: string;
  user?: string;
  /** An existing access key to write (its secret from `secretAccessKey`). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** false: placeholders instead of credentials. */
  credentials: boolean;
  legacyNames: boolean;
  perBucket: boolean;
  algorithm: 'SSE-KMS' | 'DSSE-KMS' | 'none';
  /** Overrides the endpoint derived from the server's address, port and TLS settings. */
  endpoint?: string;
}

export interface MadeConfig {
  xml: string;
  /** Diagnostics for stderr. */
  warnings: string[];
  /** Set when a new access key was created (announced on stderr). */
  createdAccessKey?: { userName: string; accessKeyId: string };
}

export async function makeConfig(view: CofferView, o: MakeConfigOptions): Promise<MadeConfig> {
  const warnings: string[] = [];
  const endpoint = o.endpoint ?? defaultEndpoint(view, warnings);
  if (!/^https?:\/\/[^/]+\/?$/.test(endpoint)) throw new MakeConfigError(`invalid endpoint ${JSON.stringify(endpoint)}`, 'give --endpoint as http://HOST:PORT or https://HOST:PORT');

  if (!(await view.bucket(o.bucket))) warnings.push(`bucket ${o.bucket} does not exist yet; create it (e.g. \`aws s3 mb s3://${o.bucket}\`) before S3A uses it`);

  let key: SnippetInput['key'];
  if (o.key !== undefined && o.algorithm !== 'none') {
    const k = await view.key(o.key);
    if (!k.ok) {
      // A customer key (SSE-C) given as --key: refuse without repeating it, since the file and
      // the warning would both carry key material; this command writes KMS-managed encryption only.
      if (/^[A-Za-z0-9+/]{43}=$/.test(o.key)) throw new MakeConfigError('--key looks like a base64 256-bit customer key (SSE-C), not a KMS key', 'coffer hadoop config writes SSE-KMS or DSSE-KMS: give a KMS key id, ARN or alias/NAME');
      warnings.push(`key ${o.key} does not resolve in this Coffer (${k.problem}); writing it as given`);
      key = { value: o.key, description: 'The KMS key (not found when this file was generated).' };
    } else {
      if (k.key.state !== 'Enabled') warnings.push(`key ${k.key.arn} is ${k.key.state}: S3A's writes and reads under it will fail until it is enabled`);
      // A bare key id becomes its ARN (what S3 reports back, and what S3A's own tests compare);
      // an alias stays an alias, so repointing it moves the writers.
      const value = isKeyId(o.key) ? k.key.arn : o.key;
      key = { value, description: value === k.key.arn ? `KMS key: ${k.key.description || k.key.arn}` : `KMS key ${o.key}: now ${k.key.arn}.` };
    }
  }
  const unset = await view.key(undefined);

  let credentials: SnippetCredentials | undefined;
  let createdAccessKey: MadeConfig['createdAccessKey'];
  if (o.credentials) {
    if (o.accessKeyId !== undefined) {
      if (o.secretAccessKey === undefined) throw new MakeConfigError(`no secret for access key ${o.accessKeyId}`, 'put it in AWS_SECRET_ACCESS_KEY (and a session token in AWS_SESSION_TOKEN): secrets are not read back from Coffer');
      const p = await view.principal(o.accessKeyId, o.secretAccessKey, o.sessionToken);
      if (!p.ok) throw new MakeConfigError(p.problem);
      if (o.user !== undefined && (p.principal.kind !== 'user' || p.principal.userName !== o.user)) throw new MakeConfigError(`access key ${o.accessKeyId} belongs to ${p.principal.arn}, not to user ${o.user}`);
      if (p.note) warnings.push(p.note);
      credentials = { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, principal: p.principal.arn, ...(o.sessionToken ? { sessionToken: o.sessionToken } : {}) };
    } else if (o.user !== undefined) {
      const user = await view.admin.iam.getUser(o.user);
      if (!user) throw new MakeConfigError(`no user named ${o.user}`, 'create it with `coffer user create NAME`, or list users with `coffer user list`');
      const created = await createAccessKey(view, o.user);
      createdAccessKey = { userName: o.user, accessKeyId: created.accessKeyId };
      credentials = { ...created, principal: user.arn };
    } else {
      warnings.push('no --user or --access-key-id: the file has placeholders for the access key');
    }
  }

  const xml = renderSnippet({
    endpoint: endpoint.replace(/\/$/, ''),
    region: view.region,
    bucket: o.bucket,
    perBucket: o.perBucket,
    legacyNames: o.legacyNames,
    algorithm: o.algorithm,
    ...(key ? { key } : {}),
    defaultKeyMeaning: unset.meaning.replace(/^unset: /, ''),
    ...(credentials ? { credentials } : {}),
  });

  // What `coffer hadoop check` would say about the result, as warnings.
  if (credentials) {
    const report = await checkCoreSite(view, 'generated', xml, [o.bucket]);
    for (const f of report.buckets[0]!.findings) {
      if (f.status !== 'problem' || f.check === 'bucket' || (f.check === 'key' && o.key !== undefined)) continue;
      warnings.push(f.message);
    }
  }
  return { xml, warnings, ...(createdAccessKey ? { createdAccessKey } : {}) };
}

/** The server's own address: config address and port, https when a certificate is configured. */
function defaultEndpoint(view: CofferView, warnings: string[]): string {
  const c = view.config;
  let host = c.address;
  if (host === '0.0.0.0' || host === '::') {
    warnings.push(`the server listens on all addresses (${host}); the file names 127.0.0.1 — give --endpoint with the host name clients use`);
    host = '127.0.0.1';
  }
  if (host.includes(':')) host = `[${host}]`;
  return `${c.tlsCert ? 'https' : 'http'}://${host}:${c.port}`;
}

async function createAccessKey(view: CofferView, userName: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  try {
    // Recorded in the audit trail, through the running server or under the data directory's lock (cli/iam-changes.ts).
    return await (await view.admin.changes()).createAccessKey(userName);
  } catch (e) {
    if (e instanceof IamStoreConflict && e.kind === 'LimitExceeded') {
      throw new MakeConfigError(`user ${userName} already has the most access keys allowed (2)`, `remove one with \`coffer user remove-key ${userName} ID\`, or pass --access-key-id ID with its secret in AWS_SECRET_ACCESS_KEY`);
    }
    throw e;
  }
}
