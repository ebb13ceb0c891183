// Runs every file in test/vectors/kms-key-material/ (sealed key material v2, one scenario
// each) through Coffer's reader with the root key it names, and checks the files are
// exactly what key-material-vector-scenarios.ts builds from the spec.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EnvRootKeyProvider } from '../../../src/custody/env-root-key.js';
import { SealedKeyAuthError, SealedKeyParseError } from '../../../src/custody/errors.js';
import { openSecret } from '../../../src/kms/format/key-material.js';
import { vectorFileText } from '../../helpers/vector-files.js';
import { MATERIAL_VECTOR_DIR } from './generate-material-vectors.js';
import { buildMaterialVectors, type MaterialVector } from './key-material-vector-scenarios.js';

const files = fs.readdirSync(MATERIAL_VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();

describe('sealed key material v2 vectors', () => {
  it('cover every expectation kind', () => {
    const kinds = new Set(files.map((f) => (JSON.parse(fs.readFileSync(path.join(MATERIAL_VECTOR_DIR, f), 'utf8')) as MaterialVector).expect));
    assert.deepEqual([...kinds].sort(), ['auth failure', 'parse failure', 'success']);
  });

  it('are exactly what the builder makes from the spec (regenerate with generate-material-vectors.js)', async () => {
    const built = await buildMaterialVectors();
    assert.deepEqual(files, [...built.keys()].map((n) => `${n}.json`).sort());
    for (const [name, v] of built) assert.equal(fs.readFileSync(path.join(MATERIAL_VECTOR_DIR, `${name}.json`), 'utf8'), vectorFileText(v), name);
  });

  for (const file of files) {
    it(file, async () => {
      const v = JSON.parse(fs.readFileSync(path.join(MATERIAL_VECTOR_DIR, file), 'utf8')) as MaterialVector;
      const provider = EnvRootKeyProvider.fromBase64(Buffer.from(v.root_key_hex, 'hex').toString('base64'));
      const open = () => openSecret(provider, v.key_id, v.material_version, v.kind, Buffer.from(v.record_hex, 'hex'));
      switch (v.expect) {
        case 'success':
          assert.equal((await open()).toString('hex'), v.secret_hex);
          break;
        case 'auth failure':
          await assert.rejects(open(), SealedKeyAuthError);
          break;
        case 'parse failure':
          await assert.rejects(open(), SealedKeyParseError);
          break;
      }
    });
  }
});
