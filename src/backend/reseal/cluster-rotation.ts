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
import path from 'node:path';
import type { ResealStores } from './reseal-items.js';
import { openRotationTarget, recordedTarget, RotationRequestError, type OnlineRequest, type OnlineRotationStatus, type RootKeyRotator } from './online-rotation.js';
import { auditEvent, NEXT_SUFFIX, promoteFiles } from './root-key-rotation.js';
import { RotationLeaderJob } from './cluster-rotation-leader.js';

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
  /** How often a node reads the rotation row (default 250 ms). */
  pollMs?: number;
}

const IDLE_POLL_MS = 1000;

const STATE: Record<ClusterRotationRow['phase'], OnlineRotationStatus['state']> = { prepare: 'preparing', sealing: 'waiting', finishing: 'finishing', completed: 'completed' };

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
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  #stopped = false;
  #stop: () => void = () => {};
  #stopping: Promise<void> = new Promise((r) => (this.#stop = r));
  /** The barrier this node passed, per rotation (from memory: a restarted node passes it again). */
  #acked = new Map<string, number>();
  #starting = false;
  #idleSince: number | undefined;
  /** The completed rotation this node has nothing left to do for. */
  #done: string | undefined;

  constructor(private readonly d: ClusterRotationDeps) {
    this.job = new RotationLeaderJob({ store: d.store, ring: d.ring, stores: d.stores, audit: d.audit, accountId: d.accountId, log: d.log, pollMs: d.pollMs });
  }

  /** At start, before serving: joins the rotation in progress (or finishes one this node missed). RootKeyConfigError: refuse to start. */
  async join(): Promise<void> {
    const r = await this.d.store.joinRead();
    if (!r) return;
    const record = await readCustodyRecord(this.d.dataDir);
    await this.#follow(r, true);
    if (record?.rotation?.to === r.to && r.phase !== 'completed') {
      await auditEvent(this.d, 'CofferRootKeyRotationResumed', { from: r.from, to: r.to, target: record.rotation.target, online: true, cluster: true, node: this.d.node });
    }
  }

  /** Follows the rotation rows from now on (every node). */
  startFollowing(): void {
    const every = this.d.pollMs ?? 250;
    this.#timer = setInterval(() => {
      this.#ticking = this.#ticking.then(() => this.#tick());
    }, every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop();
    clearInterval(this.#timer);
    await this.job.stop();
    await this.#ticking;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    // With no rotation in progress, one read a second is enough: the switch waits for this node anyway.
    if (this.#idleSince !== undefined && Date.now() - this.#idleSince < IDLE_POLL_MS) return;
    try {
      const r = await this.d.store.latest();
      this.#idleSince = !r || (r.phase === 'completed' && !this.d.ring.previous && !this.d.ring.standby) ? Date.now() : undefined;
      if (r) await this.#follow(r, false);
    } catch (err) {
      if (!this.#stopped) this.d.log.warn({ err }, 'root-key rotation: this node could not follow the cluster\'s rotation (tried again)');
    }
  }

  async #follow(r: ClusterRotationRow, starting: boolean): Promise<void> {
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

  async #report(r: ClusterRotationRow, o: { holdsNew: boolean; problem?: string; finished?: boolean }): Promise<void> {
    await this.d.store.report(r.id, { node: this.d.node, instance: this.d.instance, holdsNew: o.holdsNew, problem: o.problem ?? '', ackedBarrier: this.#acked.get(r.id) ?? 0, finished: o.finished ?? false });
  }

  async start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus> {
    if (this.#starting) throw new RotationRequestError('a root-key rotation is being started', 'RotationInProgress');
    this.#starting = true;
    try {
      return await this.#start(req, caller);
    } finally {
      this.#starting = false;
    }
  }

  async #start(req: OnlineRequest, caller: AuditCaller): Promise<OnlineRotationStatus> {
    const latest = await this.d.store.latest();
    if (latest && latest.phase !== 'completed') {
      throw new RotationRequestError(`the cluster's root-key rotation from ${latest.from} to ${latest.to} is in progress (${latest.phase}); follow it with GET custody/rotation`, 'RotationInProgress');
    }
    const record: CustodyRecord | undefined = await readCustodyRecord(this.d.dataDir);
    if (!record) throw new RotationRequestError(`${this.d.dataDir} has no custody.json`, 'InvalidState');
    const ring = this.d.ring;
    if (ring.previous || ring.standby || record.rotation) throw new RotationRequestError('this node holds a rotation that has not finished; restart it to rejoin the cluster\'s', 'InvalidState');
    const { next, rotation, to } = await openRotationTarget(this.d, record, req, 'node');
    const id = randomUUID();
    try {
      await auditEvent(this.d, 'CofferRootKeyRotationStarted', { from: record.rootKey, to: next.id, target: to.target, online: true, cluster: true, resumed: false }, caller);
      await replaceCustodyRecord(this.d.dataDir, { ...record, rotation });
      if (!(await this.d.store.begin(id, ring.sealing.id, next.id, rotation as unknown as Record<string, unknown>))) {
        await replaceCustodyRecord(this.d.dataDir, record);
        throw new RotationRequestError('another root-key rotation was begun on the cluster at the same time; follow it with GET custody/rotation', 'RotationInProgress');
      }
    } catch (e) {
      next.close?.();
      throw e;
    }
    if (req.itemsPerSecond !== undefined) await this.d.store.setProgress(id, { itemsPerSecond: req.itemsPerSecond });
    ring.standBy(next);
    this.#idleSince = undefined;
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
