// Cross-origin resource sharing as S3 computes it, from a bucket's CORS configuration
// (stored by ops/bucket-cors.ts as the bucket config item "cors"):
//
//   preflight  OPTIONS /bucket[/key] with Origin and Access-Control-Request-Method
//              (+ Access-Control-Request-Headers), unauthenticated: 200 with the
//              Access-Control-* headers of the first rule that allows the origin, the
//              method and every requested header; 403 AccessForbidden otherwise; 400
//              without Origin. Nothing else is answered: no object or bucket state.
//   other      any S3 request carrying Origin gets the same headers when a rule matches
//              (the method is Access-Control-Request-Method when sent, else the
//              request's; requested headers only count when sent, as S3 does), errors
//              included; no rule or no Origin, no headers.
//
// Answers as AWS's (recorded): Access-Control-Allow-Origin is "*" when the rule allows
// every origin, else the request's origin with Access-Control-Allow-Credentials: true;
// Allow-Methods is the rule's methods; Allow-Headers the requested headers, lower-cased;
// Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ServiceError } from '../errors.js';
import type { MetadataStore } from '../storage/types.js';
import { s3Error } from './errors.js';
import { childArray, childText, childTexts, el, parseXmlRoot, text, xmlDocument } from './xml.js';

export const BUCKET_CORS_ITEM = 'cors';

export interface CorsRule {
  id?: string;
  allowedHeaders: string[];
  allowedMethods: string[];
  allowedOrigins: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
}

const METHODS = new Set(['GET', 'PUT', 'HEAD', 'POST', 'DELETE']);
const MAX_RULES = 100;
const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';
const NOT_ALLOWED = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/** PutBucketCors's body, validated as S3 does; MalformedXML or InvalidRequest otherwise. */
export function parseCorsConfiguration(body: Buffer): CorsRule[] {
  const doc = parseXmlRoot(body, 'CORSConfiguration');
  const rules = childArray(doc, 'CORSRule');
  if (rules.length === 0 || rules.length > MAX_RULES) throw s3Error('MalformedXML');
  return rules.map((r) => {
    const rule: CorsRule = {
      allowedHeaders: childTexts(r, 'AllowedHeader'),
      allowedMethods: childTexts(r, 'AllowedMethod'),
      allowedOrigins: childTexts(r, 'AllowedOrigin'),
      exposeHeaders: childTexts(r, 'ExposeHeader'),
    };
    if (rule.allowedMethods.length === 0 || rule.allowedOrigins.length === 0) throw s3Error('MalformedXML');
    for (const m of rule.allowedMethods) {
      if (!METHODS.has(m)) throw s3Error('InvalidRequest', {}, `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`);
    }
    for (const o of rule.allowedOrigins) {
      if (wildcards(o) > 1) throw s3Error('InvalidRequest', {}, `AllowedOrigin "${o}" can not have more than one wildcard.`);
    }
    for (const h of rule.allowedHeaders) {
      if (wildcards(h) > 1) throw s3Error('InvalidRequest', {}, `AllowedHeader "${h}" can not have more than one wildcard.`);
    }
    for (const h of rule.exposeHeaders) {
      if (h.includes('*')) throw s3Error('InvalidRequest', {}, `ExposeHeader "${h}" contains wildcard. We currently do not support wildcard for ExposeHeader.`);
    }
    const id = childText(r, 'ID');
    if (id !== undefined) {
      if (id.length > 255) throw s3Error('InvalidArgument', {}, 'ID length should not exceed allowed limit of 255');
      rule.id = id;
    }
    const maxAge = childText(r, 'MaxAgeSeconds');
    if (maxAge !== undefined) {
      if (!/^\d{1,10}$/.test(maxAge.trim()) || Number(maxAge) > 2 ** 31 - 1) throw s3Error('MalformedXML');
      rule.maxAgeSeconds = Number(maxAge);
    }
    return rule;
  });
}

function wildcards(s: string): number {
  return s.split('*').length - 1;
}

/** GetBucketCors's document, elements in the API reference's order. */
export function corsConfigurationXml(rules: CorsRule[]): string {
  const items = rules.map((r) => el('CORSRule',
    r.id !== undefined ? text('ID', r.id) : '',
    ...r.allowedHeaders.map((h) => text('AllowedHeader', h)),
    ...r.allowedMethods.map((m) => text('AllowedMethod', m)),
    ...r.allowedOrigins.map((o) => text('AllowedOrigin', o)),
    ...r.exposeHeaders.map((h) => text('ExposeHeader', h)),
    r.maxAgeSeconds !== undefined ? text('MaxAgeSeconds', r.maxAgeSeconds) : ''));
  return xmlDocument('CORSConfiguration', items.join(''));
}

