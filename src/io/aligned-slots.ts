// Read buffers at addresses O_DIRECT accepts, for the direct reads of io/direct-read.ts.
//
// JavaScript cannot see a buffer's address, and Node's large buffers come from malloc at any
// 16-byte boundary, so a fresh buffer's aligned offset can only be found by trying direct
// reads (storage/direct-io.ts): on average 128 refused reads, each a trip to the libuv pool.
// A WebAssembly memory starts on a page boundary, so slots of one, cut at multiples of
// DIRECT_READ_ALIGN, are aligned without trying. Each thread has its own arenas (created on
// first use, SLOTS_PER_ARENA slots each, at most MAX_ARENAS); a slot is taken for one read
// and given back once nobody can read its bytes any more. When every slot is taken the
// caller gets undefined and uses a buffer of its own.

import { alignedAtStart, DIRECT_READ_ALIGN, rangeReadCapacity } from './direct-read.js';

/** The largest read a slot takes: a whole read of 1 MiB + 64 KiB (storage/file-blob-store.ts WHOLE_READ_MAX). */
export const SLOT_READ_MAX = 1024 * 1024 + 64 * 1024;
const SLOT_BYTES = Math.ceil(rangeReadCapacity(SLOT_READ_MAX) / DIRECT_READ_ALIGN) * DIRECT_READ_ALIGN;
const SLOTS_PER_ARENA = 16;
const MAX_ARENAS = 8;
const WASM_PAGE = 64 * 1024;

// The project's TypeScript libraries (no DOM) do not declare WebAssembly; Node has it.
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;

const free: Buffer[] = [];
const ours = new WeakSet<Buffer>();
let arenas = 0;

function addArena(): boolean {
  if (arenas >= MAX_ARENAS) return false;
  let mem: { buffer: ArrayBuffer };
  try {
    mem = new Memory({ initial: Math.ceil((SLOTS_PER_ARENA * SLOT_BYTES) / WASM_PAGE) });
  } catch {
    arenas = MAX_ARENAS; // no address space for it: stop trying
    return false;
  }
  arenas++;
  alignedAtStart(mem.buffer);
  for (let i = SLOTS_PER_ARENA - 1; i >= 0; i--) {
    const slot = Buffer.from(mem.buffer, i * SLOT_BYTES, SLOT_BYTES);
    ours.add(slot);
    free.push(slot);
  }
  return true;
}

/** An aligned buffer with room for a range read of up to `size` bytes (rangeReadCapacity), or undefined when none is free. */
export function takeSlot(size: number): Buffer | undefined {
  if (rangeReadCapacity(size) > SLOT_BYTES) return undefined;
  if (free.length === 0 && !addArena()) return undefined;
  return free.pop();
}

/** Gives back a slot from takeSlot; any other buffer is ignored. */
export function giveSlot(buf: Buffer): void {
  if (ours.has(buf)) free.push(buf);
}

/** Slots taken and not given back (this thread): for the tests that check cut reads give theirs back. */
export function slotsOut(): number {
  return arenas * SLOTS_PER_ARENA - free.length;
}

/** Whether `buf` is a slot (one takeSlot gave). */
export function isSlot(buf: Buffer): boolean {
  return ours.has(buf);
}
