// Issue 17, configuration: a TOML, YAML or JSON file is one more source under flags and
// the environment (flags > env > file > defaults); unknown keys are an error naming close
// matches; every secret variable has a *_FILE variant; `coffer config check` prints the
// effective settings, secrets masked, with where each came from; `coffer --version`.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, explainConfig, loadConfig } from '../../src/config/config.js';
import { ROOT_KEY_FLAG_VARIABLES } from '../../src/config/root-key-flags.js';
import { SETTINGS } from '../../src/config/sources.js';
import { CLI_MAIN, REPO_ROOT } from '../interop/support.js';

const run = promisify(execFile);
let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-config-file-'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await fs.writeFile(p, text);
  return p;
}

const SECRET = 'file-secret-0123456789abcdef';

describe('configuration file', () => {
  it('TOML, YAML and JSON give the same settings', async () => {
    const toml = await file('c.toml', 'port = 9100\nregion = "eu-west-1"\nmax-connections = 500\nsigv2 = false\n');
    const yaml = await file('c.yaml', 'port: 9100\nregion: eu-west-1\nmax_connections: 500\nsigv2: false\n');
    const json = await file('c.json', '{"port": 9100, "region": "eu-west-1", "max-connections": 500, "sigv2": false}');
    for (const f of [toml, yaml, json]) {
      const c = loadConfig({ config: f }, {});
      assert.deepEqual([c.port, c.region, c.maxConnections, c.sigv2], [9100, 'eu-west-1', 500, false], f);
    }
  });

  it('precedence: flags over environment over file over defaults, and explainConfig says which', async () => {
    const f = await file('p.toml', 'port = 9100\nregion = "eu-west-1"\naddress = "0.0.0.0"\n');
    const { config, rows } = explainConfig({ config: f, port: '9300' }, { COFFER_PORT: '9200', COFFER_REGION: 'eu-central-1' });
    assert.equal(config.port, 9300);
    assert.equal(config.region, 'eu-central-1');
    assert.equal(config.address, '0.0.0.0');
    assert.equal(config.dataDir, './data');
    const from = Object.fromEntries(rows.map((r) => [r.env, r.origin]));
    assert.deepEqual([from.COFFER_PORT, from.COFFER_REGION, from.COFFER_ADDRESS, from.COFFER_DATA_DIR], ['flag', 'env', 'file', 'default']);
  });

  it('the root-key provider sees the --pkcs11-* and --external-kms-* flags over their variables, and no other variable', () => {
    const env = {
      COFFER_ROOT_PASSPHRASE: 'pass phrase', COFFER_PKCS11_MODULE: '/env.so', COFFER_PKCS11_TOKEN: 'env-token', COFFER_PKCS11_PIN: '1234',
      COFFER_EXTERNAL_KMS_REGION: 'us-east-2', COFFER_EXTERNAL_KMS_KEY_ID: 'env-key', COFFER_REGION: 'eu-west-3', HOME: '/home/x',
    };
    const flags = { pkcs11Module: '/flag.so', pkcs11KeyLabel: 'flag-label', externalKmsKeyId: 'flag-key', externalKmsEndpoint: 'https://kms.example' };
    assert.deepEqual({ ...loadConfig(flags, env).custodyEnv }, {
      COFFER_ROOT_PASSPHRASE: 'pass phrase', COFFER_PKCS11_MODULE: '/flag.so', COFFER_PKCS11_TOKEN: 'env-token', COFFER_PKCS11_PIN: '1234',
      COFFER_PKCS11_KEY_LABEL: 'flag-label', COFFER_EXTERNAL_KMS_REGION: 'us-east-2', COFFER_EXTERNAL_KMS_KEY_ID: 'flag-key',
      COFFER_EXTERNAL_KMS_ENDPOINT: 'https://kms.example',
    });
  });

  it('the root-key flags map to the variables the settings table gives them', () => {
    for (const [flag, variable] of Object.entries(ROOT_KEY_FLAG_VARIABLES)) {
      assert.equal(SETTINGS.find((x) => x.env === variable)?.flag, flag, variable);
    }
  });

  it('COFFER_CONFIG names the file when --config is not given', async () => {
    const f = await file('e.json', '{"region": "ap-south-1"}');
    assert.equal(loadConfig({}, { COFFER_CONFIG: f }).region, 'ap-south-1');
  });

  it('an unknown key is an error naming the key and close matches', async () => {
    const f = await file('bad.toml', 'max-conections = 5\n');
    assert.throws(() => loadConfig({ config: f }, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /unknown setting "max-conections" in .*bad\.toml/);
      assert.match(e.hint ?? '', /"max-connections"/);
      return true;
    });
  });

  it('values in the file are validated with the same messages as the environment', async () => {
    const f = await file('v.toml', 'port = 70000\n');
    assert.throws(() => loadConfig({ config: f }, {}), /invalid port: "70000"/);
    const g = await file('syntax.toml', 'port = = 1\n');
    assert.throws(() => loadConfig({ config: g }, {}), /is not valid TOML/);
  });
});

