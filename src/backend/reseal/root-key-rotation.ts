// Root-key rotation and migration (`coffer custody rotate`, `coffer custody migrate --to`):
// every item sealed under the root key moves to a new one. Offline, under the data
// directory's lock: a running server seals new items as it goes and caches unsealed ones,
// so a pass beside it could never be sure it had moved everything. Spec:
// docs/spec/custody-record.md, "Rotation".
//
//   1. open the old key (the recorded one; after step 5 it may be root.key.retired-<hex>)
//   2. make the new key beside it (root.key.next, root.kms.json.next, or a new token label),
//      or reopen the one the progress record names
//   3. custody.json gains rotation {to, target, ...}: from now on the server refuses to start
//   4. re-seal every item (reseal-items.ts), each committed alone; items the new key opens are done
//   5. root.key -> root.key.retired-<old hex> (a hard link first), root.key.next -> root.key
//   6. custody.json := the new key with a new canary, no rotation section
//
// A crash anywhere leaves every item under the old key or the new one, and both keys where
// step 1 and 2 find them; running the same command again finishes the work.

import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AuditCaller, AuditSink } from '../../audit/sink.js';
import { custodyRecordFor, opensCanary, readCustodyRecord, replaceCustodyRecord, type CustodyRecord, type RotationRecord } from '../../custody/custody-record.js';
import { RootKeyConfigError } from '../../custody/errors.js';
import { EXTERNAL_KMS_FILE, ExternalKmsRootKeyProvider, type ExternalKmsConnector } from '../../custody/external-kms-root-key.js';
import { externalKmsSettings, type ExternalKmsSettings } from '../../custody/external-kms-settings.js';
import { FileRootKeyProvider, ROOT_KEY_FILE } from '../../custody/file-root-key.js';
import { Pkcs11RootKeyProvider } from '../../custody/pkcs11-root-key.js';
import type { Pkcs11Settings } from '../../custody/pkcs11-settings.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import { selectRootKey } from '../../custody/select-root-key.js';
import { paceItems, walkSealed, type ResealCounts, type ResealStores } from './reseal-items.js';

export const NEXT_SUFFIX = '.next';
export const RETIRED_SUFFIX = '.retired-';

/** The new root key: where `coffer custody rotate|migrate` makes it. */
export type RotationTarget =
  | { target: 'file' }
  | { target: 'external-kms'; settings: ExternalKmsSettings }
  | { target: 'pkcs11'; settings: Pkcs11Settings };

export interface RotationOptions {
  dataDir: string;
  /** The environment that configures the current root key, as for the server. */
  env: Record<string, string | undefined>;
  /** The new key; undefined: resume the rotation custody.json records (rotate with no change of provider). */
  to: RotationTarget;
  externalKms: ExternalKmsConnector;
  stores: ResealStores;
  audit: AuditSink;
  accountId: string;
  /** Called as items are counted (counting true) and moved. */
  progress(done: number, total: number, counting: boolean): void;
  /** Re-seal at most this many items a second (undefined: as fast as the disk allows). */
  itemsPerSecond?: number;
}

/** What opening the old and the new key needs. */
export type KeyOptions = Pick<RotationOptions, 'dataDir' | 'env' | 'to' | 'externalKms'>;

export interface RotationResult {
  from: string;
  to: string;
  toWhere?: string;
  counts: ResealCounts;
  resealed: number;
  resumed: boolean;
  /** Lines for the operator: what to change before the next start, which old key file remains. */
  notes: string[];
}

const hexOf = (id: string) => id.slice(id.indexOf(':') + 1);
const fileOf = (target: 'file' | 'external-kms') => (target === 'file' ? ROOT_KEY_FILE : EXTERNAL_KMS_FILE);

