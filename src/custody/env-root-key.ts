// Root key from COFFER_ROOT_KEY: 32 bytes in standard base64, kept out of the data
// directory (a secret manager, a systemd credential, a Kubernetes secret).

import { RootKeyConfigError } from './errors.js';
import { ROOT_KEY_LENGTH, SoftwareRootKey } from './software-root-key.js';

export const ROOT_KEY_ENV = 'COFFER_ROOT_KEY';
const GENERATE_HINT = 'generate one with: openssl rand -base64 32';
// 32 bytes are 43 base64 characters and one '=' of padding.
const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;

export class EnvRootKeyProvider extends SoftwareRootKey {
  private constructor(rootKey: Buffer) {
    super('key', rootKey);
  }

  /**
   * Decodes the value of COFFER_ROOT_KEY. Throws RootKeyConfigError, whose message never
   * repeats the value, if it is not standard base64 of exactly 32 bytes.
   */
  static fromBase64(value: string, source: string = ROOT_KEY_ENV): EnvRootKeyProvider {
    const text = value.trim();
    if (text === '') throw new RootKeyConfigError(`${source} is set but empty`, GENERATE_HINT);
    if (!BASE64_32.test(text)) {
      const decoded = Buffer.from(text, 'base64');
      const length = decoded.length;
      decoded.fill(0);
      throw new RootKeyConfigError(
        /^[A-Za-z0-9+/]*={0,2}$/.test(text)
          ? `${source} must be ${ROOT_KEY_LENGTH} bytes in base64, but it decodes to ${length} bytes`
          : `${source} must be ${ROOT_KEY_LENGTH} bytes in standard base64 (A-Z a-z 0-9 + / and = padding)`,
        GENERATE_HINT,
      );
    }
    const key = Buffer.from(text, 'base64');
    try {
      return new EnvRootKeyProvider(key);
    } finally {
      key.fill(0);
    }
  }
}
