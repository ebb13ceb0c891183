// S3 Bucket Keys: a data key from KMS for (bucket, KMS key, context), reused for a bounded
// time to derive per-object keys (GenerateDataKey once per TTL, not per object), and on
// reads the unwrapped bucket key is remembered for the same TTL. A cache hit never skips
// the access check: the KMS port's authorizeUse resolves the key as the request names it
// (an alias moved since names another key: no hit), checks its state, authorizes the caller
// for the same action on the same request context exactly as the KMS call would, and checks
// that the material version the bucket key is wrapped under is still there; only the
// cryptography and the billed request are saved. A read entry answers only for the wrapped
// blob and the encryption context together, as Decrypt would. So a change made on another node of a
// cluster (a key disabled, a grant revoked, imported material deleted) applies to the
// next hit here.
//
// The cache speaks to the KMS port as the caller it is given and answers KMS's errors;
// S3 maps them (kms-bridge.ts). Time comes from an injected clock, so tests move it.
//
// Concurrent misses share one KMS call: while a GenerateDataKey (or Decrypt) for an entry
// is in flight — it waits for its durable audit record — the other requests for the same
// entry wait for it and then pass the same access check as a cache hit, instead of each
// asking KMS for a bucket key of its own.

import { createHash } from 'node:crypto';
import type { DataKey, KmsPort } from '../../kms/port.js';
import type { Caller } from '../../kms/service.js';

interface CachedKey extends DataKey {
  expires: number;
}

const MAX_CACHED = 1024;

export type ReuseHook = (principal: string, keyArn: string, context: Record<string, string>, avoided: 'GenerateDataKey' | 'Decrypt') => void;

/** Bucket keys of one server: for writes by (key reference, context), for reads by (wrapped blob, context). */
export class BucketKeyCache {
  private readonly forWrite = new Map<string, CachedKey>();
  private readonly forRead = new Map<string, CachedKey>();
  /** KMS calls in flight, by the id their entry will have in forWrite / forRead. */
  private readonly fetchingWrite = new Map<string, Promise<CachedKey>>();
  private readonly fetchingRead = new Map<string, Promise<CachedKey>>();
  /** Bucket keys fetched from KMS, and objects that reused one (for tests and metering). */
  readonly stats = { generated: 0, reusedForWrite: 0, decrypted: 0, reusedForRead: 0 };

  /**
   * onReuse: told of each object key derived from a cached bucket key — a KMS request
   * avoided (metering). now: the clock; by default Date.now looked up at each call, so a
   * test that mocks Date (node:test mock.timers) moves a running server's clock too.
   */
  constructor(
    private readonly ttlMs: number,
    private readonly onReuse?: ReuseHook,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The bucket key to derive a new object's key from: cached, or a new one from GenerateDataKey. */
  async forWriting(kms: KmsPort, caller: Caller, keyRef: string, context: Record<string, string>): Promise<DataKey> {
    const id = `${keyRef}\u0000${canonicalContext(context)}`;
    const known = this.known(this.forWrite, this.fetchingWrite, id);
    const hit = known && (await known);
    if (hit) {
      // The reference as the request names it, resolved now: an alias moved since the entry
      // was cached names another key (a new bucket key below), a deleted one fails as the call.
      const arn = await kms.authorizeUse({ caller, keyId: keyRef, action: 'kms:GenerateDataKey', encryptionContext: context, ciphertextBlob: hit.ciphertextBlob });
      if (arn === hit.keyArn) {
        this.stats.reusedForWrite++;
        this.onReuse?.(caller.principal.arn, hit.keyArn, context, 'GenerateDataKey');
        return hit;
      }
    }
    return this.fetch(this.fetchingWrite, id, async () => {
      const dk = await kms.generateDataKey({ caller, keyId: keyRef, numberOfBytes: 32, encryptionContext: context });
      this.stats.generated++;
      const entry = { ...dk, expires: this.now() + this.ttlMs };
      this.remember(this.forWrite, id, entry);
      this.remember(this.forRead, readId(dk.ciphertextBlob, context), entry);
      return entry;
    });
  }

  /** The plaintext bucket key of a stored object: cached, or unwrapped with Decrypt naming `keyArn`. */
  async forReading(kms: KmsPort, caller: Caller, keyArn: string, blob: Buffer, context: Record<string, string>): Promise<Buffer> {
    const id = readId(blob, context);
    const known = this.known(this.forRead, this.fetchingRead, id);
    const hit = known && (await known);
    if (hit && hit.keyArn === keyArn) {
      const arn = await kms.authorizeUse({ caller, keyId: keyArn, action: 'kms:Decrypt', encryptionContext: context, ciphertextBlob: blob });
      if (arn === hit.keyArn) {
        this.stats.reusedForRead++;
        this.onReuse?.(caller.principal.arn, keyArn, context, 'Decrypt');
        return hit.plaintext;
      }
    }
    const entry = await this.fetch(this.fetchingRead, id, async () => {
      const { plaintext } = await kms.decrypt({ caller, keyId: keyArn, ciphertextBlob: blob, encryptionContext: context });
      this.stats.decrypted++;
      const fresh = { plaintext, ciphertextBlob: blob, keyArn, expires: this.now() + this.ttlMs };
      this.remember(this.forRead, id, fresh);
      return fresh;
    });
    return entry.plaintext;
  }

  /**
   * An unexpired entry, or the one a KMS call in flight is about to store (undefined if that
   * call fails); undefined at once when there is neither. Synchronous up to that answer, so a
   * miss registers its own call (fetch) before any other request can look.
   */
  private known(cache: Map<string, CachedKey>, fetching: Map<string, Promise<CachedKey>>, id: string): Promise<CachedKey | undefined> | undefined {
    const hit = cache.get(id);
    if (hit && hit.expires > this.now()) return Promise.resolve(hit);
    return fetching.get(id)?.catch(() => undefined);
  }

  /** Runs `call` as the one KMS call in flight for `id`; its failure is the caller's alone. */
  private async fetch(fetching: Map<string, Promise<CachedKey>>, id: string, call: () => Promise<CachedKey>): Promise<CachedKey> {
    const p = call();
    fetching.set(id, p);
    try {
      return await p;
    } finally {
      if (fetching.get(id) === p) fetching.delete(id);
    }
  }

  private remember(map: Map<string, CachedKey>, id: string, entry: CachedKey): void {
    if (map.size >= MAX_CACHED) {
      const now = this.now();
      for (const [k, v] of map) if (v.expires <= now) map.delete(k);
      if (map.size >= MAX_CACHED) map.delete(map.keys().next().value!);
    }
    map.set(id, entry);
  }
}

/**
 * A read entry answers for the wrapped blob and the encryption context it was opened (or
 * sealed) under, together: exactly when KMS's Decrypt would authenticate and return it. The
 * blob's length comes first, so blob and context cannot trade bytes.
 */
function readId(blob: Buffer, context: Record<string, string>): string {
  return createHash('sha256').update(`${blob.length}:`).update(blob).update(canonicalContext(context)).digest('base64');
}

function canonicalContext(c: Record<string, string>): string {
  return JSON.stringify(Object.keys(c).sort().map((k) => [k, c[k]]));
}
