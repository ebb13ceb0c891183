// Handing a dead decipher output's memory back at once. Node's decipher allocates a fresh
// buffer outside V8's heap for every update() (64 KiB per segment here), and no API decrypts
// into a buffer of ours. A decrypt worker copies each output into a slot of its ring and
// drops it; left to the garbage collector, a busy worker held tens of MB of them between
// collections (its RSS), and the collections, with the allocator's zero-filling of fresh
// pages, cost it about a sixth of its CPU. Posting the memory to a closed port detaches it
// (Node serializes a message to a closed port all the same, then drops it), so it is freed
// before the next segment allocates.

import { MessageChannel } from 'node:worker_threads';

const sink = new MessageChannel();
sink.port1.close();
sink.port2.close();
let supported = true;

/**
 * Frees the memory under `buf` now when this Node lets it go: then `buf`, and every other
 * view of that memory, is empty afterwards, so call it only on a buffer nothing else holds
 * (a decipher's output, once copied). Memory the size of Buffer's pool or smaller may be a
 * slice of the pool that other Buffers share, and shared memory is never ours alone: both
 * are left alone. A Node that marks Buffer memory untransferable leaves it to the collector,
 * as before. Returns whether the memory was freed.
 */
export function discard(buf: Buffer): boolean {
  const ab = buf.buffer;
  if (!supported || ab instanceof SharedArrayBuffer || ab.byteLength <= Buffer.poolSize) return false;
  try {
    sink.port1.postMessage(undefined, [ab]);
  } catch {
    // DataCloneError: this Node will not let that memory move.
  }
  // A Node that dropped the message without detaching frees nothing either: stop trying.
  if (ab.byteLength !== 0) supported = false;
  return ab.byteLength === 0;
}
