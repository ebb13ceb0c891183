// Recognising "out of space" among the failures of the stores: the file system's ENOSPC
// (no free blocks) and EDQUOT (the user's quota), and SQLite's SQLITE_FULL ("database or
// disk is full"). Each service answers it with its own clear, non-retryable error (507)
// instead of an internal error that clients retry into the same full disk.

const FULL_ERRNO = new Set(['ENOSPC', 'EDQUOT']);

/** Whether `e` (or an error it wraps as `cause`) says the storage is out of space. */
export function isStorageFull(e: unknown): boolean {
  for (let cur = e, depth = 0; typeof cur === 'object' && cur !== null && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    // better-sqlite3's SqliteError carries the extended result code name.
    if (typeof code === 'string' && (FULL_ERRNO.has(code) || code === 'SQLITE_FULL' || code.startsWith('SQLITE_FULL_'))) return true;
  }
  return false;
}
