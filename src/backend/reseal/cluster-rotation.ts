// Online root-key rotation on a cluster (PostgreSQL; `coffer custody rotate|migrate
// --online` sent to any node): the rotation is rows in the shared database
// (cluster/rotation-store.ts) that every node follows, and the job leader drives
// (cluster-rotation-leader.ts). docs/CLUSTER.md, "Root-key rotation".
//
//   1. the node asked makes the new key as on one node (root.key.next, a token key, an
//      external data key), audits CofferRootKeyRotationStarted, records the rotation in
//      `prepare` and holds the new key as a standby: it opens, it does not seal
//   2. every node (polling the row) opens the new key where its own data directory or
//      provider has it — root.key.next (copied there by the operator), root.kms.json.next,
//      the recorded token label — writes the rotation to its custody.json and reports that
//      it holds both; or reports why it cannot, which blocks the switch and is the status
//   3. the leader switches to `sealing` once every live node holds both; each node then
//      seals under the new key, waits for its own requests in flight and acknowledges
//   4. the leader re-seals, pass after pass, each pass behind a barrier every live node
//      acknowledged after its requests in flight finished (what they read under the old
//      key may still be written), until one finds nothing under the old key
//   5. `finishing`: each node lets the old key go (promoteFiles, custody.json := the new
//      key); `completed` once every live node has
//
// Cancelled (cancel(), only in `prepare`, under the row's lock, audited before it commits):
// each node drops the standby key, its custody.json loses the rotation section, and a new
// key file it held is kept as <name>.cancelled-<hex>; nothing was sealed under the key.
//
// Each node LISTENs for the row's changes (rotation-store.ts) and follows at once; it polls
// each second during a rotation (an operator copying root.key.next notifies nobody) and
// every 5 s otherwise, or 4 a second and each second while its listener is down.
//
// A node starting during a rotation joins it before it serves (join()): during `sealing` or
// later it must open the new key or it refuses to start; a node killed and restarted
// rejoins from its custody.json and the row. A dead node counts again once it heartbeats.

import type { AuditCaller, AuditSink } from '../../audit/sink.js';
import { custodyRecordFor, readCustodyRecord, replaceCustodyRecord, type CustodyRecord, type RotationRecord } from '../../custody/custody-record.js';
import { RootKeyConfigError } from '../../custody/errors.js';
import { EXTERNAL_KMS_FILE, ExternalKmsRootKeyProvider, type ExternalKmsConnector } from '../../custody/external-kms-root-key.js';
import { FileRootKeyProvider, ROOT_KEY_FILE } from '../../custody/file-root-key.js';
import { Pkcs11RootKeyProvider } from '../../custody/pkcs11-root-key.js';
import type { RootKeyRing } from '../../custody/root-key-ring.js';
import type { RootKeyProvider } from '../../custody/root-key.js';
import type { ClusterRotationRow, PgRotationStore } from '../../cluster/rotation-store.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PgChannelListener } from '../../cluster/pg-channel-listener.js';
import type { ResealStores } from './reseal-items.js';
import { openRotationTarget, recordedTarget, RotationRequestError, StartGuard, type OnlineRequest, type OnlineRotationStatus, type RootKeyRotator } from './online-rotation.js';
import { auditEvent, NEXT_SUFFIX, promoteFiles } from './root-key-rotation.js';
import { isOpen, RotationLeaderJob } from './cluster-rotation-leader.js';
import { RotationPoll } from './rotation-poll.js';

export interface ClusterRotationDeps {
  dataDir: string;
  env: Record<string, string | undefined>;
  ring: RootKeyRing;
  stores: ResealStores;
  store: PgRotationStore;
  node: string;
  instance: string;
  audit: AuditSink;
  accountId: string;
  externalKms: ExternalKmsConnector;
  settled(): Promise<void>;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void; error(o: object, msg: string): void };
  /** How often a node reads the rotation row during a rotation while its listener is down (default 250 ms). */
  pollMs?: number;
}

