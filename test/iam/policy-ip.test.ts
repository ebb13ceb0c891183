// Address and CIDR parsing behind IpAddress / NotIpAddress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, parseCidr, parseIp } from '../../src/iam/policy/ip.js';

type Case = [block: string, address: string, expected: boolean];
const cases: Case[] = [
  ['10.0.0.0/8', '10.255.255.255', true],
  ['10.0.0.0/8', '11.0.0.0', false],
  ['0.0.0.0/0', '8.8.8.8', true],
  ['192.0.2.7/32', '192.0.2.7', true],
  ['2001:db8::/32', '2001:0db8:0000:0000:0000:0000:0000:0001', true],
  ['2001:db8::1', '2001:db8:0:0:0:0:0:1', true],
  ['::/0', '::1', true],
  ['fe80::/10', 'fe80::1%eth0', true],
  ['::ffff:10.0.0.0/104', '10.1.2.3', true],
  ['64:ff9b::/96', '64:ff9b::192.0.2.33', true],
  ['10.0.0.0/8', '::ffff:10.0.0.1', true],
];
for (const [block, address, expected] of cases) {
  test(`${block} ${expected ? 'contains' : 'does not contain'} ${address}`, () => {
    const b = parseCidr(block);
    const a = parseIp(address);
    assert.ok(b && a);
    assert.equal(cidrContains(b, a), expected);
  });
}

for (const bad of ['10.0.0', '256.0.0.1', '10.0.0.0/33', '2001:db8::/129', '1::2::3', 'gggg::', '1:2:3:4:5:6:7:8:9', '']) {
  test(`"${bad}" is not a CIDR block`, () => assert.equal(parseCidr(bad), undefined));
}
