// `coffer hadoop check`: reads a core-site.xml as S3A would and explains, per bucket, what
// S3A will send and whether Coffer will accept it: the effective algorithm and key (and the
// property each came from), what an unset key means, whether the key exists and is enabled,
// and whether the configured principal may use it — the decisions KMS and S3 would make
// (coffer-view.ts), with their AccessDenied wording when they refuse.

import { parseCoreSite, bucketsWithOverrides, type CoreSite } from './core-site.js';
import { s3aSettings, usesTls, type Found, type S3aSettings } from './s3a-settings.js';
import type { CofferView } from './coffer-view.js';
import { BUCKET_ENCRYPTION_ITEM, bucketEncryptionOf } from '../s3/sse/bucket-default.js';
import type { Principal } from '../auth/types.js';
import type { KmsKeyRecord } from '../kms/store/types.js';

export type Status = 'ok' | 'warn' | 'problem' | 'info';

export interface Finding {
  status: Status;
  /** A stable name for scripts and tests: 'key', 'kms:Decrypt', 'principal', ... */
  check: string;
  message: string;
}

export interface SettingRow {
  setting: string;
  value: string;
  from: string;
}

export interface BucketReport {
  /** null: the base configuration, for buckets without per-bucket overrides. */
  bucket: string | null;
  settings: SettingRow[];
  algorithm: string;
  key: { configured: string | null; meaning: string; arn: string | null; state: string | null } | null;
  principal: string | null;
  findings: Finding[];
  ok: boolean;
}

export interface CheckReport {
  file: string;
  notes: string[];
  buckets: BucketReport[];
  ok: boolean;
}

/** The object name the simulation asks about (policies may name paths; this one is neutral). */
const PROBE_OBJECT = 'coffer-hadoop-check';

export async function checkCoreSite(view: CofferView, file: string, xml: string, buckets: string[] = []): Promise<CheckReport> {
  const site = parseCoreSite(xml);
  const targets: (string | undefined)[] = buckets.length ? buckets : [...bucketsWithOverrides(site), undefined];
  const reports: BucketReport[] = [];
  for (const b of targets) reports.push(await checkBucket(view, site, b));
  const notes = [...site.notes];
  return { file, notes, buckets: reports, ok: reports.every((r) => r.ok) };
}

const SECRET_SETTINGS = new Set(['secret key', 'session token']);

/** The methods whose fs.s3a.encryption.key names a KMS key (an id, ARN or alias: not a secret). */
const KMS_METHODS: ReadonlySet<string> = new Set(['SSE-KMS', 'DSSE-KMS', 'CSE-KMS']);

/**
 * What the report shows for fs.s3a.encryption.key. A KMS key reference is shown as written;
 * under any other method the value is, or may be, key material — for SSE-C the customer key
 * itself, and with no, an unknown or a non-KMS algorithm a misplaced one — so only its size is.
 */
export function shownKey(s: S3aSettings, key: Found): string {
  if (typeof s.method === 'string' && KMS_METHODS.has(s.method)) return key.value;
  return `(set, ${Buffer.from(key.value, 'base64').length} bytes)`;
}

function rows(s: S3aSettings): SettingRow[] {
  const out: SettingRow[] = [];
  const add = (setting: string, f: Found | undefined, dflt?: string): void => {
    if (f) out.push({ setting, value: SECRET_SETTINGS.has(setting) ? '(set)' : setting === 'key' ? shownKey(s, f) : f.value, from: f.from });
    else if (dflt !== undefined) out.push({ setting, value: dflt, from: '(S3A default)' });
  };
  add('endpoint', s.endpoint, '(AWS)');
  add('region', s.region, '(unset)');
  add('path style', s.pathStyle, 'false');
  add('ssl', s.ssl, 'true');
  add('algorithm', s.algorithmFrom ? { value: typeof s.method === 'string' ? s.method : s.method.unknown, from: s.algorithmFrom } : undefined, 'NONE');
  add('key', s.key, '(unset)');
  add('context', s.context, undefined);
  add('access key', s.accessKey, '(unset)');
  add('secret key', s.secretKey, undefined);
  add('session token', s.sessionToken, undefined);
  add('credentials provider', s.credentialsProvider, undefined);
  for (const p of s.credentialProviders) out.push({ setting: 'credential provider', value: p.value, from: p.from });
  return out;
}