const STATE: Record<ClusterRotationRow['phase'], OnlineRotationStatus['state']> = { prepare: 'preparing', sealing: 'waiting', finishing: 'finishing', completed: 'completed', cancelled: 'cancelled' };
export const CANCELLED_SUFFIX = '.cancelled-';

/** Why this node cannot open the new key, for the status (names files and ids, never a secret). */
function cannotOpen(dataDir: string, r: ClusterRotationRow, e: unknown): string {
  const rotation = r.record as unknown as RotationRecord;
  const where = rotation.target === 'file' ? `copy ${ROOT_KEY_FILE}${NEXT_SUFFIX} from the node that began the rotation into ${dataDir} (mode 0600)`
    : rotation.target === 'external-kms' ? `copy ${EXTERNAL_KMS_FILE}${NEXT_SUFFIX} from the node that began the rotation into ${dataDir}, and give this node the external KMS's credentials`
      : `give this node the token${rotation.keyLabel ? ` with key label ${rotation.keyLabel}` : ''}`;
  const why = e instanceof RootKeyConfigError ? e.message : 'an internal error (see the node\'s log)';
  return `cannot open the new root key ${r.to}: ${why}; ${where}`;
}

/** What the operator does after a cluster's rotation (each node logged its own file notes). */
function completedNotes(rotation: RotationRecord): string[] {
  if (rotation.target === 'pkcs11') return [`before each node's next start, set --pkcs11-key-label ${rotation.keyLabel ?? '(the new label)'} (COFFER_PKCS11_KEY_LABEL)${rotation.settings ? ' and the other --pkcs11-* settings of the new token' : ''}`];
  const file = rotation.target === 'file' ? ROOT_KEY_FILE : EXTERNAL_KMS_FILE;
  return [
    `every node renamed ${file}${NEXT_SUFFIX} to ${file}; the old key stays beside it as a .retired-<hex> file (or in its token): keep it only while backups from before the rotation need it`,
    ...(rotation.settings || rotation.target === 'external-kms' ? ['before each node\'s next start, configure the new provider (its flags and variables as given to this migration)'] : []),
    'a node migrated away from COFFER_ROOT_KEY or a passphrase must be started without that setting',
  ];
}

export class ClusterRotation implements RootKeyRotator {
  readonly job: RotationLeaderJob;
  #poll: RotationPoll;
  #listener: PgChannelListener | undefined;
  /** A rotation is open, or this node holds a second key: poll faster. */
  #active = true;
  #stopped = false;
  #stop: () => void = () => {};
  #stopping: Promise<void> = new Promise((r) => (this.#stop = r));
  /** The barrier this node passed, per rotation (from memory: a restarted node passes it again). */
  #acked = new Map<string, number>();
  /** A start is between its checks and its record (two POSTs at once must not both begin). */
  readonly #starting = new StartGuard();
  /** The completed or cancelled rotation this node has nothing left to do for. */
  #done: string | undefined;

  constructor(private readonly d: ClusterRotationDeps) {
    const listening = () => this.#listener?.listening === true;
    this.job = new RotationLeaderJob({ store: d.store, ring: d.ring, stores: d.stores, audit: d.audit, accountId: d.accountId, log: d.log, pollMs: d.pollMs, listening });
    const fast = d.pollMs ?? 250;
    this.#poll = new RotationPoll(() => this.#tick(), () => (listening() ? (this.#active ? 1000 : 5000) : this.#active ? fast : 1000));
  }

  /** At start, before serving: joins the rotation in progress (or finishes one this node missed). RootKeyConfigError: refuse to start. */
  async join(): Promise<void> {
    const r = await this.d.store.joinRead();
    let record = await readCustodyRecord(this.d.dataDir);
    if (record?.rotation && record.rotation.to !== r?.to) {
      // Down while its rotation was cancelled (and maybe another begun): drop that one first.
      const earlier = await this.d.store.byTo(record.rotation.to);
      if (earlier?.phase === 'cancelled') {
        await this.#dropCancelled(earlier);
        record = await readCustodyRecord(this.d.dataDir);
      }
    }
    if (!r) return;
    await this.#follow(r, true);
    if (record?.rotation?.to === r.to && isOpen(r)) {
      await auditEvent(this.d, 'CofferRootKeyRotationResumed', { from: r.from, to: r.to, target: record.rotation.target, online: true, cluster: true, node: this.d.node });
    }
  }

