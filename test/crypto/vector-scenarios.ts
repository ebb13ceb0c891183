// The object encryption test vectors, built deterministically: every key, id and
// plaintext byte comes from a SHA-256 counter stream over a fixed seed, so regenerating
// gives identical files. generate-vectors.ts writes them to test/vectors/object-encryption/;
// vectors.test.ts checks the files still match this builder and runs each one.
// Failure scenarios forge segments with the real part key (sealSegment), as a broken
// or malicious writer could; a reader must refuse them all.

import { createHash } from 'node:crypto';
import {
  derivePartKey,
  encodeEncryptionContext,
  encodeEnvelope,
  newObjectId,
  newObjectKey,
  SEALED_SEGMENT_SIZE,
  SEGMENT_SIZE,
  segmentRange,
  type ObjectId,
  type ObjectKey,
} from '../../src/crypto/index.js';
import { sealSegment } from '../../src/crypto/segment.js';
import { deterministicRandom } from './helpers.js';

export interface Vector {
  expect: 'success' | 'auth failure' | 'truncation' | 'parse failure';
  description: string;
  object_key_hex: string;
  envelope_hex: string;
  part_number: number;
  plaintext_size: number;
  range?: { start: number; end: number };
  ciphertext_base64: string;
  plaintext_sha256?: string;
  output_size?: number;
  segments_opened?: number;
}

const S = SEGMENT_SIZE;
export const VECTOR_KEY_ARN = 'arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** Encrypts in memory, segment by segment (the vectors are small; the streams are tested against these). */
function encryptPart(objectKey: ObjectKey, objectId: ObjectId, partNumber: number, pt: Buffer): Buffer[] {
  const key = derivePartKey(objectKey, objectId, partNumber);
  const n = Math.max(1, Math.ceil(pt.length / S));
  const segs: Buffer[] = [];
  for (let i = 0; i < n; i++) segs.push(Buffer.concat(sealSegment(key, i, i === n - 1, pt.subarray(i * S, (i + 1) * S))));
  return segs;
}

