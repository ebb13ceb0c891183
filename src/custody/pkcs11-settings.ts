// Settings of the PKCS#11 root-key provider, from COFFER_PKCS11_* (the server's
// --pkcs11-* flags land in the same names, config/config.ts custodyEnv). The PIN comes
// from a file (COFFER_PKCS11_PIN_FILE) or COFFER_PKCS11_PIN, never from the command line,
// and never appears in a message.

import { readFileSync, statSync } from 'node:fs';
import { RootKeyConfigError } from './errors.js';

export const PKCS11_MODULE_ENV = 'COFFER_PKCS11_MODULE';
export const PKCS11_TOKEN_ENV = 'COFFER_PKCS11_TOKEN';
export const PKCS11_SLOT_ENV = 'COFFER_PKCS11_SLOT';
export const PKCS11_KEY_LABEL_ENV = 'COFFER_PKCS11_KEY_LABEL';
export const PKCS11_PIN_FILE_ENV = 'COFFER_PKCS11_PIN_FILE';
export const PKCS11_PIN_ENV = 'COFFER_PKCS11_PIN';
export const DEFAULT_KEY_LABEL = 'coffer-root-key';

export interface Pkcs11Settings {
  /** Path of the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** The token, by label (preferred) or by slot id. */
  token: { label: string } | { slot: bigint };
  keyLabel: string;
  /** The user PIN. Never log it. */
  pin: string;
}

/** True if `env` configures the PKCS#11 provider. */
export function wantsPkcs11(env: Record<string, string | undefined>): boolean {
  return Boolean(env[PKCS11_MODULE_ENV]);
}

/** Reads and validates the settings; throws RootKeyConfigError saying what to set. */
export function pkcs11Settings(env: Record<string, string | undefined>): Pkcs11Settings {
  const module = env[PKCS11_MODULE_ENV] ?? '';
  if (module === '') throw new RootKeyConfigError(`${PKCS11_MODULE_ENV} is not set`, 'give the PKCS#11 module with --pkcs11-module or COFFER_PKCS11_MODULE, e.g. /usr/lib/softhsm/libsofthsm2.so');
  const label = env[PKCS11_TOKEN_ENV];
  const slot = env[PKCS11_SLOT_ENV];
  let token: Pkcs11Settings['token'];
  if (label && slot) throw new RootKeyConfigError(`both ${PKCS11_TOKEN_ENV} and ${PKCS11_SLOT_ENV} are set`, 'name the token by its label (--pkcs11-token) or by its slot id (--pkcs11-slot), not both');
  if (label) token = { label };
  else if (slot && /^\d{1,20}$/.test(slot)) token = { slot: BigInt(slot) };
  else if (slot) throw new RootKeyConfigError(`${PKCS11_SLOT_ENV} must be a slot id (a whole number), got ${JSON.stringify(slot)}`, 'list slots with: softhsm2-util --show-slots (or pkcs11-tool -L)');
  else throw new RootKeyConfigError('the PKCS#11 token is not named', `set --pkcs11-token or ${PKCS11_TOKEN_ENV} to the token's label (or ${PKCS11_SLOT_ENV} to its slot id)`);
  const keyLabel = env[PKCS11_KEY_LABEL_ENV] || DEFAULT_KEY_LABEL;
  return { module, token, keyLabel, pin: readPin(env) };
}

function readPin(env: Record<string, string | undefined>): string {
  const file = env[PKCS11_PIN_FILE_ENV];
  if (file) {
    let text: string;
    try {
      const st = statSync(file);
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
        throw new RootKeyConfigError(`PKCS#11 PIN file ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: group and others must have no access`, `run: chmod 600 ${file}`);
      }
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if (e instanceof RootKeyConfigError) throw e;
      throw new RootKeyConfigError(`cannot read the PKCS#11 PIN file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, `${PKCS11_PIN_FILE_ENV} must name a readable file holding the token's user PIN`);
    }
    const pin = text.replace(/\r?\n$/, '');
    if (pin === '') throw new RootKeyConfigError(`PKCS#11 PIN file ${file} is empty`, 'write the token\'s user PIN into it');
    return pin;
  }
  const pin = env[PKCS11_PIN_ENV];
  if (pin) return pin;
  throw new RootKeyConfigError('no PIN for the PKCS#11 token', `set ${PKCS11_PIN_FILE_ENV} (--pkcs11-pin-file) to a file holding the user PIN, or ${PKCS11_PIN_ENV}`);
}
