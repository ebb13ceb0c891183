// Upload ids: what command-line clients can pass back. The AWS CLI (argparse) takes an
// argument beginning with "-" for an option: `aws s3api upload-part --upload-id -Xy…` fails
// with "expected one argument" — one id in 32 drawn as plain base64url began with "-" (the
// aws-cli interop test met one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newUploadId } from '../../src/s3/multipart-upload.js';

test('upload ids: 64 base64url characters (48 random bytes), never beginning with "-" or "_", all distinct', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const id = newUploadId();
    assert.match(id, /^[A-Za-z0-9][A-Za-z0-9_-]{63}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 20_000);
});
