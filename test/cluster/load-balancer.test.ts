// Three Coffer nodes behind the real HAProxy, configured by the shipped deploy/haproxy.cfg
// (rendered only where a test must: the nodes' loopback ports, a free port for the
// frontend, a throwaway certificate). The interop flows run through it unchanged: the AWS
// CLI (a multipart `aws s3 cp` up and down, s3api put/get/delete, KMS create-key, encrypt,
// decrypt, an IAM user created with create-user/create-access-key and then used) and
// boto3's SSE flow (fixtures/boto3_sse_flow.py: SSE-KMS, SSE-C, multipart, copies),
// HAProxy spreading the requests over all three nodes. Then one node is SIGKILLed, during
// a multipart upload: HAProxy's readiness checks take it out, and every request through
// the proxy still succeeds, with no retries but the clients' own.
//
// Without haproxy this file skips with a message on a developer machine and fails in CI
// (.ci/run installs Debian's haproxy).

import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { describePostgres } from '../helpers/postgres.js';
import { startCluster, ROOT_KEY_ID, ROOT_SECRET, type TestCluster } from '../helpers/cluster.js';
import { makeTestCertificate } from '../helpers/tls.js';
import { cleanAwsEnv } from '../interop/clients.js';
import { FIXTURES, REPO_ROOT, sha256hex, waitFor, type FlowStep } from '../interop/support.js';

const MiB = 1024 * 1024;
const haproxyMissing = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0 ? undefined : 'haproxy is not installed (Debian package haproxy; .ci/run installs it)';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout, maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

/** deploy/haproxy.cfg with the nodes' ports, the frontend's port and the test certificate. */
function renderHaproxyConfig(shipped: string, o: { bindPort: number; nodePorts: number[]; pem: string }): string {
  let text = shipped.replace(/^(\s*bind\s+):9443(\s)/m, `$1127.0.0.1:${o.bindPort}$2`).replace('/usr/local/etc/haproxy/coffer.pem', o.pem);
  o.nodePorts.forEach((port, i) => {
    text = text.replace(new RegExp(`^(\\s*server\\s+coffer${i + 1}\\s+)coffer${i + 1}:9000$`, 'm'), `$1127.0.0.1:${port}`);
  });
  return text;
}

