// Root key inside a PKCS#11 token (an HSM; SoftHSM2 in tests): a non-extractable AES-256
// secret key that never leaves the token. Coffer asks the token to run AES-256-GCM
// (CKM_AES_GCM) on short secrets with a nonce and AAD Coffer chooses; the output has the
// same layout as the software wrap format v1, with kind 0x03 and a fingerprint of the
// key's label and CKA_ID (the key's bytes are unknown to Coffer).
// Spec: docs/spec/kms-key-material.md, "Wrapped key under a PKCS#11 token".
//
//   wrapped = 0x01 || 0x03 || fingerprint(8) || nonce(12) || token-AES-256-GCM(key, nonce,
//             secret, aad = WRAP_LABEL || wrapped[0..22] || callerAad) || tag(16)
//
// The token may go away while the server runs (a network HSM restarts, a token directory
// is moved): calls then fail with RootKeyUnavailableError (the KMS answers
// KMSInternalException), and the next call opens a new session, so service resumes when
// the token is back. Unwrapped material is cached by the callers, not here.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { pooledRandomBytes } from '../crypto/keys.js';
import { RootKeyConfigError, RootKeyUnavailableError, SealedKeyAuthError, SealedKeyParseError, WrongRootKeyError } from './errors.js';
import type { Pkcs11Settings } from './pkcs11-settings.js';
import type { RootKeyProvider } from './root-key.js';
import { MAX_WRAPPED_SECRET, RootKeyKind, WRAP_LABEL, WRAP_VERSION } from './software-root-key.js';

// pkcs11js is a CommonJS native addon: loaded on first use, so a server without a
// PKCS#11 provider never loads it.
type Pkcs11Module = typeof Pkcs11Types;
let addon: Pkcs11Module | undefined;
const pk = (): Pkcs11Module => (addon ??= createRequire(import.meta.url)('pkcs11js') as Pkcs11Module);

// Layout, shared with the software wrap format v1. Changing these breaks every stored key.
const HEADER_LENGTH = 22;
const FINGERPRINT_OFFSET = 2;
const FINGERPRINT_LENGTH = 8;
const NONCE_OFFSET = 10;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
export const PKCS11_FINGERPRINT_LABEL = 'coffer/root-key/pkcs11-fingerprint/v1';
/** Bytes of CKA_ID given to a key made by `coffer custody init --pkcs11 --create-key`. */
const NEW_KEY_ID_LENGTH = 16;

/** First 8 bytes of SHA-256(label || u16be(len(keyLabel)) || keyLabel || u16be(len(ckaId)) || ckaId). */
export function pkcs11Fingerprint(keyLabel: string, ckaId: Buffer): Buffer {
  const label = Buffer.from(keyLabel, 'utf8');
  const len = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  return createHash('sha256').update(PKCS11_FINGERPRINT_LABEL, 'utf8').update(len(label.length)).update(label).update(len(ckaId.length)).update(ckaId).digest().subarray(0, FINGERPRINT_LENGTH);
}

/** One loaded module per path: PKCS#11 allows one C_Initialize per process. */
interface LoadedModule {
  lib: Pkcs11Types.PKCS11;
  initialized: boolean;
  /** Bumped on every C_Finalize: sessions of an older generation are gone. */
  generation: number;
}
const modules = new Map<string, LoadedModule>();

