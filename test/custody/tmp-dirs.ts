// Fresh temporary data directories for custody tests, removed after the file's tests.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';

export function tempDirs(prefix: string): () => string {
  let root = '';
  let n = 0;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), `coffer-${prefix}-`));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });
  return () => path.join(root, `data-${++n}`);
}
