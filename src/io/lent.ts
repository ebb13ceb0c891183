// Buffers a reader lends to its consumer instead of handing them over: the consumer (the GET's
// socket writes) calls the release once it no longer needs the bytes, and the reader reuses
// the memory (the decrypt worker's ring slots, crypto/file-decrypt.ts; aligned read slots,
// storage/file-range-reader.ts). A chunk nobody releases is simply never reused.

const lent = new WeakMap<Buffer, (err?: Error | null) => void>();

/** Marks `chunk` as lent: `release` runs once, from lentRelease's function. */
export function lend(chunk: Buffer, release: (err?: Error | null) => void): void {
  lent.set(chunk, release);
}

/**
 * For a chunk a lending stream gave its reader: the function to call once the chunk's bytes
 * are no longer needed (pass it as the socket write's callback), removed so it runs once.
 * Undefined for any other chunk.
 */
export function lentRelease(chunk: Buffer): ((err?: Error | null) => void) | undefined {
  const release = lent.get(chunk);
  if (release !== undefined) lent.delete(chunk);
  return release;
}
