// Runs every file in test/vectors/kms-import-token/ (import token v1, one scenario each)
// through Coffer's reader with the root key it names, and checks the files are exactly
// what import-token-vectors.ts builds from the spec.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EnvRootKeyProvider } from '../../../src/custody/env-root-key.js';
import { SealedKeyAuthError, SealedKeyParseError } from '../../../src/custody/errors.js';
import { openImportToken } from '../../../src/kms/format/import-token.js';
import { vectorFileText } from '../../helpers/vector-files.js';
import { buildImportTokenVectors, IMPORT_TOKEN_VECTOR_DIR, type ImportTokenVector } from './import-token-vectors.js';

const files = fs.readdirSync(IMPORT_TOKEN_VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();

describe('import token v1 vectors', () => {
  it('cover every expectation kind', () => {
    const kinds = new Set(files.map((f) => (JSON.parse(fs.readFileSync(path.join(IMPORT_TOKEN_VECTOR_DIR, f), 'utf8')) as ImportTokenVector).expect));
    assert.deepEqual([...kinds].sort(), ['auth failure', 'parse failure', 'success']);
  });

  it('are exactly what the builder makes from the spec', async () => {
    const built = await buildImportTokenVectors();
    assert.deepEqual(files, [...built.keys()].map((n) => `${n}.json`).sort());
    for (const [name, v] of built) assert.equal(fs.readFileSync(path.join(IMPORT_TOKEN_VECTOR_DIR, `${name}.json`), 'utf8'), vectorFileText(v), name);
  });

  for (const file of files) {
    it(file, async () => {
      const v = JSON.parse(fs.readFileSync(path.join(IMPORT_TOKEN_VECTOR_DIR, file), 'utf8')) as ImportTokenVector;
      const provider = EnvRootKeyProvider.fromBase64(Buffer.from(v.root_key_hex, 'hex').toString('base64'));
      const open = () => openImportToken(provider, Buffer.from(v.token_hex, 'hex'));
      switch (v.expect) {
        case 'success': {
          const r = await open();
          assert.deepEqual(r.contents, { tokenId: v.token_id, keyId: v.key_id, validTo: v.valid_to, wrappingAlgorithm: v.wrapping_algorithm, wrappingKeySpec: v.wrapping_key_spec });
          assert.equal(r.wrappingKeyPkcs8.toString('hex'), v.payload_hex);
          break;
        }
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
