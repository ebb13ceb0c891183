// The KMS wire writes an operation's answer member by member (handler.ts answerJson): it
// must be the very JSON that JSON.stringify gives for the answer with its Buffers as
// base64 strings — member order, escaping, nested values, members left out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerJson } from '../../src/kms/handler.js';

function reference(out: Record<string, unknown>): string {
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(out)) o[k] = Buffer.isBuffer(out[k]) ? (out[k] as Buffer).toString('base64') : out[k];
  return JSON.stringify(o);
}

test('answerJson is JSON.stringify of the answer with base64 blobs', () => {
  const answers: Record<string, unknown>[] = [
    {},
    { CiphertextBlob: Buffer.from([0, 1, 2, 250, 251, 252]), Plaintext: Buffer.alloc(32, 7), KeyId: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', KeyMaterialId: 'ab'.repeat(32) },
    { KeyId: 'k', Plaintext: Buffer.alloc(0), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', KeyMaterialId: undefined },
    { KeyMetadata: { Description: 'quote " backslash \\ newline \n tab \t é 😀 \u2028', Enabled: true, CreationDate: 1.7e9, Deleted: null, List: ['a', 1, false, { x: undefined }] }, Truncated: false },
    { Aliases: [{ AliasName: 'alias/x', TargetKeyId: undefined }], NextMarker: 'bQ==', Count: 0, Fn: () => 1 },
  ];
  for (const a of answers) {
    const text = answerJson(a);
    assert.equal(text, reference(a));
    assert.doesNotThrow(() => JSON.parse(text));
  }
});
