// A small SigV4-signing HTTP client for CLI commands that talk to a running Coffer
// server (coffer rekey, lifecycle run, custody rotate|migrate --online): S3 calls (service "s3") and the administration API (service
// "coffer", JSON). It signs with Coffer's own signer (auth/sign.ts), so the product
// does not depend on the AWS SDK, and keeps connections alive across calls.

import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { uriEncode } from '../auth/canonical.js';
import { signRequest } from '../auth/sign.js';
import { loadAwsProfile } from './aws-profile.js';
import { CliError } from './output.js';

export interface ClientCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ClientOptions {
  endpoint: string;
  region: string;
  credentials: ClientCredentials;
  /** Sent as User-Agent (the server's audit trail records it); none by default. */
  userAgent?: string;
  /** https: the server's own certificate, pinned (trusted as its own CA, whatever host name it names); default: the system's CAs. */
  pinnedCert?: string | Buffer;
}

export interface HttpReply {
  status: number;
  body: string;
}

/** A call that never reached the server (refused, reset, DNS): not the object's fault. */
export class UnreachableError extends CliError {}

/**
 * The credentials of the environment, as the AWS CLI and SDKs read them: AWS_ACCESS_KEY_ID
 * and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN), else those of the AWS profile given
 * (cli/aws-profile.ts).
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv, profile?: { name: string; accessKeyId?: string; secretAccessKey?: string; sessionToken?: string }): ClientCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId && secretAccessKey) return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
  if (profile?.accessKeyId && profile.secretAccessKey) {
    return { accessKeyId: profile.accessKeyId, secretAccessKey: profile.secretAccessKey, ...(profile.sessionToken ? { sessionToken: profile.sessionToken } : {}) };
  }
  throw new CliError(
    profile ? `no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and the AWS profile "${profile.name}" has no aws_access_key_id and aws_secret_access_key` : 'no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and there is no AWS profile',
    'export the access key of the principal the re-wraps should run as (and AWS_SESSION_TOKEN for temporary credentials), or name a profile of ~/.aws/credentials with AWS_PROFILE or --profile',
  );
}

/**
 * Where a command reaches the server and as whom: --endpoint and --region, else the
 * environment, else the AWS profile (--profile, AWS_PROFILE or "default"; cli/aws-profile.ts).
 * --profile is a flag: its credentials win over the environment's. `noCredentialsHint`
 * replaces credentialsFromEnv's hint when there are none.
 */
export function clientOptionsFromEnv(o: { endpoint?: unknown; region?: unknown; profile?: unknown }, env: NodeJS.ProcessEnv, noCredentialsHint?: string): ClientOptions {
  const profile = loadAwsProfile(o.profile !== undefined ? { ...env, AWS_PROFILE: String(o.profile) } : env);
  const endpoint = String(o.endpoint ?? (env.COFFER_ENDPOINT || env.AWS_ENDPOINT_URL || profile?.endpointUrl || 'http://127.0.0.1:9000'));
  const region = String(o.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || profile?.region || 'us-east-1'));
  let credentials;
  try {
    credentials = o.profile !== undefined ? credentialsFromEnv({}, profile) : credentialsFromEnv(env, profile);
  } catch (e) {
    if (noCredentialsHint === undefined || !(e instanceof CliError)) throw e;
    throw new CliError(e.message, noCredentialsHint);
  }
  return { endpoint, region, credentials };
}

/** An error answer of the administration API: its `__type` and message, else the HTTP status and the start of the body. */
export interface ApiError {
  code: string;
  message: string;
}

export function apiError(reply: HttpReply): ApiError {
  try {
    const e = JSON.parse(reply.body) as { __type?: string; message?: string };
    if (e.__type) return { code: e.__type, message: e.message ?? '' };
  } catch {
    /* not JSON */
  }
  return { code: `HTTP ${reply.status}`, message: reply.body.slice(0, 200) };
}

export class SignedClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly opts: ClientOptions) {
    try {
      this.base = new URL(opts.endpoint);
    } catch {
      throw new CliError(`invalid endpoint "${opts.endpoint}"`, 'give a URL such as http://127.0.0.1:9000 (--endpoint or COFFER_ENDPOINT)');
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new CliError(`invalid endpoint "${opts.endpoint}": only http and https are supported`, 'give a URL such as http://127.0.0.1:9000');
    }
    this.agent = this.base.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ...(opts.pinnedCert ? { ca: opts.pinnedCert, checkServerIdentity: () => undefined } : {}) })
      : new http.Agent({ keepAlive: true });
  }

  get endpoint(): string {
    return this.base.origin;
  }

  /** An S3 call, path-style: `path` segments are percent-encoded here. */
  s3(method: string, segments: string[], query: Record<string, string | undefined>): Promise<HttpReply> {
    const path = '/' + segments.map((s) => uriEncode(s)).join('/');
    return this.send('s3', method, path + queryString(query), undefined);
  }

  /** A JSON call of the administration API (/_coffer/api/<route>). */
  admin(method: string, route: string, body?: unknown): Promise<HttpReply> {
    return this.send('coffer', method, `/_coffer/api/${route}`, body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  }

  /** An IAM or STS call (AWS Query protocol): the form POSTed to /, answered in XML. */
  query(service: 'iam' | 'sts', form: Record<string, string>): Promise<HttpReply> {
    return this.send(service, 'POST', '/', Buffer.from(new URLSearchParams(form).toString()), 'application/x-www-form-urlencoded; charset=utf-8');
  }

  close(): void {
    this.agent.destroy();
  }

  private send(service: string, method: string, target: string, body: Buffer | undefined, contentType = 'application/json'): Promise<HttpReply> {
    const rawUrl = this.base.pathname.replace(/\/$/, '') + target;
    const payloadHash = createHash('sha256').update(body ?? Buffer.alloc(0)).digest('hex');
    const headers: Record<string, string> = { host: this.base.host };
    if (body) headers['content-type'] = contentType;
    if (this.opts.userAgent !== undefined) headers['user-agent'] = this.opts.userAgent;
    const signed = signRequest({
      method, rawUrl, headers, region: this.opts.region, service, now: new Date(), payloadHash,
      accessKeyId: this.opts.credentials.accessKeyId, secretAccessKey: this.opts.credentials.secretAccessKey,
      ...(this.opts.credentials.sessionToken ? { sessionToken: this.opts.credentials.sessionToken } : {}),
    });
    const lib = this.base.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request({
        host: this.base.hostname.replace(/^\[|\]$/g, ''),
        port: this.base.port || (this.base.protocol === 'https:' ? 443 : 80),
        method,
        path: rawUrl,
        headers: { ...signed.headers, 'content-length': String(body?.length ?? 0) },
        agent: this.agent,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        reject(new UnreachableError(`cannot reach ${this.base.origin}: ${e.code ?? e.message}`, 'is `coffer server` running there? set --endpoint or COFFER_ENDPOINT'));
      });
      req.end(body);
    });
  }
}

function queryString(q: Record<string, string | undefined>): string {
  const parts = Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
