// A backup of the embedded backend (`coffer backup --to DIR`) and its restore (`coffer
// restore --from DIR --data-dir D`). Safe beside a running server: each SQLite database is
// copied with SQLite's online backup API (a consistent snapshot), then the blobs that the
// snapshot of metadata.sqlite references are copied (committed blobs never change), then
// the small files. manifest.json, written last, lists every file with its size and SHA-256
// and the row count of every table; a backup without one is incomplete.
//
// The root key is left out unless asked for (root.key; a PKCS#11 or external key never
// leaves its holder anyway): a backup that holds its own key protects nothing. custody.json
// is always in it, so a restore checks, before writing anything, that every file matches
// the manifest and that the root key the restored directory will need is the recorded one.

import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CUSTODY_FILE, opensCanary, readCustodyRecord } from '../custody/custody-record.js';
import { RootKeyConfigError } from '../custody/errors.js';
import { EXTERNAL_KMS_FILE, type ExternalKmsConnector } from '../custody/external-kms-root-key.js';
import { ROOT_KEY_FILE } from '../custody/file-root-key.js';
import { SALT_FILE } from '../custody/passphrase-root-key.js';
import { configuredSource, selectRootKey } from '../custody/select-root-key.js';
import { AUDIT_DIR } from '../audit/log-files.js';
import { USAGE_FILE } from '../metering/sqlite-usage-store.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;
const DATABASES = ['metadata.sqlite', 'kms.sqlite', 'iam.sqlite', USAGE_FILE] as const;
/** Small files copied as they are (those that exist). root.key only with includeRootKey. */
const SMALL_FILES = ['root-credentials.json', CUSTODY_FILE, SALT_FILE, EXTERNAL_KMS_FILE];
const BLOBS_DIR = 'blobs';
const MAX_MANIFEST_BYTES = 512 * 1024 * 1024;

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  version: 1;
  createdAt: string;
  /** The root key id custody.json names. */
  rootKey: string;
  includesRootKey: boolean;
  /** Rows of every table of every database, e.g. {"metadata.sqlite": {"objects": 12, ...}}. */
  rows: Record<string, Record<string, number>>;
  files: ManifestFile[];
  /** Blobs the snapshot references that were gone when they were copied (objects deleted during the backup). */
  missingBlobs: string[];
  /** Set when the blob files live outside the data directory (--blobs) and are not in the backup: where they are. */
  externalBlobs?: string;
}

export class BackupError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

type Progress = (done: number, total: number) => void;

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

async function emptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
}