function loadModule(path: string): LoadedModule {
  let m = modules.get(path);
  if (!m) {
    const lib = new (pk().PKCS11)();
    lib.load(path);
    m = { lib, initialized: false, generation: 0 };
    modules.set(path, m);
  }
  if (!m.initialized) {
    try {
      m.lib.C_Initialize();
    } catch (e) {
      if ((e as { code?: number }).code !== pk().CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
    }
    m.initialized = true;
  }
  return m;
}

function resetModule(m: LoadedModule): void {
  try {
    m.lib.C_Finalize();
  } catch {
    // Already finalized, or the token is gone: either way, start over on the next call.
  }
  m.initialized = false;
  m.generation++;
}

interface Connection {
  module: LoadedModule;
  generation: number;
  session: Buffer;
  key: Buffer;
}

const codeOf = (e: unknown) => (e as { message?: string }).message?.match(/CKR_[A-Z_]+/)?.[0] ?? (e instanceof Error ? e.name : 'error');

export class Pkcs11RootKeyProvider implements RootKeyProvider {
  readonly id: string;
  readonly where: string;
  readonly #settings: Pkcs11Settings;
  readonly #ckaId: Buffer;
  readonly #header: Buffer; // version, kind, fingerprint
  #conn: Connection | undefined;
  /** open() generated the key (it was not in the token). */
  readonly created: boolean;

  private constructor(settings: Pkcs11Settings, conn: Connection, ckaId: Buffer, created: boolean) {
    this.#settings = settings;
    this.created = created;
    this.#conn = conn;
    this.#ckaId = ckaId;
    const fingerprint = pkcs11Fingerprint(settings.keyLabel, ckaId);
    this.#header = Buffer.concat([Buffer.from([WRAP_VERSION, RootKeyKind.pkcs11]), fingerprint]);
    this.id = `pkcs11:${fingerprint.toString('hex')}`;
    this.where = `${describeToken(settings)}, key label "${settings.keyLabel}"`;
  }

  /**
   * Opens the key in the token. With `create`, generates it first if the token has none
   * with that label (AES-256, CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE). Throws
   * RootKeyConfigError naming the module and token when either cannot be used.
   */
  static open(settings: Pkcs11Settings, opts: { create?: boolean } = {}): { provider: Pkcs11RootKeyProvider; created: boolean } {
    let conn: Connection;
    try {
      conn = connect(settings, undefined);
    } catch (e) {
      if (!(e instanceof KeyMissing) || !opts.create) throw startError(settings, e);
      try {
        createKey(settings);
        conn = connect(settings, undefined);
      } catch (e2) {
        throw startError(settings, e2);
      }
      return { provider: new Pkcs11RootKeyProvider(settings, conn, keyIdOf(conn), true), created: true };
    }
    return { provider: new Pkcs11RootKeyProvider(settings, conn, keyIdOf(conn), false), created: false };
  }

  /**
   * Destroys the key labelled `settings.keyLabel` in the token if its id is `id` — a key
   * nothing was ever sealed under (a cancelled rotation's) — and answers whether it did. A key
   * with that label and another id (another key) is left alone, and so is a token without one.
   * Throws RootKeyConfigError when the token cannot be used.
   */
  static destroy(settings: Pkcs11Settings, id: string): boolean {
    let conn: Connection;
    try {
      conn = connect(settings, undefined);
    } catch (e) {
      if (e instanceof KeyMissing) return false;
      throw startError(settings, e);
    }
    const lib = conn.module.lib;
    try {
      if (`pkcs11:${pkcs11Fingerprint(settings.keyLabel, keyIdOf(conn)).toString('hex')}` !== id) return false;
      lib.C_DestroyObject(conn.session, conn.key);
      return true;
    } catch (e) {
      throw startError(settings, e);
    } finally {
      try {
        lib.C_CloseSession(conn.session);
      } catch {
        // The session is gone already.
      }
    }
  }

  /** The key's protection attributes as the token reports them (for `coffer custody init` and tests). */
  attributes(): { extractable: boolean; sensitive: boolean; token: boolean } {
    return this.#withToken((c) => {
      const p = pk();
      const [x, s, t] = c.module.lib.C_GetAttributeValue(c.session, c.key, [{ type: p.CKA_EXTRACTABLE }, { type: p.CKA_SENSITIVE }, { type: p.CKA_TOKEN }]);
      const yes = (a: Pkcs11Types.Attribute | undefined) => Buffer.isBuffer(a?.value) && a.value[0] === 1;
      return { extractable: yes(x), sensitive: yes(s), token: yes(t) };
    });
  }

  async wrap(plaintextKey: Buffer, aad: Buffer): Promise<Buffer> {
    if (plaintextKey.length === 0 || plaintextKey.length > MAX_WRAPPED_SECRET) {
      throw new RangeError(`a wrapped secret is 1 to ${MAX_WRAPPED_SECRET} bytes, got ${plaintextKey.length}`);
    }
    const header = Buffer.concat([this.#header, pooledRandomBytes(NONCE_LENGTH)]);
    const sealed = this.#withToken((c) => {
      const lib = c.module.lib;
      lib.C_EncryptInit(c.session, gcm(header, aad), c.key);
      return lib.C_Encrypt(c.session, plaintextKey, Buffer.alloc(plaintextKey.length + TAG_LENGTH));
    });
    return Buffer.concat([header, sealed]);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    if (wrapped.length < 1) throw new SealedKeyParseError('wrapped key is empty');
    if (wrapped[0] !== WRAP_VERSION) throw new SealedKeyParseError(`unsupported wrapped-key version 0x${wrapped[0]!.toString(16).padStart(2, '0')}`);
    const min = HEADER_LENGTH + 1 + TAG_LENGTH;
    const max = HEADER_LENGTH + MAX_WRAPPED_SECRET + TAG_LENGTH;
    if (wrapped.length < min || wrapped.length > max) throw new SealedKeyParseError(`wrapped key is ${wrapped.length} bytes; v1 is ${min} to ${max}`);
    const fingerprint = wrapped.subarray(FINGERPRINT_OFFSET, FINGERPRINT_OFFSET + FINGERPRINT_LENGTH);
    if (wrapped[1] !== this.#header[1] || !timingSafeEqual(fingerprint, this.#header.subarray(FINGERPRINT_OFFSET))) {
      const kind = Object.entries(RootKeyKind).find(([, v]) => v === wrapped[1])?.[0] ?? `unknown kind 0x${wrapped[1]!.toString(16).padStart(2, '0')}`;
      throw new WrongRootKeyError(`key was wrapped under root key ${kind}:${fingerprint.toString('hex')}, but the configured root key is ${this.id}`);
    }
    const header = wrapped.subarray(0, HEADER_LENGTH);
    const body = wrapped.subarray(HEADER_LENGTH);
    return this.#withToken((c) => {
      const lib = c.module.lib;
      lib.C_DecryptInit(c.session, gcm(header, aad), c.key);
      const out = Buffer.alloc(body.length);
      try {
        return Buffer.from(lib.C_Decrypt(c.session, body, out));
      } catch (e) {
        out.fill(0);
        // Tokens report a failed tag differently (SoftHSM2: CKR_GENERAL_ERROR). If the
        // session and key still answer, the bytes did not authenticate; otherwise the
        // token is unavailable, which #withToken handles.
        if (this.#answers(c)) throw new SealedKeyAuthError('wrapped key did not authenticate: tampered, or bound to other data');
        throw e;
      } finally {
        out.fill(0);
      }
    });
  }

  /** Closes the session (the module stays loaded for other providers). */
  close(): void {
    const c = this.#conn;
    this.#conn = undefined;
    if (c && c.generation === c.module.generation) {
      try {
        c.module.lib.C_CloseSession(c.session);
      } catch {
        // The session is gone already.
      }
    }
  }

  #answers(c: Connection): boolean {
    try {
      c.module.lib.C_GetAttributeValue(c.session, c.key, [{ type: pk().CKA_ID }]);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Runs `fn` with a live session, opening one if needed. A token failure resets the
   * module, retries once on a new session, then fails with RootKeyUnavailableError; the
   * next call tries again (that is the recovery when the token comes back).
   */
  #withToken<T>(fn: (c: Connection) => T): T {
    for (let attempt = 0; ; attempt++) {
      let c = this.#conn;
      try {
        if (!c || c.generation !== c.module.generation) {
          c = connect(this.#settings, this.#ckaId);
          this.#conn = c;
        }
        return fn(c);
      } catch (e) {
        if (e instanceof SealedKeyAuthError) throw e;
        this.#conn = undefined;
        if (c && c.generation === c.module.generation) resetModule(c.module);
        if (attempt >= 1) {
          throw new RootKeyUnavailableError(`the PKCS#11 token is unavailable (${codeOf(e)}; ${describeToken(this.#settings)}, module ${this.#settings.module}); retrying on the next request`);
        }
      }
    }
  }
}

