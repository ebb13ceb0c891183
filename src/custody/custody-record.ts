// The custody record: <dataDir>/custody.json names the root key that sealed this data
// directory, so a start with another key (or with none) is refused before anything is
// read or written. Spec: docs/spec/custody-record.md. Labels are copied from it verbatim.
//
//   {"version":1,"rootKey":"key:3f1c0a9e7d2b4c55","canary":"<base64 of wrap(random 32 bytes, CANARY_AAD)>"}
//
// `rootKey` is the provider's id (kind and a fingerprint that reveals nothing about the
// key). The canary proves more than the fingerprint can for a PKCS#11 key (named by its
// label and CKA_ID, not by its bytes): the configured key must open it.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { RootKeyConfigError } from './errors.js';
import type { RootKeyProvider } from './root-key.js';
import { createSecretFile } from './secret-file.js';

export const CUSTODY_FILE = 'custody.json';
/** Version of the custody record. Changing the meaning of a field needs a new version. */
export const CUSTODY_RECORD_VERSION = 1;
export const CANARY_AAD_LABEL = 'coffer/custody/canary/v1';
const CANARY_SECRET_LENGTH = 32;

export interface CustodyRecord {
  version: 1;
  /** The RootKeyProvider id that sealed this data directory, e.g. `key:3f1c0a9e7d2b4c55`. */
  rootKey: string;
  /** A random secret wrapped under that root key with aad CANARY_AAD_LABEL; the secret itself is discarded. */
  canary: Buffer;
  /** Where the key lives, for messages only (never used to find it): e.g. the PKCS#11 token and key label. */
  where?: string;
  /** A root-key rotation or migration in progress (`coffer custody rotate|migrate`); the server refuses to start meanwhile. */
  rotation?: RotationRecord;
}

/** The progress record of a rotation: which key every item is being moved to, and where that key is. */
export interface RotationRecord {
  /** The new root key's provider id. */
  to: string;
  /** Where the new key is: `file` (root.key.next), `external-kms` (root.kms.json.next) or `pkcs11` (a key label in the token). */
  target: 'file' | 'external-kms' | 'pkcs11';
  /** The new key's label, for a PKCS#11 target. */
  keyLabel?: string;
  toWhere?: string;
  /** ISO 8601, when the rotation began. */
  startedAt: string;
  /** Begun on a running server (`--online`): a server started with both keys resumes it instead of refusing to start. */
  online?: true;
  /**
   * For an online migration: the new provider's settings, as the server's variables of that
   * provider (COFFER_PKCS11_* or COFFER_EXTERNAL_KMS_*) — never a secret, only the names of the
   * files that hold one (ONLINE_SETTINGS lists what is allowed).
   */
  settings?: Record<string, string>;
  /**
   * The rotation made its new key (a PKCS#11 token key Coffer generated, not one the operator
   * named): a cluster's rotation cancelled before its switch destroys it in the token.
   */
  madeKey?: true;
}

/** The variables an online migration may name for its new provider: none holds a secret (a PIN or a secret key is in the file named). */
export const ONLINE_SETTINGS = [
  'COFFER_PKCS11_MODULE', 'COFFER_PKCS11_TOKEN', 'COFFER_PKCS11_SLOT', 'COFFER_PKCS11_KEY_LABEL', 'COFFER_PKCS11_PIN_FILE',
  'COFFER_EXTERNAL_KMS_ENDPOINT', 'COFFER_EXTERNAL_KMS_REGION', 'COFFER_EXTERNAL_KMS_KEY_ID', 'COFFER_EXTERNAL_KMS_ACCESS_KEY_ID',
  'COFFER_EXTERNAL_KMS_SECRET_ACCESS_KEY_FILE', 'COFFER_EXTERNAL_KMS_SESSION_TOKEN_FILE', 'COFFER_EXTERNAL_KMS_CHECK_SECONDS', 'COFFER_EXTERNAL_KMS_TIMEOUT_SECONDS',
] as const;

const TARGETS = ['file', 'external-kms', 'pkcs11'] as const;

const restoreHint = (file: string) => `restore ${file} from a backup, or move it away only if this data directory has never held keys or encrypted objects`;

