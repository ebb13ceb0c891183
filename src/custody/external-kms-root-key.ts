// The root key held by an external AWS-KMS-compatible service (AWS KMS, or another
// Coffer). Spec: docs/spec/external-kms-root-key.md.
//
//   first start:  GenerateDataKey(keyId, AES_256, context) -> (plaintext DK, ciphertext C)
//                 <dataDir>/root.kms.json := {version, keyId, deployment, ciphertext: C, ...}
//   every start:  DK := Decrypt(C, keyId, context); the root key is DK, in memory only
//   wrap/unwrap:  the v1 wrapped-key format under DK with kind 0x04 (software-root-key.ts)
//   while running: every checkSeconds, Decrypt(C) again; a failure closes the key
//                 (RootKeyUnavailableError, the KMS answers KMSInternalException) until
//                 a check succeeds; a call while closed asks for a check (at most one a second)
//
//   context = {"coffer:deployment": <deployment id>, "coffer:purpose": "root-key"}
//
// So the external KMS is off the per-request path: it is asked once per start and once
// per check, and revoking the key there stops this server within one check interval.
//
// The HTTP client is injected (ExternalKms): custody/ does not sign requests itself.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { RootKeyConfigError, RootKeyUnavailableError } from './errors.js';
import type { ExternalKmsSettings } from './external-kms-settings.js';
import type { RootKeyProvider } from './root-key.js';
import { createSecretFile } from './secret-file.js';
import { ROOT_KEY_LENGTH, SoftwareRootKey } from './software-root-key.js';

export const EXTERNAL_KMS_FILE = 'root.kms.json';
export const EXTERNAL_KMS_FILE_VERSION = 1;
// Keys of the encryption context, from the spec. Changing them makes every root.kms.json unreadable.
export const CONTEXT_DEPLOYMENT = 'coffer:deployment';
export const CONTEXT_PURPOSE = 'coffer:purpose';
export const PURPOSE_ROOT_KEY = 'root-key';
const MIN_RECHECK_MS = 1000;

/** What the provider needs from an AWS-KMS-compatible service (kms/external/kms-json-client.ts). */
export interface ExternalKms {
  readonly endpoint: string;
  generateDataKey(keyId: string, context: Record<string, string>): Promise<{ plaintext: Buffer; ciphertext: Buffer; keyId: string }>;
  decrypt(keyId: string, ciphertext: Buffer, context: Record<string, string>): Promise<Buffer>;
}
export type ExternalKmsConnector = (settings: ExternalKmsSettings) => ExternalKms;

/** A failed call to the external KMS. `code` is its error code (DisabledException…), or `unreachable`/`timeout`/`bad-response`. */
export class ExternalKmsError extends Error {
  override readonly name = 'ExternalKmsError';
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
  }
  /** The call never got an answer from the KMS (as opposed to a refusal). */
  get unreachable(): boolean {
    return this.code === 'unreachable' || this.code === 'timeout';
  }
}

/** root.kms.json: the data key's ciphertext and what it was made with. Holds no secret. */
export interface ExternalKmsFile {
  version: 1;
  endpoint: string;
  keyId: string;
  deployment: string;
  ciphertext: Buffer;
}

export async function readExternalKmsFile(file: string): Promise<ExternalKmsFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new RootKeyConfigError(`${file} is not JSON`, `restore ${path.basename(file)} from a backup`);
  }
  if (o?.version !== EXTERNAL_KMS_FILE_VERSION || typeof o.keyId !== 'string' || typeof o.endpoint !== 'string' || typeof o.deployment !== 'string' || typeof o.ciphertext !== 'string' || o.ciphertext === '') {
    throw new RootKeyConfigError(`${file} is damaged or of an unsupported version`, `restore ${path.basename(file)} from a backup`);
  }
  return { version: 1, endpoint: o.endpoint, keyId: o.keyId, deployment: o.deployment, ciphertext: Buffer.from(o.ciphertext, 'base64') };
}

const contextOf = (deployment: string) => ({ [CONTEXT_DEPLOYMENT]: deployment, [CONTEXT_PURPOSE]: PURPOSE_ROOT_KEY });

/** Says how to fix a failed call at start, naming the endpoint and the key. */
function startError(e: unknown, s: ExternalKmsSettings, op: string): Error {
  if (!(e instanceof ExternalKmsError)) return e as Error;
  if (e.unreachable) {
    return new RootKeyConfigError(`cannot reach the external KMS at ${s.endpoint} (${e.detail})`, 'check --external-kms-endpoint (COFFER_EXTERNAL_KMS_ENDPOINT) and that the service is up; the root key of this data directory is held there');
  }
  return new RootKeyConfigError(
    `the external KMS at ${s.endpoint} refused ${op} with key ${s.keyId}: ${e.code}${e.detail ? ` (${e.detail})` : ''}`,
    e.code === 'DisabledException' || e.code === 'KMSInvalidStateException'
      ? 'enable the key in the external KMS (it must stay enabled while this data directory is in use)'
      : `check the key id and that Coffer's credentials (${s.credentials.accessKeyId}) may use it for kms:Decrypt and kms:GenerateDataKey`,
  );
}

