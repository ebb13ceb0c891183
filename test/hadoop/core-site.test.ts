// How a core-site.xml is read: Hadoop's rules for repeated, final, empty and deprecated
// properties, and S3A's per-bucket lookup order. Each expectation below was first observed
// with the real classes (hadoop-aws 3.5.0: Configuration + S3AUtils.propagateBucketOptions +
// S3AUtils.buildEncryptionSecrets), see interop/hadoop-s3a/README.md; the interop test checks
// the common cases again with the S3A connector writing objects.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCoreSite, bucketsWithOverrides, CoreSiteError } from '../../src/hadoop/core-site.js';
import { s3aSettings, parseContext } from '../../src/hadoop/s3a-settings.js';

function site(...props: ([string, string] | [string, string, 'final'])[]): string {
  const body = props.map(([n, v, f]) => `  <property><name>${n}</name><value>${v}</value>${f ? '<final>true</final>' : ''}</property>`).join('\n');
  return `<?xml version="1.0"?>\n<configuration>\n${body}\n</configuration>\n`;
}

const settings = (xml: string, bucket?: string) => s3aSettings(parseCoreSite(xml), bucket);
const ALG: [string, string] = ['fs.s3a.encryption.algorithm', 'SSE-KMS'];

test('the later of the new and the deprecated key name wins, in either order', () => {
  const newThenOld = settings(site(ALG, ['fs.s3a.encryption.key', 'NEW'], ['fs.s3a.server-side-encryption.key', 'OLD']));
  assert.deepEqual(newThenOld.key, { value: 'OLD', from: 'fs.s3a.server-side-encryption.key' });
  const oldThenNew = settings(site(ALG, ['fs.s3a.server-side-encryption.key', 'OLD'], ['fs.s3a.encryption.key', 'NEW']));
  assert.deepEqual(oldThenNew.key, { value: 'NEW', from: 'fs.s3a.encryption.key' });
});