/** Reads <dataDir>/custody.json, or undefined if there is none (a new, or pre-custody, data directory). */
export async function readCustodyRecord(dataDir: string): Promise<CustodyRecord | undefined> {
  const file = path.join(dataDir, CUSTODY_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new RootKeyConfigError(`custody record ${file} is not JSON`, restoreHint(file));
  }
  const r = o as Record<string, unknown>;
  if (typeof r !== 'object' || r === null || r.version !== CUSTODY_RECORD_VERSION) {
    throw new RootKeyConfigError(`custody record ${file} has an unsupported version (expected ${CUSTODY_RECORD_VERSION})`, 'use the Coffer release that wrote it, or a newer one');
  }
  if (typeof r.rootKey !== 'string' || !/^[a-z0-9-]+:[0-9a-f]{16}$/.test(r.rootKey) || typeof r.canary !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(r.canary)) {
    throw new RootKeyConfigError(`custody record ${file} is damaged (rootKey or canary missing or malformed)`, restoreHint(file));
  }
  let rotation: RotationRecord | undefined;
  if (r.rotation !== undefined) {
    const o = r.rotation as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.to !== 'string' || !/^[a-z0-9-]+:[0-9a-f]{16}$/.test(o.to) || !TARGETS.includes(o.target as 'file') || typeof o.startedAt !== 'string') {
      throw new RootKeyConfigError(`custody record ${file} has a damaged rotation section`, restoreHint(file));
    }
    const settings = o.settings as Record<string, unknown> | undefined;
    if (o.online !== undefined && o.online !== true) throw new RootKeyConfigError(`custody record ${file} has a damaged rotation section (online)`, restoreHint(file));
    if (settings !== undefined && (typeof settings !== 'object' || settings === null || Object.entries(settings).some(([k, v]) => !(ONLINE_SETTINGS as readonly string[]).includes(k) || typeof v !== 'string'))) {
      throw new RootKeyConfigError(`custody record ${file} has a damaged rotation section (settings)`, restoreHint(file));
    }
    rotation = {
      to: o.to, target: o.target as RotationRecord['target'], startedAt: o.startedAt, ...(typeof o.keyLabel === 'string' ? { keyLabel: o.keyLabel } : {}), ...(typeof o.toWhere === 'string' ? { toWhere: o.toWhere } : {}),
      ...(o.online === true ? { online: true as const } : {}), ...(settings ? { settings: settings as Record<string, string> } : {}),
      ...(o.madeKey === true ? { madeKey: true as const } : {}),
    };
  }
  return { version: 1, rootKey: r.rootKey, canary: Buffer.from(r.canary, 'base64'), ...(typeof r.where === 'string' ? { where: r.where } : {}), ...(rotation ? { rotation } : {}) };
}

function serialize(r: CustodyRecord): Buffer {
  const o = { version: CUSTODY_RECORD_VERSION, rootKey: r.rootKey, canary: r.canary.toString('base64'), ...(r.where ? { where: r.where } : {}), ...(r.rotation ? { rotation: r.rotation } : {}) };
  return Buffer.from(JSON.stringify(o) + '\n', 'utf8');
}

/** A record for `provider` with a fresh canary (not written). */
export async function custodyRecordFor(provider: RootKeyProvider): Promise<CustodyRecord> {
  const secret = randomBytes(CANARY_SECRET_LENGTH);
  const canary = await provider.wrap(secret, Buffer.from(CANARY_AAD_LABEL, 'utf8'));
  secret.fill(0);
  return { version: 1, rootKey: provider.id, canary, ...(provider.where ? { where: provider.where } : {}) };
}

/**
 * Replaces custody.json atomically (temporary file, fsync, rename, fsync of the directory):
 * only a rotation does this, to record its progress and, at its end, the new root key.
 */
export async function replaceCustodyRecord(dataDir: string, record: CustodyRecord): Promise<void> {
  const file = path.join(dataDir, CUSTODY_FILE);
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  const h = await fs.open(tmp, 'wx', 0o600);
  try {
    await h.writeFile(serialize(record));
    await h.sync();
  } finally {
    await h.close();
  }
  await fs.rename(tmp, file);
  const d = await fs.open(dataDir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Writes the custody record for `provider` unless one exists (atomically, never
 * replacing one: two first starts agree on whichever was written first). Returns the
 * record now on disk, which the caller checks against its provider.
 */
export async function writeCustodyRecord(dataDir: string, provider: RootKeyProvider, where?: string): Promise<CustodyRecord> {
  const secret = randomBytes(CANARY_SECRET_LENGTH);
  const canary = await provider.wrap(secret, Buffer.from(CANARY_AAD_LABEL, 'utf8'));
  secret.fill(0);
  const json = JSON.stringify({ version: CUSTODY_RECORD_VERSION, rootKey: provider.id, canary: canary.toString('base64'), ...(where ? { where } : {}) });
  await createSecretFile(path.join(dataDir, CUSTODY_FILE), Buffer.from(json + '\n', 'utf8'));
  const now = await readCustodyRecord(dataDir);
  if (!now) throw new RootKeyConfigError(`custody record ${path.join(dataDir, CUSTODY_FILE)} vanished while it was being created`);
  return now;
}

/** True if `provider` opens the record's canary. Throws only what the provider throws for an unavailable key (not a custody failure). */
export async function opensCanary(record: CustodyRecord, provider: RootKeyProvider): Promise<boolean> {
  try {
    (await provider.unwrap(record.canary, Buffer.from(CANARY_AAD_LABEL, 'utf8'))).fill(0);
    return true;
  } catch (e) {
    if ((e as { kind?: unknown }).kind !== undefined) return false;
    throw e;
  }
}
