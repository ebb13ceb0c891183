// Database files hold secrets (sealed, but still): create them owner-only before SQLite
// opens them, so the -wal and -shm files SQLite derives from them are owner-only too.

import { closeSync, chmodSync, openSync } from 'node:fs';

export function ensurePrivateFile(path: string): void {
  if (path === ':memory:' || path === '') return;
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
}
