// X-Amz-Date parsing (sigv4.ts parseAmzDate): a timestamp that exists, exactly; dates that
// Date.UTC would roll over or read as another century are refused, also right after a
// valid one (the last value parsed is remembered).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAmzDate } from '../../src/auth/sigv4.js';

test('a valid X-Amz-Date is its instant, the second time too', () => {
  assert.equal(parseAmzDate('20130524T000000Z'), Date.UTC(2013, 4, 24));
  assert.equal(parseAmzDate('20130524T000000Z'), Date.UTC(2013, 4, 24));
  assert.equal(parseAmzDate('20240229T235959Z'), Date.UTC(2024, 1, 29, 23, 59, 59));
});

test('dates that do not exist or are not in the format are refused', () => {
  for (const bad of ['20130231T000000Z', '20230229T000000Z', '20131301T000000Z', '20130100T000000Z', '20130524T240000Z', '20130524T236000Z', '20130524T235960Z', '00990524T000000Z', '20130524T000000', '2013-05-24T00:00:00Z', '']) {
    parseAmzDate('20130524T000000Z');
    assert.equal(parseAmzDate(bad), undefined, bad);
  }
});
