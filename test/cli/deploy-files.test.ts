// The deployment files, checked without a container engine (the build machine has only
// the Docker client): the Dockerfile's stages and runtime settings, .dockerignore, the
// HEALTHCHECK command itself, the systemd unit through `systemd-analyze verify` and its
// offline security review, and deploy/compose.yaml parsed as YAML (PyYAML, which the AWS
// CLI brings).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CLI_MAIN, REPO_ROOT } from '../interop/support.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === -1 ? err.message : '') });
    });
  });
}

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    out.push({ op: m[1]!.toUpperCase(), args: m[2]! });
  }
  return out;
}

interface Stage {
  name: string;
  from: string;
  body: Instruction[];
}

function stages(all: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const i of all) {
    if (i.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      assert.ok(m, `FROM ${i.args}`);
      out.push({ name: m[2] ?? `#${out.length}`, from: m[1]!, body: [] });
    } else if (out.length > 0) out.at(-1)!.body.push(i);
  }
  return out;
}

const dockerfile = await fs.readFile(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
const all = instructions(dockerfile);
const built = stages(all);
const runtime = built.at(-1)!;
const healthcheck = runtime.body.find((i) => i.op === 'HEALTHCHECK');

test('the Dockerfile builds in one stage and runs from another, as a non-root user with a /data volume and a health check', () => {
  assert.ok(built.length >= 2, 'multi-stage');
  const names = new Set(built.map((s) => s.name));
  for (const s of built) {
    assert.ok(s.from === '${NODE_IMAGE}' || names.has(s.from) || /^node:2[2-9]/.test(s.from), `stage ${s.name} starts from Node >= 22 (${s.from})`);
  }
  assert.match(all.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='))?.args ?? '', /^NODE_IMAGE=node:(22|24)\b/);
  const build = built.find((s) => s.body.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)));
  assert.ok(build && build !== runtime, 'a build stage runs npm run build');
  assert.ok(build.body.some((i) => i.op === 'RUN' && /npm ci\b/.test(i.args)) || built.some((s) => s.name === build.from), 'the build installs with npm ci');
  // Production dependencies only in what the runtime gets.
  const deps = built.find((s) => s.body.some((i) => i.op === 'RUN' && /npm ci .*--omit=dev/.test(i.args)));
  assert.ok(deps, 'a stage installs production dependencies only');
  for (const copy of runtime.body.filter((i) => i.op === 'COPY' && i.args.startsWith('--from='))) {
    const from = /^--from=(\S+)\s+(\S+)/.exec(copy.args)!;
    assert.ok(names.has(from[1]!), `COPY --from=${from[1]} names a stage`);
    if (from[2]!.includes('node_modules')) assert.equal(from[1], deps.name, 'node_modules come from the production-only stage');
  }
  assert.ok(!runtime.body.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args)), 'the runtime stage installs nothing');

  const users = runtime.body.filter((i) => i.op === 'USER');
  assert.equal(users.length, 1);
  assert.doesNotMatch(users[0]!.args, /^(root|0)(:|$)/);
  assert.ok(runtime.body.some((i) => i.op === 'VOLUME' && /(^|\s|")\/data("|\s|$)/.test(i.args)), 'VOLUME /data');
  assert.ok(runtime.body.some((i) => i.op === 'EXPOSE' && /\b9000\b/.test(i.args)), 'EXPOSE 9000');
  const env = runtime.body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  assert.match(env, /COFFER_ADDRESS=0\.0\.0\.0/);
  assert.match(env, /COFFER_DATA_DIR=\/data/);
  assert.ok(healthcheck, 'HEALTHCHECK');
  assert.match(healthcheck.args, /\/health\/ready/);
  assert.match(runtime.body.find((i) => i.op === 'ENTRYPOINT')?.args ?? '', /dist\/src\/cli\/main\.js/);
});

test('every file the Dockerfile copies from the context exists and is not in .dockerignore; data and secrets are', async () => {
  const ignore = (await fs.readFile(path.join(REPO_ROOT, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const must of ['node_modules', 'dist', 'data', '.git', 'root.key', 'root-credentials.json']) assert.ok(ignore.includes(must), `.dockerignore lists ${must}`);
  for (const copy of all.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))) {
    const parts = copy.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      await fs.access(path.join(REPO_ROOT, src));
      const top = src.replace(/\/$/, '').split('/')[0]!;
      assert.ok(!ignore.includes(top), `${src} is copied but .dockerignore drops it`);
    }
  }
});

