// Stores on files for the contract suites' runners: each test file gets one temporary
// folder (removed after its tests), a fresh path per store, and reopen() for the suites'
// "survives a reopen" tests. Also `scoped`, which the suites use to close every store
// they open, whichever way a test ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

interface Closable {
  close(): Promise<void>;
}

export interface StoreFiles<S extends Closable> {
  /** A path no store of this file has used yet (`ext` appended). */
  next(): string;
  /** A new store at a fresh path. */
  make(): Promise<S>;
  /** Closes `s` and opens its path again. */
  reopen(s: S): Promise<S>;
  /** A second store on `s`'s path, open beside it (another process's connection). */
  twin(s: S): Promise<S>;
}

export function storeFiles<S extends Closable>(prefix: string, ext: string, openAt: (path: string) => S | Promise<S>): StoreFiles<S> {
  let root = '';
  let n = 0;
  const paths = new WeakMap<S, string>();
  before(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const open = async (path: string): Promise<S> => {
    const s = await openAt(path);
    paths.set(s, path);
    return s;
  };
  const next = () => join(root, `${++n}${ext}`);
  return {
    next,
    make: () => open(next()),
    async reopen(s) {
      await s.close();
      return open(paths.get(s)!);
    },
    twin: (s) => open(paths.get(s)!),
  };
}

/** Wraps a test body that receives a store from `make` (and may return a reopened one): the store it ends with is closed. */
export function scoped<S extends Closable>(make: () => Promise<S>): (fn: (s: S) => Promise<S | void>) => () => Promise<void> {
  return (fn) => async () => {
    let s = await make();
    try {
      s = (await fn(s)) ?? s;
    } finally {
      await s.close();
    }
  };
}
