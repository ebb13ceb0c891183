// Runs every file in test/vectors/kms-ciphertext/ (one scenario each), and checks the
// files are exactly what vector-scenarios.ts builds today — so the encoder cannot drift
// from the committed vectors without this test failing.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decryptCiphertext, parseCiphertextHeader } from '../../../src/kms/format/ciphertext.js';
import { CiphertextAuthError, CiphertextParseError } from '../../../src/custody/errors.js';
import { asKeyMaterial } from '../../../src/kms/format/key-material.js';
import { VECTOR_DIR, vectorFileText } from './generate-vectors.js';
import { buildVectors, type Vector } from './vector-scenarios.js';

const files = fs.readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();

describe('KMS ciphertext vectors', () => {
  it('covers every expectation kind', () => {
    const kinds = new Set(files.map((f) => (JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, f), 'utf8')) as Vector).expect));
    assert.deepEqual([...kinds].sort(), ['auth failure', 'parse failure', 'success']);
  });

  it('are exactly what the generator builds (regenerate with generate-vectors.js)', () => {
    const built = buildVectors();
    assert.deepEqual(files, [...built.keys()].map((n) => `${n}.json`).sort());
    for (const [name, v] of built) assert.equal(fs.readFileSync(path.join(VECTOR_DIR, `${name}.json`), 'utf8'), vectorFileText(v), name);
  });

  for (const file of files) {
    it(file, () => {
      const v = JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, file), 'utf8')) as Vector;
      const blob = Buffer.from(v.blob_hex, 'hex');
      const material = asKeyMaterial(Buffer.from(v.material_hex, 'hex'));
      switch (v.expect) {
        case 'success': {
          assert.deepEqual(parseCiphertextHeader(blob), { keyId: v.key_id, materialVersion: v.material_version });
          assert.equal(decryptCiphertext(blob, material, v.context).toString('hex'), v.plaintext_hex);
          break;
        }
        case 'auth failure':
          parseCiphertextHeader(blob);
          assert.throws(() => decryptCiphertext(blob, material, v.context), CiphertextAuthError);
          break;
        case 'parse failure':
          assert.throws(() => parseCiphertextHeader(blob), CiphertextParseError);
          assert.throws(() => decryptCiphertext(blob, material, v.context), CiphertextParseError);
          break;
        default:
          assert.fail(`unknown expect ${JSON.stringify(v.expect)}`);
      }
    });
  }
});
