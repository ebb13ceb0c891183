// The delivery position of one server's audit log (delivery.ts): <audit dir>/delivery.json,
// replaced atomically (a temporary file, fsync, rename), so an interrupted write leaves the
// previous one. Its format (docs/spec/audit-log.md):
//
//   {"v":2,"ino":"<inode of the file>","start":<line start>,"offset":<line end>,"eventID":"<id>"}
//   {"v":1,"ino":"…","offset":…}   (read only: it cannot be verified, delivery starts over)

import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryPositionStore } from './delivery-position.js';

export const DELIVERY_STATE = 'delivery.json';

export interface FileDeliveryStateV2 {
  v: 2;
  /** Inode of the file holding the last delivered event. */
  ino: string;
  /** Byte offset of that event's line. */
  start: number;
  /** Byte offset just after that line. */
  offset: number;
  /** The event's eventID: the line at `start` must still be this event (the inode may have been reused). */
  eventID: string;
}

/** Version 1 (ino, offset) named the file by inode alone; it cannot be verified and is read as "start from the oldest event kept". */
export interface FileDeliveryStateV1 {
  v: 1;
  ino: string;
  offset: number;
}

export type FileDeliveryState = FileDeliveryStateV2 | FileDeliveryStateV1;

const same = (a: FileDeliveryState | undefined, b: FileDeliveryState | undefined): boolean =>
  a === undefined || b === undefined ? a === b
    : a.v === b.v && a.ino === b.ino && a.offset === b.offset && (a.v === 1 || (b.v === 2 && a.start === b.start && a.eventID === b.eventID));

export class FileDeliveryPosition implements DeliveryPositionStore<FileDeliveryState> {
  #queue: Promise<unknown> = Promise.resolve();

  /** `dir`: the audit directory, <data-dir>/audit. */
  constructor(private readonly dir: string) {}

  async get(): Promise<FileDeliveryState | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, DELIVERY_STATE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let s: FileDeliveryState;
    try {
      s = JSON.parse(text) as FileDeliveryState;
    } catch {
      throw new Error(`${DELIVERY_STATE} is not a delivery state of version 1 or 2`);
    }
    const valid = typeof s === 'object' && s !== null && typeof s.ino === 'string' && Number.isSafeInteger(s.offset) &&
      (s.v === 1 || (s.v === 2 && Number.isSafeInteger(s.start) && s.start < s.offset && typeof s.eventID === 'string'));
    if (!valid) throw new Error(`${DELIVERY_STATE} is not a delivery state of version 1 or 2`);
    return s;
  }

  replace(expected: FileDeliveryState | undefined, next: FileDeliveryState): Promise<boolean> {
    const run = this.#queue.then(async () => {
      if (!same(await this.get(), expected)) return false;
      await this.#write(next);
      return true;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(s: FileDeliveryState): Promise<void> {
    const path = join(this.dir, DELIVERY_STATE);
    const tmp = `${path}.tmp`;
    const h = await open(tmp, 'w', 0o600);
    try {
      await h.writeFile(JSON.stringify(s) + '\n');
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, path);
  }
}