test("the HEALTHCHECK command exits 0 when /health/ready answers 200 and 1 when it does not or nothing listens", async () => {
  const json = /CMD\s+(\[.*\])$/.exec(healthcheck!.args);
  assert.ok(json, 'HEALTHCHECK CMD in exec form');
  const argv = JSON.parse(json[1]!) as string[];
  assert.equal(argv[0], 'node');
  let status = 200;
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(req.url === '/health/ready' ? status : 404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = String((server.address() as AddressInfo).port);
  try {
    const env = { ...process.env, COFFER_PORT: port };
    assert.equal((await run(process.execPath, argv.slice(1), env)).code, 0);
    status = 503;
    assert.equal((await run(process.execPath, argv.slice(1), env)).code, 1);
    assert.deepEqual(seen, ['/health/ready', '/health/ready']);
  } finally {
    await new Promise((r) => server.close(r));
  }
  assert.equal((await run(process.execPath, argv.slice(1), { ...process.env, COFFER_PORT: port })).code, 1, 'nothing listening');
});

const unitText = await fs.readFile(path.join(REPO_ROOT, 'deploy', 'coffer.service'), 'utf8');

test('the systemd unit runs as the coffer user with the root key from a credential and the hardening settings', () => {
  const lines = new Set(unitText.split('\n').map((l) => l.trim()));
  for (const must of [
    'User=coffer',
    'StateDirectory=coffer',
    'Environment=COFFER_DATA_DIR=/var/lib/coffer',
    'LoadCredential=root-key:/etc/coffer/root.key',
    'Environment=COFFER_ROOT_KEY_FILE=%d/root-key',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/lib/coffer',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectHome=yes',
    'CapabilityBoundingSet=',
  ]) {
    assert.ok(lines.has(must), `coffer.service has ${must}`);
  }
  assert.ok(!lines.has('MemoryDenyWriteExecute=yes'), "V8's JIT needs W+X memory");
});

const systemdAnalyze = (await run('systemd-analyze', ['--version'])).code === 0;

test(
  'systemd-analyze verify accepts the unit without a warning, and its offline security review rates it OK',
  { skip: !systemdAnalyze && !process.env.CI ? 'systemd-analyze is missing (Debian package systemd; .ci/run installs it)' : false },
  async () => {
    // verify checks that ExecStart's program exists: point it at this checkout's CLI.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-unit-'));
    try {
      const unit = path.join(dir, 'coffer.service');
      assert.match(unitText, /^ExecStart=\/usr\/local\/bin\/coffer server$/m);
      await fs.writeFile(unit, unitText.replace('ExecStart=/usr/local/bin/coffer', `ExecStart=${process.execPath} ${CLI_MAIN}`));
      const verify = await run('systemd-analyze', ['verify', unit]);
      // verify exits 0 on unknown keys and bad values; they show only on stderr.
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.stderr.trim(), '');
      const security = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unit]);
      const m = /Overall exposure level for coffer\.service: (\d+\.\d+) (\S+)/.exec(security.stdout);
      assert.ok(m, security.stdout + security.stderr);
      assert.ok(Number(m[1]) <= 4, `exposure ${m[1]} ${m[2]}`);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  },
);