export function buildVectors(): Map<string, Vector> {
  const rnd = deterministicRandom('coffer/object-encryption/v1 test vectors');
  const objectKey = newObjectKey(rnd);
  const objectId = newObjectId(rnd);
  const otherId = newObjectId(rnd);
  const envelopeFor = (id: ObjectId) =>
    encodeEnvelope({ objectId: id, kind: 'sse-kms', keyId: VECTOR_KEY_ARN, context: { 'aws:s3:arn': 'arn:aws:s3:::photos/2024/cat.jpg' }, wrappedKey: rnd(121) });
  const envelope = envelopeFor(objectId);
  const otherEnvelope = envelopeFor(otherId);
  const out = new Map<string, Vector>();
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  interface Case {
    env?: Buffer;
    part?: number;
    size: number;
    range?: { start: number; end: number };
    ciphertext: Buffer;
  }
  const base = (expect: Vector['expect'], description: string, c: Case): Vector => ({
    expect,
    description,
    object_key_hex: objectKey.toString('hex'),
    envelope_hex: (c.env ?? envelope).toString('hex'),
    part_number: c.part ?? 0,
    plaintext_size: c.size,
    ...(c.range ? { range: c.range } : {}),
    ciphertext_base64: c.ciphertext.toString('base64'),
  });
  const success = (name: string, description: string, pt: Buffer, part = 0, range?: { start: number; end: number }) => {
    const segs = encryptPart(objectKey, objectId, part, pt);
    const whole = Buffer.concat(segs);
    const r = range ? segmentRange(range.start, range.end, pt.length) : undefined;
    const output = range ? pt.subarray(range.start, range.end) : pt;
    out.set(name, {
      ...base('success', description, { part, size: pt.length, ...(range ? { range } : {}), ciphertext: r ? whole.subarray(r.cipherStart, r.cipherEnd) : whole }),
      plaintext_sha256: sha(output),
      output_size: output.length,
      segments_opened: r ? r.lastSegment - r.firstSegment + 1 : segs.length,
    });
    return segs;
  };
  const failure = (name: string, expect: Vector['expect'], description: string, c: Case) => out.set(name, base(expect, description, c));

  success('success-empty', 'empty object: one empty final segment, 16 bytes', Buffer.alloc(0));
  success('success-hello', 'the worked example of the spec: "Hello, Coffer" (13 bytes)', Buffer.from('Hello, Coffer', 'utf8'));
  success('success-one-byte', '1-byte object', rnd(1));
  success('success-one-full-segment', 'exactly 65536 bytes: one full final segment (no empty segment after it)', rnd(S));
  success('success-two-segments', '65537 bytes: a full segment and a 1-byte final segment', rnd(S + 1));
  const pt3 = rnd(2 * S + 1000);
  const three = success('success-three-segments', '132072 bytes: two full segments and a 1000-byte final segment', pt3);
  const partPt = rnd(S + 5000);
  const part2 = success('success-multipart-part-2', 'part 2 of a multipart object (part key derived with part number 2), 70536 bytes', partPt, 2);
  success('success-range-across-boundary', 'range [65533, 65541) of the three-segment object: crosses one boundary, opens 2 segments', pt3, 0, { start: S - 3, end: S + 5 });
  success('success-range-one-byte', 'range [100000, 100001): one byte in the middle segment, opens 1 segment', pt3, 0, { start: 100000, end: 100001 });
  success('success-range-final-segment', 'range [131572, 132072): the tail, inside the short final segment', pt3, 0, { start: 2 * S + 500, end: 2 * S + 1000 });

  const size3 = pt3.length;
  const cat = (...b: Buffer[]) => Buffer.concat(b);
  const flipped = Buffer.from(three[1]!);
  flipped[1000]! ^= 0x01;
  failure('auth-tampered-middle-segment', 'auth failure', 'one bit flipped in segment 1 of 3', { size: size3, ciphertext: cat(three[0]!, flipped, three[2]!) });
  const tagFlipped = Buffer.from(three[2]!);
  tagFlipped[tagFlipped.length - 1]! ^= 0x80;
  failure('auth-tampered-final-tag', 'auth failure', 'one bit flipped in the tag of the final segment', { size: size3, ciphertext: cat(three[0]!, three[1]!, tagFlipped) });
  failure('auth-swapped-segments', 'auth failure', 'segments 0 and 1 swapped', { size: size3, ciphertext: cat(three[1]!, three[0]!, three[2]!) });
  failure('auth-duplicated-segment', 'auth failure', 'segment 0 repeated in place of segment 1', { size: size3, ciphertext: cat(three[0]!, three[0]!, three[2]!) });

  const key0 = derivePartKey(objectKey, objectId, 0);
  const forgedFinal = Buffer.concat(sealSegment(key0, 1, true, pt3.subarray(S, 2 * S)));
  failure('auth-final-flag-forged', 'auth failure', 'segment 1 sealed with the final flag set (as if the object ended there); the size says 3 segments', {
    size: size3,
    ciphertext: cat(three[0]!, forgedFinal),
  });
  failure('auth-final-flag-missing', 'auth failure', 'cut after segment 1 and the stored size rewritten to 131072: the last segment, a full one, was not sealed as final', {
    size: 2 * S,
    ciphertext: cat(three[0]!, three[1]!),
  });
  failure('auth-appended-segment', 'auth failure', 'the final segment followed by another copy of it', { size: size3, ciphertext: cat(...three, three[2]!) });
  failure('auth-size-smaller', 'auth failure', 'stored size one byte smaller than the object: the final segment is cut in the wrong place', {
    size: size3 - 1,
    ciphertext: cat(...three).subarray(0, SEALED_SEGMENT_SIZE * 2 + 999 + 16),
  });

  const part1 = encryptPart(objectKey, objectId, 1, partPt);
  failure('auth-part-swapped', 'auth failure', 'part 1 of the same upload (same size) read as part 2', { part: 2, size: partPt.length, ciphertext: cat(...part1) });
  void part2;
  const moved = encryptPart(objectKey, otherId, 0, pt3);
  failure('auth-segment-from-other-object', 'auth failure', 'segment 1 taken from another object with the same data key and plaintext but another object id', {
    size: size3,
    ciphertext: cat(three[0]!, moved[1]!, three[2]!),
  });
  failure('auth-other-object-id', 'auth failure', 'the object read with the envelope of another object (another object id, same data key)', {
    env: otherEnvelope,
    size: size3,
    ciphertext: cat(...three),
  });
  const idFlipped = Buffer.from(envelope);
  idFlipped[6]! ^= 0x01;
  failure('auth-tampered-object-id', 'auth failure', 'one bit of the object id in the envelope flipped', { env: idFlipped, size: size3, ciphertext: cat(...three) });

  failure('truncation-dropped-final-segment', 'truncation', 'the final segment dropped: the ciphertext ends at a segment boundary', { size: size3, ciphertext: cat(three[0]!, three[1]!) });
  failure('truncation-inside-final-segment', 'truncation', 'the last byte of the final tag dropped', { size: size3, ciphertext: cat(...three).subarray(0, -1) });
  failure('truncation-empty-ciphertext', 'truncation', 'an empty object whose only (empty, final) segment is missing', { size: 0, ciphertext: Buffer.alloc(0) });
  failure('truncation-range', 'truncation', 'a range over segments 0 and 1 that stops inside segment 1', {
    size: size3,
    range: { start: S - 3, end: S + 5 },
    ciphertext: cat(three[0]!, three[1]!.subarray(0, 100)),
  });

  const hello = Buffer.concat(encryptPart(objectKey, objectId, 0, Buffer.from('Hello, Coffer', 'utf8')));
  const withEnvelope = (name: string, description: string, env: Buffer) =>
    failure(name, 'parse failure', description, { env, size: 13, ciphertext: hello });
  withEnvelope('parse-envelope-version', 'envelope version 0x02', cat(Buffer.of(2), envelope.subarray(1)));
  withEnvelope('parse-envelope-algorithm', 'algorithm id 0x02', cat(envelope.subarray(0, 1), Buffer.of(2), envelope.subarray(2)));
  withEnvelope('parse-envelope-segment-size', 'segment size 1048576 instead of 65536', cat(envelope.subarray(0, 2), Buffer.from('00100000', 'hex'), envelope.subarray(6)));
  withEnvelope('parse-envelope-trailing-byte', 'one byte after the wrapped key', cat(envelope, Buffer.of(0)));
  withEnvelope('parse-envelope-truncated', 'envelope cut inside the wrapped key', envelope.subarray(0, -1));
  const keyIdEnd = 25 + Buffer.byteLength(VECTOR_KEY_ARN);
  const ctxLength = encodeEncryptionContext({ 'aws:s3:arn': 'arn:aws:s3:::photos/2024/cat.jpg' }).length;
  const unsorted = cat(
    Buffer.from('00000002', 'hex'),
    Buffer.from('0000000162' + '0000000131', 'hex'), // "b": "1"
    Buffer.from('0000000161' + '0000000132', 'hex'), // "a": "2"
  );
  withEnvelope('parse-envelope-unsorted-context', 'encryption context keys out of order ("b" before "a")', cat(envelope.subarray(0, keyIdEnd), unsorted, envelope.subarray(keyIdEnd + ctxLength)));
  return out;
}
