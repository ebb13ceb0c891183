// Creating the data directory (owner-only, 0700) before the lock and the stores, with
// errors that name the path and the fix instead of a bare EEXIST, ENOTDIR or EPERM: a file
// given as the directory, a parent that is a file, a directory this user may not create,
// one owned by another user (chmod fails), or one it cannot write.

import { accessSync, constants } from 'node:fs';
import { access, chmod, mkdir, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';

/** The data directory cannot be used; `hint` says how to fix it. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

const CHOOSE = 'or choose another with --data-dir (COFFER_DATA_DIR)';

function whoami(): string {
  try {
    const u = userInfo();
    return `${u.username} (uid ${u.uid})`;
  } catch {
    return typeof process.getuid === 'function' ? `uid ${process.getuid()}` : 'this user';
  }
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return '"$(id -un)"';
  }
}

/** Makes `dir` if needed and sets it to 0700; throws DataDirError when it cannot be used. */
export async function prepareDataDir(dir: string): Promise<void> {
  const existing = await stat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ENOTDIR') throw new DataDirError(`the data directory ${dir} is under a file, not a directory`, `give a path whose parents are directories, ${CHOOSE}`);
    if (e.code === 'EACCES') throw new DataDirError(`cannot reach the data directory ${dir}: permission denied on a parent directory`, `let ${whoami()} search its parents (chmod o+x on each), ${CHOOSE}`);
    throw e;
  });
  if (existing && !existing.isDirectory()) {
    throw new DataDirError(`the data directory ${dir} is a file, not a directory`, `move the file away, ${CHOOSE}`);
  }
  if (!existing) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR') throw new DataDirError(`cannot create the data directory ${dir}: a part of the path is a file`, `give a path whose parents are directories, ${CHOOSE}`);
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new DataDirError(
          `cannot create the data directory ${dir}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`,
          `create it for this user first (sudo install -d -m 700 -o ${userName()} ${dir}), ${CHOOSE}`,
        );
      }
      throw e;
    }
  }
  try {
    await chmod(dir, 0o700);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPERM') {
      const owner = existing ? `uid ${existing.uid}` : 'another user';
      throw new DataDirError(
        `the data directory ${dir} belongs to ${owner}, and coffer runs as ${whoami()}`,
        `run coffer as its owner, or give it to this user (sudo chown -R ${userName()} ${path.resolve(dir)})`,
      );
    }
    if (code !== 'EROFS') throw e;
  }
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    throw new DataDirError(`cannot write to the data directory ${dir}: permission denied`, `give ${whoami()} read and write access (chmod 700), ${CHOOSE}`);
  }
}

/** A store file in the data directory this user may not read and write (another owner, mode 0600). */
export function refuseUnwritableStoreFile(file: string, dir: string): void {
  try {
    accessSync(file, constants.R_OK | constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new DataDirError(
      `cannot use ${file}: permission denied for ${whoami()}`,
      `give the user running coffer the data directory and every file in it (sudo chown -R ${userName()} ${path.resolve(dir)})`,
    );
  }
}
