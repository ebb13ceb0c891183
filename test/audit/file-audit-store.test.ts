// Runs the AuditStore contract against AuditLog, the file log under <data-dir>/audit.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.js';
import type { AuditStore } from '../../src/audit/audit-store.js';
import { runAuditStoreContract } from './audit-store.contract.js';

let root = '';
let n = 0;
const dirs = new WeakMap<AuditStore, string>();

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-audit-store-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const open = async (dataDir: string) => {
  const s = await AuditLog.open(dataDir, 'us-east-1');
  dirs.set(s, dataDir);
  return s;
};

runAuditStoreContract('AuditLog (files)', async () => open(path.join(root, `data-${++n}`)), {
  reopen: async (s) => {
    await s.close();
    return open(dirs.get(s)!);
  },
});
