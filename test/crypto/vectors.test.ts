// Runs every file in test/vectors/object-encryption/ (one scenario each) through the
// envelope decoder and the decrypt stream, and checks the files are exactly what
// vector-scenarios.ts builds today — so the format cannot drift from the committed
// vectors without this test failing.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  asObjectKey,
  createDecryptStream,
  createEncryptStream,
  decodeEnvelope,
  derivePartKey,
  EnvelopeParseError,
  SegmentAuthError,
  segmentNonce,
  segmentRange,
  TruncatedCiphertextError,
} from '../../src/crypto/index.js';
import { VECTOR_DIR, vectorFileText } from './generate-vectors.js';
import { chunk, run } from './helpers.js';
import { buildVectors, type Vector } from './vector-scenarios.js';

const files = fs.readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();

async function open(v: Vector, how: Parameters<typeof chunk>[1]) {
  const env = decodeEnvelope(Buffer.from(v.envelope_hex, 'hex'));
  const key = derivePartKey(asObjectKey(Buffer.from(v.object_key_hex, 'hex')), env.objectId, v.part_number);
  const range = v.range ? segmentRange(v.range.start, v.range.end, v.plaintext_size) : {};
  let opened = 0;
  const out = await run(
    createDecryptStream(key, { plaintextSize: v.plaintext_size, ...range, onSegment: () => opened++ }),
    chunk(Buffer.from(v.ciphertext_base64, 'base64'), how),
  );
  return { out, opened };
}

describe('object encryption vectors', () => {
  it('covers every expectation kind', () => {
    const kinds = new Set(files.map((f) => (JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, f), 'utf8')) as Vector).expect));
    assert.deepEqual([...kinds].sort(), ['auth failure', 'parse failure', 'success', 'truncation']);
  });

  it('are exactly what the generator builds (regenerate with generate-vectors.js)', () => {
    const built = buildVectors();
    assert.deepEqual(files, [...built.keys()].map((n) => `${n}.json`).sort());
    for (const [name, v] of built) assert.equal(fs.readFileSync(path.join(VECTOR_DIR, `${name}.json`), 'utf8'), vectorFileText(v), name);
  });

  for (const file of files) {
    it(file, async () => {
      const v = JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, file), 'utf8')) as Vector;
      for (const how of ['whole', 1000] as const) {
        switch (v.expect) {
          case 'success': {
            const { out, opened } = await open(v, how);
            assert.equal(out.length, v.output_size);
            assert.equal(createHash('sha256').update(out).digest('hex'), v.plaintext_sha256);
            assert.equal(opened, v.segments_opened);
            break;
          }
          case 'auth failure':
            await assert.rejects(open(v, how), SegmentAuthError);
            break;
          case 'truncation':
            await assert.rejects(open(v, how), TruncatedCiphertextError);
            break;
          case 'parse failure':
            assert.throws(() => decodeEnvelope(Buffer.from(v.envelope_hex, 'hex')), EnvelopeParseError);
            break;
          default:
            assert.fail(`unknown expect ${JSON.stringify(v.expect)}`);
        }
      }
    });
  }
});

describe('the worked example of the spec', () => {
  it('derives the part key, nonce, ciphertext and tag the spec shows', async () => {
    const v = JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, 'success-hello.json'), 'utf8')) as Vector;
    const env = decodeEnvelope(Buffer.from(v.envelope_hex, 'hex'));
    assert.equal(v.object_key_hex, '48c4c082ae6d365ace4f6618917a069086629076147e1364914a1781018b63f6');
    assert.equal(env.objectId.toString('hex'), '6f56c76d10cf5601b09726f1512fae29');
    const pk = derivePartKey(asObjectKey(Buffer.from(v.object_key_hex, 'hex')), env.objectId, 0);
    assert.equal(pk.toString('hex'), '28db67837f30715927585e554092b045147515a53116b053ac57afd4999f2670');
    assert.equal(segmentNonce(0, true).toString('hex'), '000000000000000000000001');
    const ct = await run(createEncryptStream(pk), [Buffer.from('Hello, Coffer', 'utf8')]);
    assert.equal(ct.toString('hex'), '591be935549d8e582d3bd12cb2' + 'd6f72d84c0900c12e96754381365b338');
    assert.equal(Buffer.from(v.ciphertext_base64, 'base64').toString('hex'), ct.toString('hex'));
    assert.equal(v.envelope_hex.length / 2, 279);
  });
});