/** Runs (or resumes) a rotation. The caller holds the data directory's lock and has opened the stores. */
export async function rotateRootKey(o: RotationOptions): Promise<RotationResult> {
  const record = await readCustodyRecord(o.dataDir);
  if (!record) throw new RootKeyConfigError(`${o.dataDir} has no custody.json`, 'start the server once with its current root key (it records the key), then run this command again');
  if (record.rotation && record.rotation.target !== o.to.target) {
    throw new RootKeyConfigError(
      `a rotation to ${record.rotation.to} (${record.rotation.target}) began at ${record.rotation.startedAt} and has not finished`,
      `run the command that started it again (its target was ${record.rotation.target}${record.rotation.keyLabel ? `, key label ${record.rotation.keyLabel}` : ''})`,
    );
  }
  const old = await openOld(o, record);
  const opened: RootKeyProvider[] = [old];
  try {
    const next = await openNext(o, record);
    opened.push(next);
    if (next.id === old.id) throw new RootKeyConfigError(`the new root key is the current one (${old.id})`, 'give another key (label, endpoint or key id)');
    const resumed = record.rotation !== undefined;
    const rotation: RotationRecord = record.rotation ?? {
      to: next.id,
      target: o.to.target,
      ...(o.to.target === 'pkcs11' ? { keyLabel: o.to.settings.keyLabel } : {}),
      ...(next.where ? { toWhere: next.where } : {}),
      startedAt: new Date().toISOString(),
    };
    if (!resumed) await replaceCustodyRecord(o.dataDir, { ...record, rotation });
    await auditEvent(o, 'CofferRootKeyRotationStarted', { from: record.rootKey, to: next.id, target: rotation.target, resumed });

    let total = 0;
    await walkSealed(o.stores, old, next, async () => void o.progress(0, ++total, true));
    let done = 0;
    let resealed = 0;
    o.progress(0, total, false);
    const t0 = Date.now();
    const counts = await walkSealed(o.stores, old, next, async (item) => {
      if ((await item.reseal()) === 'resealed') resealed++;
      o.progress(++done, Math.max(total, done), false);
      await paceItems(t0, done, o.itemsPerSecond);
    });

    const finished = await custodyRecordFor(next);
    const notes = await promoteFiles(o, old, record, rotation);
    await replaceCustodyRecord(o.dataDir, finished);
    await auditEvent(o, 'CofferRootKeyRotationCompleted', { from: record.rootKey, to: next.id, target: rotation.target, ...counts, resealed });
    if (o.to.target === 'pkcs11') notes.unshift(`start the server with --pkcs11-key-label ${o.to.settings.keyLabel} (COFFER_PKCS11_KEY_LABEL) and the same token settings`);
    return { from: record.rootKey, to: next.id, ...(next.where ? { toWhere: next.where } : {}), counts, resealed, resumed, notes };
  } finally {
    for (const p of opened) p.close?.();
  }
}

/** The recorded key: as configured, or (once step 5 ran) the retired file. */
export async function openOld(o: KeyOptions, record: CustodyRecord): Promise<RootKeyProvider> {
  const fail = (configured: string) =>
    new RootKeyConfigError(`this data directory is sealed under root key ${record.rootKey}${record.where ? ` (${record.where})` : ''}, but the configured root key is ${configured}`, 'configure the current root key as for the server; the command needs it until it reports completion');
  let configured: RootKeyProvider | undefined;
  try {
    configured = (await selectRootKey({ dataDir: o.dataDir, env: o.env, create: false, externalKms: o.externalKms })).provider;
  } catch (e) {
    if (!record.rotation) throw e;
  }
  if (configured?.id === record.rootKey) {
    if (!(await opensCanary(record, configured))) throw fail(`${configured.id}, which does not open the canary in custody.json`);
    return configured;
  }
  configured?.close?.();
  const kind = kindOf(record.rootKey);
  const retired = `${kind === 'key' ? ROOT_KEY_FILE : EXTERNAL_KMS_FILE}${RETIRED_SUFFIX}${hexOf(record.rootKey)}`;
  if (record.rotation && (kind === 'key' || kind === 'external-kms') && existsSync(path.join(o.dataDir, retired))) {
    const p = kind === 'key'
      ? (await FileRootKeyProvider.open(o.dataDir, false, retired)).provider
      : (await ExternalKmsRootKeyProvider.open(o.dataDir, externalSettingsFor(o), o.externalKms(externalSettingsFor(o)), { file: path.join(o.dataDir, retired) })).provider;
    if (p.id === record.rootKey) return p;
  }
  throw fail(configured?.id ?? 'none');
}

function externalSettingsFor(o: KeyOptions): ExternalKmsSettings {
  // The old key is configured as for the server.
  return externalKmsSettings(o.env);
}