export class ExternalKmsRootKeyProvider implements RootKeyProvider {
  readonly id: string;
  readonly where: string;
  readonly #inner: SoftwareRootKey;
  #failure: string | undefined;
  #checking: Promise<void> | undefined;
  #lastCheck = Date.now();
  readonly #timer: NodeJS.Timeout | undefined;

  private constructor(
    dataKey: Buffer,
    private readonly client: ExternalKms,
    private readonly settings: ExternalKmsSettings,
    private readonly record: ExternalKmsFile,
  ) {
    this.#inner = new SoftwareRootKey('external-kms', dataKey);
    this.id = this.#inner.id;
    this.where = `key ${record.keyId} at ${settings.endpoint}`;
    if (settings.checkSeconds > 0) {
      this.#timer = setInterval(() => void this.check(), settings.checkSeconds * 1000);
      this.#timer.unref();
    }
  }

  /**
   * Opens the root key of `file` (default <dataDir>/root.kms.json), creating it with
   * GenerateDataKey if it does not exist and `create` is true. Throws RootKeyConfigError
   * naming the endpoint when the external KMS cannot be reached or refuses.
   */
  static async open(
    dataDir: string,
    settings: ExternalKmsSettings,
    client: ExternalKms,
    opts: { create?: boolean; file?: string } = {},
  ): Promise<{ provider: ExternalKmsRootKeyProvider; created: boolean }> {
    const file = opts.file ?? path.join(dataDir, EXTERNAL_KMS_FILE);
    let record = await readExternalKmsFile(file);
    let created = false;
    if (!record) {
      if (!opts.create) throw new RootKeyConfigError(`${file} is missing`, `restore ${path.basename(file)} from a backup: it holds this data directory's root key, wrapped by the external KMS`);
      const deployment = randomUUID();
      const dk = await client.generateDataKey(settings.keyId, contextOf(deployment)).catch((e: unknown) => Promise.reject(startError(e, settings, 'GenerateDataKey')));
      dk.plaintext.fill(0);
      const json = JSON.stringify({ version: EXTERNAL_KMS_FILE_VERSION, endpoint: settings.endpoint, keyId: dk.keyId, deployment, ciphertext: dk.ciphertext.toString('base64') });
      created = await createSecretFile(file, Buffer.from(json + '\n', 'utf8'));
      record = await readExternalKmsFile(file);
      if (!record) throw new RootKeyConfigError(`${file} vanished while it was being created`);
    }
    const dataKey = await client.decrypt(settings.keyId, record.ciphertext, contextOf(record.deployment)).catch((e: unknown) => Promise.reject(startError(e, settings, 'Decrypt')));
    try {
      if (dataKey.length !== ROOT_KEY_LENGTH) throw new RootKeyConfigError(`the external KMS at ${settings.endpoint} returned a ${dataKey.length}-byte data key; a root key is ${ROOT_KEY_LENGTH}`, `restore ${path.basename(file)} from a backup`);
      return { provider: new ExternalKmsRootKeyProvider(dataKey, client, settings, record), created };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Why the key is closed, or undefined while it is usable. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Asks the external KMS whether the key may still be used (one call at a time). */
  check(): Promise<void> {
    this.#checking ??= (async () => {
      this.#lastCheck = Date.now();
      try {
        const dk = await this.client.decrypt(this.settings.keyId, this.record.ciphertext, contextOf(this.record.deployment));
        const same = new SoftwareRootKey('external-kms', dk).id === this.id;
        dk.fill(0);
        this.#failure = same ? undefined : 'the external KMS returned another data key';
      } catch (e) {
        this.#failure = e instanceof ExternalKmsError ? e.message : 'error';
      } finally {
        this.#checking = undefined;
      }
    })();
    return this.#checking;
  }

  #usable(): void {
    if (this.#failure === undefined) return;
    if (!this.#checking && Date.now() - this.#lastCheck >= MIN_RECHECK_MS) void this.check();
    throw new RootKeyUnavailableError(`the external KMS at ${this.settings.endpoint} no longer allows the root key (${this.#failure}); retrying`);
  }

  async wrap(plaintextKey: Buffer, aad: Buffer): Promise<Buffer> {
    this.#usable();
    return this.#inner.wrap(plaintextKey, aad);
  }

  async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    this.#usable();
    return this.#inner.unwrap(wrapped, aad);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
