// The MetadataStore contract: every implementation (SQLite, PostgreSQL) runs
// this suite through runMetadataStoreContract from its own *.test.ts file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type {
  BucketRecord,
  MetadataStore,
  MultipartUploadRecord,
  ObjectRecord,
  PartRecord,
} from '../../src/storage/types.js';
import { COMPLETED_UPLOAD_RETENTION_MS, StorageConflictError } from '../../src/storage/types.js';
import { runInlineBlobContract } from './inline-blobs.contract.js';
import { runObjectVersionsContract } from './object-versions.contract.js';

export interface MetadataStoreContractOptions {
  /** Closes `store` and opens the same database again, as a restarted server would. */
  reopen?: (store: MetadataStore) => Promise<MetadataStore>;
  /** A second store on `store`'s database, as another node of a cluster opens it (networked stores only). */
  twin?: (store: MetadataStore) => Promise<MetadataStore>;
}

const T0 = '2024-05-01T10:00:00.000Z';

export const blobId = (): string => randomBytes(16).toString('hex');

export function bucketRec(name: string, over: Partial<BucketRecord> = {}): BucketRecord {
  return { name, region: 'us-east-1', createdAt: T0, owner: 'owner-1', config: {}, ...over };
}

export function objectRec(bucket: string, key: string, blobs: string[] = [blobId()], over: Partial<ObjectRecord> = {}): ObjectRecord {
  return {
    bucket,
    key,
    size: blobs.length * 10,
    etag: `"${randomBytes(16).toString('hex')}"`,
    lastModified: T0,
    headers: { 'content-type': 'text/plain' },
    userMetadata: {},
    tags: [],
    parts: blobs.map((b, i) => ({ blobId: b, size: 10, partNumber: blobs.length === 1 ? 0 : i + 1, etag: `"e${i}"` })),
    sys: {},
    owner: 'owner-1',
    storageClass: 'STANDARD',
    versionId: 'null',
    ...over,
  };
}

export function uploadRec(bucket: string, key: string, over: Partial<MultipartUploadRecord> = {}): MultipartUploadRecord {
  return {
    uploadId: randomBytes(12).toString('hex'),
    bucket,
    key,
    initiated: T0,
    owner: 'owner-1',
    headers: {},
    userMetadata: {},
    tags: [],
    sys: {},
    storageClass: 'STANDARD',
    ...over,
  };
}

export function partRec(uploadId: string, partNumber: number, blob = blobId(), over: Partial<PartRecord> = {}): PartRecord {
  return { uploadId, partNumber, blobId: blob, size: 5, etag: `"p${partNumber}"`, lastModified: T0, ...over };
}

export async function rejectsWith(p: Promise<unknown>, kind: StorageConflictError['kind']): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof StorageConflictError, `expected StorageConflictError(${kind}), got ${String(e)}`);
    assert.equal(e.kind, kind);
    return true;
  });
}

const sorted = (a: string[]) => [...a].sort();

/** Of two concurrent writes exactly one succeeds and the other fails with `kind`; returns the winner's index. */
export async function oneWins(writes: [Promise<unknown>, Promise<unknown>], kind: StorageConflictError['kind']): Promise<number> {
  const results = await Promise.allSettled(writes);
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
  assert.equal(won.length, 1, `exactly one of two concurrent writes succeeds: ${results.map((r) => r.status === 'rejected' ? String(r.reason) : 'ok').join(', ')}`);
  const lost = results[1 - won[0]!] as PromiseRejectedResult;
  assert.ok(lost.reason instanceof StorageConflictError && lost.reason.kind === kind, `the loser gets ${kind}, not ${String(lost.reason)}`);
  return won[0]!;
}

