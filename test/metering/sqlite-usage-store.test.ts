// Runs the UsageStore contract against SqliteUsageStore (usage.sqlite).

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { SqliteUsageStore } from '../../src/metering/sqlite-usage-store.js';
import type { UsageStore } from '../../src/metering/usage-store.js';
import { runUsageStoreContract } from './usage-store.contract.js';

let root = '';
let n = 0;
const paths = new WeakMap<UsageStore, string>();

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-usage-sqlite-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const open = (file: string) => {
  const s = SqliteUsageStore.open(file);
  paths.set(s, file);
  return s;
};

runUsageStoreContract('SqliteUsageStore', async () => open(path.join(root, `usage-${++n}.sqlite`)), {
  reopen: async (s) => {
    await s.close();
    return open(paths.get(s)!);
  },
});