async function checkBucket(view: CofferView, site: CoreSite, bucket: string | undefined): Promise<BucketReport> {
  const s = s3aSettings(site, bucket);
  const findings: Finding[] = [];
  const add = (status: Status, check: string, message: string): void => void findings.push({ status, check, message });
  const tls = usesTls(s);
  const report: BucketReport = { bucket: bucket ?? null, settings: rows(s), algorithm: typeof s.method === 'string' ? s.method : s.method.unknown, key: null, principal: null, findings, ok: true };

  // Connection settings a Coffer endpoint needs.
  if (!s.endpoint) add('problem', 'endpoint', 'fs.s3a.endpoint is not set: S3A would talk to AWS, not to Coffer');
  if ((s.pathStyle?.value ?? 'false').toLowerCase() !== 'true') add('warn', 'path-style', 'fs.s3a.path.style.access is not true: virtual-hosted requests need the server\'s --domain and DNS for <bucket>.<domain>');
  if (!s.region) add('warn', 'region', `fs.s3a.endpoint.region is not set: S3A asks the SDK's region chain; set it to ${view.region}`);
  else if (s.region.value !== view.region) add('warn', 'region', `fs.s3a.endpoint.region is ${s.region.value} but this Coffer runs in ${view.region}: KMS key ARNs and kms:ViaService name ${view.region}`);
  const endpointHost = s.endpoint ? hostOf(s.endpoint.value) : undefined;
  if (!tls && endpointHost !== undefined && !isLoopback(endpointHost) && needsTls(s)) {
    add('warn', 'transport', 'plain HTTP to a non-loopback endpoint: Coffer refuses SSE-KMS and SSE-C requests without TLS unless the server runs with --allow-secrets-over-http');
  }

  // The bucket.
  const record = bucket === undefined ? undefined : await view.bucket(bucket);
  if (bucket !== undefined && !record) add('problem', 'bucket', `bucket ${bucket} does not exist in this Coffer`);

  // The principal.
  let principal: Principal | undefined;
  if (s.credentialProviders.length) {
    const uris = s.credentialProviders.map((p) => p.value).join(', ');
    add('warn', 'credential-provider', `Hadoop credential provider ${uris} is not readable by coffer: S3A reads secrets (access and secret key, encryption algorithm and key) from it before this file, so values stored there are not checked${s.accessKey ? '' : '; checking as unknown principal'}`);
  }
  const providers = s.credentialsProvider?.value.split(',').map((c) => c.trim()).filter(Boolean) ?? [];
  const readsKeys = providers.length === 0 || providers.some((c) => /(^|\.)(Simple|Temporary)AWSCredentialsProvider$/.test(c));
  if (!readsKeys && s.accessKey) {
    add('warn', 'aws-credentials-provider', `${s.credentialsProvider!.from} lists ${providers.join(', ')}, none of which reads fs.s3a.access.key: S3A will sign as someone else than the access key checked below`);
  }
  for (const f of [s.accessKey, s.secretKey, s.sessionToken, s.key, s.endpoint]) {
    if (f?.value.includes('${')) add('warn', 'variables', `${f.from} uses Hadoop variable substitution (\${...}), which coffer does not expand; the value is checked as written`);
  }
  if (s.accessKey) {
    const p = await view.principal(s.accessKey.value, s.secretKey?.value, s.sessionToken?.value);
    if (p.ok) {
      principal = p.principal;
      report.principal = p.principal.arn;
      add(p.note ? 'info' : 'ok', 'principal', `access key ${s.accessKey.value} (${s.accessKey.from}) is ${p.principal.arn}${p.note ? ` — ${p.note}` : ''}`);
    } else {
      add('problem', 'principal', p.problem);
    }
  } else if (!s.credentialProviders.length) {
    add('warn', 'principal', 'fs.s3a.access.key is not set: S3A falls back to its credential chain (environment, instance profile); permissions cannot be checked');
  }

  // The encryption S3A asks for, and what it means here.
  const m = s.method;
  const via = s.algorithmFrom ? ` (${s.algorithmFrom})` : '';
  if (typeof m !== 'string') {
    add('problem', 'algorithm', `S3A refuses to start: Unknown encryption algorithm ${m.unknown}${via}; use one of AES256, SSE-KMS, DSSE-KMS, SSE-C, CSE-KMS`);
  } else if (m === 'NONE') {
    const def = record ? bucketEncryptionOf(record) : undefined;
    if (def && (def.algorithm === 'aws:kms' || def.algorithm === 'aws:kms:dsse')) {
      add('info', 'algorithm', `no encryption requested: S3A sends no SSE header, so the bucket default applies (${def.algorithm}${def.keyId ? ` with ${def.keyId}` : ''})`);
      await kmsChecks(view, report, principal, def.keyId, { viaS3: true, tls, context: s3Context(bucket!, def.bucketKeyEnabled, undefined) }, add);
    } else {
      const configured = record?.config[BUCKET_ENCRYPTION_ITEM] !== undefined;
      add('info', 'algorithm', `no encryption requested: objects get the bucket default (${def && configured ? def.algorithm : 'SSE-S3 on a bucket without one, as on AWS'})`);
    }
  } else if (m === 'AES256') {
    if (s.key) add('problem', 'key', `S3A refuses to start: AES256 is enabled but an encryption key was set in ${s.key.from}`);
    else add('ok', 'algorithm', `SSE-S3${via}: objects are encrypted under Coffer's root key; no KMS permission needed`);
  } else if (m === 'SSE-C') {
    if (!s.key) add('problem', 'key', 'S3A refuses to start: SSE-C is enabled but no encryption key was declared in fs.s3a.encryption.key');
    else if (Buffer.from(s.key.value, 'base64').length !== 32) add('problem', 'key', `the SSE-C key in ${s.key.from} is not a base64-encoded 256-bit key`);
    else add('ok', 'algorithm', `SSE-C${via}: S3A sends the key with every request; Coffer keeps only its MD5`);
    if (!tls && endpointHost !== undefined && !isLoopback(endpointHost)) add('warn', 'transport', 'SSE-C over plain HTTP exposes the customer key');
  } else if (m === 'CSE-CUSTOM') {
    add('info', 'algorithm', `CSE-CUSTOM${via}: S3A encrypts on the client with its own keyring class; nothing for Coffer to check`);
  } else if (m === 'CSE-KMS') {
    if (!s.key) add('problem', 'key', 'S3A refuses to start: CSE-KMS method requires KMS key ID. Use fs.s3a.encryption.key property to set it.');
    else {
      add('info', 'algorithm', `CSE-KMS${via}: S3A encrypts on the client and calls KMS itself (not through S3), so the key must allow the principal directly`);
      await kmsChecks(view, report, principal, s.key.value, { viaS3: false, tls }, add);
    }
  } else {
    add('info', 'algorithm', `${m}${via}: S3 asks KMS for a data key for each object as the caller (kms:ViaService s3.${view.region}.amazonaws.com)`);
    const bucketKey = record ? bucketEncryptionOf(record).bucketKeyEnabled && m === 'SSE-KMS' : false;
    const context = bucket === undefined ? s.context?.pairs : s3Context(bucket, bucketKey, s.context?.pairs);
    await kmsChecks(view, report, principal, s.key?.value, { viaS3: true, tls, ...(context ? { context } : {}) }, add);
    if (bucket === undefined) add('info', 'context', 'no bucket named: the KMS decisions above are made without aws:s3:arn in the encryption context, so policies that test it may decide otherwise for a real bucket (name one with --bucket)');
  }

  // S3 permissions for what S3A does: write and read objects.
  if (principal && record) {
    const sse = typeof m === 'string' ? ({ AES256: 'AES256', 'SSE-KMS': 'aws:kms', 'DSSE-KMS': 'aws:kms:dsse' } as Record<string, string>)[m] : undefined;
    const conditions: Record<string, string | undefined> = { 's3:x-amz-server-side-encryption': sse };
    if (sse?.startsWith('aws:kms') && s.key) conditions['s3:x-amz-server-side-encryption-aws-kms-key-id'] = s.key.value;
    if (m === 'SSE-C') conditions['s3:x-amz-server-side-encryption-customer-algorithm'] = 'AES256';
    for (const action of ['s3:PutObject', 's3:GetObject']) {
      const d = await view.s3Decision(principal, record, action, PROBE_OBJECT, action === 's3:PutObject' ? conditions : {}, tls);
      add(d.allowed ? 'ok' : 'problem', action, d.allowed ? `${action} on ${bucket}: ${d.reason}` : d.reason);
    }
  }

  report.ok = !findings.some((f) => f.status === 'problem');
  return report;
}