class KeyMissing extends Error {}

function describeToken(s: Pkcs11Settings): string {
  return 'label' in s.token ? `token "${s.token.label}"` : `slot ${s.token.slot}`;
}

function startError(s: Pkcs11Settings, e: unknown): RootKeyConfigError {
  if (e instanceof RootKeyConfigError) return e;
  if (e instanceof KeyMissing) {
    return new RootKeyConfigError(`${describeToken(s)} has no AES key labelled "${s.keyLabel}" (module ${s.module})`, 'create it with: coffer custody init --pkcs11 --create-key (same --pkcs11-* settings), or set COFFER_PKCS11_KEY_LABEL to the existing key\'s label');
  }
  const code = codeOf(e);
  const hint = code === 'CKR_PIN_INCORRECT' || code === 'CKR_PIN_LEN_RANGE'
    ? 'check the PIN in COFFER_PKCS11_PIN_FILE (or COFFER_PKCS11_PIN): it must be the token\'s user PIN'
    : 'check that the module path is right, the token is present and initialized, and (for SoftHSM2) SOFTHSM2_CONF names its configuration';
  return new RootKeyConfigError(`cannot use the PKCS#11 ${describeToken(s)} through module ${s.module}: ${code === 'Error' ? (e as Error).message.replace(s.pin, '(PIN)') : code}`, hint);
}

