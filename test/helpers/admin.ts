// Calls Coffer's administration API (/_coffer/api/<route>, src/admin/) the way the
// console and the CLI do: SigV4-signed with credential scope service "coffer".

import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from './sha256.js';
import { ROOT_KEY_ID, ROOT_SECRET, type TestServer } from './server.js';

export interface AdminCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const ROOT_CREDENTIALS: AdminCredentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

export interface AdminResponse {
  status: number;
  /** The parsed JSON body ({__type, message} on errors). */
  body: Record<string, unknown>;
}

export async function adminCall(
  srv: Pick<TestServer, 'url'>,
  method: string,
  route: string,
  opts: { query?: Record<string, string>; body?: unknown; credentials?: AdminCredentials; region?: string } = {},
): Promise<AdminResponse> {
  const url = new URL(`/_coffer/api/${route}`, srv.url);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const signer = new SignatureV4({ credentials: opts.credentials ?? ROOT_CREDENTIALS, region: opts.region ?? 'us-east-1', service: 'coffer', sha256: Sha256 });
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query,
    headers: { host: url.host, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const res = await fetch(url, { method, headers: signed.headers as Record<string, string>, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
