// Runs the UsageStore contract against SqliteUsageStore (usage.sqlite).

import { SqliteUsageStore } from '../../src/metering/sqlite-usage-store.js';
import type { UsageStore } from '../../src/metering/usage-store.js';
import { runUsageStoreContract } from './usage-store.contract.js';
import { storeFiles } from '../helpers/store-files.js';

const files = storeFiles<UsageStore>('coffer-usage-sqlite-', '.sqlite', (file) => SqliteUsageStore.open(file));

runUsageStoreContract('SqliteUsageStore', files.make, { reopen: files.reopen, twin: files.twin });
