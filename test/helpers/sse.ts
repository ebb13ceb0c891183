// Shared helpers of the server-side encryption tests (test/s3/sse-*.test.ts,
// bucket-encryption.test.ts): raw header edits the SDK would not make (SSE headers on GET,
// a wrong SSE-C key MD5), bodies, and SSE-C keys. Expected errors: helpers/failure.ts.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { retainSqlite } from '../../src/storage/sqlite-database.js';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

type WithStack = { middlewareStack: { add(mw: unknown, opts: { step: 'build'; name?: string; priority?: 'low' }): void } };

/**
 * Sets (string) or removes (null) raw request headers on one command, after the SDK has
 * built the request and before it signs it — for requests the SDK's model cannot express.
 */
export function withHeaders<C>(cmd: C, headers: Record<string, string | null>): C {
  (cmd as unknown as WithStack).middlewareStack.add(
    (next: (a: unknown) => Promise<unknown>) => async (args: { request: { headers: Record<string, string> } }) => {
      for (const [k, v] of Object.entries(headers)) {
        for (const h of Object.keys(args.request.headers)) if (h.toLowerCase() === k.toLowerCase()) delete args.request.headers[h];
        if (v !== null) args.request.headers[k] = v;
      }
      return next(args);
    },
    { step: 'build', priority: 'low' },
  );
  return cmd;
}

export const md5hex = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');
export const md5b64 = (b: Buffer | string): string => createHash('md5').update(b).digest('base64');

/** A deterministic body of `size` bytes that carries `marker` at its start and then every 4 KiB. */
export function markedBody(size: number, marker: string, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >>> 16;
  }
  for (let off = 0; off + marker.length <= size; off += 4096) b.write(marker, off, 'latin1');
  return b;
}

export async function getBody(s3: S3Client, input: ConstructorParameters<typeof GetObjectCommand>[0]): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand(input));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** An SSE-C key: the raw 32 bytes (the SDK base64-encodes and computes the MD5 itself). */
export function customerKey(): { key: Buffer; md5: string } {
  const key = randomBytes(32);
  return { key, md5: md5b64(key) };
}

export const ssec = (k: { key: Buffer }) => ({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: k.key as unknown as string });

/** Runs `fn` on a connection of its own to the metadata database of a server's data directory (tests that tamper with stored records). */
export function withMetadataDb<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = retainSqlite(new Database(join(dataDir, 'metadata.sqlite')));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
