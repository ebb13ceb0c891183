// Root-key rotation and migration on a running server (`coffer custody rotate|migrate
// --online`, POST /_coffer/api/custody/rotation): the same re-seal as the offline command
// (root-key-rotation.ts, reseal-items.ts), run by the server itself through its own stores,
// while it serves. Spec: docs/spec/custody-record.md, "Rotation" and "Online rotation".
//
//   1. make the new key (root.key.next, root.kms.json.next, a token key), as offline
//   2. audit CofferRootKeyRotationStarted (durable before anything changes)
//   3. custody.json gains rotation {to, target, online: true, settings?}
//   4. the server's RootKeyRing seals under the new key from now on, and opens either
//   5. wait until every request that was in flight at step 4 has finished: one may have
//      sealed a key under the old root key and commit it only now
//   6. passes over every sealed item (each re-sealed alone, compare-and-swap), until a pass,
//      begun after the requests in flight at the end of the one before have finished, finds
//      nothing left under the old key (an item changed under a pass is looked at again)
//   7. audit CofferRootKeyRotationCompleted; the new key file takes the usual name, the old
//      one stays as <name>.retired-<hex> (promoteFiles); custody.json := the new key
//   8. once the requests in flight have finished (they may hold bytes read under the old
//      key), the ring lets the old key go
//
// A server killed anywhere restarts with the keys steps 1 and 3 left (its usual settings
// configure the old key; the record names the new one) and resumes at step 4
// (CofferRootKeyRotationResumed). Why no pass beside the server: it seals new items and keeps
// unsealed ones in memory, so only the server itself can switch the sealing key.

import { ONLINE_SETTINGS, custodyRecordFor, readCustodyRecord, replaceCustodyRecord, type CustodyRecord, type RotationRecord } from '../../custody/custody-record.js';
import { CustodyError, RootKeyConfigError } from '../../custody/errors.js';
import type { ExternalKmsConnector } from '../../custody/external-kms-root-key.js';
import { externalKmsSettings } from '../../custody/external-kms-settings.js';
import { Pkcs11RootKeyProvider } from '../../custody/pkcs11-root-key.js';
import { pkcs11Settings } from '../../custody/pkcs11-settings.js';
import { RootKeyRing } from '../../custody/root-key-ring.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import { configuredSource } from '../../custody/select-root-key.js';
import type { AuditCaller, AuditSink } from '../../audit/sink.js';
import { ItemChangedError, paceItems, walkSealed, type ResealCounts, type ResealStores } from './reseal-items.js';
import { auditEvent, kindOf, openNext, openOld, promoteFiles, type RotationTarget } from './root-key-rotation.js';

/** Passes after which a rotation that still finds items under the old key gives up (and can be started again). */
const MAX_PASSES = 10;

/** `preparing`, `finishing` and `cancelled` are a cluster's (cluster-rotation.ts): nodes taking up the new key, and letting the old one go. */
export type OnlineState = 'idle' | 'preparing' | 'waiting' | 'counting' | 'resealing' | 'finishing' | 'completed' | 'failed' | 'cancelled';

export interface OnlineRotationStatus {
  state: OnlineState;
  from?: string;
  to?: string;
  target?: RotationRecord['target'];
  startedAt?: string;
  /** This process resumed a rotation a previous process began. */
  resumed?: boolean;
  /** 1 for the pass that re-seals; later passes check that nothing is left. */
  pass: number;
  /** Items looked at in this pass, and how many there are. */
  done: number;
  total: number;
  /** Items re-sealed by this process, over all passes. */
  resealed: number;
  /** Items that changed under a pass (looked at again by the next). */
  changed: number;
  /** Requests in flight that the rotation is waiting for (state `waiting`). */
  waitingFor?: number;
  counts?: ResealCounts;
  notes?: string[];
  /** Why it failed (no secret: ids, store names); starting it again resumes. */
  error?: string;
  /** On a cluster: what the rotation waits for now, in words (a node named, and why). */
  message?: string;
  /** On a cluster: each node's part (live: a fresh heartbeat; holdsNew; the barrier it passed; finished). */
  nodes?: { node: string; live: boolean; holdsNew: boolean; problem?: string; barrier: number; finished: boolean }[];
}

