// SqliteMetadataStore.reclaimPending, inside the store's write transaction: the twin of
// PgMetadataStore's (types.ts, PendingReclaim). Retired writers' rows go with their marks.

import type { prepareStatements } from './sqlite-rows.js';
import type { BlobWriterIdentity, PendingReclaim } from './types.js';

export function reclaimPending(s: ReturnType<typeof prepareStatements>, writer: BlobWriterIdentity, which: PendingReclaim, now: number): number {
  const retired = (which.kind === 'earlier-instances'
    ? s.earlierWriters.all(writer.node, writer.instance)
    : s.staleWriters.all(now, which.writerTimeoutMs, writer.instance)) as string[];
  let moved = 0;
  for (const instance of retired) {
    s.deleteWriter.run(instance);
    s.pendingOfToGarbage.run(instance);
    moved += s.clearPendingOf.run(instance).changes;
  }
  if (which.kind === 'abandoned') {
    for (const id of s.orphanPending.all(now - which.unknownWriterGraceMs) as string[]) {
      s.clearPending.run(id);
      s.addGarbage.run(id);
      moved++;
    }
  }
  return moved;
}