async function copyFile(from: string, to: string): Promise<ManifestFile & { abs: string }> {
  await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
  await fs.copyFile(from, to);
  await fs.chmod(to, 0o600);
  const h = await fs.open(to, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
  const st = await fs.stat(to);
  return { path: '', abs: to, bytes: st.size, sha256: await sha256Of(to) };
}

/** Copies `dataDir` into the empty or new directory `to`. */
export async function backupDataDir(o: {
  dataDir: string;
  to: string;
  includeRootKey: boolean;
  /** Set when blobs live outside the data directory (a shared directory, an S3-compatible service): they are not copied. */
  externalBlobs?: string;
  progress: Progress;
}): Promise<Manifest> {
  const record = await readCustodyRecord(o.dataDir);
  if (!record) throw new BackupError(`${o.dataDir} has no ${CUSTODY_FILE}`, 'start the server once on it (it records the root key), then back it up');
  if (record.rotation) throw new BackupError('a root-key rotation is in progress', 'finish it first (run the same `coffer custody rotate`/`migrate` command again; with --online --follow for one the server runs)');
  if (!(await emptyOrMissing(o.to))) throw new BackupError(`${o.to} is not empty`, 'give a new or empty directory');
  await fs.mkdir(o.to, { recursive: true, mode: 0o700 });
  const files: ManifestFile[] = [];
  const add = (f: ManifestFile & { abs: string }) => files.push({ path: path.relative(o.to, f.abs), bytes: f.bytes, sha256: f.sha256 });
  const rows: Manifest['rows'] = {};

  for (const name of DATABASES) {
    const src = path.join(o.dataDir, name);
    if (!existsSync(src)) continue;
    const dest = path.join(o.to, name);
    const db = new Database(src, { readonly: true, fileMustExist: true });
    try {
      await db.backup(dest);
    } finally {
      db.close();
    }
    const copy = new Database(dest, { readonly: true, fileMustExist: true });
    try {
      const tables = copy.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
      rows[name] = Object.fromEntries(tables.map((t) => [t, copy.prepare(`SELECT count(*) FROM "${t.replace(/"/g, '""')}"`).pluck().get() as number]));
    } finally {
      copy.close();
    }
    await fs.chmod(dest, 0o600);
    const st = await fs.stat(dest);
    files.push({ path: name, bytes: st.size, sha256: await sha256Of(dest) });
  }

  // The blobs the snapshot references: files under blobs/<aa>/<id>; an inline id ("i…") is a row unless its bytes moved to a file.
  const missingBlobs: string[] = [];
  const metaCopy = path.join(o.to, 'metadata.sqlite');
  if (existsSync(metaCopy) && o.externalBlobs === undefined) {
    const db = new Database(metaCopy, { readonly: true, fileMustExist: true });
    try {
      const ids = new Set<string>();
      // Current versions, then noncurrent ones (object_versions, from schema 5 on).
      const versioned = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'object_versions'").get() !== undefined;
      for (const table of versioned ? ['objects', 'object_versions'] : ['objects']) {
        const objectParts = db.prepare(`SELECT parts FROM ${table}`).pluck();
        for (const parts of objectParts.iterate() as Iterable<string>) for (const p of JSON.parse(parts) as { blobId: string }[]) ids.add(p.blobId);
      }
      for (const id of db.prepare('SELECT blob_id FROM parts').pluck().iterate() as Iterable<string>) ids.add(id);
      const inline = db.prepare('SELECT 1 FROM inline_blobs WHERE blob_id = ?').pluck();
      const fileIds = [...ids].filter((id) => !(id.startsWith('i') && inline.get(id) !== undefined)).map((id) => (id.startsWith('i') ? id.slice(1) : id));
      let done = 0;
      o.progress(0, fileIds.length);
      for (const id of fileIds) {
        const rel = path.join(BLOBS_DIR, id.slice(0, 2), id);
        try {
          add(await copyFile(path.join(o.dataDir, rel), path.join(o.to, rel)));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          missingBlobs.push(id);
        }
        o.progress(++done, fileIds.length);
      }
    } finally {
      db.close();
    }
  }

  for (const name of [...SMALL_FILES, ...(o.includeRootKey ? [ROOT_KEY_FILE] : [])]) {
    if (existsSync(path.join(o.dataDir, name))) add(await copyFile(path.join(o.dataDir, name), path.join(o.to, name)));
  }
  if (o.includeRootKey && !existsSync(path.join(o.dataDir, ROOT_KEY_FILE))) {
    throw new BackupError(`--include-root-key: ${o.dataDir} has no ${ROOT_KEY_FILE}`, `its root key (${record.rootKey}) is not a file: it stays with its provider (COFFER_ROOT_KEY, a passphrase, a token, an external KMS)`);
  }
  // The audit log: append-only files, copied as they are now.
  const auditDir = path.join(o.dataDir, AUDIT_DIR);
  if (existsSync(auditDir)) {
    for (const name of (await fs.readdir(auditDir)).sort()) {
      if (name === 'reserve' || !(await fs.stat(path.join(auditDir, name))).isFile()) continue;
      add(await copyFile(path.join(auditDir, name), path.join(o.to, AUDIT_DIR, name)));
    }
  }
  const manifest: Manifest = { version: MANIFEST_VERSION, createdAt: new Date().toISOString(), rootKey: record.rootKey, includesRootKey: o.includeRootKey, rows, files, missingBlobs, ...(o.externalBlobs ? { externalBlobs: o.externalBlobs } : {}) };
  const tmp = path.join(o.to, `${MANIFEST_FILE}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(manifest, null, 1) + '\n', { mode: 0o600 });
  await fs.rename(tmp, path.join(o.to, MANIFEST_FILE));
  return manifest;
}

async function readManifest(from: string): Promise<Manifest> {
  const file = path.join(from, MANIFEST_FILE);
  let text: string;
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_MANIFEST_BYTES) throw new BackupError(`${file} is larger than any manifest Coffer writes`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(`${from} has no ${MANIFEST_FILE}`, 'a backup without a manifest is incomplete (interrupted): make a new one');
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw new BackupError(`${file} is not JSON`);
  }
  if (m?.version !== MANIFEST_VERSION || !Array.isArray(m.files) || typeof m.rootKey !== 'string') throw new BackupError(`${file} is damaged or of an unsupported version (expected ${MANIFEST_VERSION})`);
  for (const f of m.files) {
    if (typeof f.path !== 'string' || path.isAbsolute(f.path) || f.path.split(/[\\/]/).includes('..') || typeof f.sha256 !== 'string' || typeof f.bytes !== 'number') {
      throw new BackupError(`${file} lists a file outside the backup or without a checksum: ${JSON.stringify(f).slice(0, 200)}`);
    }
  }
  return m;
}

/**
 * Restores a backup into `dataDir` (new or empty). Before writing anything: every file
 * must match the manifest, custody.json must name the manifest's root key, and the root
 * key the directory will need (in the backup, or configured by `env`) must be that key and
 * open custody.json's canary. Returns the manifest and whether the root key was checked.
 */
export async function restoreDataDir(o: {
  from: string;
  dataDir: string;
  env: Record<string, string | undefined>;
  externalKms: ExternalKmsConnector;
  progress: Progress;
}): Promise<{ manifest: Manifest; keyChecked: boolean }> {
  const m = await readManifest(o.from);
  if (!(await emptyOrMissing(o.dataDir))) throw new BackupError(`${o.dataDir} is not empty`, 'restore into a new or empty directory; never over a data directory in use');
  let done = 0;
  o.progress(0, m.files.length);
  for (const f of m.files) {
    const abs = path.join(o.from, f.path);
    const st = await fs.stat(abs).catch(() => undefined);
    if (!st || st.size !== f.bytes || (await sha256Of(abs)) !== f.sha256) {
      throw new BackupError(`${abs} ${st ? 'does not match the manifest (size or SHA-256)' : 'is missing'}`, 'the backup is damaged: restore from another one');
    }
    o.progress(++done, m.files.length);
  }
  const record = await readCustodyRecord(o.from);
  if (!record || record.rootKey !== m.rootKey) throw new BackupError(`the backup's ${CUSTODY_FILE} does not name root key ${m.rootKey}, as its manifest does`, 'the backup is damaged: restore from another one');
  let keyChecked = false;
  const included = existsSync(path.join(o.from, ROOT_KEY_FILE));
  if (included || configuredSource(o.env) !== 'file') {
    try {
      const env = included ? {} : o.env;
      const { provider } = await selectRootKey({ dataDir: o.from, env, create: false, externalKms: o.externalKms });
      try {
        if (provider.id !== m.rootKey || !(await opensCanary(record, provider))) {
          throw new BackupError(`the backup was sealed under root key ${m.rootKey}, but ${included ? `its ${ROOT_KEY_FILE}` : 'the configured root key'} is ${provider.id}`, 'configure the root key the backup was made with; nothing was written');
        }
      } finally {
        provider.close?.();
      }
      keyChecked = true;
    } catch (e) {
      if (e instanceof RootKeyConfigError) throw new BackupError(e.message, e.hint);
      throw e;
    }
  }
  // Into a temporary sibling, then one rename: a crash leaves no half-restored directory under the name.
  const tmp = `${path.resolve(o.dataDir)}.restore-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { mode: 0o700 });
  for (const f of m.files) await copyFile(path.join(o.from, f.path), path.join(tmp, f.path));
  await fs.copyFile(path.join(o.from, MANIFEST_FILE), path.join(tmp, 'restored-from-manifest.json'));
  await fs.rm(o.dataDir, { recursive: true, force: true });
  await fs.rename(tmp, o.dataDir);
  return { manifest: m, keyChecked };
}