test('deploy/compose.yaml is YAML for one coffer service with the data volume and the root key as a file secret', async () => {
  const py = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  const r = await run('python3', ['-c', py, path.join(REPO_ROOT, 'deploy', 'compose.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const compose = JSON.parse(r.stdout) as {
    services: Record<string, { build: { context: string; dockerfile: string }; ports: string[]; environment: Record<string, string>; volumes: string[]; secrets: string[] }>;
    volumes: Record<string, unknown>;
    secrets: Record<string, { file: string }>;
  };
  assert.deepEqual(Object.keys(compose.services), ['coffer']);
  const coffer = compose.services.coffer!;
  await fs.access(path.join(REPO_ROOT, 'deploy', coffer.build.context, coffer.build.dockerfile));
  assert.ok(coffer.ports.includes('9000:9000'));
  assert.equal(coffer.environment.COFFER_DATA_DIR, '/data');
  const volume = coffer.volumes.find((v) => v.endsWith(':/data'));
  assert.ok(volume && volume.split(':')[0]! in compose.volumes, 'a named volume on /data');
  assert.equal(coffer.environment.COFFER_ROOT_KEY_FILE, '/run/secrets/root-key');
  assert.deepEqual(coffer.secrets, ['root-key']);
  assert.equal(compose.secrets['root-key']?.file, './root.key');
});

test('deploy/compose-postgres.yaml runs coffer on a healthy PostgreSQL, the password from deploy/.env, the root key as a file secret', async () => {
  const py = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  const r = await run('python3', ['-c', py, path.join(REPO_ROOT, 'deploy', 'compose-postgres.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const compose = JSON.parse(r.stdout) as {
    services: Record<string, { image: string; environment: Record<string, string>; volumes: string[]; secrets?: string[]; depends_on?: Record<string, { condition: string }>; healthcheck?: { test: string[] } }>;
    volumes: Record<string, unknown>;
    secrets: Record<string, { file: string }>;
  };
  assert.deepEqual(Object.keys(compose.services).sort(), ['coffer', 'postgres']);
  const { coffer, postgres } = compose.services as Record<'coffer' | 'postgres', (typeof compose.services)[string]>;
  assert.match(postgres.image, /^postgres:1[5-9]/);
  assert.ok(postgres.healthcheck?.test.includes('pg_isready'));
  assert.deepEqual(coffer.depends_on, { postgres: { condition: 'service_healthy' } });
  // The URL the server parses (src/config), with the password interpolated by compose from deploy/.env.
  assert.match(coffer.environment.COFFER_METADATA!, /^postgres:\/\/coffer:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/coffer$/);
  assert.equal(postgres.environment.POSTGRES_PASSWORD, coffer.environment.COFFER_METADATA!.slice('postgres://coffer:'.length, coffer.environment.COFFER_METADATA!.indexOf('@postgres')));
  assert.equal(coffer.environment.COFFER_ROOT_KEY_FILE, '/run/secrets/root-key');
  assert.deepEqual(coffer.secrets, ['root-key']);
  for (const [svc, mount] of [[coffer, '/data'], [postgres, '/var/lib/postgresql/data']] as const) {
    const v = svc.volumes.find((x) => x.endsWith(`:${mount}`));
    assert.ok(v && v.split(':')[0]! in compose.volumes, `a named volume on ${mount}`);
  }
  // The URL with a real password is accepted by the server's config.
  const { loadConfig } = await import('../../src/config/config.js');
  const cfg = loadConfig({ port: 0, dataDir: os.tmpdir() }, { COFFER_METADATA: 'postgres://coffer:s3cret@postgres:5432/coffer' });
  assert.equal(cfg.metadata, 'postgres://coffer:s3cret@postgres:5432/coffer');
});

test('deploy/compose-cluster.yaml runs three coffer nodes on one PostgreSQL and one blob volume, with one root key and one set of root credentials, behind HAProxy with deploy/haproxy.cfg', async () => {
  const py = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  const r = await run('python3', ['-c', py, path.join(REPO_ROOT, 'deploy', 'compose-cluster.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  interface Service {
    image: string;
    build?: { context: string; dockerfile: string };
    user?: string;
    entrypoint?: string[];
    ports?: string[];
    environment?: Record<string, string>;
    volumes: string[];
    secrets?: string[];
    depends_on?: Record<string, { condition: string }> | string[];
    healthcheck?: { test: string[] };
  }
  const compose = JSON.parse(r.stdout) as { services: Record<string, Service>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }> };
  const nodes = ['coffer1', 'coffer2', 'coffer3'];
  assert.deepEqual(Object.keys(compose.services).sort(), ['blobs-owner', ...nodes, 'haproxy', 'postgres']);
  const { postgres, haproxy, 'blobs-owner': owner } = compose.services as Record<string, Service>;
  assert.match(postgres!.image, /^postgres:1[5-9]/);
  assert.ok(postgres!.healthcheck?.test.includes('pg_isready'));
  // The image is built once (by the one-shot service that hands the shared volume to uid 10001).
  await fs.access(path.join(REPO_ROOT, 'deploy', owner!.build!.context, owner!.build!.dockerfile));
  assert.equal(owner!.image, 'coffer:latest');
  assert.deepEqual(owner!.entrypoint, ['chown', '10001:10001', '/blobs']);
  const blobVolume = owner!.volumes.find((v) => v.endsWith(':/blobs'))!.split(':')[0]!;
  assert.ok(blobVolume in compose.volumes);

  const envs = nodes.map((n) => compose.services[n]!.environment!);
  const dataVolumes = new Set<string>();
  for (const n of nodes) {
    const s = compose.services[n]!;
    assert.equal(s.image, 'coffer:latest');
    assert.deepEqual(s.depends_on, { postgres: { condition: 'service_healthy' }, 'blobs-owner': { condition: 'service_completed_successfully' } });
    assert.equal(s.ports, undefined, `${n} publishes no port: only HAProxy reaches it`);
    assert.deepEqual(s.secrets, ['root-key', 'root-secret']);
    assert.ok(s.volumes.includes(`${blobVolume}:/blobs`), `${n} mounts the shared blob volume`);
    const data = s.volumes.find((v) => v.endsWith(':/data'))!.split(':')[0]!;
    assert.ok(data in compose.volumes);
    dataVolumes.add(data);
  }
  assert.equal(dataVolumes.size, 3, 'each node has a data volume of its own');
  // One database, one blob tier, one root key, one set of root credentials (docs/CLUSTER.md, "What each node needs").
  for (const e of envs) assert.deepEqual(e, envs[0]);
  const env = envs[0]!;
  assert.match(env.COFFER_METADATA!, /^postgres:\/\/coffer:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/coffer$/);
  assert.equal(env.COFFER_BLOBS, 'file:///blobs');
  assert.equal(env.COFFER_ROOT_KEY_FILE, '/run/secrets/root-key');
  assert.match(env.COFFER_ROOT_ACCESS_KEY_ID!, /^\$\{COFFER_ROOT_ACCESS_KEY_ID:\?/);
  assert.equal(env.COFFER_ROOT_SECRET_ACCESS_KEY_FILE, '/run/secrets/root-secret');
  assert.equal(compose.secrets['root-key']?.file, './root.key');
  assert.equal(compose.secrets['root-secret']?.file, './root-secret');

  assert.match(haproxy!.image, /^haproxy:2\./);
  assert.deepEqual(haproxy!.ports, ['9443:9443']);
  assert.ok(haproxy!.volumes.includes('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro'));
  const cfg = await fs.readFile(path.join(REPO_ROOT, 'deploy', 'haproxy.cfg'), 'utf8');
  for (const n of nodes) assert.match(cfg, new RegExp(`^\\s*server ${n} ${n}:9000$`, 'm'), `haproxy.cfg balances over ${n}`);
  assert.match(cfg, /^\s*bind :9443 ssl crt \/usr\/local\/etc\/haproxy\/coffer\.pem /m);
  assert.ok(haproxy!.volumes.includes('./haproxy.pem:/usr/local/etc/haproxy/coffer.pem:ro'));

  // A node's environment, with the values compose would fill in and the secrets where compose
  // would mount them, is accepted by the server's config.
  const { loadConfig } = await import('../../src/config/config.js');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-compose-'));
  try {
    const rootKey = Buffer.alloc(32, 7).toString('base64');
    await fs.writeFile(path.join(dir, 'root-key'), rootKey + '\n');
    await fs.writeFile(path.join(dir, 'root-secret'), 'x'.repeat(40) + '\n');
    const filled = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [
        k,
        v
          .replace('${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in deploy/.env}', 's3cret')
          .replace(/^\$\{COFFER_ROOT_ACCESS_KEY_ID:\?[^}]+\}$/, 'AKIA0123456789ABCDEF')
          .replace(/^\/run\/secrets\//, `${dir}/`),
      ]),
    );
    const cfgOf = loadConfig({ port: 0, dataDir: dir }, filled);
    assert.equal(cfgOf.metadata, 'postgres://coffer:s3cret@postgres:5432/coffer');
    assert.equal(cfgOf.allowSecretsOverHttp, true);
    assert.equal(cfgOf.rootAccessKeyId, 'AKIA0123456789ABCDEF');
    assert.equal(cfgOf.rootSecretAccessKey, 'x'.repeat(40));
    assert.equal(cfgOf.rootKey, rootKey);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
