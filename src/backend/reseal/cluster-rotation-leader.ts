// The job leader's part of a cluster's root-key rotation (cluster-rotation.ts): a job that
// reads the rotation row and moves it on when every live node is ready.
//
//   prepare    every live node holds the new key -> sealing, barrier 1 (trySwitch); else the
//              message names the nodes that do not, with their reason
//   sealing    every live node passed the barrier -> one re-seal pass with the leader's ring
//              (each item alone, compare-and-swap); items found -> barrier + 1, again;
//              none -> CofferRootKeyRotationCompleted, then finishing
//   finishing  every live node let the old key go -> completed
//   cancelled  nothing (each node drops the new key itself)
//
// Rounds run when a change is NOTIFYd (ClusterRotation's listener wakes the job) and else at
// a poll: each second during a rotation (a node's heartbeat going stale changes who must be
// waited for, and notifies nobody), every 5 s otherwise; 4 a second and each second while
// the listener is down.
//
// A leader that loses the lease stops after the item in hand; the next leader starts the
// pass again from the row (re-sealing is idempotent: an item the new key opens is skipped).

import type { AuditSink } from '../../audit/sink.js';
import { CustodyError } from '../../custody/errors.js';
import type { RootKeyRing } from '../../custody/root-key-ring.js';
import type { ClusterJob } from '../../cluster/job-leader.js';
import type { ClusterRotationRow, PgRotationStore, RotationNodeRow } from '../../cluster/rotation-store.js';
import { ItemChangedError, paceItems, walkSealed, type ResealCounts, type ResealStores } from './reseal-items.js';
import { auditEvent } from './root-key-rotation.js';
import { RotationPoll } from './rotation-poll.js';

export interface RotationLeaderDeps {
  store: PgRotationStore;
  ring: RootKeyRing;
  stores: ResealStores;
  audit: AuditSink;
  accountId: string;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void; error(o: object, msg: string): void };
  pollMs?: number | undefined;
  /** Whether changes are notified now (ClusterRotation's listener): then the poll is slow. */
  listening?: () => boolean;
}

/** A rotation that neither completed nor was cancelled. */
export const isOpen = (r: ClusterRotationRow | undefined): r is ClusterRotationRow => r !== undefined && r.phase !== 'completed' && r.phase !== 'cancelled';

interface Progress {
  pass?: number;
  done?: number;
  total?: number;
  resealed?: number;
  changed?: number;
  counts?: ResealCounts;
  active?: boolean;
  itemsPerSecond?: number;
}

class Stopped extends Error {}

const names = (nodes: RotationNodeRow[]) => nodes.map((n) => n.node).join(', ');

export class RotationLeaderJob implements ClusterJob {
  #poll: RotationPoll;
  #running = false;
  #message = new Map<string, string>();
  #active = false;
  #failedAt = 0;

  constructor(private readonly d: RotationLeaderDeps) {
    const fast = d.pollMs ?? 250;
    this.#poll = new RotationPoll(
      () => this.#tick(),
      () => (d.listening?.() ? (this.#active ? 1000 : 5000) : this.#active ? fast : 1000),
    );
  }

  start(): void {
    this.#running = true;
    this.#poll.start();
  }

  /** A change was notified: a round now (if this node leads). */
  wake(): void {
    if (this.#running) this.#poll.wake();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#poll.stop();
  }

  async #tick(): Promise<void> {
    if (!this.#running) return;
    // After a failed round, one try in 5 s.
    if (Date.now() - this.#failedAt < 5000) return;
    try {
      const r = await this.d.store.latest();
      this.#active = isOpen(r);
      if (isOpen(r)) await this.#step(r);
    } catch (err) {
      if (err instanceof Stopped) return;
      this.#failedAt = Date.now();
      this.d.log.error({ err }, 'root-key rotation: the leader\'s round failed (tried again)');
    }
  }

  async #say(r: ClusterRotationRow, message: string): Promise<void> {
    if (this.#message.get(r.id) === message && r.message === message) return;
    this.#message.set(r.id, message);
    await this.d.store.setMessage(r.id, message);
    if (message) this.d.log.info({ to: r.to }, `root-key rotation: ${message}`);
  }

  async #step(r: ClusterRotationRow): Promise<void> {
    if (r.phase === 'prepare') {
      const { switched, blockers } = await this.d.store.trySwitch(r.id);
      if (switched) {
        this.d.log.info({ from: r.from, to: r.to }, 'root-key rotation: every live node holds both keys; the cluster now seals under the new key');
        return;
      }
      const lines = blockers.map((n) => `node ${n.node} ${n.problem || 'has not reported the new key yet'}`);
      if (lines.length) await this.#say(r, `waiting before the switch to the new key: ${lines.join('; ')}`);
      return;
    }
    const nodes = await this.d.store.nodes(r.id);
    if (r.phase === 'finishing') {
      const late = nodes.filter((n) => n.live && !n.finished);
      if (late.length) return this.#say(r, `waiting for node(s) ${names(late)} to let the old key go`);
      if (await this.d.store.advance(r.id, r, { phase: 'completed', barrier: r.barrier, progress: { ...r.progress, active: false } })) {
        this.d.log.info({ from: r.from, to: r.to }, 'root-key rotation of the cluster completed');
      }
      return;
    }
    // sealing
    const late = nodes.filter((n) => n.live && (!n.holdsNew || n.ackedBarrier < r.barrier));
    if (late.length) return this.#say(r, `waiting for node(s) ${names(late)} to seal under the new key and finish the requests they had in flight`);
    const old = this.d.ring.previous;
    const next = this.d.ring.sealing;
    if (old?.id !== r.from || next.id !== r.to) return; // this node has not switched yet: its own follower will
    await this.#say(r, '');
    await this.#pass(r, old, next);
  }

  async #pass(r: ClusterRotationRow, old: NonNullable<RootKeyRing['previous']>, next: RootKeyRing['sealing']): Promise<void> {
    const p: Progress = { ...(r.progress as Progress), pass: r.barrier, done: 0, active: true };
    p.resealed ??= 0;
    p.changed ??= 0;
    await this.d.store.setProgress(r.id, p);
    let found = 0;
    let saved = Date.now();
    const t0 = Date.now();
    const counts = await walkSealed(this.d.stores, old, next, async (item) => {
      if (!this.#running) throw new Stopped();
      try {
        if ((await item.reseal()) === 'resealed') {
          found++;
          p.resealed!++;
        }
      } catch (e) {
        if (e instanceof CustodyError) {
          await this.#say(r, `${item.what} opens under neither root key (${e.kind}): the rotation cannot finish until it is restored or deleted`);
          throw e;
        }
        if (!(e instanceof ItemChangedError)) throw e;
        found++;
        p.changed!++;
      }
      p.done!++;
      p.total = Math.max(p.total ?? 0, p.done!);
      if (Date.now() - saved > 500) {
        saved = Date.now();
        await this.d.store.setProgress(r.id, p);
      }
      await paceItems(t0, p.done!, p.itemsPerSecond);
    });
    p.total = p.done;
    p.counts = counts;
    p.active = false;
    if (found > 0) {
      // What a request on any node read under the old key before this pass, it may still write: another barrier, another pass.
      await this.d.store.advance(r.id, r, { phase: 'sealing', barrier: r.barrier + 1, progress: p });
      return;
    }
    await auditEvent(this.d, 'CofferRootKeyRotationCompleted', { from: r.from, to: r.to, target: (r.record as { target?: string }).target, online: true, cluster: true, ...counts, resealed: p.resealed });
    await this.d.store.advance(r.id, r, { phase: 'finishing', barrier: r.barrier, progress: p });
  }
}
