// How many statements better-sqlite3 prepares while fn runs, on any connection. On Node
// 22+ every prepared statement is kept for the life of the process
// (src/storage/sqlite-database.ts), so a path run again and again must prepare nothing.

import Database from 'better-sqlite3';

export async function preparesDuring(fn: () => Promise<unknown>): Promise<number> {
  const proto = Database.prototype as unknown as { prepare: (...a: unknown[]) => unknown };
  const original = proto.prepare;
  let n = 0;
  proto.prepare = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  try {
    await fn();
  } finally {
    proto.prepare = original;
  }
  return n;
}
