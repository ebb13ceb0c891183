// Root key in <dataDir>/root.key: 32 random bytes made on first start. Convenient for a
// single machine and for tests, but the key sits beside the data it protects, so the
// caller logs FILE_ROOT_KEY_WARNING. The bytes are the same kind of key as
// COFFER_ROOT_KEY: `base64 < root.key` moves it into the environment with no re-wrapping.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { RootKeyConfigError } from './errors.js';
import { createSecretFile, readSecretFile } from './secret-file.js';
import { ROOT_KEY_LENGTH, SoftwareRootKey } from './software-root-key.js';

export const ROOT_KEY_FILE = 'root.key';
export const FILE_ROOT_KEY_WARNING = 'root key kept in a file beside the data; production should use COFFER_ROOT_KEY or a passphrase';

export class FileRootKeyProvider extends SoftwareRootKey {
  private constructor(rootKey: Buffer) {
    super('key', rootKey);
  }

  /**
   * Opens <dataDir>/root.key, creating it (mode 0600) if it does not exist and `create` is true. Throws
   * RootKeyConfigError if the file is readable by group or others, or is not 32 bytes.
   */
  static async open(dataDir: string, create = true, name = ROOT_KEY_FILE): Promise<{ provider: FileRootKeyProvider; created: boolean }> {
    // `name`: another file of the directory, for a rotation's next key (root.key.next) or a retired one.
    const file = path.join(dataDir, name);
    let existing = await readSecretFile(file, 'root key file');
    let created = false;
    if (existing === undefined && !create) {
      throw new RootKeyConfigError(`root key file ${file} is missing`, 'restore it from a backup; Coffer does not create a new root key for a data directory that already has one');
    }
    if (existing === undefined) {
      const fresh = randomBytes(ROOT_KEY_LENGTH);
      created = await createSecretFile(file, fresh);
      fresh.fill(0);
      existing = await readSecretFile(file, 'root key file');
      if (existing === undefined) throw new RootKeyConfigError(`root key file ${file} vanished while it was being created`);
    }
    try {
      if (existing.length !== ROOT_KEY_LENGTH) {
        throw new RootKeyConfigError(
          `root key file ${file} is ${existing.length} bytes; a root key is ${ROOT_KEY_LENGTH}`,
          'restore the file from a backup; replacing it makes every KMS key in this data directory unreadable',
        );
      }
      return { provider: new FileRootKeyProvider(existing), created };
    } finally {
      existing.fill(0);
    }
  }
}