/** The new key: made now, or the one a resumed rotation recorded (in its .next file, or already promoted). */
export async function openNext(o: KeyOptions, record: CustodyRecord): Promise<RootKeyProvider> {
  const want = record.rotation?.to;
  const check = (p: RootKeyProvider) => {
    if (want && p.id !== want) throw new RootKeyConfigError(`the rotation in progress moves to root key ${want}, but the new key found is ${p.id}`, 'run the command that started the rotation again, with the same settings');
    return p;
  };
  const t = o.to;
  if (t.target === 'pkcs11') {
    const label = record.rotation?.keyLabel ?? t.settings.keyLabel;
    return check(Pkcs11RootKeyProvider.open({ ...t.settings, keyLabel: label }, { create: !want }).provider);
  }
  const name = fileOf(t.target);
  const nextName = `${name}${NEXT_SUFFIX}`;
  if (!want && kindOf(record.rootKey) !== kindOfTarget(t.target) && existsSync(path.join(o.dataDir, name))) {
    // Step 5 would replace it: a key file of a provider this directory no longer uses.
    throw new RootKeyConfigError(`${path.join(o.dataDir, name)} exists, but this data directory is sealed under ${record.rootKey}`, `move ${name} out of the data directory (keep it if old backups need it), then run the command again`);
  }
  // After step 5 the new key is in place under its own name.
  const promoted = want && !existsSync(path.join(o.dataDir, nextName));
  const file = promoted ? name : nextName;
  if (t.target === 'file') return check((await FileRootKeyProvider.open(o.dataDir, !want, file)).provider);
  return check((await ExternalKmsRootKeyProvider.open(o.dataDir, t.settings, o.externalKms(t.settings), { create: !want, file: path.join(o.dataDir, file) })).provider);
}

/** Step 5: the new key file takes the usual name; the old key's file stays as <name>.retired-<hex>. */
export async function promoteFiles(o: Pick<KeyOptions, 'dataDir'>, old: RootKeyProvider, record: CustodyRecord, rotation: RotationRecord): Promise<string[]> {
  const notes: string[] = [];
  const oldKind = kindOf(record.rootKey);
  for (const [kind, name] of [['key', ROOT_KEY_FILE], ['external-kms', EXTERNAL_KMS_FILE]] as const) {
    const file = path.join(o.dataDir, name);
    const moving = kindOfTarget(rotation.target) === kind;
    if (oldKind === kind) {
      const retired = `${file}${RETIRED_SUFFIX}${hexOf(old.id)}`;
      // A hard link first, so the old key never lacks a name; on a resume it exists already.
      if (existsSync(file) && !existsSync(retired)) await fs.link(file, retired);
      if (!moving) await fs.rm(file, { force: true });
      notes.push(`${retired} holds the old root key: keep it (offline) only while backups from before this rotation need it, then delete it`);
    }
    if (moving && existsSync(`${file}${NEXT_SUFFIX}`)) await fs.rename(`${file}${NEXT_SUFFIX}`, file);
  }
  const dir = await fs.open(o.dataDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  if (oldKind === 'pkcs11') notes.push(`the old key stays in the token (${record.where ?? record.rootKey}): delete it once backups from before this rotation no longer need it`);
  if (oldKind !== kindOfTarget(rotation.target)) notes.push('unset the settings of the old provider before starting the server (its variables or flags): the server uses the first provider configured');
  return notes;
}

export const kindOf = (id: string) => id.slice(0, id.indexOf(':'));
export const kindOfTarget = (t: RotationRecord['target']) => (t === 'file' ? 'key' : t);

/** A start, resume or completion record; `caller` is the signer of the admin request (online), else the operator's command. */
export async function auditEvent(o: Pick<RotationOptions, 'audit' | 'accountId'>, eventName: string, data: Record<string, unknown>, caller?: AuditCaller): Promise<void> {
  await o.audit.record({
    eventName,
    // Asked for through the administration API: the signer's call; else the operator's command or the server itself.
    eventType: caller ? 'AwsApiCall' : 'AwsServiceEvent',
    caller: caller ?? { principal: { arn: `arn:aws:iam::${o.accountId}:root`, accountId: o.accountId, userName: 'root', kind: 'root' }, requestId: randomUUID(), sourceIp: 'coffer custody' },
    requestParameters: {},
    resources: [],
    additionalEventData: data,
  });
}