export function runMetadataStoreContract(
  name: string,
  make: () => Promise<MetadataStore>,
  opts: MetadataStoreContractOptions = {},
): void {
  /** Runs fn against a fresh store with bucket "b1", and closes whatever store fn ends with. */
  const withStore = async (fn: (s: MetadataStore) => Promise<MetadataStore | void>) => {
    let s = await make();
    try {
      await s.createBucket(bucketRec('b1'));
      s = (await fn(s)) ?? s;
    } finally {
      await s.close();
    }
  };
  const keys = (recs: { key: string }[]) => recs.map((r) => r.key);

  describe(`MetadataStore contract: ${name}`, () => {
    describe('buckets', () => {
      it('creates a bucket once and returns it as stored', () =>
        withStore(async (s) => {
          const b = bucketRec('photos', { config: { policy: '{"Version":"2012-10-17"}' } });
          await s.createBucket(b);
          assert.deepEqual(await s.getBucket('photos'), b);
          assert.equal(await s.getBucket('nope'), undefined);
          await rejectsWith(s.createBucket(bucketRec('photos', { owner: 'someone-else' })), 'BucketExists');
          assert.equal((await s.getBucket('photos'))?.owner, 'owner-1');
        }));

      it('lists buckets sorted by name', () =>
        withStore(async (s) => {
          for (const n of ['zeta', 'alpha', 'alpha-2', 'alpha.1', 'mid']) await s.createBucket(bucketRec(n));
          assert.deepEqual((await s.listBuckets()).map((b) => b.name), ['alpha', 'alpha-2', 'alpha.1', 'b1', 'mid', 'zeta']);
        }));

      it('refuses to delete a bucket holding an object or an upload, or a missing one', () =>
        withStore(async (s) => {
          await s.putObject(objectRec('b1', 'k'));
          await rejectsWith(s.deleteBucket('b1'), 'BucketNotEmpty');
          await s.deleteObject('b1', 'k');
          const u = uploadRec('b1', 'k');
          await s.createUpload(u);
          await rejectsWith(s.deleteBucket('b1'), 'BucketNotEmpty');
          await s.abortUpload('b1', 'k', u.uploadId);
          await s.deleteBucket('b1');
          assert.equal(await s.getBucket('b1'), undefined);
          await rejectsWith(s.deleteBucket('b1'), 'NoSuchBucket');
        }));

      it('sets and removes one config document without touching the others', () =>
        withStore(async (s) => {
          await s.setBucketConfig('b1', 'encryption', '{"a":1}');
          await s.setBucketConfig('b1', 'tagging', '<Tagging/>');
          assert.deepEqual((await s.getBucket('b1'))?.config, { encryption: '{"a":1}', tagging: '<Tagging/>' });
          await s.setBucketConfig('b1', 'encryption', undefined);
          assert.deepEqual((await s.getBucket('b1'))?.config, { tagging: '<Tagging/>' });
          await rejectsWith(s.setBucketConfig('missing', 'tagging', 'x'), 'NoSuchBucket');
        }));

      it('runs a config change\'s check in its transaction, on the config as it is then: what it throws refuses the change', () =>
        withStore(async (s) => {
          await s.setBucketConfig('b1', 'versioning', '{"v":1,"status":"Enabled"}');
          const seen: Record<string, string>[] = [];
          const refuse = (config: Record<string, string>) => {
            seen.push(config);
            if (config['object-lock'] !== undefined) throw new Error('refused');
          };
          await s.setBucketConfig('b1', 'object-lock', '{"v":1}', refuse);
          await assert.rejects(s.setBucketConfig('b1', 'versioning', '{"v":1,"status":"Suspended"}', refuse), /refused/);
          assert.deepEqual(seen, [{ versioning: '{"v":1,"status":"Enabled"}' }, { versioning: '{"v":1,"status":"Enabled"}', 'object-lock': '{"v":1}' }]);
          assert.deepEqual((await s.getBucket('b1'))?.config, { versioning: '{"v":1,"status":"Enabled"}', 'object-lock': '{"v":1}' });
        }));

      it('keeps a large config document whole beside the others (a lifecycle configuration of 1,000 rules with tags)', () =>
        withStore(async (s) => {
          const rules = Array.from({ length: 1000 }, (_, i) => ({ id: `${'r'.repeat(250)}${i}`, enabled: true, filter: { kind: 'filter', shape: 'and', prefix: `p${i}/é/`, tags: [['k', 'v\u{1F600}'.repeat(40)]] }, expiration: { days: i + 1 } }));
          const doc = JSON.stringify({ v: 1, rules, transitionMinimumSize: 'all_storage_classes_128K' });
          assert.ok(doc.length > 500_000);
          await s.setBucketConfig('b1', 'versioning', '{"v":1,"status":"Enabled"}');
          await s.setBucketConfig('b1', 'lifecycle', doc);
          const config = (await s.getBucket('b1'))?.config;
          assert.equal(config?.lifecycle, doc);
          assert.equal(config?.versioning, '{"v":1,"status":"Enabled"}');
          assert.equal((await s.listBuckets()).find((b) => b.name === 'b1')?.config.lifecycle, doc);
        }));
    });

    describe('objects', () => {
      it('stores and returns every field of an object', () =>
        withStore(async (s) => {
          const rec = objectRec('b1', 'dir/file.txt', [blobId(), blobId()], {
            size: 20,
            headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' },
            userMetadata: { colour: 'blue', 'ünï': 'çødé' },
            tags: [['env', 'prod']],
            checksum: { algorithm: 'CRC32C', type: 'COMPOSITE', value: 'AAAAAA==-2' },
            sys: { sse: { alg: 'AES256', sealed: 'abc' }, n: 3, list: [1, 'two'] },
            storageClass: 'STANDARD_IA',
          });
          rec.parts[1]!.checksum = 'q83vEg==';
          assert.equal(await s.putObject(rec), undefined);
          assert.deepEqual(await s.getObject('b1', 'dir/file.txt'), rec);
          assert.equal(await s.getObject('b1', 'dir/file.TXT'), undefined);
          assert.equal(await s.getObject('other', 'dir/file.txt'), undefined);
          const plain = objectRec('b1', 'plain');
          await s.putObject(plain);
          assert.equal('checksum' in (await s.getObject('b1', 'plain'))!, false);
        }));

      it('refuses to write into a missing bucket', () =>
        withStore(async (s) => {
          await rejectsWith(s.putObject(objectRec('missing', 'k')), 'NoSuchBucket');
        }));

      it('replacing returns the old record and moves only its blobs to garbage', () =>
        withStore(async (s) => {
          const v1 = objectRec('b1', 'k', [blobId(), blobId()]);
          const v2 = objectRec('b1', 'k');
          await s.putObject(v1);
          assert.deepEqual(await s.takeGarbage(false), []);
          assert.deepEqual(await s.putObject(v2), v1);
          assert.deepEqual(await s.getObject('b1', 'k'), v2);
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted(v1.parts.map((p) => p.blobId)));
        }));

      it('replacing with a record that reuses the same blob does not garbage it', () =>
        withStore(async (s) => {
          const shared = blobId();
          const dropped = blobId();
          await s.putObject(objectRec('b1', 'k', [shared, dropped]));
          const v2 = objectRec('b1', 'k', [shared], { userMetadata: { new: 'meta' } });
          await s.putObject(v2);
          assert.deepEqual(await s.takeGarbage(false), [dropped]);
          assert.deepEqual(await s.getObject('b1', 'k'), v2);
        }));

      it('clears the pending marks of the blobs it commits', () =>
        withStore(async (s) => {
          const b = blobId();
          const other = blobId();
          await s.markPending(b);
          await s.markPending(other);
          await s.putObject(objectRec('b1', 'k', [b]));
          assert.deepEqual(await s.takeGarbage(true), [other]);
        }));

      it('If-None-Match: * fails on an existing object and leaves it untouched', () =>
        withStore(async (s) => {
          const v1 = objectRec('b1', 'k');
          assert.equal(await s.putObject(v1, { kind: 'ifNoneMatchStar' }), undefined);
          const v2 = objectRec('b1', 'k');
          await s.markPending(v2.parts[0]!.blobId);
          await rejectsWith(s.putObject(v2, { kind: 'ifNoneMatchStar' }), 'PreconditionFailed');
          assert.deepEqual(await s.getObject('b1', 'k'), v1);
          assert.deepEqual(await s.takeGarbage(false), [], 'a failed write garbages nothing');
          assert.deepEqual(await s.takeGarbage(true), [v2.parts[0]!.blobId], 'and keeps the new blob pending');
        }));

      it('If-Match fails on an absent object or another ETag, and passes on the current one', () =>
        withStore(async (s) => {
          await rejectsWith(s.putObject(objectRec('b1', 'k'), { kind: 'ifMatch', etag: '"abc"' }), 'PreconditionFailed');
          await rejectsWith(s.putObject(objectRec('b1', 'k'), { kind: 'ifMatch', etag: '*' }), 'PreconditionFailed');
          assert.equal(await s.getObject('b1', 'k'), undefined);
          const v1 = objectRec('b1', 'k', [blobId()], { etag: '"1111"' });
          await s.putObject(v1);
          await rejectsWith(s.putObject(objectRec('b1', 'k'), { kind: 'ifMatch', etag: '"2222"' }), 'PreconditionFailed');
          assert.deepEqual(await s.getObject('b1', 'k'), v1);
          const v2 = objectRec('b1', 'k', [blobId()], { etag: '"2222"' });
          assert.deepEqual(await s.putObject(v2, { kind: 'ifMatch', etag: '"1111"' }), v1);
          const v3 = objectRec('b1', 'k', [blobId()], { etag: '"3333"' });
          assert.deepEqual(await s.putObject(v3, { kind: 'ifMatch', etag: '2222' }), v2, 'unquoted ETag matches');
          await s.putObject(objectRec('b1', 'k'), { kind: 'ifMatch', etag: '*' });
        }));

      it('updates tags, headers, metadata, sys, lastModified and etag in place', () =>
        withStore(async (s) => {
          const v1 = objectRec('b1', 'k', [blobId()], { tags: [['a', '1']], headers: { 'content-type': 'x/y' } });
          await s.putObject(v1);
          assert.equal(await s.updateObject('b1', 'k', { tags: [['b', '2']] }), true);
          assert.deepEqual(await s.getObject('b1', 'k'), { ...v1, tags: [['b', '2']] });
          const patch = { headers: { 'content-type': 'a/b' }, userMetadata: { m: 'v' }, sys: { x: 1 }, lastModified: '2025-01-01T00:00:00.000Z', etag: '"new"' };
          assert.equal(await s.updateObject('b1', 'k', patch), true);
          assert.deepEqual(await s.getObject('b1', 'k'), { ...v1, tags: [['b', '2']], ...patch });
          assert.equal(await s.updateObject('b1', 'absent', { tags: [] }), false);
          assert.deepEqual(await s.takeGarbage(false), []);
        }));

      it('keeps tags in the order given, integer-like keys included, through every write and a restart', () =>
        withStore(async (s) => {
          const ordered: Array<[string, string]> = [['10', 'x'], ['2', 'y'], ['b', 'z'], ['a', '']];
          const reversed = [...ordered].reverse();
          const rec = objectRec('b1', 'k', [blobId()], { tags: ordered });
          await s.putObject(rec);
          assert.deepEqual((await s.getObject('b1', 'k'))?.tags, ordered);
          assert.deepEqual((await s.listObjects('b1', { prefix: '', limit: 10 }))[0]?.tags, ordered);
          assert.equal(await s.updateObject('b1', 'k', { tags: reversed }), true);
          assert.deepEqual((await s.getObject('b1', 'k'))?.tags, reversed);
          const u = uploadRec('b1', 'up', { tags: ordered });
          await s.createUpload(u);
          assert.deepEqual((await s.getUpload('b1', 'up', u.uploadId))?.tags, ordered);
          if (opts.reopen === undefined) return s;
          s = await opts.reopen(s);
          assert.deepEqual((await s.getObject('b1', 'k'))?.tags, reversed);
          assert.deepEqual((await s.getUpload('b1', 'up', u.uploadId))?.tags, ordered);
          return s;
        }));

      it('replaces sys only while the object is still the version that was read', () =>
        withStore(async (s) => {
          const v1 = objectRec('b1', 'k', [blobId()], { sys: { sse: { alg: 'aws:kms', env: 'AAA' } } });
          await s.putObject(v1);
          const read = (await s.getObject('b1', 'k'))!;
          assert.equal(await s.replaceObjectSys('b1', 'k', read, { sse: { alg: 'aws:kms', env: 'BBB' } }), true);
          assert.deepEqual(await s.getObject('b1', 'k'), { ...v1, sys: { sse: { alg: 'aws:kms', env: 'BBB' } } });
          // The record read before that change no longer matches: the first writer won.
          assert.equal(await s.replaceObjectSys('b1', 'k', read, { sse: { alg: 'aws:kms', env: 'CCC' } }), false);
          const v2 = objectRec('b1', 'k', [blobId()], { sys: { sse: { alg: 'aws:kms', env: 'BBB' } }, etag: '"other"' });
          await s.putObject(v2);
          // Same sys, other ETag: another version, refused.
          assert.equal(await s.replaceObjectSys('b1', 'k', { ...read, sys: { sse: { alg: 'aws:kms', env: 'BBB' } } }, { x: 1 }), false);
          assert.deepEqual((await s.getObject('b1', 'k'))!.sys, v2.sys);
          assert.equal(await s.replaceObjectSys('b1', 'absent', read, {}), false);
        }));

      it('replaceObjectSys runs its check in the transaction on the version as it is then, before the comparison: a throw refuses', () =>
        withStore(async (s) => {
          const v1 = objectRec('b1', 'k', undefined, { versionId: 'v1', sys: { n: 1 } });
          const v2 = objectRec('b1', 'k', undefined, { versionId: 'v2', sys: { n: 2 } });
          await s.putObject(v1);
          await s.putObject(v2);
          const seen: unknown[] = [];
          const refuse = (rec: ObjectRecord): void => {
            seen.push([rec.versionId ?? null, rec.sys]);
            if (rec.sys.locked) throw new Error('locked');
          };
          // Passing: called once with the named (noncurrent) version, then the write lands.
          assert.equal(await s.replaceObjectSys('b1', 'k', v1, { n: 10 }, refuse), true);
          assert.deepEqual(seen, [['v1', { n: 1 }]]);
          // A lock written after the caller's read (the caller still holds { n: 10 }): the check sees it and refuses,
          // rather than the write merely not matching.
          assert.equal(await s.replaceObjectSys('b1', 'k', { ...v1, sys: { n: 10 } }, { n: 10, locked: true }), true);
          await assert.rejects(s.replaceObjectSys('b1', 'k', { ...v1, sys: { n: 10 } }, { n: 11 }, refuse), /locked/);
          assert.deepEqual((await s.getObjectVersion('b1', 'k', 'v1'))?.sys, { n: 10, locked: true });
          // The current version (no id), locked, whose sys the caller read exactly: refused, unchanged.
          assert.equal(await s.replaceObjectSys('b1', 'k', { ...v2, versionId: undefined }, { n: 2, locked: true }), true);
          await assert.rejects(s.replaceObjectSys('b1', 'k', { ...v2, versionId: undefined, sys: { n: 2, locked: true } }, { n: 20 }, refuse), /locked/);
          await assert.rejects(s.replaceObjectSys('b1', 'k', { ...v2, sys: { n: 2, locked: true } }, { n: 20 }, refuse), /locked/);
          assert.deepEqual((await s.getObject('b1', 'k'))?.sys, { n: 2, locked: true });
          // Nothing to check on a version that is absent: false, as without a check.
          assert.equal(await s.replaceObjectSys('b1', 'k', { ...v1, versionId: 'v9' }, {}, refuse), false);
          assert.equal(await s.replaceObjectSys('b1', 'gone', v1, {}, refuse), false);
        }));

      it('deletes an object, returning it and garbaging its blobs', () =>
        withStore(async (s) => {
          const v1 = objectRec('b1', 'k', [blobId(), blobId()]);
          await s.putObject(v1);
          assert.deepEqual(await s.deleteObject('b1', 'k'), v1);
          assert.equal(await s.getObject('b1', 'k'), undefined);
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted(v1.parts.map((p) => p.blobId)));
          assert.equal(await s.deleteObject('b1', 'k'), undefined);
        }));
      it('deletes conditionally: ifMatch needs the object and its ETag (or any for *), checked in the same transaction', () =>
        withStore(async (s) => {
          const rec = objectRec('b1', 'c');
          await s.putObject(rec);
          await rejectsWith(s.deleteObject('b1', 'c', { kind: 'ifMatch', etag: '"other"' }), 'PreconditionFailed');
          assert.deepEqual(await s.getObject('b1', 'c'), rec);
          assert.deepEqual(await s.takeGarbage(false), []);
          assert.deepEqual(await s.deleteObject('b1', 'c', { kind: 'ifMatch', etag: rec.etag.replace(/"/g, '') }), rec);
          assert.equal(await s.getObject('b1', 'c'), undefined);
          await rejectsWith(s.deleteObject('b1', 'c', { kind: 'ifMatch', etag: '*' }), 'PreconditionFailed');
          const again = objectRec('b1', 'c');
          await s.putObject(again);
          assert.deepEqual(await s.deleteObject('b1', 'c', { kind: 'ifMatch', etag: '*' }), again);
          assert.equal(await s.deleteObject('b1', 'c', { kind: 'none' }), undefined);
        }));
    });

    describe('listing objects', () => {
      // UTF-8 byte order. '\uFF5A' (EF BD BA) sorts before '\u{1F600}' (F0 9F 98 80) in UTF-8,
      // but after it in JS's UTF-16 order (FF5A > D83D), so a store sorting like JS fails.
      const ordered = ['A', 'a', 'a/b', 'a/b/c', 'a0', 'b', 'z', 'é', 'éa', 'ê', '\uFF5A', '\u{1F600}', '\u{1F600}x', '\u{1F601}'];
      const load = async (s: MetadataStore, list: string[]) => {
        for (const k of [...list].reverse()) await s.putObject(objectRec('b1', k));
      };
      const list = async (s: MetadataStore, prefix: string, after?: string, limit = 1000) =>
        keys(await s.listObjects('b1', { prefix, after, limit }));

      it('lists keys in UTF-8 byte order, not UTF-16 order', () =>
        withStore(async (s) => {
          await load(s, ordered);
          await s.createBucket(bucketRec('b2'));
          await s.putObject(objectRec('b2', 'a/other-bucket'));
          assert.deepEqual(await list(s, ''), ordered);
        }));

      it('matches prefixes exactly: case-sensitive, % and _ literal, multi-byte last characters', () =>
        withStore(async (s) => {
          await load(s, [...ordered, 'p%1', 'p_1', 'pX1', 'p%_', 'p\\1', '\uD7FFa', '\uE000', '\uFFFF', '\uFFFFb', '\u{10000}']);
          assert.deepEqual(await list(s, 'a'), ['a', 'a/b', 'a/b/c', 'a0']);
          assert.deepEqual(await list(s, 'a/'), ['a/b', 'a/b/c']);
          assert.deepEqual(await list(s, 'A'), ['A']);
          assert.deepEqual(await list(s, 'p%'), ['p%1', 'p%_']);
          assert.deepEqual(await list(s, 'p_'), ['p_1']);
          assert.deepEqual(await list(s, 'p\\'), ['p\\1']);
          assert.deepEqual(await list(s, 'é'), ['é', 'éa']);
          assert.deepEqual(await list(s, '\u{1F600}'), ['\u{1F600}', '\u{1F600}x']);
          assert.deepEqual(await list(s, '\uD7FF'), ['\uD7FFa'], 'bound skips the surrogate range');
          assert.deepEqual(await list(s, '\uFFFF'), ['\uFFFF', '\uFFFFb'], 'bound after U+FFFF is U+10000');
          assert.deepEqual(await list(s, 'nothing'), []);
        }));

      it('starts strictly after `after`, whether it is inside, before or beyond the prefix', () =>
        withStore(async (s) => {
          await load(s, ordered);
          assert.deepEqual(await list(s, '', 'a/b'), ordered.slice(ordered.indexOf('a/b/c')));
          assert.deepEqual(await list(s, 'a', 'a/b'), ['a/b/c', 'a0']);
          assert.deepEqual(await list(s, 'a', 'a/a-not-a-key'), ['a/b', 'a/b/c', 'a0']);
          assert.deepEqual(await list(s, 'a/', 'A'), ['a/b', 'a/b/c'], 'an `after` before the prefix changes nothing');
          assert.deepEqual(await list(s, 'a', 'a0'), []);
          assert.deepEqual(await list(s, 'a', 'b'), []);
          assert.deepEqual(await list(s, '', 'ê'), ['\uFF5A', '\u{1F600}', '\u{1F600}x', '\u{1F601}']);
        }));

      it('returns at most `limit`, and paging with after visits every key once', () =>
        withStore(async (s) => {
          await load(s, ordered);
          assert.deepEqual(await list(s, '', undefined, 3), ordered.slice(0, 3));
          assert.deepEqual(await list(s, '', undefined, 0), []);
          const seen: string[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await list(s, '', after, 4);
            seen.push(...page);
            if (page.length < 4) break;
            after = page[page.length - 1];
          }
          assert.deepEqual(seen, ordered);
        }));
    });

    describe('multipart uploads', () => {
      it('replaceUploadSys (root-key rotation) replaces an upload\'s sys only while it is the expected one', () =>
        withStore(async (s) => {
          const u = uploadRec('b1', 'k', { sys: { sse: { alg: 'AES256', env: 'old' } } });
          await s.createUpload(u);
          const sys = { sse: { alg: 'AES256', env: 'new' } };
          assert.equal(await s.replaceUploadSys(u.uploadId, { sse: { alg: 'AES256', env: 'other' } }, sys), false);
          assert.equal(await s.replaceUploadSys(u.uploadId, u.sys, sys), true);
          assert.deepEqual(await s.getUpload('b1', 'k', u.uploadId), { ...u, sys });
          assert.equal(await s.replaceUploadSys('nope', sys, u.sys), false);
        }));

      it('creates, gets and scopes an upload to its bucket and key', () =>
        withStore(async (s) => {
          const u = uploadRec('b1', 'big', {
            headers: { 'content-type': 'video/mp4' },
            userMetadata: { a: 'b' },
            tags: [['t', 'v']],
            checksumAlgorithm: 'SHA256',
            checksumType: 'COMPOSITE',
            sys: { sse: 'x' },
          });
          await s.createUpload(u);
          assert.deepEqual(await s.getUpload('b1', 'big', u.uploadId), u);
          assert.equal(await s.getUpload('b1', 'other', u.uploadId), undefined);
          assert.equal(await s.getUpload('b1', 'big', 'nope'), undefined);
          const plain = uploadRec('b1', 'plain');
          await s.createUpload(plain);
          assert.deepEqual(await s.getUpload('b1', 'plain', plain.uploadId), plain);
          await rejectsWith(s.createUpload(uploadRec('missing', 'k')), 'NoSuchBucket');
        }));

      it('lists uploads by key, then initiated, then id, honouring prefix, markers and limit', () =>
        withStore(async (s) => {
          const ups = [
            uploadRec('b1', 'a', { uploadId: 'u9', initiated: '2024-01-01T00:00:00.000Z' }),
            uploadRec('b1', 'a', { uploadId: 'u1', initiated: '2024-01-02T00:00:00.000Z' }),
            uploadRec('b1', 'a', { uploadId: 'u2', initiated: '2024-01-02T00:00:00.000Z' }),
            uploadRec('b1', 'a/x', { uploadId: 'u3' }),
            uploadRec('b1', 'b', { uploadId: 'u4' }),
            uploadRec('b1', 'é', { uploadId: 'u5' }),
          ];
          for (const u of [...ups].reverse()) await s.createUpload(u);
          const ids = (r: MultipartUploadRecord[]) => r.map((u) => u.uploadId);
          assert.deepEqual(ids(await s.listUploads('b1', { prefix: '', limit: 100 })), ['u9', 'u1', 'u2', 'u3', 'u4', 'u5']);
          assert.deepEqual(ids(await s.listUploads('b1', { prefix: 'a', limit: 100 })), ['u9', 'u1', 'u2', 'u3']);
          assert.deepEqual(ids(await s.listUploads('b1', { prefix: '', limit: 2 })), ['u9', 'u1']);
          assert.deepEqual(ids(await s.listUploads('b1', { prefix: '', keyMarker: 'a', limit: 100 })), ['u3', 'u4', 'u5']);
          assert.deepEqual(
            ids(await s.listUploads('b1', { prefix: '', keyMarker: 'a', uploadIdMarker: 'u1', limit: 100 })),
            ['u2', 'u3', 'u4', 'u5'],
          );
          assert.deepEqual(ids(await s.listUploads('b1', { prefix: 'a', keyMarker: 'a', uploadIdMarker: 'u9', limit: 2 })), ['u1', 'u2']);
          assert.deepEqual(ids(await s.listUploads('b1', { prefix: '', keyMarker: 'b', limit: 100 })), ['u5']);
        }));

      it('adds, replaces and pages parts; a replaced part blob becomes garbage', () =>
        withStore(async (s) => {
          const u = uploadRec('b1', 'k');
          await s.createUpload(u);
          await rejectsWith(s.putPart(partRec('no-such-upload', 1)), 'NoSuchUpload');
          const parts = [1, 2, 3, 5, 10].map((n) => partRec(u.uploadId, n));
          for (const p of [...parts].reverse()) {
            await s.markPending(p.blobId);
            await s.putPart(p);
          }
          parts[4]!.checksum = 'abc=';
          await s.putPart(parts[4]!);
          assert.deepEqual(await s.takeGarbage(false), [], 'same blob re-put is not garbage');
          const replaced = parts[1]!.blobId;
          parts[1] = partRec(u.uploadId, 2, blobId(), { size: 7, etag: '"new"' });
          await s.putPart(parts[1]);
          assert.deepEqual(await s.takeGarbage(false), [replaced]);
          assert.deepEqual(await s.listParts(u.uploadId, 0, 100), parts);
          assert.deepEqual(await s.listParts(u.uploadId, 0, 2), parts.slice(0, 2));
          assert.deepEqual(await s.listParts(u.uploadId, 2, 2), parts.slice(2, 4));
          assert.deepEqual(await s.listParts(u.uploadId, 5, 2), parts.slice(4));
          assert.deepEqual(await s.listParts(u.uploadId, 10, 2), []);
          assert.deepEqual(await s.takeGarbage(true), [replaced], 'putPart cleared every pending mark');
        }));

      it('completes an upload: object written, upload and parts gone, unused part blobs garbage', () =>
        withStore(async (s) => {
          const old = objectRec('b1', 'k');
          await s.putObject(old);
          const u = uploadRec('b1', 'k');
          await s.createUpload(u);
          const parts = [1, 2, 3].map((n) => partRec(u.uploadId, n));
          for (const p of parts) await s.putPart(p);
          const rec = objectRec('b1', 'k', [parts[0]!.blobId, parts[2]!.blobId]);
          await rejectsWith(s.completeUpload('nope', rec), 'NoSuchUpload');
          await rejectsWith(s.completeUpload(u.uploadId, { ...rec, key: 'other' }), 'NoSuchUpload');
          assert.deepEqual(await s.completeUpload(u.uploadId, rec), old);
          assert.deepEqual(await s.getObject('b1', 'k'), rec);
          assert.equal(await s.getUpload('b1', 'k', u.uploadId), undefined);
          assert.deepEqual(await s.listParts(u.uploadId, 0, 100), []);
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted([parts[1]!.blobId, old.parts[0]!.blobId]));
          await rejectsWith(s.completeUpload(u.uploadId, rec), 'NoSuchUpload');
          await rejectsWith(s.putPart(partRec(u.uploadId, 4)), 'NoSuchUpload');
        }));

      it('remembers a completed upload for its bucket and key, for COMPLETED_UPLOAD_RETENTION_MS', () =>
        withStore(async (s) => {
          const u = uploadRec('b1', 'k');
          await s.createUpload(u);
          const p = partRec(u.uploadId, 1);
          await s.putPart(p);
          const rec = objectRec('b1', 'k', [p.blobId]);
          const at = '2024-05-02T10:00:00.000Z';
          assert.equal(await s.getCompletedUpload('b1', 'k', u.uploadId, T0), undefined);
          await s.completeUpload(u.uploadId, rec, { kind: 'none' }, at);
          const done = { uploadId: u.uploadId, bucket: 'b1', key: 'k', completedAt: at, etag: rec.etag, blobId: p.blobId };
          assert.deepEqual(await s.getCompletedUpload('b1', 'k', u.uploadId, T0), done);
          assert.deepEqual(await s.getCompletedUpload('b1', 'k', u.uploadId, at), done, 'notBefore is inclusive');
          assert.equal(await s.getCompletedUpload('b1', 'k', u.uploadId, '2024-05-02T10:00:00.001Z'), undefined, 'older than notBefore');
          assert.equal(await s.getCompletedUpload('b1', 'other', u.uploadId, T0), undefined);
          assert.equal(await s.getCompletedUpload('b2', 'k', u.uploadId, T0), undefined);
          // A failed completion records nothing.
          const failed = uploadRec('b1', 'k');
          await s.createUpload(failed);
          const fp = partRec(failed.uploadId, 1);
          await s.putPart(fp);
          await rejectsWith(s.completeUpload(failed.uploadId, objectRec('b1', 'k', [fp.blobId]), { kind: 'ifNoneMatchStar' }, at), 'PreconditionFailed');
          assert.equal(await s.getCompletedUpload('b1', 'k', failed.uploadId, T0), undefined);
          // A completion a day and more later prunes the first record.
          const later = uploadRec('b1', 'k2');
          await s.createUpload(later);
          const lp = partRec(later.uploadId, 1);
          await s.putPart(lp);
          const laterAt = new Date(Date.parse(at) + COMPLETED_UPLOAD_RETENTION_MS + 1).toISOString();
          await s.completeUpload(later.uploadId, objectRec('b1', 'k2', [lp.blobId]), { kind: 'none' }, laterAt);
          assert.equal(await s.getCompletedUpload('b1', 'k', u.uploadId, T0), undefined, 'pruned');
          assert.equal((await s.getCompletedUpload('b1', 'k2', later.uploadId, T0))?.completedAt, laterAt);
        }));

      it('a completion whose condition fails changes nothing', () =>
        withStore(async (s) => {
          const old = objectRec('b1', 'k');
          await s.putObject(old);
          const u = uploadRec('b1', 'k');
          await s.createUpload(u);
          const p = partRec(u.uploadId, 1);
          await s.putPart(p);
          await rejectsWith(s.completeUpload(u.uploadId, objectRec('b1', 'k', [p.blobId]), { kind: 'ifNoneMatchStar' }), 'PreconditionFailed');
          assert.deepEqual(await s.getObject('b1', 'k'), old);
          assert.deepEqual(await s.getUpload('b1', 'k', u.uploadId), u);
          assert.deepEqual(await s.listParts(u.uploadId, 0, 10), [p]);
          assert.deepEqual(await s.takeGarbage(false), []);
        }));

      it('aborts an upload, garbaging all its part blobs', () =>
        withStore(async (s) => {
          const u = uploadRec('b1', 'k');
          await s.createUpload(u);
          const parts = [1, 2].map((n) => partRec(u.uploadId, n));
          for (const p of parts) await s.putPart(p);
          assert.equal(await s.abortUpload('b1', 'wrong-key', u.uploadId), false);
          assert.equal(await s.abortUpload('b1', 'k', u.uploadId), true);
          assert.equal(await s.getUpload('b1', 'k', u.uploadId), undefined);
          assert.deepEqual(await s.listParts(u.uploadId, 0, 10), []);
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted(parts.map((p) => p.blobId)));
          assert.equal(await s.abortUpload('b1', 'k', u.uploadId), false);
        }));
    });

    describe('pending and garbage blobs', () => {
      it('discardPending turns a pending blob into garbage', () =>
        withStore(async (s) => {
          const b = blobId();
          await s.markPending(b);
          assert.deepEqual(await s.takeGarbage(false), [], 'pending is not garbage while its write may run');
          await s.discardPending(b);
          assert.deepEqual(await s.takeGarbage(false), [b]);
        }));

      it('discardPending of a blob whose write did commit (an answer lost with the connection) leaves it: the object it published stays whole', () =>
        withStore(async (s) => {
          const b = blobId();
          await s.markPending(b);
          await s.putObject(objectRec('b1', 'published', [b]));
          // The writer saw the commit fail (the connection broke after COMMIT reached the server) and discards its blob.
          await s.discardPending(b);
          assert.deepEqual(await s.takeGarbage(true), [], 'a blob no longer pending is not made garbage');
          assert.deepEqual((await s.getObject('b1', 'published'))?.parts.map((p) => p.blobId), [b]);
        }));

      it('takeGarbage(true) includes pending blobs; forgetGarbage drops only the given ids', () =>
        withStore(async (s) => {
          const [p, g1, g2] = [blobId(), blobId(), blobId()];
          await s.markPending(p);
          await s.putObject(objectRec('b1', 'k', [g1, g2]));
          await s.deleteObject('b1', 'k');
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted([g1, g2]));
          assert.deepEqual(sorted(await s.takeGarbage(true)), sorted([p, g1, g2]));
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted([p, g1, g2]), 'ids stay until forgotten');
          await s.forgetGarbage([g1, p]);
          assert.deepEqual(await s.takeGarbage(true), [g2]);
          await s.forgetGarbage([]);
          await s.forgetGarbage([g2, 'never-known']);
          assert.deepEqual(await s.takeGarbage(true), []);
        }));

      it('keeps objects, pending and garbage across a restart', { skip: opts.reopen === undefined && 'store cannot be reopened' }, () =>
        withStore(async (s) => {
          const reopen = opts.reopen!;
          const [p, g] = [blobId(), blobId()];
          const kept = objectRec('b1', 'kept');
          await s.putObject(kept);
          await s.putObject(objectRec('b1', 'gone', [g]));
          await s.deleteObject('b1', 'gone');
          await s.markPending(p);
          s = await reopen(s);
          assert.deepEqual(await s.getObject('b1', 'kept'), kept);
          assert.deepEqual(sorted(await s.takeGarbage(true)), sorted([p, g]));
          s = await reopen(s);
          assert.deepEqual(sorted(await s.takeGarbage(false)), sorted([p, g]), 'taken but not forgotten survives');
          await s.forgetGarbage([p, g]);
          s = await reopen(s);
          assert.deepEqual(await s.takeGarbage(true), []);
          return s;
        }));
    });

    describe('readiness and usage', () => {
      it('ping resolves on an open store', () => withStore(async (s) => {
        await s.ping();
      }));

      it('bucketUsage counts objects and bytes per bucket through put, overwrite, delete, complete and deleteBucket', () =>
        withStore(async (s) => {
          const usage = async () => Object.fromEntries((await s.bucketUsage()).map((u) => [u.bucket, [u.objects, u.bytes]]));
          assert.deepEqual(await usage(), { b1: [0, 0] }, 'a new bucket holds nothing');
          await s.createBucket(bucketRec('b2'));
          await s.putObject(objectRec('b1', 'a', undefined, { size: 100 }));
          await s.putObject(objectRec('b1', 'b', undefined, { size: 50 }));
          await s.putObject(objectRec('b2', 'a', undefined, { size: 7 }));
          assert.deepEqual(await usage(), { b1: [2, 150], b2: [1, 7] });
          await s.putObject(objectRec('b1', 'a', undefined, { size: 10 }));
          assert.deepEqual(await usage(), { b1: [2, 60], b2: [1, 7] }, 'an overwrite replaces the size, not adds an object');
          await s.deleteObject('b1', 'b');
          assert.deepEqual(await usage(), { b1: [1, 10], b2: [1, 7] });
          const u = uploadRec('b2', 'big');
          await s.createUpload(u);
          const part = partRec(u.uploadId, 1, undefined, { size: 1000 });
          await s.putPart(part);
          assert.deepEqual(await usage(), { b1: [1, 10], b2: [1, 7] }, 'parts are not objects until completed');
          await s.completeUpload(u.uploadId, objectRec('b2', 'big', [part.blobId], { size: 1000 }));
          assert.deepEqual(await usage(), { b1: [1, 10], b2: [2, 1007] });
          await s.deleteObject('b2', 'a');
          await s.deleteObject('b2', 'big');
          await s.deleteBucket('b2');
          assert.deepEqual(await usage(), { b1: [1, 10] }, 'a deleted bucket is gone from the usage');
        }));
    });

    if (opts.twin) {
      const twin = opts.twin;
      // Two stores on one database, written at once: what a cluster's nodes do. Each
      // conflict is raced a few times so the writes overlap in some round.
      const withTwins = (fn: (s: MetadataStore, t: MetadataStore) => Promise<void>) => () => withStore(async (s) => {
        const t = await twin(s);
        try {
          await fn(s, t);
        } finally {
          await t.close();
        }
      });
      describe('two stores on one database', () => {
        it('each sees what the other wrote', withTwins(async (s, t) => {
          const rec = objectRec('b1', 'seen');
          await s.putObject(rec);
          assert.deepEqual(await t.getObject('b1', 'seen'), rec);
          assert.deepEqual(keys(await t.listObjects('b1', { prefix: '', limit: 10 })), ['seen']);
          await t.deleteObject('b1', 'seen');
          assert.equal(await s.getObject('b1', 'seen'), undefined);
        }));

        it('createBucket of one name from both at once: exactly one wins, the other is BucketExists', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const b = [bucketRec(`race-${i}`, { owner: 'o-s' }), bucketRec(`race-${i}`, { owner: 'o-t' })] as const;
            const w = await oneWins([s.createBucket(b[0]), t.createBucket(b[1])], 'BucketExists');
            assert.equal((await t.getBucket(`race-${i}`))?.owner, b[w].owner);
          }
        }));

        it('putObject with If-None-Match: * of one key from both at once: exactly one wins, the other is PreconditionFailed', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const r = [objectRec('b1', `k${i}`), objectRec('b1', `k${i}`)] as const;
            const w = await oneWins([s.putObject(r[0], { kind: 'ifNoneMatchStar' }), t.putObject(r[1], { kind: 'ifNoneMatchStar' })], 'PreconditionFailed');
            assert.equal((await s.getObject('b1', `k${i}`))?.etag, r[w].etag);
            assert.ok(!(await s.takeGarbage(false)).includes(r[w].parts[0]!.blobId), 'the winner\'s blob is not garbage');
          }
          assert.deepEqual(Object.fromEntries((await t.bucketUsage()).map((u) => [u.bucket, u.objects])), { b1: 5 });
        }));

        it('putObject with If-Match of the same ETag from both at once: exactly one wins, the other is PreconditionFailed', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const base = objectRec('b1', 'hot');
            await s.putObject(base);
            const r = [objectRec('b1', 'hot'), objectRec('b1', 'hot')] as const;
            const cond = { kind: 'ifMatch', etag: base.etag } as const;
            const w = await oneWins([s.putObject(r[0], cond), t.putObject(r[1], cond)], 'PreconditionFailed');
            assert.equal((await t.getObject('b1', 'hot'))?.etag, r[w].etag);
          }
        }));

        it('completeUpload of one upload from both at once: exactly one wins, the other is NoSuchUpload', withTwins(async (s, t) => {
          for (let i = 0; i < 3; i++) {
            const u = uploadRec('b1', `mp${i}`);
            await s.createUpload(u);
            const part = partRec(u.uploadId, 1);
            await t.putPart(part);
            const r = [objectRec('b1', `mp${i}`, [part.blobId]), objectRec('b1', `mp${i}`, [part.blobId])] as const;
            const w = await oneWins([s.completeUpload(u.uploadId, r[0]), t.completeUpload(u.uploadId, r[1])], 'NoSuchUpload');
            assert.equal((await s.getObject('b1', `mp${i}`))?.etag, r[w].etag);
          }
        }));

        it('deleteBucket racing a putObject into it: never an object in a deleted bucket', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const name = `gone-${i}`;
            await s.createBucket(bucketRec(name));
            const results = await Promise.allSettled([s.deleteBucket(name), t.putObject(objectRec(name, 'k'))]);
            const bucket = await t.getBucket(name);
            if (results[0].status === 'fulfilled') {
              assert.equal(bucket, undefined);
              assert.equal(results[1].status, 'rejected', 'the put into the deleted bucket fails');
            } else {
              assert.ok(bucket !== undefined && results[1].status === 'fulfilled', 'the bucket stays because the put won');
            }
          }
        }));

        it('deleteBucket racing a createUpload in it: never an upload in a deleted bucket', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const name = `gone-up-${i}`;
            await s.createBucket(bucketRec(name));
            const u = uploadRec(name, 'k');
            const results = await Promise.allSettled([s.deleteBucket(name), t.createUpload(u)]);
            const bucket = await t.getBucket(name);
            if (results[0].status === 'fulfilled') {
              assert.equal(bucket, undefined);
              assert.equal(results[1].status, 'rejected', 'the upload in the deleted bucket fails');
              assert.equal(await s.getUpload(name, 'k', u.uploadId), undefined);
            } else {
              assert.ok(bucket !== undefined && results[1].status === 'fulfilled', 'the bucket stays because the upload won');
            }
          }
        }));

        it('putPart racing the completeUpload of its upload: the part lands first (its blob then garbage) or fails NoSuchUpload, never left behind', withTwins(async (s, t) => {
          for (let i = 0; i < 5; i++) {
            const u = uploadRec('b1', `mpr${i}`);
            await s.createUpload(u);
            const p1 = partRec(u.uploadId, 1);
            await s.putPart(p1);
            await s.takeGarbage(false).then((g) => s.forgetGarbage(g));
            const late = partRec(u.uploadId, 2);
            const results = await Promise.allSettled([s.completeUpload(u.uploadId, objectRec('b1', `mpr${i}`, [p1.blobId])), t.putPart(late)]);
            assert.equal(results[0].status, 'fulfilled');
            if (results[1].status === 'rejected') assert.equal((results[1].reason as StorageConflictError).kind, 'NoSuchUpload');
            assert.deepEqual(await t.listParts(u.uploadId, 0, 10), [], 'no part outlives its completed upload');
            const garbage = await t.takeGarbage(false);
            assert.equal(garbage.includes(late.blobId), results[1].status === 'fulfilled', 'a part that landed is garbage after the complete that did not use it');
            assert.ok(!garbage.includes(p1.blobId));
          }
        }));
      });
    }

    runInlineBlobContract({ withStore, objectRec, reopen: opts.reopen });
    runObjectVersionsContract({ withStore, objectRec, blobId });
  });
}
