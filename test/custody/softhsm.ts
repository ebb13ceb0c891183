// SoftHSM2 for the PKCS#11 tests: a temporary SOFTHSM2_CONF and token directory, tokens
// made with softhsm2-util. A machine without SoftHSM2 skips these tests, except in CI
// (CI set), where .ci/run installs it and a missing one fails the test.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const SOFTHSM_MODULE = process.env.COFFER_TEST_SOFTHSM_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
export const USER_PIN = '246810';
const SO_PIN = '13579111';

/** Why the SoftHSM tests cannot run here, or undefined. In CI that reason is a failure, not a skip. */
export function softhsmMissing(): string | undefined {
  let util = true;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
  } catch {
    util = false;
  }
  if (util && existsSync(SOFTHSM_MODULE)) return undefined;
  return `SoftHSM2 is not installed (softhsm2-util, ${SOFTHSM_MODULE}); install it with: apt-get install -y softhsm2`;
}

/** A `skip` option for node:test: skip without SoftHSM2, unless CI is set (then the test runs and fails). */
export function skipWithoutSoftHsm(): string | false {
  const missing = softhsmMissing();
  return missing && !process.env.CI ? missing : false;
}

export interface SoftHsm {
  root: string;
  conf: string;
  tokenDir: string;
  /** Initializes a token with `label` and USER_PIN. */
  initToken(label: string): void;
  remove(): Promise<void>;
}

/**
 * Makes a SoftHSM2 configuration in a temporary directory and points SOFTHSM2_CONF of
 * this process at it (the library reads it on C_Initialize). Throws the install hint when
 * SoftHSM2 is missing.
 */
export async function makeSoftHsm(): Promise<SoftHsm> {
  const missing = softhsmMissing();
  if (missing) throw new Error(missing);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'coffer-softhsm-'));
  const tokenDir = path.join(root, 'tokens');
  await fs.mkdir(tokenDir, { mode: 0o700 });
  const conf = path.join(root, 'softhsm2.conf');
  await fs.writeFile(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  return {
    root,
    conf,
    tokenDir,
    initToken(label: string) {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', USER_PIN], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'ignore' });
    },
    remove: () => fs.rm(root, { recursive: true, force: true }),
  };
}

/**
 * The labels of the secret keys in token `tokenLabel` of the SoftHSM2 configuration `conf`,
 * sorted, as a fresh process sees them (this process's SoftHSM2 may hold a stale view of a
 * token other processes changed).
 */
export function tokenKeyLabels(conf: string, tokenLabel: string): string[] {
  const script = `
    const pkcs11js = require('pkcs11js');
    const [module, token, pin] = process.argv.slice(1);
    const lib = new pkcs11js.PKCS11();
    lib.load(module);
    lib.C_Initialize();
    try {
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === token);
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      lib.C_Login(session, pkcs11js.CKU_USER, pin);
      lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
      const found = lib.C_FindObjects(session, 1000);
      lib.C_FindObjectsFinal(session);
      const labels = found.map((o) => lib.C_GetAttributeValue(session, o, [{ type: pkcs11js.CKA_LABEL }])[0].value.toString('utf8'));
      process.stdout.write(JSON.stringify(labels.sort()));
    } finally {
      lib.C_Finalize();
    }`;
  const out = execFileSync(process.execPath, ['-e', script, SOFTHSM_MODULE, tokenLabel, USER_PIN], { env: { ...process.env, SOFTHSM2_CONF: conf }, cwd: process.cwd() });
  return JSON.parse(out.toString('utf8')) as string[];
}