describePostgres('three nodes behind HAProxy (deploy/haproxy.cfg)', () => {
  let cluster: TestCluster;
  let temp: string;
  let haproxy: ChildProcess | undefined;
  let log = '';
  /** When HAProxy's log first said coffer2 is down. */
  let coffer2DownAt: number | undefined;
  let endpoint = '';
  let env: NodeJS.ProcessEnv;
  let caBundle = '';
  let certDir = '';
  const bucket = `lb-${process.pid}`;

  const aws = (args: string[], extra: Record<string, string> = {}) =>
    exec('aws', [...args, '--endpoint-url', endpoint, '--output', 'json'], { ...env, ...extra });
  const awsOk = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await aws(args, extra);
    assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}`);
    // `aws s3` prints progress lines, the other commands JSON.
    return args[0] === 's3' ? {} : r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
  };
  /** The servers HAProxy's request log lines name since `from` (an offset into its log). */
  const serversSince = (from: number) => new Set([...log.slice(from).matchAll(/ coffer_nodes\/(coffer\d) /g)].map((m) => m[1]!));

  before(async () => {
    if (haproxyMissing) {
      if (process.env.CI) throw new Error(haproxyMissing);
      return;
    }
    temp = await mkdtemp(join(tmpdir(), 'coffer-lb-'));
    cluster = await startCluster({ nodes: 3 });
    const cert = makeTestCertificate();
    caBundle = cert.certPath;
    certDir = cert.dir;
    const pem = join(temp, 'coffer.pem');
    await writeFile(pem, Buffer.concat([cert.cert, cert.key]), { mode: 0o600 });
    const bindPort = await freePort();
    const shipped = await readFile(join(REPO_ROOT, 'deploy', 'haproxy.cfg'), 'utf8');
    const rendered = renderHaproxyConfig(shipped, { bindPort, pem, nodePorts: cluster.nodes.map((n) => Number(new URL(n.url()).port)) });
    // Only the addresses changed: every directive of the shipped file is there.
    assert.equal(rendered.split('\n').length, shipped.split('\n').length);
    for (let i = 1; i <= 3; i++) assert.match(rendered, new RegExp(`server coffer${i} 127\\.0\\.0\\.1:\\d+$`, 'm'));
    const cfg = join(temp, 'haproxy.cfg');
    await writeFile(cfg, rendered);
    const check = await exec('haproxy', ['-c', '-f', cfg], process.env, 30_000);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    haproxy = spawn('haproxy', ['-db', '-f', cfg, '-p', join(temp, 'haproxy.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onLog = (d: Buffer) => {
      log += d.toString();
      if (coffer2DownAt === undefined && log.includes('Server coffer_nodes/coffer2 is DOWN')) coffer2DownAt = Date.now();
    };
    haproxy.stdout!.on('data', onLog);
    haproxy.stderr!.on('data', onLog);
    endpoint = `https://127.0.0.1:${bindPort}`;
    env = cleanAwsEnv({ AWS_ACCESS_KEY_ID: ROOT_KEY_ID, AWS_SECRET_ACCESS_KEY: ROOT_SECRET, AWS_DEFAULT_REGION: 'us-east-1', AWS_CA_BUNDLE: caBundle });
    const up = await waitFor(async () => {
      const r = await exec('aws', ['s3api', 'list-buckets', '--endpoint-url', endpoint], env, 20_000);
      return r.code === 0;
    }, 20_000, 200);
    assert.ok(up, `HAProxy did not answer on ${endpoint}: ${log}`);
  });

  after(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r));
      haproxy.kill('SIGTERM');
      await exited;
    }
    await cluster?.stop();
    if (temp) await rm(temp, { recursive: true, force: true });
    if (certDir) await rm(certDir, { recursive: true, force: true });
  });

  const opts = { skip: haproxyMissing && !process.env.CI ? `${haproxyMissing} — skipped (in CI this fails)` : false };

  test('aws s3 cp uploads a 20 MiB file in parts and downloads it through the proxy, the requests spread over all three nodes', opts, async () => {
    const from = log.length;
    await awsOk(['s3api', 'create-bucket', '--bucket', bucket]);
    const body = randomBytes(20 * MiB + 17);
    const src = join(temp, 'big.bin');
    const back = join(temp, 'big.back');
    await writeFile(src, body);
    await awsOk(['s3', 'cp', src, `s3://${bucket}/big.bin`]);
    const head = await awsOk(['s3api', 'head-object', '--bucket', bucket, '--key', 'big.bin']);
    assert.match(String(head.ETag), /-3"$/, 'multipart: 8 MiB parts (the CLI default) make three');
    await awsOk(['s3', 'cp', `s3://${bucket}/big.bin`, back]);
    assert.equal(sha256hex(await readFile(back)), sha256hex(body));
    assert.deepEqual([...serversSince(from)].sort(), ['coffer1', 'coffer2', 'coffer3']);
  });

  test('aws s3api put-object, get-object, delete-object through the proxy', opts, async () => {
    const src = join(temp, 'small.txt');
    const back = join(temp, 'small.back');
    await writeFile(src, 'through haproxy\n');
    const put = await awsOk(['s3api', 'put-object', '--bucket', bucket, '--key', 'small.txt', '--body', src]);
    const got = await awsOk(['s3api', 'get-object', '--bucket', bucket, '--key', 'small.txt', back]);
    assert.equal(got.ETag, put.ETag);
    assert.equal(await readFile(back, 'utf8'), 'through haproxy\n');
    await awsOk(['s3api', 'delete-object', '--bucket', bucket, '--key', 'small.txt']);
    const gone = await aws(['s3api', 'head-object', '--bucket', bucket, '--key', 'small.txt']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /404|Not Found/);
  });

  test('aws kms create-key, encrypt and decrypt through the proxy', opts, async () => {
    const key = (await awsOk(['kms', 'create-key', '--description', 'behind haproxy'])).KeyMetadata as { KeyId: string; Arn: string };
    const plain = randomBytes(100);
    const pf = join(temp, 'plain.bin');
    const cf = join(temp, 'cipher.bin');
    await writeFile(pf, plain);
    // Several rounds, so encrypt and decrypt land on different nodes.
    for (let i = 0; i < 3; i++) {
      const enc = await awsOk(['kms', 'encrypt', '--key-id', key.KeyId, '--plaintext', `fileb://${pf}`]);
      assert.equal(enc.KeyId, key.Arn);
      await writeFile(cf, Buffer.from(String(enc.CiphertextBlob), 'base64'));
      const dec = await awsOk(['kms', 'decrypt', '--ciphertext-blob', `fileb://${cf}`]);
      assert.equal(dec.KeyId, key.Arn);
      assert.deepEqual(Buffer.from(String(dec.Plaintext), 'base64'), plain);
    }
  });

  test('an IAM user made with aws iam create-user and create-access-key works through the proxy, within its policy', opts, async () => {
    const user = `lb-user-${process.pid}`;
    await awsOk(['iam', 'create-user', '--user-name', user]);
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: `arn:aws:s3:::${bucket}/*` }],
    });
    await awsOk(['iam', 'put-user-policy', '--user-name', user, '--policy-name', 'objects', '--policy-document', policy]);
    const ak = (await awsOk(['iam', 'create-access-key', '--user-name', user])).AccessKey as { AccessKeyId: string; SecretAccessKey: string };
    const as = { AWS_ACCESS_KEY_ID: ak.AccessKeyId, AWS_SECRET_ACCESS_KEY: ak.SecretAccessKey };
    // Three calls, so the new key is used on more than one node.
    for (let i = 0; i < 3; i++) {
      const id = await awsOk(['sts', 'get-caller-identity'], as);
      assert.equal(id.Arn, `arn:aws:iam::${cluster.accountId}:user/${user}`);
    }
    const src = join(temp, 'user.txt');
    await writeFile(src, 'written by an IAM user\n');
    await awsOk(['s3api', 'put-object', '--bucket', bucket, '--key', 'user.txt', '--body', src], as);
    const back = join(temp, 'user.back');
    await awsOk(['s3api', 'get-object', '--bucket', bucket, '--key', 'user.txt', back], as);
    assert.equal(await readFile(back, 'utf8'), 'written by an IAM user\n');
    const denied = await aws(['s3api', 'delete-object', '--bucket', bucket, '--key', 'user.txt'], as);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /AccessDenied/);
  });

  test("boto3's SSE flow (fixtures/boto3_sse_flow.py) passes every step through the proxy", opts, async () => {
    const n = cluster.nodes[0]!.kms();
    const keyArn = (await n.send(new CreateKeyCommand({ Description: 'lb sse' }))).KeyMetadata!.Arn!;
    const other = (await n.send(new CreateKeyCommand({ Description: 'lb sse, copy target' }))).KeyMetadata!.Arn!;
    const alias = `alias/lb-sse-${process.pid}`;
    await n.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyArn }));
    // The flow's own environment, as runPythonFlow sets it, plus the proxy's certificate.
    const r = await exec('python3', [join(FIXTURES, 'boto3_sse_flow.py'), endpoint, ROOT_KEY_ID, ROOT_SECRET, `${bucket}-sse`, keyArn, alias, other], cleanAwsEnv({ AWS_CA_BUNDLE: caBundle }), 300_000);
    assert.equal(r.code, 0, r.stderr);
    const steps = (JSON.parse(r.stdout) as { steps: Record<string, FlowStep> }).steps;
    assert.ok(Object.keys(steps).length >= 13, r.stdout);
    for (const [name, s] of Object.entries(steps)) assert.ok(s.ok, `step ${name} failed: ${s.error}\n${s.trace ?? ''}`);
  });

  test('a node SIGKILLed during a multipart upload leaves the rotation by its health checks; the upload and every later request through the proxy succeed', opts, async (t) => {
    const body = randomBytes(48 * MiB + 5);
    const src = join(temp, 'during.bin');
    await writeFile(src, body);
    const from = log.length;
    let uploading = true;
    const upload = aws(['s3', 'cp', src, `s3://${bucket}/during.bin`]).finally(() => (uploading = false));
    // Kill coffer2 once the upload's parts are flowing (the CLI sends them in parallel: the first is in).
    assert.ok(await waitFor(async () => /"PUT \/[^ ]*partNumber=/.test(log.slice(from)), 30_000, 20), 'no part arrived');
    const killedAt = Date.now();
    await cluster.nodes[1]!.kill();
    assert.ok(uploading, 'the node was killed while the upload ran');
    const up = await upload;
    assert.equal(up.code, 0, `the upload, across the kill: ${up.stderr}`);

    // Requests right after the kill, before and after the checks notice.
    const src2 = join(temp, 'after.txt');
    await writeFile(src2, 'after the kill\n');
    for (let i = 0; i < 6; i++) {
      await awsOk(['s3api', 'put-object', '--bucket', bucket, '--key', `after-${i}.txt`, '--body', src2]);
      await awsOk(['s3api', 'head-object', '--bucket', bucket, '--key', `after-${i}.txt`]);
    }
    const down = await waitFor(async () => /Server coffer_nodes\/coffer2 is DOWN/.test(log.slice(from)), 15_000, 50);
    assert.ok(down, `HAProxy did not mark coffer2 down: ${log.slice(from, from + 4000)}`);
    const detectedMs = coffer2DownAt! - killedAt;

    const back = join(temp, 'during.back');
    await awsOk(['s3', 'cp', `s3://${bucket}/during.bin`, back]);
    assert.equal(sha256hex(await readFile(back)), sha256hex(body));
    const fromDown = log.length;
    const key = (await awsOk(['kms', 'create-key'])).KeyMetadata as { KeyId: string };
    const pf = join(temp, 'plain2.bin');
    await writeFile(pf, 'after the kill');
    for (let i = 0; i < 4; i++) await awsOk(['kms', 'encrypt', '--key-id', key.KeyId, '--plaintext', `fileb://${pf}`]);
    // Once down, coffer2 gets no request.
    assert.deepEqual([...serversSince(fromDown)].sort(), ['coffer1', 'coffer3']);
    // What clients met in the window, from HAProxy's request log: status codes coffer2 gave (or HAProxy for it).
    const onDead = [...log.slice(from).matchAll(/ coffer_nodes\/coffer2 \S+ (\d{3}) .*"([A-Z]+) ([^ ?]*)/g)].map((m) => `${m[1]} ${m[2]}`);
    const failed = [...log.slice(from).matchAll(/ coffer_nodes\/\S+ \S+ (5\d\d) /g)].length;
    // The log's retries field is "+n" when HAProxy sent the request to another server.
    const redispatched = [...log.slice(from).matchAll(/ \d+\/\d+\/\d+\/\d+\/\+\d+ /g)].length;
    t.diagnostic(
      `coffer2 marked down ${detectedMs} ms after the kill; 5xx answers clients met (and retried): ${failed}; ` +
        `requests HAProxy moved to another node after a refused connection: ${redispatched}; on coffer2 since the upload began: ${onDead.join(', ')}`,
    );
  });
});