/** What the operator asks for: a new key of the current provider, or a key of another provider. */
export type OnlineRequest =
  | { command: 'rotate'; newKeyLabel?: string; itemsPerSecond?: number }
  | { command: 'migrate'; to: 'file' | 'pkcs11' | 'external-kms'; settings: Record<string, string>; itemsPerSecond?: number };

export interface OnlineRotationDeps {
  dataDir: string;
  /** The server's root-key environment (as at start): it configures the current key. */
  env: Record<string, string | undefined>;
  ring: RootKeyRing;
  stores: ResealStores;
  audit: AuditSink;
  accountId: string;
  externalKms: ExternalKmsConnector;
  /** Resolves once every request in flight when it was called has finished (http/in-flight.ts). */
  settled(): Promise<void>;
  inFlight(): number;
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void };
}

/** An operator error: answered 400/409 with this text (it names ids and settings, never a secret). */
export class RotationRequestError extends Error {
  override readonly name = 'RotationRequestError';
  constructor(
    message: string,
    readonly code: 'ValidationException' | 'RotationInProgress' | 'InvalidState',
  ) {
    super(message);
  }
}

/** One start at a time (two POSTs at once must not both begin): a second start while one runs is RotationInProgress. */
export class StartGuard {
  #busy = false;

  async run<T>(start: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new RotationRequestError('a root-key rotation is being started', 'RotationInProgress');
    this.#busy = true;
    try {
      return await start();
    } finally {
      this.#busy = false;
    }
  }
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

/** The target an online request names; settings of a new provider come only from ONLINE_SETTINGS. */
export function onlineTarget(env: Record<string, string | undefined>, req: OnlineRequest): { to: RotationTarget; settings?: Record<string, string> } {
  if (req.command === 'rotate') {
    const source = configuredSource(env);
    switch (source) {
      case 'file':
        return { to: { target: 'file' } };
      case 'external-kms':
        return { to: { target: 'external-kms', settings: externalKmsSettings(env) } };
      case 'pkcs11': {
        const s = pkcs11Settings(env);
        return { to: { target: 'pkcs11', settings: { ...s, keyLabel: req.newKeyLabel ?? `${s.keyLabel}-${stamp()}` } } };
      }
      case 'env':
      case 'passphrase':
        throw new RotationRequestError(
          `${source === 'env' ? 'COFFER_ROOT_KEY' : 'COFFER_ROOT_PASSPHRASE'} cannot be rotated in place (Coffer cannot set a variable); migrate to file, pkcs11 or external-kms instead`,
          'ValidationException',
        );
    }
  }
  const settings = req.settings;
  for (const k of Object.keys(settings)) {
    if (!(ONLINE_SETTINGS as readonly string[]).includes(k)) {
      throw new RotationRequestError(`${k} cannot be given to a running server: give a PIN or secret key in a file (mode 0600) the server can read, named by the _FILE variable`, 'ValidationException');
    }
  }
  const prefix = req.to === 'pkcs11' ? 'COFFER_PKCS11_' : req.to === 'external-kms' ? 'COFFER_EXTERNAL_KMS_' : undefined;
  const own = Object.fromEntries(Object.entries(settings).filter(([k]) => prefix !== undefined && k.startsWith(prefix)));
  try {
    if (req.to === 'file') return { to: { target: 'file' } };
    if (req.to === 'pkcs11') return { to: { target: 'pkcs11', settings: pkcs11Settings(own) }, settings: own };
    return { to: { target: 'external-kms', settings: externalKmsSettings(own) }, settings: own };
  } catch (e) {
    if (e instanceof RootKeyConfigError) throw new RotationRequestError(`${e.message}${e.hint ? ` (${e.hint})` : ''}`, 'ValidationException');
    throw e;
  }
}

/** `kind:` of the provider the server's settings configure (the id's form, for kindOf). */
export function configuredKindId(env: Record<string, string | undefined>): string {
  const source = configuredSource(env);
  return `${source === 'env' || source === 'file' ? 'key' : source}:`;
}

/**
 * The new key of an online rotation asked for by `req`, opened beside the current one, and
 * the rotation record custody.json will hold — after the checks every rotation makes
 * (custody.json names the key this process seals under; `rotate` stays with its provider;
 * the new key is not the current one). `who` names the process in the refusals.
 */
export async function openRotationTarget(
  d: Pick<OnlineRotationDeps, 'dataDir' | 'env' | 'externalKms'> & { ring: Pick<RootKeyRing, 'sealing'> },
  record: CustodyRecord,
  req: OnlineRequest,
  who: 'server' | 'node',
): Promise<{ next: RootKeyProvider; rotation: RotationRecord; to: RotationTarget }> {
  const old = d.ring.sealing;
  if (old.id !== record.rootKey) throw new RotationRequestError(`custody.json names root key ${record.rootKey}, but this ${who} seals under ${old.id}`, 'InvalidState');
  if (req.command === 'rotate' && kindOf(old.id) !== kindOf(configuredKindId(d.env))) {
    throw new RotationRequestError(`this ${who} seals under ${old.id} since a migration, but was started with the settings of another provider; restart it with the new provider's settings, then rotate`, 'InvalidState');
  }
  const { to, settings } = onlineTarget(d.env, req);
  let next: RootKeyProvider;
  try {
    next = await openNext({ dataDir: d.dataDir, env: d.env, externalKms: d.externalKms, to }, record);
  } catch (e) {
    if (e instanceof RootKeyConfigError) throw new RotationRequestError(`${e.message}${e.hint ? ` (${e.hint})` : ''}`, 'ValidationException');
    throw e;
  }
  if (next.id === old.id) {
    next.close?.();
    throw new RotationRequestError(`the new root key is the current one (${old.id}); give another key (label, endpoint or key id)`, 'ValidationException');
  }
  const rotation: RotationRecord = {
    to: next.id,
    target: to.target,
    ...(to.target === 'pkcs11' ? { keyLabel: to.settings.keyLabel } : {}),
    ...(next.where ? { toWhere: next.where } : {}),
    startedAt: new Date().toISOString(),
    online: true,
    ...(settings ? { settings } : {}),
    // A token key made here (not one the operator named) is destroyed if a cluster's rotation is cancelled.
    ...(next instanceof Pkcs11RootKeyProvider && next.created ? { madeKey: true as const } : {}),
  };
  return { next, rotation, to };
}

/** The target of a rotation recorded as online, for a server resuming it. */
export function recordedTarget(env: Record<string, string | undefined>, r: RotationRecord): RotationTarget {
  if (r.target === 'file') return { target: 'file' };
  const s = r.settings ?? Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith(r.target === 'pkcs11' ? 'COFFER_PKCS11_' : 'COFFER_EXTERNAL_KMS_')));
  if (r.target === 'pkcs11') return { target: 'pkcs11', settings: { ...pkcs11Settings(s), ...(r.keyLabel ? { keyLabel: r.keyLabel } : {}) } };
  return { target: 'external-kms', settings: externalKmsSettings(s) };
}

