// Root key derived from COFFER_ROOT_PASSPHRASE with scrypt and a salt kept in
// <dataDir>/root.salt. The salt file also records the scrypt parameters and a check
// value, so a wrong passphrase is refused at start instead of surfacing later as
// unreadable keys. Format: docs/spec/kms-key-material.md, "Passphrase salt file".

import { createHmac, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import path from 'node:path';
import { RootKeyConfigError } from './errors.js';
import { createSecretFile, readSecretFile } from './secret-file.js';
import { ROOT_KEY_LENGTH, SoftwareRootKey } from './software-root-key.js';

export const ROOT_PASSPHRASE_ENV = 'COFFER_ROOT_PASSPHRASE';
export const SALT_FILE = 'root.salt';
export const PASSPHRASE_CHECK_LABEL = 'coffer/root-key/passphrase-check/v1';

// Salt file v1 layout. Changing any of these breaks every data directory with a passphrase.
const SALT_FILE_VERSION = 0x01;
const SALT_FILE_LENGTH = 74; // version(1) log2N(1) r(4) p(4) salt(32) check(32)
const SALT_OFFSET = 10;
const SALT_LENGTH = 32;
const CHECK_OFFSET = 42;

/** scrypt parameters written into new salt files: N = 2^15, r = 8, p = 1 (about 32 MiB, ~0.1 s). */
export const DEFAULT_SCRYPT = { log2N: 15, r: 8, p: 1 } as const;
// Bounds on parameters read from a salt file, so a damaged file cannot ask for absurd work.
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;

interface SaltRecord {
  log2N: number;
  r: number;
  p: number;
  salt: Buffer;
  check: Buffer;
}

export class PassphraseRootKeyProvider extends SoftwareRootKey {
  private constructor(rootKey: Buffer) {
    super('passphrase', rootKey);
  }

  /**
   * Derives the root key from `passphrase` and <dataDir>/root.salt, creating the salt
   * file on first use (unless `create` is false). Throws RootKeyConfigError "wrong passphrase for this data
   * directory" if the salt file's check value does not match.
   */
  static async open(dataDir: string, passphrase: string, create = true): Promise<{ provider: PassphraseRootKeyProvider; created: boolean }> {
    if (passphrase.length === 0) {
      throw new RootKeyConfigError(`${ROOT_PASSPHRASE_ENV} is set but empty`, `set a long passphrase, or unset ${ROOT_PASSPHRASE_ENV}`);
    }
    const file = path.join(dataDir, SALT_FILE);
    let raw = await readSecretFile(file, 'passphrase salt file');
    let created = false;
    if (raw === undefined && !create) {
      throw new RootKeyConfigError(`passphrase salt file ${file} is missing`, 'restore root.salt from a backup; without it the passphrase cannot recover this data directory');
    }
    if (raw === undefined) {
      const salt = randomBytes(SALT_LENGTH);
      const key = await derive(passphrase, { ...DEFAULT_SCRYPT, salt });
      const record = encodeSaltRecord({ ...DEFAULT_SCRYPT, salt, check: checkValue(key) });
      key.fill(0);
      created = await createSecretFile(file, record);
      raw = await readSecretFile(file, 'passphrase salt file');
      if (raw === undefined) throw new RootKeyConfigError(`passphrase salt file ${file} vanished while it was being created`);
    }
    const record = decodeSaltRecord(raw, file);
    const key = await derive(passphrase, record);
    try {
      if (!timingSafeEqual(checkValue(key), record.check)) {
        throw new RootKeyConfigError(
          'wrong passphrase for this data directory',
          `${ROOT_PASSPHRASE_ENV} must be the passphrase this data directory was created with`,
        );
      }
      return { provider: new PassphraseRootKeyProvider(key), created };
    } finally {
      key.fill(0);
    }
  }
}

function derive(passphrase: string, p: { log2N: number; r: number; p: number; salt: Buffer }): Promise<Buffer> {
  // NFC, so the same passphrase typed on systems that compose accents differently
  // derives the same key.
  const password = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  const N = 2 ** p.log2N;
  const options: ScryptOptions = { N, r: p.r, p: p.p, maxmem: 2 * 128 * N * p.r * p.p };
  return new Promise((resolve, reject) => {
    scryptCallback(password, p.salt, ROOT_KEY_LENGTH, options, (err, key) => {
      password.fill(0);
      if (err) reject(err);
      else resolve(key);
    });
  });
}

function checkValue(key: Buffer): Buffer {
  return createHmac('sha256', key).update(PASSPHRASE_CHECK_LABEL, 'utf8').digest();
}

function encodeSaltRecord(s: SaltRecord): Buffer {
  const out = Buffer.alloc(SALT_FILE_LENGTH);
  out[0] = SALT_FILE_VERSION;
  out[1] = s.log2N;
  out.writeUInt32BE(s.r, 2);
  out.writeUInt32BE(s.p, 6);
  s.salt.copy(out, SALT_OFFSET);
  s.check.copy(out, CHECK_OFFSET);
  return out;
}

function decodeSaltRecord(raw: Buffer, file: string): SaltRecord {
  const damaged = (what: string) =>
    new RootKeyConfigError(
      `passphrase salt file ${file} ${what}`,
      'restore root.salt from a backup; without it the passphrase cannot recover this data directory',
    );
  if (raw.length === 0 || raw[0] !== SALT_FILE_VERSION) throw damaged(`has an unsupported version (expected ${SALT_FILE_VERSION})`);
  if (raw.length !== SALT_FILE_LENGTH) throw damaged(`is ${raw.length} bytes; version 1 is ${SALT_FILE_LENGTH}`);
  const log2N = raw[1]!;
  const r = raw.readUInt32BE(2);
  const p = raw.readUInt32BE(6);
  if (log2N < 15 || log2N > 20 || r < 1 || r > 32 || p < 1 || p > 16 || 128 * 2 ** log2N * r * p > MAX_SCRYPT_MEMORY) {
    throw damaged(`has scrypt parameters out of range (log2 N=${log2N}, r=${r}, p=${p})`);
  }
  return {
    log2N,
    r,
    p,
    salt: raw.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LENGTH),
    check: raw.subarray(CHECK_OFFSET, CHECK_OFFSET + 32),
  };
}
