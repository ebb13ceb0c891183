// An audit file read as a reader must (docs/spec/audit-log.md, section 2): only the bytes up
// to its last "\n". The live kms.log of a running server ends in zero bytes the writer
// preallocated ahead of its writes.

import { readFile } from 'node:fs/promises';

/** The complete lines of an audit file, as text ending in "\n" (or "" when it has none). */
export async function auditFileText(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1);
}
