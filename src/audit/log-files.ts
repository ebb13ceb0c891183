// The files of the audit log and how to read them without loading them whole.
//
// <data-dir>/audit/kms.log is the file being written; kms.log.1 is the one before it,
// kms.log.2 the one before that, and so on (docs/spec/audit-log.md). Rotation renames,
// so a file's name changes but its inode does not: positions that must survive a
// rotation (page tokens, the delivery cursor) name a file by inode.
//
// Only complete lines count: the bytes after the last "\n" of the live file may be a
// write in progress, a line torn by a crash, or zero bytes the writer preallocated ahead
// of its writes (audit-log.ts), and are never returned.

import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export const AUDIT_DIR = 'audit';
export const AUDIT_FILE = 'kms.log';
const CHUNK = 64 * 1024;

/** kms.log (index 0), kms.log.1, kms.log.2 … */
export function logFileName(dir: string, index: number): string {
  return join(dir, index === 0 ? AUDIT_FILE : `${AUDIT_FILE}.${index}`);
}

export interface OpenLogFile {
  index: number;
  /** The inode as a decimal string (inode numbers may exceed 2^53). */
  ino: string;
  /** Bytes of complete lines when opened: up to the last "\n" (later appends are not read). */
  size: number;
  handle: FileHandle;
}

async function openIndex(dir: string, index: number): Promise<OpenLogFile | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(logFileName(dir, index), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = await handle.stat({ bigint: true });
    return { index, ino: st.ino.toString(), size: await completeLength(handle, Number(st.size)), handle };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

const ZEROS = Buffer.alloc(CHUNK);

/**
 * The length of the complete lines among the first `size` bytes of `h`: the offset just
 * after the last "\n" (0 when there is none). Read backwards in 64 KiB chunks; a chunk of
 * zero bytes (the writer's preallocated tail) is skipped without a search.
 */
export async function completeLength(h: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let end = size; end > 0; ) {
    const from = Math.max(0, end - CHUNK);
    // A short read means the file was cut meanwhile (the writer drops its preallocated
    // tail when it rotates or closes): what was read is all there is of this chunk.
    const { bytesRead } = await h.read(buf, 0, end - from, from);
    const chunk = buf.subarray(0, bytesRead);
    end = from;
    if (chunk.equals(ZEROS.subarray(0, bytesRead))) continue;
    const nl = chunk.lastIndexOf(0x0a);
    if (nl >= 0) return from + nl + 1;
  }
  return 0;
}

/**
 * The log files newest first, opened one at a time (a reader that stops early never
 * opens the older ones). A rotation while iterating renames kms.log to kms.log.1, so a
 * file can show up again under the next index: files already seen (by inode) are skipped,
 * which keeps the walk free of duplicates and gaps.
 */
export async function* filesNewestFirst(dir: string): AsyncGenerator<OpenLogFile> {
  const seen = new Set<string>();
  for (let index = 0; ; index++) {
    const f = await openIndex(dir, index);
    if (!f) {
      // A rotation in progress renames oldest first, leaving a hole for a moment.
      if (index < (await highestIndex(dir))) continue;
      return;
    }
    try {
      if (seen.has(f.ino)) continue;
      seen.add(f.ino);
      yield f;
    } finally {
      await f.handle.close();
    }
  }
}

/** The log files oldest first (for delivery): all of them are opened up front, which is a handful of descriptors. */
export async function filesOldestFirst(dir: string): Promise<OpenLogFile[]> {
  const out: OpenLogFile[] = [];
  const seen = new Set<string>();
  for (let index = 0; ; index++) {
    const f = await openIndex(dir, index);
    if (!f) {
      if (index < (await highestIndex(dir))) continue;
      break;
    }
    if (seen.has(f.ino)) {
      await f.handle.close();
      continue;
    }
    seen.add(f.ino);
    out.push(f);
  }
  return out.reverse();
}

/** The highest n of the kms.log.n files present (0 when none). */
export async function highestIndex(dir: string): Promise<number> {
  let max = 0;
  for (const name of await readdir(dir)) {
    const m = /^kms\.log\.(\d+)$/.exec(name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

export interface Line {
  text: string;
  /** Byte offset of the line's first byte. */
  start: number;
  /** Byte offset just after its "\n". */
  end: number;
}

/** Complete lines of `f` that end at or before `before`, last line first, read in 64 KiB chunks from the end. */
export async function* linesBackward(f: OpenLogFile, before = f.size): AsyncGenerator<Line> {
  let pos = Math.min(before, f.size); // bytes [0, pos) are not read yet
  let tail = Buffer.alloc(0); // bytes [pos, pos + tail.length) read and not yet returned
  let trimmed = false; // the incomplete line after the last "\n" is dropped
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    const chunk = Buffer.alloc(len);
    await readFully(f.handle, chunk, pos - len);
    pos -= len;
    tail = tail.length ? Buffer.concat([chunk, tail]) : chunk;
    if (!trimmed) {
      const nl = tail.lastIndexOf(0x0a);
      if (nl < 0) continue;
      tail = tail.subarray(0, nl + 1);
      trimmed = true;
    }
    // A line is complete once the "\n" before it has been read.
    let end = tail.length;
    for (let nl = end >= 2 ? tail.lastIndexOf(0x0a, end - 2) : -1; nl >= 0; nl = end >= 2 ? tail.lastIndexOf(0x0a, end - 2) : -1) {
      if (end - 1 > nl + 1) yield { text: tail.subarray(nl + 1, end - 1).toString('utf8'), start: pos + nl + 1, end: pos + end };
      end = nl + 1;
    }
    tail = tail.subarray(0, end);
  }
  // The file's first line.
  if (trimmed && tail.length > 1) yield { text: tail.subarray(0, tail.length - 1).toString('utf8'), start: 0, end: tail.length };
}

/** Complete lines of `f` from byte `from` on, in order. */
export async function* linesForward(f: OpenLogFile, from = 0): AsyncGenerator<Line> {
  let pos = from;
  let carry = Buffer.alloc(0);
  while (pos < f.size) {
    const len = Math.min(CHUNK, f.size - pos);
    const buf = Buffer.alloc(len);
    await readFully(f.handle, buf, pos);
    const data = carry.length ? Buffer.concat([carry, buf]) : buf;
    const base = pos - carry.length;
    pos += len;
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
      if (nl > start) yield { text: data.subarray(start, nl).toString('utf8'), start: base + start, end: base + nl + 1 };
      start = nl + 1;
    }
    carry = data.subarray(start);
  }
}

async function readFully(h: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await h.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error('audit log file shrank while reading');
    done += bytesRead;
  }
}
