// Runs the AuditStore contract against AuditLog, the file log under <data-dir>/audit.

import { AuditLog } from '../../src/audit/audit-log.js';
import type { AuditStore } from '../../src/audit/audit-store.js';
import { runAuditStoreContract } from './audit-store.contract.js';
import { storeFiles } from '../helpers/store-files.js';

const files = storeFiles<AuditStore>('coffer-audit-store-', '', (dir) => AuditLog.open(dir, 'us-east-1'));

runAuditStoreContract('AuditLog (files)', files.make, { reopen: files.reopen });