/** The encryption context S3 gives KMS: the client's pairs plus aws:s3:arn (the bucket's with a bucket key). */
function s3Context(bucket: string, bucketKey: boolean, pairs: Record<string, string> | undefined): Record<string, string> {
  return { ...(pairs ?? {}), 'aws:s3:arn': bucketKey ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${PROBE_OBJECT}` };
}

async function kmsChecks(
  view: CofferView,
  report: BucketReport,
  principal: Principal | undefined,
  ref: string | undefined,
  o: { viaS3: boolean; tls: boolean; context?: Record<string, string> },
  add: (status: Status, check: string, message: string) => void,
): Promise<void> {
  const k = await view.key(ref);
  if (!k.ok) {
    report.key = { configured: ref ?? null, meaning: k.meaning, arn: null, state: null };
    add('problem', 'key', `${k.meaning} does not resolve: ${k.problem}`);
    return;
  }
  const key: KmsKeyRecord = k.key;
  report.key = { configured: ref ?? null, meaning: k.meaning, arn: k.notCreated ? null : key.arn, state: key.state };
  if (key.state === 'Enabled') add('ok', 'key', `${k.meaning}${ref !== undefined && ref !== key.arn ? ` is ${key.arn}` : ''}: exists and is Enabled`);
  else if (key.state === 'Disabled') add('problem', 'key', `${k.meaning} (${key.arn}) is disabled: every write and read of objects under it fails (KMS.DisabledException); enable it with EnableKey`);
  else add('problem', 'key', `${k.meaning} (${key.arn}) is ${key.state}: it cannot be used (KMS.KMSInvalidStateException)${key.state === 'PendingDeletion' ? '; cancel the deletion with CancelKeyDeletion' : ''}`);
  if (key.keyUsage !== 'ENCRYPT_DECRYPT' || key.keySpec !== 'SYMMETRIC_DEFAULT') add('problem', 'key', `${key.arn} is not a symmetric encryption key`);
  if (!principal) {
    add('warn', 'kms:GenerateDataKey', 'kms:GenerateDataKey not checked: the principal is unknown');
    add('warn', 'kms:Decrypt', 'kms:Decrypt not checked: the principal is unknown');
    return;
  }
  // Through S3, Decrypt is needed beyond reads: a rename is a copy (the source is decrypted),
  // and every part of a multipart upload unseals the upload's key — as on AWS.
  const uses = o.viaS3
    ? { 'kms:GenerateDataKey': 'writes', 'kms:Decrypt': 'reads, renames (S3A copies each object) and multipart uploads (files over fs.s3a.multipart.threshold)' }
    : { 'kms:GenerateDataKey': 'writes', 'kms:Decrypt': 'reads' };
  for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'] as const) {
    // S3 (and S3A's client for CSE-KMS) asks for data keys by the configured reference, and decrypts by the key ARN its envelope holds.
    const d = await view.kmsDecision(principal, key, action, o, action === 'kms:GenerateDataKey' ? k.ref : undefined);
    add(d.allowed ? 'ok' : 'problem', action, d.allowed ? `${action} allowed (${uses[action]})` : `${action} denied, so ${uses[action]} fail with 403 AccessDenied: ${d.reason}`);
  }
}

function hostOf(endpoint: string): string | undefined {
  try {
    return new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function needsTls(s: S3aSettings): boolean {
  return s.method === 'SSE-KMS' || s.method === 'DSSE-KMS' || s.method === 'SSE-C';
}

// ---- output ---------------------------------------------------------------------------------

const LABEL: Record<Status, string> = { ok: 'ok', warn: 'warning', problem: 'PROBLEM', info: 'note' };

export function renderReport(r: CheckReport): string {
  const out: string[] = [];
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const b of r.buckets) {
    out.push(b.bucket === null ? `${r.file}: base configuration (buckets without per-bucket overrides)` : `${r.file}: bucket ${b.bucket}`);
    const w1 = Math.max(...b.settings.map((s) => s.setting.length));
    const w2 = Math.min(60, Math.max(...b.settings.map((s) => s.value.length)));
    for (const s of b.settings) out.push(`  ${s.setting.padEnd(w1)}  ${s.value.padEnd(w2)}  ${s.from}`);
    for (const f of b.findings) out.push(`  ${LABEL[f.status].padEnd(7)}  ${f.message}`);
    const warnings = b.findings.filter((f) => f.status === 'warn').length;
    const problems = b.findings.filter((f) => f.status === 'problem').length;
    out.push(`  => ${b.ok ? 'OK' : `${problems} problem(s)`}${warnings ? `, ${warnings} warning(s): not everything could be checked or is as recommended` : ''}`);
    out.push('');
  }
  return out.join('\n');
}
