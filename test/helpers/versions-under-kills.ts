// Versions and delete markers under kill -9, for any server set-up (the crash tests of
// test/interop/versions-crash.test.ts, one child-process server on SQLite, and
// test/cluster/versions-crash.test.ts, nodes on one PostgreSQL): clients write versions (PUT),
// delete markers (DELETE) and remove versions by id (DELETE ?versionId) concurrently on a
// versioning-enabled bucket, and a server is SIGKILLed at a random moment; after each restart
// the history must be consistent with what clients were told:
//   - every acknowledged version and marker is there (unless an acknowledged delete by id removed
//     it), and GET by id returns a version's bytes exactly;
//   - nothing is there that no request wrote: a version whose id no client was told is one that
//     was in flight at the kill, with that request's bytes (each in-flight write at most once);
//   - ListObjectVersions agrees with GET/HEAD by id (ETag, size; a marker by id is 405), lists
//     each key newest first with one IsLatest, and a write acknowledged before another was sent
//     is older than it;
//   - GET without an id answers the current version (NoSuchKey when it is a marker);
//   - where the target can count them, the blob files are exactly those of the listed versions
//     too big to be inline (no leak).

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { patternBytes, rawRequest, sha256hex, sleep } from '../interop/support.js';

const KEYS = ['a', 'b', 'c', 'd', 'e'];
const WORKERS_PER_KEY = 2;
/** Acknowledged writes each round waits for before its kill window opens. */
const ACKED_BEFORE_KILL = 20;
/** Blobs up to this size live in the metadata database (tiered-blob-store.ts INLINE_MAX_BYTES). */
const INLINE_MAX = 64 * 1024;

/** What the routine drives: writers, one server it kills and restarts, and where it reads back. */
export interface KillTarget {
  /** The client writer `slot` (0 to 9) sends through, or undefined when its server is down. */
  writer(slot: number): S3Client | undefined;
  /** SIGKILLs the victim (its clients' requests in flight are cut). */
  kill(): Promise<void>;
  /** Starts the victim again on the same data. */
  restart(): Promise<void>;
  /** The client and URL the checks read through (root credentials). */
  reader(): { s3: S3Client; url: string };
  /** The number of blob files stored, for the leak check (omitted where blob files are not the server's alone). */
  blobFiles?(): Promise<number>;
  /** The servers' logs (stderr), shown when a request was answered with an error. */
  logs?(): string;
}

/** A seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A version or marker the test knows is (or may be) stored. */
interface Known {
  key: string;
  versionId: string;
  marker: boolean;
  sha?: string;
  size?: number;
  sentAt: number;
  /** When it was certainly committed: its answer, or the kill for one found after it. */
  committedBy: number;
}

interface Op {
  key: string;
  kind: 'put' | 'marker' | 'delete';
  sha?: string;
  size?: number;
  /** The version a delete by id removes. */
  target?: string;
  sentAt: number;
  ackedAt?: number;
  versionId?: string;
  /** An HTTP error answer (a connection cut by the kill has none). */
  httpError?: string;
}

interface Listed {
  key: string;
  versionId: string;
  marker: boolean;
  latest: boolean;
  etag?: string;
  size?: number;
}

/** Every entry of ListObjectVersions in wire order (versions and markers interleaved), all pages. */
async function listAll(url: string, bucket: string): Promise<Listed[]> {
  const out: Listed[] = [];
  let query: Record<string, string> = { versions: '', 'max-keys': '100' };
  for (;;) {
    const r = await rawRequest({ method: 'GET', url, path: `/${bucket}`, query });
    assert.equal(r.status, 200, r.body);
    for (const m of r.body.matchAll(/<(Version|DeleteMarker)>([\s\S]*?)<\/\1>/g)) {
      const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(m[2]!)?.[1];
      out.push({
        key: field('Key')!, versionId: field('VersionId')!, marker: m[1] === 'DeleteMarker', latest: field('IsLatest') === 'true',
        etag: field('ETag')?.replace(/&quot;/g, '"'), size: field('Size') === undefined ? undefined : Number(field('Size')),
      });
    }
    if (!/<IsTruncated>true<\/IsTruncated>/.test(r.body)) return out;
    const nextKey = /<NextKeyMarker>([^<]*)<\/NextKeyMarker>/.exec(r.body)![1]!;
    const nextVersion = /<NextVersionIdMarker>([^<]*)<\/NextVersionIdMarker>/.exec(r.body)![1]!;
    query = { versions: '', 'max-keys': '100', 'key-marker': nextKey, 'version-id-marker': nextVersion };
  }
}