function gcm(header: Buffer, aad: Buffer): Pkcs11Types.Mechanism {
  const p = pk();
  return {
    mechanism: p.CKM_AES_GCM,
    parameter: { type: p.CK_PARAMS_AES_GCM, iv: header.subarray(NONCE_OFFSET), ivBits: NONCE_LENGTH * 8, tagBits: TAG_LENGTH * 8, aad: Buffer.concat([Buffer.from(WRAP_LABEL, 'utf8'), header, aad]) } as Pkcs11Types.AesGCM,
  };
}

function findSlot(m: LoadedModule, s: Pkcs11Settings): Buffer {
  const slots = m.lib.C_GetSlotList(true);
  const want = s.token;
  const found = 'label' in want
    ? slots.find((slot) => m.lib.C_GetTokenInfo(slot).label.trim() === want.label)
    : slots.find((slot) => slot.readBigUInt64LE(0) === want.slot);
  if (!found) throw new RootKeyConfigError(`no PKCS#11 ${describeToken(s)} in module ${s.module}`, 'check the token label (softhsm2-util --show-slots lists them) and that the token is present');
  return found;
}

/** Opens a logged-in session and finds the key (by label, and by CKA_ID once known). */
function connect(s: Pkcs11Settings, ckaId: Buffer | undefined): Connection {
  const p = pk();
  const m = loadModule(s.module);
  const slot = findSlot(m, s);
  const session = m.lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
  try {
    try {
      m.lib.C_Login(session, p.CKU_USER, s.pin);
    } catch (e) {
      // Another session of this process is logged in already: login state is per token.
      if ((e as { code?: number }).code !== p.CKR_USER_ALREADY_LOGGED_IN) throw e;
    }
    const template: Pkcs11Types.Template = [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_LABEL, value: s.keyLabel },
      ...(ckaId ? [{ type: p.CKA_ID, value: ckaId }] : []),
    ];
    m.lib.C_FindObjectsInit(session, template);
    const keys = m.lib.C_FindObjects(session, 2);
    m.lib.C_FindObjectsFinal(session);
    if (keys.length === 0) throw new KeyMissing();
    if (keys.length > 1) throw new RootKeyConfigError(`${describeToken(s)} has more than one AES key labelled "${s.keyLabel}"`, 'give the root key a label of its own (COFFER_PKCS11_KEY_LABEL)');
    return { module: m, generation: m.generation, session, key: keys[0]! };
  } catch (e) {
    try {
      m.lib.C_CloseSession(session);
    } catch {
      // Nothing more to undo.
    }
    throw e;
  }
}

function keyIdOf(c: Connection): Buffer {
  const [id] = c.module.lib.C_GetAttributeValue(c.session, c.key, [{ type: pk().CKA_ID }]);
  const value = id?.value;
  return Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.alloc(0);
}

function createKey(s: Pkcs11Settings): void {
  const p = pk();
  const m = loadModule(s.module);
  const session = m.lib.C_OpenSession(findSlot(m, s), p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
  try {
    try {
      m.lib.C_Login(session, p.CKU_USER, s.pin);
    } catch (e) {
      if ((e as { code?: number }).code !== p.CKR_USER_ALREADY_LOGGED_IN) throw e;
    }
    m.lib.C_GenerateKey(session, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_VALUE_LEN, value: 32 },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: true },
      { type: p.CKA_EXTRACTABLE, value: false },
      { type: p.CKA_ENCRYPT, value: true },
      { type: p.CKA_DECRYPT, value: true },
      { type: p.CKA_WRAP, value: false },
      { type: p.CKA_UNWRAP, value: false },
      { type: p.CKA_SIGN, value: false },
      { type: p.CKA_VERIFY, value: false },
      { type: p.CKA_DERIVE, value: false },
      { type: p.CKA_LABEL, value: s.keyLabel },
      { type: p.CKA_ID, value: pooledRandomBytes(NEW_KEY_ID_LENGTH) },
    ]);
  } finally {
    try {
      m.lib.C_CloseSession(session);
    } catch {
      // Nothing more to undo.
    }
  }
}