/** The rules a bucket record holds, or undefined when it has no CORS configuration. */
export function corsRulesOf(config: Record<string, string>): CorsRule[] | undefined {
  const raw = config[BUCKET_CORS_ITEM];
  return raw === undefined ? undefined : (JSON.parse(raw) as CorsRule[]);
}

/** "*" anywhere, or a single "*" matching any run of characters (S3's one wildcard). */
function wildcardMatch(pattern: string, value: string, caseless: boolean): boolean {
  const p = caseless ? pattern.toLowerCase() : pattern;
  const v = caseless ? value.toLowerCase() : value;
  const star = p.indexOf('*');
  if (star < 0) return p === v;
  const head = p.slice(0, star);
  const tail = p.slice(star + 1);
  return v.length >= head.length + tail.length && v.startsWith(head) && v.endsWith(tail);
}

interface CorsRequest {
  origin: string;
  method: string;
  /** The Access-Control-Request-Headers, lower-cased; undefined when not sent. */
  headers: string[] | undefined;
}

function matchRule(rules: CorsRule[], r: CorsRequest): CorsRule | undefined {
  return rules.find((rule) =>
    rule.allowedMethods.includes(r.method)
    && rule.allowedOrigins.some((o) => wildcardMatch(o, r.origin, false))
    && (r.headers === undefined || r.headers.every((h) => rule.allowedHeaders.some((a) => wildcardMatch(a, h, true)))));
}

function corsHeaders(rule: CorsRule, r: CorsRequest): Record<string, string> {
  const any = rule.allowedOrigins.includes('*');
  const h: Record<string, string> = { 'access-control-allow-origin': any ? '*' : r.origin };
  if (!any) h['access-control-allow-credentials'] = 'true';
  h['access-control-allow-methods'] = rule.allowedMethods.join(', ');
  if (r.headers !== undefined) h['access-control-allow-headers'] = r.headers.join(', ');
  if (rule.exposeHeaders.length) h['access-control-expose-headers'] = rule.exposeHeaders.join(', ');
  if (rule.maxAgeSeconds !== undefined) h['access-control-max-age'] = String(rule.maxAgeSeconds);
  h.vary = VARY;
  return h;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function requestedHeaders(req: IncomingMessage): string[] | undefined {
  const v = single(req.headers['access-control-request-headers']);
  if (v === undefined) return undefined;
  const list = v.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  return list.length ? list : undefined;
}

/**
 * Adds the CORS headers of a request that carries Origin to its response, when the
 * bucket's configuration has a matching rule. Called before the request is authorized,
 * so an error the browser must be able to read carries them too.
 */
export async function applyCors(meta: Pick<MetadataStore, 'getBucket'>, req: IncomingMessage, res: ServerResponse, bucket: string | undefined): Promise<void> {
  const origin = single(req.headers.origin);
  if (origin === undefined || bucket === undefined) return;
  const record = await meta.getBucket(bucket);
  const rules = record && corsRulesOf(record.config);
  if (!rules) return;
  const r: CorsRequest = { origin, method: single(req.headers['access-control-request-method']) ?? req.method ?? 'GET', headers: requestedHeaders(req) };
  const rule = matchRule(rules, r);
  if (!rule) return;
  for (const [k, v] of Object.entries(corsHeaders(rule, r))) res.setHeader(k, v);
}

/**
 * Answers a preflight request (OPTIONS): 200 and the CORS headers, or the ServiceError
 * S3 answers. It reads the bucket's CORS rules and nothing else.
 */
export async function preflight(meta: Pick<MetadataStore, 'getBucket'>, req: IncomingMessage, res: ServerResponse, bucket: string | undefined, key: string | undefined): Promise<void> {
  const origin = single(req.headers.origin);
  if (origin === undefined) throw s3Error('BadRequest', {}, 'Insufficient information. Origin request header needed.');
  const requested = single(req.headers['access-control-request-method']);
  const method = requested ?? 'OPTIONS';
  const record = bucket === undefined ? undefined : await meta.getBucket(bucket);
  if (!record) throw accessForbidden('CORSResponse: Bucket not found', method, 'BUCKET');
  const rules = corsRulesOf(record.config);
  if (!rules) throw accessForbidden('CORSResponse: CORS is not enabled for this bucket.', method, 'BUCKET');
  const r: CorsRequest = { origin, method, headers: requestedHeaders(req) };
  const rule = matchRule(rules, r);
  if (!rule) throw accessForbidden(NOT_ALLOWED, method, key === undefined ? 'BUCKET' : 'OBJECT');
  res.writeHead(200, { ...corsHeaders(rule, r), 'content-length': '0' });
  res.end();
}

function accessForbidden(message: string, method: string, resourceType: 'BUCKET' | 'OBJECT'): ServiceError {
  return s3Error('AccessForbidden', { Method: method, ResourceType: resourceType }, message);
}