describe('*_FILE variants of secret variables', () => {
  it('COFFER_ROOT_SECRET_ACCESS_KEY_FILE is read with one trailing newline stripped', async () => {
    const s = await file('secret', `${SECRET}\n`);
    const c = loadConfig({}, { COFFER_ROOT_ACCESS_KEY_ID: 'AKIAFILETEST0000001', COFFER_ROOT_SECRET_ACCESS_KEY_FILE: s });
    assert.equal(c.rootSecretAccessKey, SECRET);
  });

  it('COFFER_ROOT_KEY_FILE and COFFER_ROOT_PASSPHRASE_FILE, and the file keys root-key-file', async () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const k = await file('root.key.b64', `${key}\n`);
    assert.equal(loadConfig({}, { COFFER_ROOT_KEY_FILE: k }).rootKey, key);
    const p = await file('pass', 'correct horse\n\n');
    assert.equal(loadConfig({}, { COFFER_ROOT_PASSPHRASE_FILE: p }).rootPassphrase, 'correct horse\n', 'only one newline is stripped');
    const f = await file('k.toml', `root-key-file = "${k}"\n`);
    assert.equal(loadConfig({ config: f }, {}).rootKey, key);
  });

  it('both the variable and its _FILE is an error', async () => {
    const s = await file('secret2', SECRET);
    assert.throws(() => loadConfig({}, { COFFER_ROOT_ACCESS_KEY_ID: 'AKIAFILETEST0000001', COFFER_ROOT_SECRET_ACCESS_KEY: SECRET, COFFER_ROOT_SECRET_ACCESS_KEY_FILE: s }),
      /both COFFER_ROOT_SECRET_ACCESS_KEY and COFFER_ROOT_SECRET_ACCESS_KEY_FILE are set/);
  });
});

describe('the coffer command', () => {
  it('coffer --version prints package.json\'s version', async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = await run(process.execPath, [CLI_MAIN, '--version']);
    assert.equal(stdout.trim(), pkg.version);
  });

  it('coffer config check prints every setting with its origin, secrets masked', async () => {
    const s = await file('secret3', `${SECRET}\n`);
    const f = await file('check.toml', 'region = "eu-west-1"\n');
    const { stdout } = await run(process.execPath, [CLI_MAIN, 'config', 'check', '--config', f], {
      env: { PATH: process.env.PATH, COFFER_PORT: '9400', COFFER_ROOT_ACCESS_KEY_ID: 'AKIAFILETEST0000001', COFFER_ROOT_SECRET_ACCESS_KEY_FILE: s },
    });
    assert.match(stdout, /^COFFER_PORT\s+9400\s+env$/m);
    assert.match(stdout, /^COFFER_REGION\s+eu-west-1\s+file$/m);
    assert.match(stdout, /^COFFER_DATA_DIR\s+\.\/data\s+default$/m);
    assert.match(stdout, /^COFFER_ROOT_SECRET_ACCESS_KEY\s+\*\*\*\*\s+env$/m);
    assert.ok(!stdout.includes(SECRET), 'the secret is masked');
  });

  it('coffer config check exits 1 with the configuration error', async () => {
    const f = await file('wrong.yaml', 'regoin: eu-west-1\n');
    await assert.rejects(run(process.execPath, [CLI_MAIN, 'config', 'check', '--config', f], { env: { PATH: process.env.PATH } }), (e: { code?: number; stderr?: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr ?? '', /coffer: error: unknown setting "regoin"/);
      assert.match(e.stderr ?? '', /coffer: hint: did you mean "region"/);
      return true;
    });
  });

  it('coffer server --config starts with the file\'s settings, the root key from COFFER_ROOT_KEY_FILE', async () => {
    const data = path.join(dir, 'server-data');
    const f = await file('server.json', JSON.stringify({ 'data-dir': data, port: 0, region: 'eu-north-1', 'root-access-key-id': 'AKIAFILETEST0000001', 'root-secret-access-key': SECRET }));
    const rootKey = await file('server-root-key', `${Buffer.alloc(32, 9).toString('base64')}\n`);
    const child = execFile(process.execPath, [CLI_MAIN, 'server', '--config', f], { env: { PATH: process.env.PATH, COFFER_LOG_LEVEL: 'warn', COFFER_ROOT_KEY_FILE: rootKey } });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /Coffer listening on .*\)/.exec(out);
          if (m) resolve(m[0]);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      assert.match(line, /region eu-north-1, data in .*server-data/);
      // The root key came from the file: no root.key was generated in the data directory.
      assert.deepEqual((await fs.readdir(data)).filter((n) => n.startsWith('root.')), []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