  /** Follows the rotation rows from now on (every node): at each change notified, and at a poll. */
  startFollowing(): void {
    this.#listener = this.d.store.listen(() => {
      this.#poll.wake();
      this.job.wake();
    }, this.d.log);
    this.#poll.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop();
    await this.#listener?.close();
    await this.job.stop();
    await this.#poll.stop();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      const r = await this.d.store.latest();
      this.#active = isOpen(r) || this.d.ring.previous !== undefined || this.d.ring.standby !== undefined;
      if (r) await this.#follow(r, false);
    } catch (err) {
      if (!this.#stopped) this.d.log.warn({ err }, 'root-key rotation: this node could not follow the cluster\'s rotation (tried again)');
    }
  }

  async #follow(r: ClusterRotationRow, starting: boolean): Promise<void> {
    if (r.phase === 'cancelled') return this.#dropCancelled(r);
    const ring = this.d.ring;
    const involved = [ring.sealing.id, ring.previous?.id, ring.standby?.id];
    if (!involved.includes(r.from) && !involved.includes(r.to)) {
      if (r.phase === 'completed') return;
      await this.#report(r, { holdsNew: false, problem: `this node seals under ${ring.sealing.id}, not ${r.from}: restart it with the cluster's root key` });
      return;
    }
    if (ring.sealing.id === r.to && !ring.previous && !ring.standby) {
      // Done here (or started after the end with the new key alone): only the files may be left.
      if (this.#done === r.id) return;
      if ((await readCustodyRecord(this.d.dataDir))?.rotation) await this.#finishHere(r);
      if (r.phase === 'finishing') await this.#report(r, { holdsNew: true, finished: true });
      if (r.phase === 'completed') this.#done = r.id;
      return;
    }
    const problem = await this.#hold(r);
    if (problem) {
      if (starting && r.phase !== 'prepare') {
        throw new RootKeyConfigError(`refusing to start: the cluster's root-key rotation from ${r.from} to ${r.to} is past its switch (${r.phase}), and this node ${problem}`, 'every node needs the new key beside the old one until the rotation completes');
      }
      await this.#report(r, { holdsNew: false, problem });
      return;
    }
    if (r.phase === 'prepare') {
      // Restarted from a custody.json that names the new key: the cluster has not switched yet.
      if (ring.previous) ring.backToStandby();
      await this.#report(r, { holdsNew: true });
      return;
    }
    if (!ring.previous) {
      ring.beginRotation();
      this.d.log.info({ from: r.from, to: r.to }, 'root-key rotation: this node seals under the new key');
    }
    if (r.phase === 'sealing') {
      if ((this.#acked.get(r.id) ?? 0) < r.barrier) {
        // What a request in flight read or sealed under the old key, it may still write.
        await Promise.race([this.d.settled(), this.#stopping]);
        if (this.#stopped) return;
        this.#acked.set(r.id, r.barrier);
      }
      await this.#report(r, { holdsNew: true });
      return;
    }
    // finishing, completed: nothing here seals or opens under the old key any more.
    await Promise.race([this.d.settled(), this.#stopping]);
    if (this.#stopped) return;
    await this.#finishHere(r);
    await this.#report(r, { holdsNew: true, finished: true });
  }

  /** '' if this node holds the new key (now), else why not. */
  async #hold(r: ClusterRotationRow): Promise<string> {
    const ring = this.d.ring;
    if (ring.standby?.id === r.to || (ring.sealing.id === r.to && ring.previous?.id === r.from)) return '';
    if (ring.previous) return `holds another rotation's keys (${ring.previous.id} -> ${ring.sealing.id})`;
    let next: RootKeyProvider | undefined;
    try {
      next = await this.#openNew(r);
      if (next.id !== r.to) throw new RootKeyConfigError(`the key found is ${next.id}`);
      const record = await readCustodyRecord(this.d.dataDir);
      if (record && !record.rotation) await replaceCustodyRecord(this.d.dataDir, { ...record, rotation: r.record as unknown as RotationRecord });
      // The start on this node may have taken it up meanwhile (woken by the row's NOTIFY, this look can run beside it).
      if (ring.standby?.id === r.to) {
        next.close?.();
        return '';
      }
      ring.standBy(next);
      this.d.log.info({ to: r.to }, 'root-key rotation: this node holds the new key beside the old one');
      return '';
    } catch (e) {
      next?.close?.();
      if (!(e instanceof RootKeyConfigError)) this.d.log.error({ err: e }, 'root-key rotation: opening the new key failed');
      return cannotOpen(this.d.dataDir, r, e);
    }
  }

  /** The new key where this node's data directory or provider has it; never made here. */
  async #openNew(r: ClusterRotationRow): Promise<RootKeyProvider> {
    const rotation = r.record as unknown as RotationRecord;
    const t = recordedTarget(this.d.env, rotation);
    if (t.target === 'pkcs11') return Pkcs11RootKeyProvider.open(t.settings, { create: false }).provider;
    if (t.target === 'file') return (await FileRootKeyProvider.open(this.d.dataDir, false, `${ROOT_KEY_FILE}${NEXT_SUFFIX}`)).provider;
    return (await ExternalKmsRootKeyProvider.open(this.d.dataDir, t.settings, this.d.externalKms(t.settings), { create: false, file: path.join(this.d.dataDir, `${EXTERNAL_KMS_FILE}${NEXT_SUFFIX}`) })).provider;
  }

  /** This node's part of the end: its files and custody.json name the new key; the old one is let go. */
  async #finishHere(r: ClusterRotationRow): Promise<void> {
    const ring = this.d.ring;
    const record = await readCustodyRecord(this.d.dataDir);
    if (record?.rotation && ring.previous) {
      const notes = await promoteFiles({ dataDir: this.d.dataDir }, ring.previous, record, record.rotation);
      await replaceCustodyRecord(this.d.dataDir, await custodyRecordFor(ring.sealing));
      for (const note of notes) this.d.log.info({ note }, 'root-key rotation: a note for the operator');
    } else if (record?.rotation && record.rootKey !== r.to) {
      await replaceCustodyRecord(this.d.dataDir, await custodyRecordFor(ring.sealing));
    }
    if (ring.previous) {
      ring.finishRotation();
      this.d.log.info({ from: r.from, to: r.to }, 'root-key rotation completed on this node: the old root key is no longer used');
    }
  }

  /**
   * A rotation cancelled before its switch: the new key is let go here. custody.json first
   * (a node restarted after it opens the old key alone), then the key file is set aside.
   */
  async #dropCancelled(r: ClusterRotationRow): Promise<void> {
    const ring = this.d.ring;
    // Done, unless a look at the row that began before the cancel took the key up since.
    if (this.#done === r.id && ring.standby?.id !== r.to && ring.sealing.id !== r.to) return;
    // The follower, a start and the cancel itself may all get here at once: each step is idempotent.
    // Restarted from a custody.json that names the new key (not serving yet): back to the old one.
    if (ring.previous?.id === r.from && ring.sealing.id === r.to) ring.backToStandby();
    const held = ring.standby?.id === r.to;
    if (held) ring.dropStandby();
    const record = await readCustodyRecord(this.d.dataDir);
    const recorded = record?.rotation?.to === r.to;
    if (record && recorded) {
      const { rotation: _cancelled, ...rest } = record;
      await replaceCustodyRecord(this.d.dataDir, rest);
    }
    await this.#setAsideNewKeyFile(r, held || recorded);
    if (held || recorded) this.d.log.info({ from: r.from, to: r.to }, 'root-key rotation cancelled before its switch: this node dropped the new key and seals under the old one');
    this.#done = r.id;
  }

  /**
   * <name>.next of a cancelled rotation -> <name>.cancelled-<hex>, so that the next rotation
   * makes a new key; a token key the rotation made is destroyed.
   */
  async #setAsideNewKeyFile(r: ClusterRotationRow, known: boolean): Promise<void> {
    const target = (r.record as unknown as RotationRecord).target;
    if (target === 'pkcs11') return this.#destroyTokenKey(r);
    const name = target === 'file' ? ROOT_KEY_FILE : EXTERNAL_KMS_FILE;
    const next = path.join(this.d.dataDir, `${name}${NEXT_SUFFIX}`);
    if (!existsSync(next)) return;
    if (target === 'file') {
      // Only r.to's: the file may have been copied here but never opened, or be a newer rotation's already.
      const p = await FileRootKeyProvider.open(this.d.dataDir, false, `${ROOT_KEY_FILE}${NEXT_SUFFIX}`).then((o) => o.provider, () => undefined);
      if (p?.id !== r.to) return;
    } else if (!known) return;
    await fs.rename(next, path.join(this.d.dataDir, `${name}${CANCELLED_SUFFIX}${r.to.slice(r.to.indexOf(':') + 1)}`)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e; // set aside by a drop running beside this one
    });
  }

  /**
   * The token key a cancelled rotation made (rotation.madeKey: never a key the operator named):
   * nothing was sealed under it, and the row, cancelled, can never switch to it. Only that key
   * (its id, r.to), and never while this node still holds it. Each node destroys it in its own
   * token; on a shared token the first one does. A failure is logged: the key stays unused.
   */
  #destroyTokenKey(r: ClusterRotationRow): void {
    const ring = this.d.ring;
    if ([ring.sealing.id, ring.previous?.id, ring.standby?.id].includes(r.to)) return;
    this.#destroyMadeKey(r.record as unknown as RotationRecord, r.to, 'root-key rotation cancelled');
  }

  /** Destroys the token key `id` if `rotation` made it (madeKey); logs what happened. */
  #destroyMadeKey(rotation: RotationRecord, id: string, why: string): void {
    if (!rotation.madeKey) return;
    const t = recordedTarget(this.d.env, rotation);
    if (t.target !== 'pkcs11') return;
    try {
      if (Pkcs11RootKeyProvider.destroy(t.settings, id)) this.d.log.info({ to: id, keyLabel: t.settings.keyLabel }, `${why}: this node destroyed the token key made for it`);
    } catch (err) {
      this.d.log.warn({ err, to: id, keyLabel: t.settings.keyLabel }, `${why}: the token key made for it could not be destroyed (it is not used; destroy it with the token's tools)`);
    }
  }

  async cancel(caller: AuditCaller): Promise<OnlineRotationStatus> {
    const res = await this.d.store.cancel('cancelled before the switch to the new key; every node drops it', (r) =>
      auditEvent(this.d, 'CofferRootKeyRotationCancelled', { from: r.from, to: r.to, target: (r.record as { target?: string }).target, online: true, cluster: true, phase: r.phase }, caller));
    if (res.outcome === 'none') throw new RotationRequestError('no root-key rotation of the cluster is in progress', 'InvalidState');
    if (res.outcome === 'past-switch') {
      const r = res.row!;
      throw new RotationRequestError(`the cluster's root-key rotation from ${r.from} to ${r.to} is past its switch (${r.phase}): nodes seal under the new key, so it cannot be cancelled and must finish; follow it with GET custody/rotation`, 'InvalidState');
    }
    this.d.log.info({ from: res.row!.from, to: res.row!.to }, 'root-key rotation of the cluster cancelled before its switch');
    await this.#dropCancelled(res.row!);
    return this.status();
  }

  async #report(r: ClusterRotationRow, o: { holdsNew: boolean; problem?: string; finished?: boolean }): Promise<void> {
    await this.d.store.report(r.id, { node: this.d.node, instance: this.d.instance, holdsNew: o.holdsNew, problem: o.problem ?? '', ackedBarrier: this.#acked.get(r.id) ?? 0, finished: o.finished ?? false });
  }

  start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus> {
    return this.#starting.run(() => this.#start(req, caller));
  }

  async #start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus> {
    const latest = await this.d.store.latest();
    if (latest?.phase === 'cancelled') await this.#dropCancelled(latest);
    if (isOpen(latest)) {
      throw new RotationRequestError(`the cluster's root-key rotation from ${latest.from} to ${latest.to} is in progress (${latest.phase}); follow it with GET custody/rotation`, 'RotationInProgress');
    }
    const record: CustodyRecord | undefined = await readCustodyRecord(this.d.dataDir);
    if (!record) throw new RotationRequestError(`${this.d.dataDir} has no custody.json`, 'InvalidState');
    const ring = this.d.ring;
    if (ring.previous || ring.standby || record.rotation) throw new RotationRequestError('this node holds a rotation that has not finished; restart it to rejoin the cluster\'s', 'InvalidState');
    const { next, rotation, to } = await openRotationTarget(this.d, record, req, 'node');
    const id = randomUUID();
    // Known not begun, and known to be nobody's: the rotation recorded instead names another
    // key. On a shared token another node may have found the key made here (not made by it)
    // and recorded its rotation to it, or may yet: only then is the key destroyed.
    let nobodys = false;
    try {
      await auditEvent(this.d, 'CofferRootKeyRotationStarted', { from: record.rootKey, to: next.id, target: to.target, online: true, cluster: true, resumed: false }, caller);
      await replaceCustodyRecord(this.d.dataDir, { ...record, rotation });
      if (!(await this.d.store.begin(id, ring.sealing.id, next.id, rotation as unknown as Record<string, unknown>))) {
        await replaceCustodyRecord(this.d.dataDir, record);
        const recorded = await this.d.store.latest();
        nobodys = isOpen(recorded) && recorded.to !== next.id;
        throw new RotationRequestError('another root-key rotation was begun on the cluster at the same time; follow it with GET custody/rotation', 'RotationInProgress');
      }
    } catch (e) {
      next.close?.();
      // This node's follower may have taken it up for the recorded rotation meanwhile: never while held.
      if (nobodys && (ring.standby as RootKeyProvider | undefined)?.id !== next.id) this.#destroyMadeKey(rotation, next.id, 'root-key rotation not begun');
      throw e;
    }
    if (req.itemsPerSecond !== undefined) await this.d.store.setProgress(id, { itemsPerSecond: req.itemsPerSecond });
    // This node's follower, woken by the begin's NOTIFY, may have opened root.key.next and taken it up already.
    if ((ring.standby as RootKeyProvider | undefined)?.id === next.id) next.close?.();
    else ring.standBy(next);
    this.#active = true;
    this.d.log.info({ from: record.rootKey, to: next.id }, 'root-key rotation of the cluster begun: every node must hold the new key before any seals under it');
    const r = await this.d.store.latest();
    if (r) await this.#report(r, { holdsNew: true });
    return this.status();
  }

  async status(): Promise<OnlineRotationStatus> {
    const r = await this.d.store.latest();
    if (!r) return { state: 'idle', pass: 0, done: 0, total: 0, resealed: 0, changed: 0 };
    const p = r.progress as { pass?: number; done?: number; total?: number; resealed?: number; changed?: number; counts?: OnlineRotationStatus['counts']; active?: boolean };
    const rotation = r.record as unknown as RotationRecord;
    const nodes = await this.d.store.nodes(r.id);
    return {
      state: r.phase === 'sealing' && p.active ? 'resealing' : STATE[r.phase],
      from: r.from,
      to: r.to,
      target: rotation.target,
      startedAt: rotation.startedAt,
      pass: p.pass ?? 0,
      done: p.done ?? 0,
      total: p.total ?? 0,
      resealed: p.resealed ?? 0,
      changed: p.changed ?? 0,
      ...(p.counts ? { counts: p.counts } : {}),
      ...(r.message ? { message: r.message } : {}),
      nodes: nodes.map((n) => ({ node: n.node, live: n.live, holdsNew: n.holdsNew, ...(n.problem ? { problem: n.problem } : {}), barrier: n.ackedBarrier, finished: n.finished })),
      ...(r.phase === 'completed' ? { notes: completedNotes(rotation) } : {}),
    };
  }
}
