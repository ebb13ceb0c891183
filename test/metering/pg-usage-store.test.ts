// Runs the UsageStore contract against PgUsageStore on a real PostgreSQL
// (test/helpers/postgres.ts), including two stores flushing into one database at once.

import { PgUsageStore } from '../../src/metering/pg-usage-store.js';
import type { UsageStore } from '../../src/metering/usage-store.js';
import { runUsageStoreContract } from './usage-store.contract.js';
import { describePostgres, pgStores } from '../helpers/postgres.js';

const stores = pgStores<UsageStore>((pool) => PgUsageStore.open(pool, { closePool: true }));

describePostgres('PgUsageStore', () => {
  runUsageStoreContract('PgUsageStore', stores.make, { reopen: stores.reopen, twin: stores.twin });
});
