// Version ids (s3/versioning.ts): 32 characters of [0-9A-Za-z] like AWS's, unique, and in
// creation order when sorted, so an id never needs the store to say which came first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isVersionId, newVersionId } from '../../src/s3/versioning.js';

test('version ids are 32 URL-safe characters, unique, and sort in the order they were made', () => {
  const ids = Array.from({ length: 20_000 }, () => newVersionId());
  for (const id of ids.slice(0, 100)) assert.match(id, /^[0-9A-Za-z]{32}$/);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids, 'ids made one after the other sort in that order');
  assert.ok(newVersionId(Date.UTC(2030, 0, 1)) > newVersionId(Date.UTC(2029, 0, 1)), 'a later time sorts later');
});

test('isVersionId accepts "null" and ids of that form, nothing else', () => {
  assert.ok(isVersionId('null'));
  assert.ok(isVersionId(newVersionId()));
  for (const bad of ['', 'NULL', 'abc', 'A'.repeat(31), 'A'.repeat(33), `${'A'.repeat(31)}-`, `${'A'.repeat(31)}/`]) assert.ok(!isVersionId(bad), bad);
});