/**
 * At start, for a data directory whose custody.json records an online rotation: opens the
 * recorded key (as configured, or its retired file) and the new one, and returns the ring
 * that seals under the new key and opens both. RootKeyConfigError if either is missing.
 */
export async function openRotationInProgress(o: { dataDir: string; env: Record<string, string | undefined>; externalKms: ExternalKmsConnector; record: CustodyRecord }): Promise<RootKeyRing> {
  const rotation = o.record.rotation!;
  const keys = { dataDir: o.dataDir, env: o.env, externalKms: o.externalKms, to: recordedTarget(o.env, rotation) };
  const old = await openOld(keys, o.record);
  try {
    return new RootKeyRing(await openNext(keys, o.record), old);
  } catch (e) {
    old.close?.();
    if (e instanceof RootKeyConfigError) {
      throw new RootKeyConfigError(`refusing to start: a root-key rotation from ${o.record.rootKey} to ${rotation.to} is in progress, and the new key cannot be opened: ${e.message}`, e.hint ?? 'restore the new key where the rotation made it; both keys are needed until it reports completion');
    }
    throw e;
  }
}

/** What the admin routes drive: one server's rotation (OnlineRotation) or a cluster's (cluster-rotation.ts). */
export interface RootKeyRotator {
  start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus>;
  status(): OnlineRotationStatus | Promise<OnlineRotationStatus>;
  /** Cancels a rotation before anything is sealed under its new key; RotationRequestError (InvalidState) otherwise. */
  cancel(caller: AuditCaller): Promise<OnlineRotationStatus>;
  stop(): Promise<void>;
}