async function bytesOf(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** The keys the writers use (two writers each), for a caller that gives each key its own bucket. */
export const VERSION_KEYS: readonly string[] = KEYS;

/**
 * Runs `rounds` rounds of concurrent writes and a kill against `bucket` (versioning enabled; or
 * a bucket per key, by a function), checking the history after each restart. Seeded by VERSIONS_CRASH_SEED or the clock; the seed
 * and a per-round summary go to the test's diagnostics.
 */
export async function versionsUnderKills(t: TestContext, target: KillTarget, buckets: string | ((key: string) => string), rounds: number): Promise<void> {
  const bucketOf = typeof buckets === 'string' ? () => buckets : buckets;
  const seed = Number(process.env.VERSIONS_CRASH_SEED ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  const known = new Map<string, Known>();
  let bodySeed = 1;
  let inFlightAtKills = 0;
  let inFlightFound = 0;
  const summary: string[] = [];

  for (let round = 0; round < rounds; round++) {
    const ops: Op[] = [];
    const removedAcked = new Set<string>();
    const removedMaybe = new Set<string>();
    let stop = false;

    const runOne = async (key: string, s3: S3Client): Promise<Op> => {
      const r = rand();
      const candidates = [...known.values()].filter((k) => k.key === key && !removedAcked.has(k.versionId));
      const op: Op = { key, kind: r < 0.65 || (r >= 0.85 && candidates.length === 0) ? 'put' : r < 0.85 ? 'marker' : 'delete', sentAt: 0 };
      let body: Buffer | undefined;
      if (op.kind === 'put') {
        // Inline (≤ 32 KiB) or file blobs (≥ 96 KiB), never near the 64 KiB tier boundary.
        const size = rand() < 0.5 ? 1 + Math.floor(rand() * 32 * 1024) : 96 * 1024 + Math.floor(rand() * 160 * 1024);
        body = patternBytes(size, bodySeed++);
        op.sha = sha256hex(body);
        op.size = size;
      } else if (op.kind === 'delete') {
        op.target = candidates[Math.floor(rand() * candidates.length)]!.versionId;
      }
      ops.push(op);
      op.sentAt = performance.now();
      try {
        if (op.kind === 'put') {
          op.versionId = (await s3.send(new PutObjectCommand({ Bucket: bucketOf(key), Key: key, Body: body }))).VersionId;
        } else if (op.kind === 'marker') {
          const res = await s3.send(new DeleteObjectCommand({ Bucket: bucketOf(key), Key: key }));
          assert.equal(res.DeleteMarker, true);
          op.versionId = res.VersionId;
        } else {
          await s3.send(new DeleteObjectCommand({ Bucket: bucketOf(key), Key: key, VersionId: op.target }));
        }
        op.ackedAt = performance.now();
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status !== undefined) op.httpError = `${status} ${(e as Error).name}: ${(e as Error).message}`;
        return op;
      }
      if (op.kind === 'delete') {
        removedAcked.add(op.target!);
        known.delete(op.target!);
      } else {
        assert.ok(op.versionId, 'an acknowledged write names its version');
        known.set(op.versionId, {
          key, versionId: op.versionId, marker: op.kind === 'marker', sha: op.sha, size: op.size, sentAt: op.sentAt, committedBy: op.ackedAt,
        });
      }
      return op;
    };
    const workers = KEYS.flatMap((key, k) => Array.from({ length: WORKERS_PER_KEY }, async (_, w) => {
      const slot = k * WORKERS_PER_KEY + w;
      for (;;) {
        const s3 = stop ? undefined : target.writer(slot);
        if (s3 === undefined) return;
        if ((await runOne(key, s3)).ackedAt === undefined) return; // cut by the kill (or failed): this worker is done
      }
    }));

    // Let some writes through first (however loaded the machine), then kill at a random moment.
    const warm = performance.now();
    while (ops.filter((o) => o.ackedAt !== undefined).length < ACKED_BEFORE_KILL && performance.now() - warm < 30_000) await sleep(10);
    await sleep(Math.floor(rand() * 300));
    stop = true;
    const killAt = performance.now();
    await target.kill();
    await Promise.all(workers);
    const inFlight = ops.filter((o) => o.ackedAt === undefined && o.httpError === undefined).length;
    inFlightAtKills += inFlight;
    const errors = ops.filter((o) => o.httpError !== undefined).map((o) => `${o.kind} ${o.key}: ${o.httpError}`);
    assert.deepEqual(errors, [], `round ${round}: requests answered with an error${target.logs ? `; server logs:\n${target.logs().slice(-6000)}` : ''}`);

    await target.restart();
    const { s3, url } = target.reader();
    const listed: Listed[] = [];
    for (const b of new Set(KEYS.map(bucketOf))) listed.push(...(await listAll(url, b)));
    const pending = ops.filter((o) => o.ackedAt === undefined);
    for (const o of pending.filter((p) => p.kind === 'delete')) removedMaybe.add(o.target!);

    // Every acknowledged version and marker is listed, unless a delete by id may have removed it.
    const listedIds = new Set(listed.map((l) => l.versionId));
    for (const k of known.values()) {
      if (removedMaybe.has(k.versionId)) continue;
      assert.ok(listedIds.has(k.versionId), `round ${round}: acknowledged ${k.marker ? 'marker' : 'version'} ${k.key}@${k.versionId} is lost`);
    }
    for (const id of removedAcked) assert.ok(!listedIds.has(id), `round ${round}: version ${id} is listed after an acknowledged delete by id`);

    // Unknown entries: each is a write that was in flight at the kill, with its bytes.
    const unmatchedPuts = new Map<string, Op>(pending.filter((o) => o.kind === 'put').map((o) => [`${o.key}:${o.sha}`, o]));
    const unmatchedMarkers = pending.filter((o) => o.kind === 'marker');
    for (const l of listed) {
      const k = known.get(l.versionId);
      if (k) {
        assert.equal(k.key, l.key);
        assert.equal(k.marker, l.marker, `round ${round}: ${l.key}@${l.versionId} changed kind`);
        continue;
      }
      assert.ok(!removedAcked.has(l.versionId));
      if (l.marker) {
        const i = unmatchedMarkers.findIndex((o) => o.key === l.key);
        assert.ok(i >= 0, `round ${round}: marker ${l.key}@${l.versionId} was never written by any request`);
        const [o] = unmatchedMarkers.splice(i, 1);
        known.set(l.versionId, { key: l.key, versionId: l.versionId, marker: true, sentAt: o!.sentAt, committedBy: killAt });
      } else {
        const sha = sha256hex(await bytesOf(s3, bucketOf(l.key), l.key, l.versionId));
        const o = unmatchedPuts.get(`${l.key}:${sha}`);
        assert.ok(o, `round ${round}: version ${l.key}@${l.versionId} (${l.size} bytes) holds bytes no request sent`);
        unmatchedPuts.delete(`${l.key}:${sha}`);
        known.set(l.versionId, { key: l.key, versionId: l.versionId, marker: false, sha, size: o.size, sentAt: o.sentAt, committedBy: killAt });
      }
      inFlightFound++;
    }
    for (const id of removedMaybe) if (!listedIds.has(id)) known.delete(id);

    // The listing agrees with reads by id, per key newest first with one IsLatest, in write order.
    for (const key of KEYS) {
      const entries = listed.filter((l) => l.key === key);
      const latest = entries.filter((l) => l.latest);
      if (entries.length === 0) {
        await assert.rejects(bytesOf(s3, bucketOf(key), key), { name: 'NoSuchKey' });
        continue;
      }
      assert.equal(latest.length, 1, `round ${round}: key ${key} has ${latest.length} current versions`);
      assert.equal(entries[0], latest[0], `round ${round}: key ${key}'s current version is listed first`);
      for (const [i, l] of entries.entries()) {
        const k = known.get(l.versionId)!;
        if (l.marker) {
          await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucketOf(key), Key: key, VersionId: l.versionId })), (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 405);
        } else {
          const got = await s3.send(new GetObjectCommand({ Bucket: bucketOf(key), Key: key, VersionId: l.versionId }));
          const bytes = Buffer.from(await got.Body!.transformToByteArray());
          assert.equal(sha256hex(bytes), k.sha, `round ${round}: ${key}@${l.versionId} reads other bytes than were written`);
          assert.equal(got.ETag, l.etag);
          assert.equal(l.size, k.size);
        }
        for (const later of entries.slice(0, i)) {
          const newer = known.get(later.versionId)!;
          assert.ok(!(newer.committedBy < k.sentAt), `round ${round}: ${key}@${later.versionId} is listed newer than ${l.versionId}, which was sent after it was acknowledged`);
        }
      }
      const current = entries[0]!;
      if (current.marker) await assert.rejects(bytesOf(s3, bucketOf(key), key), { name: 'NoSuchKey' });
      else assert.equal(sha256hex(await bytesOf(s3, bucketOf(key), key)), known.get(current.versionId)!.sha, `round ${round}: GET ${key} is not its current version`);
    }

    // No blob leaks: the blob files are those of the listed versions too big to be inline.
    if (target.blobFiles) {
      const fileSized = listed.filter((l) => !l.marker && (l.size ?? 0) > INLINE_MAX).length;
      assert.equal(await target.blobFiles(), fileSized, `round ${round}: blob files vs versions stored in files`);
    }
    summary.push(`${ops.length} ops/${inFlight} in flight → ${listed.length} entries`);
  }
  t.diagnostic(`seed ${seed}; ${summary.join('; ')}; in-flight writes found committed: ${inFlightFound}`);
  t.diagnostic(`seed ${seed}; ${summary.join('; ')}; in-flight writes found committed: ${inFlightFound}`);
  // Kills that never cut a request would test nothing.
  assert.ok(inFlightAtKills >= rounds, `only ${inFlightAtKills} requests were in flight at ${rounds} kills`);
}
