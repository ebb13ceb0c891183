// Coffer's own APIs, called from the browser as the signed-in principal: S3 (REST,
// path-style, XML), KMS (JSON 1.1), IAM and STS (Query), and the administration API
// (/_coffer/api/<route>, JSON). Every call is SigV4-signed here with the credentials
// kept in sessionStorage; the server decides what this principal may do, and its
// error (code and message) is what the console shows.

import { type Credentials, canonicalQuery, encodeKeyPath, signRequest } from './sigv4.js';

export interface Session extends Credentials {
  region: string;
  arn: string;
  accountId: string;
}

const STORE = 'coffer.console.session';

export function loadSession(): Session | undefined {
  const raw = sessionStorage.getItem(STORE);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(STORE, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORE);
}

function session(): Session {
  const s = loadSession();
  if (!s) throw new ApiError('NotSignedIn', 'Sign in first.', 0);
  return s;
}

/** An error answered by Coffer: its wire code, message and HTTP status. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number, readonly requestId?: string) {
    super(message);
  }
}

type Query = Array<readonly [string, string]>;

interface Call {
  method: string;
  path: string;
  query?: Query;
  headers?: Record<string, string>;
  body?: string;
  service: string;
  region?: string;
  credentials?: Credentials & { region?: string };
}

async function signedFetch(c: Call): Promise<Response> {
  const creds = c.credentials ?? session();
  const region = c.region ?? creds.region ?? 'us-east-1';
  const headers = await signRequest({
    method: c.method,
    host: location.host,
    path: c.path,
    query: c.query ?? [],
    headers: c.headers ?? {},
    ...(c.body !== undefined ? { body: c.body } : {}),
    service: c.service,
    region,
    credentials: creds,
  });
  const qs = canonicalQuery(c.query ?? []);
  return fetch(c.path + (qs ? `?${qs}` : ''), { method: c.method, headers, ...(c.body !== undefined ? { body: c.body } : {}), cache: 'no-store' });
}

async function jsonError(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const v = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
    const code = (v.__type ?? `Http${res.status}`).split('#').pop()!;
    return new ApiError(code, v.message ?? v.Message ?? res.statusText, res.status, res.headers.get('x-amz-request-id') ?? undefined);
  } catch {
    return new ApiError(`Http${res.status}`, text || res.statusText, res.status);
  }
}

export function xmlError(res: Response, text: string): ApiError {
  const doc = text ? new DOMParser().parseFromString(text, 'application/xml') : undefined;
  const code = doc ? textOf(doc.documentElement, 'Code') : undefined;
  const message = doc ? textOf(doc.documentElement, 'Message') : undefined;
  const fallback: Record<number, string> = { 403: 'AccessDenied', 404: 'NotFound', 400: 'BadRequest' };
  return new ApiError(code ?? fallback[res.status] ?? `Http${res.status}`, message ?? res.statusText, res.status, res.headers.get('x-amz-request-id') ?? undefined);
}

// ---- XML helpers ----

export function parseXml(text: string): Element {
  return new DOMParser().parseFromString(text, 'application/xml').documentElement;
}

/** Direct children named `name`. */
export function children(el: Element | undefined, name: string): Element[] {
  if (!el) return [];
  return Array.from(el.children).filter((c) => c.localName === name);
}

export function child(el: Element | undefined, name: string): Element | undefined {
  return children(el, name)[0];
}

/** The text of the first descendant named `name`. */
export function textOf(el: Element | undefined, name: string): string | undefined {
  if (!el) return undefined;
  const found = el.getElementsByTagNameNS('*', name)[0] ?? el.getElementsByTagName(name)[0];
  return found?.textContent ?? undefined;
}

/** IAM's lists: <Name><member>...</member></Name>. */
export function members(el: Element | undefined, name: string): Element[] {
  const list = el?.getElementsByTagName(name)[0];
  return children(list, 'member');
}

/** A flat record of an element's simple children ({UserName: "...", Arn: "..."}). */
export function record(el: Element): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of Array.from(el.children)) if (c.children.length === 0) out[c.localName] = c.textContent ?? '';
  return out;
}

// ---- the services ----

export interface S3Options {
  query?: Query;
  headers?: Record<string, string>;
  body?: string;
}

/** An S3 path: "/bucket" or "/bucket/key" (the key encoded per segment). */
export function s3Path(bucket: string, key?: string): string {
  return `/${encodeURIComponent(bucket)}${key !== undefined ? `/${encodeKeyPath(key)}` : ''}`;
}

export async function s3(method: string, path: string, opts: S3Options = {}): Promise<Response> {
  const res = await signedFetch({ method, path, service: 's3', ...opts });
  if (!res.ok) throw xmlError(res, method === 'HEAD' ? '' : await res.text());
  return res;
}

export async function s3Xml(method: string, path: string, opts: S3Options = {}): Promise<Element> {
  return parseXml(await (await s3(method, path, opts)).text());
}

export async function kms<T = Record<string, unknown>>(operation: string, input: Record<string, unknown> = {}): Promise<T> {
  const res = await signedFetch({
    method: 'POST',
    path: '/',
    service: 'kms',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
    body: JSON.stringify(input),
  });
  if (!res.ok) throw await jsonError(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** IAM Query API: form POST, answers the <XResult> element. */
export async function iam(action: string, params: Record<string, string | undefined> = {}, service: 'iam' | 'sts' = 'iam'): Promise<Element> {
  const form = new URLSearchParams({ Action: action, Version: service === 'iam' ? '2010-05-08' : '2011-06-15' });
  for (const [k, v] of Object.entries(params)) if (v !== undefined) form.set(k, v);
  const res = await signedFetch({
    method: 'POST',
    path: '/',
    service,
    region: service === 'iam' ? 'us-east-1' : undefined,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: form.toString(),
  });
  const text = await res.text();
  if (!res.ok) throw xmlError(res, text);
  const root = parseXml(text);
  return child(root, `${action}Result`) ?? root;
}

/** Coffer's administration API. */
export async function admin<T = Record<string, unknown>>(method: string, route: string, query: Record<string, string | undefined> = {}, body?: unknown, credentials?: Credentials & { region: string }): Promise<T> {
  const q: Query = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
  const res = await signedFetch({
    method,
    path: `/_coffer/api/${route}`,
    query: q,
    service: 'coffer',
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    ...(credentials ? { credentials, region: credentials.region } : {}),
  });
  if (!res.ok) throw await jsonError(res);
  return (await res.json()) as T;
}

/** Signs an upload for XMLHttpRequest (which reports progress; fetch cannot). */
export async function signUpload(path: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const s = session();
  return signRequest({ method: 'PUT', host: location.host, path, headers, payloadHash: 'UNSIGNED-PAYLOAD', service: 's3', region: s.region, credentials: s });
}

/**
 * Signs in: asks whoami with these credentials. A wrong region is answered with the
 * server's own ("expecting 'eu-west-1'"), which is then used.
 */
export async function signIn(accessKeyId: string, secretAccessKey: string, sessionToken: string | undefined, region: string): Promise<Session> {
  const creds = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  let who: { arn: string; accountId: string };
  try {
    who = await admin('GET', 'whoami', {}, undefined, { ...creds, region });
  } catch (e) {
    const expected = e instanceof ApiError ? /expecting '([a-z0-9-]+)'/.exec(e.message)?.[1] : undefined;
    if (!expected || expected === region) throw e;
    region = expected;
    who = await admin('GET', 'whoami', {}, undefined, { ...creds, region });
  }
  const s: Session = { ...creds, region, arn: who.arn, accountId: who.accountId };
  saveSession(s);
  return s;
}