export class OnlineRotation implements RootKeyRotator {
  #status: OnlineRotationStatus = { state: 'idle', pass: 0, done: 0, total: 0, resealed: 0, changed: 0 };
  #running: Promise<void> | undefined;
  #itemsPerSecond: number | undefined;
  #stopped = false;
  #stop: () => void = () => {};
  #stopping: Promise<void> = new Promise((r) => (this.#stop = r));
  /** A start is between its checks and its switch. */
  readonly #starting = new StartGuard();

  constructor(private readonly d: OnlineRotationDeps) {}

  status(): OnlineRotationStatus {
    return { ...this.#status, ...(this.#status.state === 'waiting' ? { waitingFor: this.d.inFlight() } : {}) };
  }

  /**
   * Never: one server seals under the new key from the moment its rotation starts (there is
   * no state before that to go back to), so items may be under it; the rotation must finish.
   */
  async cancel(): Promise<OnlineRotationStatus> {
    const record = await readCustodyRecord(this.d.dataDir);
    const rotation = record?.rotation;
    if (!this.#running && !rotation) throw new RotationRequestError('no root-key rotation is in progress', 'InvalidState');
    const from = this.#running ? this.#status.from : record?.rootKey;
    const to = this.#running ? this.#status.to : rotation?.to;
    throw new RotationRequestError(
      `the root-key rotation from ${from} to ${to} cannot be cancelled: one server seals under the new key from the moment its rotation starts, so it must finish (${this.#running ? 'follow it with GET custody/rotation' : 'start it again to resume it'})`,
      'InvalidState',
    );
  }

  /** Stops after the item in hand (server close); custody.json keeps the rotation for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop();
    await this.#running;
  }

  /** At start: resumes the online rotation custody.json records, if any (the ring holds both keys). */
  async resumeIfRecorded(): Promise<void> {
    const record = await readCustodyRecord(this.d.dataDir);
    if (!record?.rotation?.online || !this.d.ring.previous) return;
    this.#begin(record, record.rotation, true, undefined);
  }

  /** Starts a rotation (or resumes one that failed in this process). Returns the status once the new key seals. */
  start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus> {
    return this.#starting.run(() => this.#start(req, caller));
  }

  async #start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus> {
    if (req.itemsPerSecond !== undefined) this.#itemsPerSecond = req.itemsPerSecond;
    const record = await readCustodyRecord(this.d.dataDir);
    if (!record) throw new RotationRequestError(`${this.d.dataDir} has no custody.json`, 'InvalidState');
    if (this.#running) {
      throw new RotationRequestError(`a root-key rotation from ${this.#status.from} to ${this.#status.to} is in progress (${this.#status.state}); follow it with GET custody/rotation`, 'RotationInProgress');
    }
    if (record.rotation) {
      // Began here or in a process before this one, and stopped on an error: run it again.
      if (!record.rotation.online || !this.d.ring.previous || this.d.ring.sealing.id !== record.rotation.to) {
        throw new RotationRequestError(`custody.json records a rotation to ${record.rotation.to} that this server is not running; restart the server to resume it`, 'InvalidState');
      }
      this.#begin(record, record.rotation, true, caller);
      return this.status();
    }
    const { next, rotation, to } = await openRotationTarget(this.d, record, req, 'server');
    try {
      await auditEvent(this.d, 'CofferRootKeyRotationStarted', { from: record.rootKey, to: next.id, target: to.target, online: true, resumed: false }, caller);
      await replaceCustodyRecord(this.d.dataDir, { ...record, rotation });
    } catch (e) {
      next.close?.();
      throw e;
    }
    this.d.ring.beginRotation(next);
    this.d.log.info({ from: record.rootKey, to: next.id }, 'root-key rotation started: new items are sealed under the new key');
    this.#begin(record, rotation, false, caller);
    return this.status();
  }

  #begin(record: CustodyRecord, rotation: RotationRecord, resumed: boolean, caller: AuditCaller | undefined): void {
    this.#stopped = false;
    this.#status = { state: 'waiting', from: record.rootKey, to: rotation.to, target: rotation.target, startedAt: rotation.startedAt, resumed, pass: 0, done: 0, total: 0, resealed: 0, changed: 0 };
    this.#running = this.#run(record, rotation, resumed, caller)
      .catch((e: unknown) => {
        this.d.log.error({ err: e }, 'root-key rotation stopped');
        const known = e instanceof RootKeyConfigError || e instanceof RotationRequestError || e instanceof ItemChangedError || e instanceof Stopped;
        this.#status = { ...this.#status, state: 'failed', error: known ? (e as Error).message : 'internal error (see the server log); start the rotation again to resume it' };
      })
      .finally(() => (this.#running = undefined));
  }

  async #run(record: CustodyRecord, rotation: RotationRecord, resumed: boolean, caller: AuditCaller | undefined): Promise<void> {
    const old = this.d.ring.previous!;
    const next = this.d.ring.sealing;
    const s = this.#status;
    if (resumed) await auditEvent(this.d, 'CofferRootKeyRotationResumed', { from: record.rootKey, to: next.id, target: rotation.target, online: true }, caller);
    s.state = 'waiting';
    await this.#settled();
    s.state = 'counting';
    s.pass = 1;
    await walkSealed(this.d.stores, old, next, async () => {
      this.#check();
      s.total++;
    });
    let counts: ResealCounts;
    for (;;) {
      s.state = 'resealing';
      s.done = 0;
      let found = 0;
      const t0 = Date.now();
      counts = await walkSealed(this.d.stores, old, next, async (item) => {
        this.#check();
        try {
          if ((await item.reseal()) === 'resealed') {
            found++;
            s.resealed++;
          }
        } catch (e) {
          // An item neither key opens (damaged, or sealed under a third key) stops the rotation, named.
          if (e instanceof CustodyError) throw new RotationRequestError(`${item.what} opens under neither root key (${e.kind}): ${e.message}`, 'InvalidState');
          if (!(e instanceof ItemChangedError)) throw e;
          found++;
          s.changed++;
        }
        s.done++;
        s.total = Math.max(s.total, s.done);
        await paceItems(t0, s.done, this.#itemsPerSecond);
      });
      s.total = s.done;
      if (found === 0) break;
      if (s.pass >= MAX_PASSES) throw new RotationRequestError(`items under the old key were still found after ${MAX_PASSES} passes; start the rotation again`, 'InvalidState');
      // What a request read under the old key before this pass re-sealed it, it may still write.
      s.state = 'waiting';
      await this.#settled();
      s.pass++;
    }
    this.#check();
    await auditEvent(this.d, 'CofferRootKeyRotationCompleted', { from: record.rootKey, to: next.id, target: rotation.target, online: true, ...counts, resealed: s.resealed }, caller);
    const finished = await custodyRecordFor(next);
    const notes = await promoteFiles({ dataDir: this.d.dataDir }, old, record, rotation);
    await replaceCustodyRecord(this.d.dataDir, finished);
    if (rotation.target === 'pkcs11' && rotation.keyLabel) notes.unshift(`before the next start, set --pkcs11-key-label ${rotation.keyLabel} (COFFER_PKCS11_KEY_LABEL)${rotation.settings ? ' and the other --pkcs11-* settings of the new token' : ''}`);
    if (rotation.target === 'external-kms' && rotation.settings) notes.unshift('before the next start, configure the new external KMS (--external-kms-* and COFFER_EXTERNAL_KMS_* as given to this migration)');
    await Promise.race([this.d.settled(), this.#stopping]);
    this.d.ring.finishRotation();
    this.#status = { ...s, state: 'completed', counts, notes };
    this.d.log.info({ from: record.rootKey, to: next.id, resealed: s.resealed }, 'root-key rotation completed: the old root key is no longer used');
  }

  /** The barrier, given up when the server closes (a request it waits for may never end). */
  async #settled(): Promise<void> {
    await Promise.race([this.d.settled(), this.#stopping]);
    this.#check();
  }

  #check(): void {
    if (this.#stopped) throw new Stopped('the server is closing; the rotation resumes at its next start');
  }
}

class Stopped extends Error {}
