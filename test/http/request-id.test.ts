// Request ids: 16 upper-case hex digits, like S3's, and never repeated within a process
// (they are a per-process random prefix and a counter, not a CSPRNG draw per request).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newRequestId } from '../../src/http/server.js';

describe('newRequestId', () => {
  it('hands out distinct 16-digit upper-case hex ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) {
      const id = newRequestId();
      assert.match(id, /^[0-9A-F]{16}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 50_000);
  });
});