test('a final definition is not replaced by a later one, whichever name the later one uses', () => {
  const xml = site(ALG, ['fs.s3a.server-side-encryption.key', 'OLD', 'final'], ['fs.s3a.encryption.key', 'NEW']);
  const parsed = parseCoreSite(xml);
  assert.equal(s3aSettings(parsed, undefined).key?.value, 'OLD');
  assert.match(parsed.notes.join('\n'), /fs\.s3a\.encryption\.key \(property #3\) is ignored: fs\.s3a\.server-side-encryption\.key \(property #2\) is final/);
});

test('the seed\'s names alone: SSE-KMS with the key, reported under the names the file used', () => {
  const s = settings(site(['fs.s3a.server-side-encryption-algorithm', 'SSE-KMS'], ['fs.s3a.server-side-encryption.key', 'arn:aws:kms:us-east-1:111122223333:key/k']));
  assert.equal(s.method, 'SSE-KMS');
  assert.equal(s.algorithmFrom, 'fs.s3a.server-side-encryption-algorithm');
  assert.equal(s.key?.from, 'fs.s3a.server-side-encryption.key');
});

test('per bucket: the bucket\'s value beats the base one; other buckets keep the base', () => {
  const xml = site(ALG, ['fs.s3a.encryption.key', 'BASE'], ['fs.s3a.bucket.logs.encryption.key', 'LOGS']);
  assert.deepEqual(settings(xml, 'logs').key, { value: 'LOGS', from: 'fs.s3a.bucket.logs.encryption.key' });
  assert.equal(settings(xml, 'other').key?.value, 'BASE');
  assert.equal(settings(xml, undefined).key?.value, 'BASE');
});

test('per bucket: the new name beats the deprecated one in either order; the deprecated one beats the base', () => {
  for (const order of [0, 1]) {
    const pair: [string, string][] = [['fs.s3a.bucket.b.encryption.key', 'BNEW'], ['fs.s3a.bucket.b.server-side-encryption.key', 'BOLD']];
    if (order) pair.reverse();
    assert.equal(settings(site(ALG, ...pair), 'b').key?.value, 'BNEW');
  }
  assert.equal(settings(site(ALG, ['fs.s3a.encryption.key', 'BASE'], ['fs.s3a.bucket.b.server-side-encryption.key', 'BOLD']), 'b').key?.value, 'BOLD');
});

test('per bucket: the long form fs.s3a.bucket.B.fs.s3a.<option> beats the short one', () => {
  const xml = site(ALG, ['fs.s3a.bucket.b.encryption.key', 'SHORT'], ['fs.s3a.bucket.b.fs.s3a.encryption.key', 'LONG']);
  assert.deepEqual(settings(xml, 'b').key, { value: 'LONG', from: 'fs.s3a.bucket.b.fs.s3a.encryption.key' });
});

test('empty values are ignored; a whitespace-only per-bucket algorithm means no encryption for that bucket', () => {
  assert.equal(settings(site(ALG, ['fs.s3a.encryption.key', 'G'], ['fs.s3a.encryption.key', '']), undefined).key?.value, 'G');
  assert.equal(settings(site(ALG, ['fs.s3a.encryption.key', 'G'], ['fs.s3a.bucket.b.encryption.key', '']), 'b').key?.value, 'G');
  assert.equal(settings(site(ALG, ['fs.s3a.bucket.b.encryption.algorithm', ' ']), 'b').method, 'NONE');
  assert.equal(settings(site(ALG, ['fs.s3a.bucket.b.encryption.algorithm', '']), 'b').method, 'SSE-KMS');
});

test('algorithm names match case-insensitively; an unknown one is reported as such; values are trimmed', () => {
  assert.equal(settings(site(['fs.s3a.encryption.algorithm', 'sse-kms'])).method, 'SSE-KMS');
  assert.deepEqual(settings(site(['fs.s3a.encryption.algorithm', 'SSE-ROT13'])).method, { unknown: 'SSE-ROT13' });
  assert.equal(settings(site(ALG, ['fs.s3a.encryption.key', '  K1  '])).key?.value, 'K1');
});

test('connection options per bucket: the short per-bucket form beats the base', () => {
  const xml = site(['fs.s3a.endpoint', 'http://a:1'], ['fs.s3a.bucket.b.endpoint', 'http://b:2'], ['fs.s3a.path.style.access', 'true']);
  assert.equal(settings(xml, 'b').endpoint?.value, 'http://b:2');
  assert.equal(settings(xml, 'b').pathStyle?.from, 'fs.s3a.path.style.access');
  assert.equal(settings(xml, 'c').endpoint?.value, 'http://a:1');
});

test('buckets with overrides, dotted bucket names included', () => {
  const xml = site(['fs.s3a.bucket.logs.encryption.key', 'a'], ['fs.s3a.bucket.my.data.set.endpoint', 'x'], ['fs.s3a.bucket.logs.access.key', 'k']);
  assert.deepEqual(bucketsWithOverrides(parseCoreSite(xml)), ['logs', 'my.data.set']);
});

test('credential providers: S3A\'s own list first, then Hadoop\'s', () => {
  const xml = site(['hadoop.security.credential.provider.path', 'jceks://file/a.jceks'], ['fs.s3a.bucket.b.security.credential.provider.path', 'jceks://hdfs/b.jceks']);
  assert.deepEqual(settings(xml, 'b').credentialProviders.map((p) => p.value), ['jceks://hdfs/b.jceks', 'jceks://file/a.jceks']);
});

test('encryption context: comma-separated k=v pairs, trimmed', () => {
  assert.deepEqual(parseContext('project=hadoop, jira=HADOOP-19197, component=fs/s3'), { project: 'hadoop', jira: 'HADOOP-19197', component: 'fs/s3' });
});

test('not a configuration file: a clear error', () => {
  assert.throws(() => parseCoreSite('<html></html>'), CoreSiteError);
  assert.throws(() => parseCoreSite('<configuration><property>'), CoreSiteError);
});

test('<xi:include> is reported as not followed; the file\'s own properties still count', () => {
  const xml = `<?xml version="1.0"?>
<configuration xmlns:xi="http://www.w3.org/2001/XInclude">
  <xi:include href="s3a-secrets.xml"/>
  <property><name>fs.s3a.encryption.algorithm</name><value>SSE-KMS</value><description>the seed's algorithm</description></property>
</configuration>`;
  const parsed = parseCoreSite(xml);
  assert.match(parsed.notes.join('\n'), /<xi:include> elements; Coffer does not follow them/);
  assert.equal(s3aSettings(parsed, undefined).method, 'SSE-KMS');
});
