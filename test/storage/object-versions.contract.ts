// Object versions in a MetadataStore: part of the metadata store's contract, run by
// runMetadataStoreContract for every implementation. The rules are S3's (the S3 layer picks
// version ids; the store keeps the history): a write with a new id keeps the previous current
// version as noncurrent; a write of the null version replaces the null version wherever it
// is; delete markers are versions that make the key read as absent; removing a version by
// id promotes the next newest; a blob is freed only when no remaining version uses it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetadataStore, ObjectRecord } from '../../src/storage/types.js';

export interface ObjectVersionsContractOptions {
  withStore: (fn: (s: MetadataStore) => Promise<MetadataStore | void>) => Promise<void>;
  objectRec: (bucket: string, key: string, blobs?: string[], over?: Partial<ObjectRecord>) => ObjectRecord;
  blobId: () => string;
}

const marker = (key: string, versionId: string): ObjectRecord => ({
  bucket: 'b1', key, size: 0, etag: '', lastModified: '2024-05-01T10:00:00.000Z', headers: {}, userMetadata: {}, tags: [],
  parts: [], sys: {}, owner: 'owner-1', storageClass: 'STANDARD', versionId, deleteMarker: true,
});

export function runObjectVersionsContract(o: ObjectVersionsContractOptions): void {
  const { withStore, objectRec, blobId } = o;
  const ids = async (s: MetadataStore, prefix = '', limit = 1000) =>
    (await s.listObjectVersions('b1', { prefix, limit })).map((v) => `${v.key}:${v.versionId}${v.deleteMarker ? ':dm' : ''}${v.isLatest ? ':latest' : ''}`);

  describe('object versions', () => {
    it('keeps the previous current version as noncurrent; GET by id reads any version, GET reads the newest', () =>
      withStore(async (s) => {
        const v1 = objectRec('b1', 'k', undefined, { versionId: 'v1' });
        const v2 = objectRec('b1', 'k', undefined, { versionId: 'v2' });
        await s.putObject(v1);
        assert.equal(await s.putObject(v2), undefined, 'nothing was replaced');
        assert.deepEqual(await s.getObject('b1', 'k'), v2);
        assert.deepEqual(await s.getObjectVersion('b1', 'k', undefined), v2);
        assert.deepEqual(await s.getObjectVersion('b1', 'k', 'v1'), v1);
        assert.equal(await s.getObjectVersion('b1', 'k', 'v9'), undefined);
        assert.deepEqual(await ids(s), ['k:v2:latest', 'k:v1']);
        assert.deepEqual(await s.takeGarbage(false), [], 'no blob of a kept version is garbage');
      }));

    it('a null-version write replaces the null version wherever it is and keeps the others (suspended bucket)', () =>
      withStore(async (s) => {
        const n1 = objectRec('b1', 'k');
        const a = objectRec('b1', 'k', undefined, { versionId: 'a' });
        const n2 = objectRec('b1', 'k');
        await s.putObject(n1);
        await s.putObject(a);
        assert.deepEqual(await ids(s), ['k:a:latest', 'k:null']);
        assert.deepEqual(await s.putObject(n2), n1, 'the old null version is what it replaced');
        assert.deepEqual(await ids(s), ['k:null:latest', 'k:a']);
        assert.deepEqual(await s.getObject('b1', 'k'), n2);
        assert.deepEqual(await s.takeGarbage(false), [n1.parts[0]!.blobId]);
        const n3 = objectRec('b1', 'k');
        assert.deepEqual(await s.putObject(n3), n2, 'a current null version is overwritten in place');
        assert.deepEqual(await ids(s), ['k:null:latest', 'k:a']);
      }));

    it('a delete marker makes the key absent to getObject and listObjects, but not to getObjectVersion', () =>
      withStore(async (s) => {
        const v1 = objectRec('b1', 'k', undefined, { versionId: 'v1' });
        await s.putObject(v1);
        await s.putObject(objectRec('b1', 'other'));
        await s.putObject(marker('k', 'dm1'));
        assert.equal(await s.getObject('b1', 'k'), undefined);
        assert.equal((await s.getObjectVersion('b1', 'k', undefined))?.deleteMarker, true);
        assert.equal((await s.getObjectVersion('b1', 'k', 'dm1'))?.versionId, 'dm1');
        assert.deepEqual((await s.listObjects('b1', { prefix: '', limit: 10 })).map((r) => r.key), ['other']);
        assert.deepEqual(await ids(s), ['k:dm1:dm:latest', 'k:v1', 'other:null:latest']);
        assert.equal(await s.updateObject('b1', 'k', { tags: [['a', 'b']] }), false, 'a current delete marker has no tags to update');
        assert.equal(await s.updateObject('b1', 'k', { tags: [['a', 'b']] }, 'v1'), true, 'an older version can be tagged by id');
        assert.deepEqual((await s.getObjectVersion('b1', 'k', 'v1'))?.tags, [['a', 'b']]);
        await assert.rejects(s.putObject(objectRec('b1', 'k'), { kind: 'ifMatch', etag: '*' }), /PreconditionFailed/, 'If-Match finds no object behind a marker');
        await s.putObject(objectRec('b1', 'k', undefined, { versionId: 'v2' }), { kind: 'ifNoneMatchStar' });
      }));

    it('removing a version by id: the current one promotes the next newest; a delete marker is removed like any version', () =>
      withStore(async (s) => {
        const v1 = objectRec('b1', 'k', undefined, { versionId: 'v1' });
        const v2 = objectRec('b1', 'k', undefined, { versionId: 'v2' });
        await s.putObject(v1);
        await s.putObject(v2);
        await s.putObject(marker('k', 'dm'));
        assert.equal((await s.deleteObjectVersion('b1', 'k', 'dm'))?.deleteMarker, true);
        assert.deepEqual(await s.getObject('b1', 'k'), v2, 'removing the marker brings the object back');
        assert.deepEqual(await s.deleteObjectVersion('b1', 'k', 'v1'), v1);
        assert.deepEqual(await ids(s), ['k:v2:latest']);
        assert.deepEqual(await s.takeGarbage(false), [v1.parts[0]!.blobId]);
        assert.equal(await s.deleteObjectVersion('b1', 'k', 'v1'), undefined);
        // A check that throws (object lock) removes nothing, current or not.
        await s.putObject(v1);
        for (const id of ['v1', 'v2']) {
          await assert.rejects(s.deleteObjectVersion('b1', 'k', id, (rec) => { throw new Error(`locked ${rec.versionId}`); }), new RegExp(`locked ${id}`));
        }
        assert.deepEqual(await ids(s), ['k:v1:latest', 'k:v2']);
        await s.deleteObjectVersion('b1', 'k', 'v1', () => undefined);
        await s.deleteObjectVersion('b1', 'k', 'v2');
        assert.deepEqual(await ids(s), []);
        await s.deleteBucket('b1');
      }));

    it('a write runs its check, in its transaction, on the version it would replace: the null version wherever it is; a throw changes nothing', () =>
      withStore(async (s) => {
        const refuse = (rec: ObjectRecord) => { throw new Error(`locked ${rec.versionId}:${rec.etag}`); };
        const n1 = objectRec('b1', 'k', undefined, { etag: '"n1"' });
        await s.putObject(n1);
        const seen: (string | undefined)[] = [];
        const record = (rec: ObjectRecord) => { seen.push(rec.versionId); };
        await s.putObject(objectRec('b1', 'k', undefined, { versionId: 'a' }), { kind: 'none' }, record);
        assert.deepEqual(seen, [], 'a write with a new id replaces nothing: no check');
        const n2 = objectRec('b1', 'k');
        await assert.rejects(s.putObject(n2, { kind: 'none' }, refuse), /locked null:"n1"/, 'the noncurrent null version is checked');
        assert.deepEqual(await ids(s), ['k:a:latest', 'k:null']);
        assert.deepEqual(await s.getObjectVersion('b1', 'k', 'null'), n1);
        assert.deepEqual(await s.takeGarbage(false), [], 'the refused write freed nothing');
        await s.putObject(n2, { kind: 'none' }, record);
        assert.deepEqual(seen, ['null']);
        const n3 = objectRec('b1', 'k', undefined, { etag: '"n3"' });
        await assert.rejects(s.putObject(n3, { kind: 'none' }, refuse), /locked null:/, 'a current null version is checked');
        await assert.rejects(s.putObject(marker('k', 'null'), { kind: 'none' }, refuse), /locked null:/, 'a null delete marker is a write too');
        assert.deepEqual(await s.getObject('b1', 'k'), n2);
        // completeUpload writes as putObject does.
        const part = blobId();
        await s.createUpload({
          uploadId: 'u1', bucket: 'b1', key: 'k', initiated: '2024-05-01T10:00:00.000Z', owner: 'owner-1', headers: {}, userMetadata: {}, tags: [], sys: {}, storageClass: 'STANDARD',
        });
        await s.putPart({ uploadId: 'u1', blobId: part, size: 1, partNumber: 1, etag: '"p"', lastModified: '2024-05-01T10:00:00.000Z' });
        await assert.rejects(s.completeUpload('u1', objectRec('b1', 'k', [part]), { kind: 'none' }, undefined, refuse), /locked null:/);
        assert.ok(await s.getUpload('b1', 'k', 'u1'), 'the refused completion left the upload');
        assert.deepEqual(await s.getObject('b1', 'k'), n2);
      }));

    it('deleteObjectVersion with If-Match checks the current version, in the removing transaction', () =>
      withStore(async (s) => {
        const v1 = objectRec('b1', 'k', undefined, { versionId: 'v1', etag: '"e1"' });
        const v2 = objectRec('b1', 'k', undefined, { versionId: 'v2', etag: '"e2"' });
        await s.putObject(v1);
        await s.putObject(v2);
        await assert.rejects(s.deleteObjectVersion('b1', 'k', 'v1', undefined, { kind: 'ifMatch', etag: '"e1"' }), /PreconditionFailed/, 'the named version\'s ETag is not the current one\'s');
        await assert.rejects(s.deleteObjectVersion('b1', 'k', 'v2', undefined, { kind: 'ifMatch', etag: '"e1"' }), /PreconditionFailed/);
        assert.deepEqual(await ids(s), ['k:v2:latest', 'k:v1']);
        assert.deepEqual(await s.deleteObjectVersion('b1', 'k', 'v1', undefined, { kind: 'ifMatch', etag: 'e2' }), v1);
        await s.putObject(marker('k', 'dm'));
        await assert.rejects(s.deleteObjectVersion('b1', 'k', 'v2', undefined, { kind: 'ifMatch', etag: '*' }), /PreconditionFailed/, 'a current delete marker is no object');
        assert.deepEqual(await ids(s), ['k:dm:dm:latest', 'k:v2']);
        assert.equal((await s.deleteObjectVersion('b1', 'k', 'dm', undefined, { kind: 'none' }))?.deleteMarker, true);
        assert.deepEqual(await s.deleteObjectVersion('b1', 'k', 'v2', undefined, { kind: 'ifMatch', etag: '*' }), v2);
        assert.deepEqual(await ids(s), []);
      }));

    it('a bucket holding only noncurrent versions or delete markers is not empty', () =>
      withStore(async (s) => {
        await s.putObject(objectRec('b1', 'k', undefined, { versionId: 'v1' }));
        await s.putObject(marker('k', 'dm'));
        await assert.rejects(s.deleteBucket('b1'), /BucketNotEmpty/);
        await s.deleteObjectVersion('b1', 'k', 'dm');
        await assert.rejects(s.deleteBucket('b1'), /BucketNotEmpty/);
        await s.deleteObjectVersion('b1', 'k', 'v1');
        await s.deleteBucket('b1');
      }));

    it('a blob shared by two versions (a copy onto itself) is freed only with the last version using it', () =>
      withStore(async (s) => {
        const shared = blobId();
        const v1 = objectRec('b1', 'k', [shared], { versionId: 'v1' });
        const v2 = objectRec('b1', 'k', [shared], { versionId: 'v2', userMetadata: { changed: 'yes' } });
        await s.putObject(v1);
        await s.putObject(v2);
        await s.deleteObjectVersion('b1', 'k', 'v1');
        assert.deepEqual(await s.takeGarbage(false), [], 'v2 still reads the blob');
        await s.putObject(objectRec('b1', 'k', undefined, { versionId: 'v3' }));
        await s.deleteObjectVersion('b1', 'k', 'v2');
        assert.deepEqual(await s.takeGarbage(false), [shared]);
      }));

    it('replaceObjectSys targets the version the caller read', () =>
      withStore(async (s) => {
        const v1 = objectRec('b1', 'k', undefined, { versionId: 'v1', sys: { n: 1 } });
        const v2 = objectRec('b1', 'k', undefined, { versionId: 'v2', sys: { n: 2 } });
        await s.putObject(v1);
        await s.putObject(v2);
        assert.equal(await s.replaceObjectSys('b1', 'k', v1, { n: 10 }), true);
        assert.deepEqual((await s.getObjectVersion('b1', 'k', 'v1'))?.sys, { n: 10 });
        assert.deepEqual((await s.getObject('b1', 'k'))?.sys, { n: 2 });
        assert.equal(await s.replaceObjectSys('b1', 'k', v1, { n: 11 }), false, 'v1 changed since it was read');
        assert.equal(await s.replaceObjectSys('b1', 'k', { ...v2, versionId: undefined }, { n: 20 }), true, 'no id: the current version');
      }));

    it('lists versions by key then newest first, with prefix and key/version-id marker paging stable under writes', () =>
      withStore(async (s) => {
        for (const [key, id] of [['a', '1'], ['b', '1'], ['a', '2'], ['c', '1'], ['a', '3'], ['b', '2']] as const) {
          await s.putObject(objectRec('b1', key, undefined, { versionId: `${key}${id}` }));
        }
        await s.putObject(marker('c', 'c-dm'));
        const all = ['a:a3:latest', 'a:a2', 'a:a1', 'b:b2:latest', 'b:b1', 'c:c-dm:dm:latest', 'c:c1'];
        assert.deepEqual(await ids(s), all);
        assert.deepEqual(await ids(s, 'b'), ['b:b2:latest', 'b:b1']);
        // Page two at a time, from the markers of the last entry of each page.
        const seen: string[] = [];
        let keyMarker: string | undefined;
        let versionIdMarker: string | undefined;
        for (let pages = 0; pages < 10; pages++) {
          const page = await s.listObjectVersions('b1', { prefix: '', keyMarker, versionIdMarker, limit: 2 });
          if (page.length === 0) break;
          seen.push(...page.map((v) => `${v.key}:${v.versionId}${v.deleteMarker ? ':dm' : ''}${v.isLatest ? ':latest' : ''}`));
          keyMarker = page[page.length - 1]!.key;
          versionIdMarker = page[page.length - 1]!.versionId;
          if (pages === 0) await s.putObject(objectRec('b1', 'a', undefined, { versionId: 'a4' })); // a newer version of a listed key
        }
        assert.deepEqual(seen, all, 'a write between pages neither repeats nor skips an entry');
        assert.deepEqual(
          (await s.listObjectVersions('b1', { prefix: '', keyMarker: 'b', limit: 10 })).map((v) => v.versionId),
          ['c-dm', 'c1'],
          'a key marker alone resumes after the whole key',
        );
        assert.deepEqual(
          (await s.listObjectVersions('b1', { prefix: '', keyMarker: 'a', versionIdMarker: 'a3', limit: 3 })).map((v) => v.versionId),
          ['a2', 'a1', 'b2'],
        );
      }));

    it('finds the current version of a key with many versions without reading its history', () =>
      withStore(async (s) => {
        for (let i = 0; i < 500; i++) await s.putObject(objectRec('b1', 'hot', undefined, { versionId: `v${String(i).padStart(5, '0')}` }));
        assert.equal((await s.getObject('b1', 'hot'))?.versionId, 'v00499');
        assert.equal((await s.getObjectVersion('b1', 'hot', 'v00000'))?.versionId, 'v00000');
        const page = await s.listObjectVersions('b1', { prefix: '', keyMarker: 'hot', versionIdMarker: 'v00300', limit: 3 });
        assert.deepEqual(page.map((v) => v.versionId), ['v00299', 'v00298', 'v00297']);
      }));
  });
}
