// Who this server is in a cluster. The *node* is stable across restarts: a random name kept
// in the data directory (`node-id`), which every node has for itself (its audit log, its
// lock), so two nodes never share one. The *instance* is this process, fresh at each start.
// Pending blob marks name the instance (storage/types.ts); a node's start reclaims its own
// earlier instances' marks, which only works because the node name outlives the process.
// Never copy a data directory to start another node from it (delete its node-id first).

import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobWriterIdentity } from '../storage/types.js';

export const NODE_ID_FILE = 'node-id';

const NODE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** This node's name (made on first start) and a fresh instance id for this process. */
export function nodeIdentity(dataDir: string): BlobWriterIdentity {
  const file = join(dataDir, NODE_ID_FILE);
  let node: string | undefined;
  try {
    node = readFileSync(file, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (node === undefined) {
    node = `n-${randomBytes(8).toString('hex')}`;
    writeFileSync(file, `${node}\n`, { mode: 0o644, flag: 'wx' });
  } else if (!NODE_ID.test(node)) {
    throw Object.assign(new Error(`the node id in ${file} is not valid`), { hint: `delete ${file}: the server makes a new one at its next start` });
  }
  return { node, instance: randomUUID() };
}
