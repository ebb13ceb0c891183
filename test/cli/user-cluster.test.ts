// `coffer user` in a cluster node's environment (COFFER_METADATA set): refused with how to
// manage users on a cluster, before it opens or creates anything in a data directory — the
// nodes' IAM is in PostgreSQL, so a user written to local files would be one no node knows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCoffer as coffer } from '../helpers/cli.js';

test('coffer user with COFFER_METADATA set is refused and touches no data directory', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-user-cluster-'));
  try {
    const env = { PATH: process.env.PATH, COFFER_METADATA: 'postgres://coffer@127.0.0.1:1/coffer' };
    for (const args of [['user', 'create', 'carol'], ['user', 'list'], ['user', 'delete', 'carol']]) {
      const r = await coffer(env, ...args, '--data-dir', dir);
      assert.notEqual(r.code, 0, `coffer ${args.join(' ')} succeeded`);
      assert.match(r.stderr, /COFFER_METADATA names a cluster database/);
      assert.match(r.stderr, /hint: on a cluster manage users through any node's IAM API/);
    }
    assert.deepEqual(await fs.readdir(dir), [], 'nothing created in the data directory');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
