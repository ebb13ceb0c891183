// The S3A interop suite's core-site.xml files, shared by test/interop/hadoop-s3a.test.ts
// (which runs the real S3A connector on them) and test/hadoop/ (which runs `coffer hadoop
// check` on them): templates in interop/hadoop-s3a/conf/ with @NAME@ placeholders, and
// files made by `coffer hadoop config` itself.

import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CLI_MAIN, REPO_ROOT, ROOT_KEY_ID, ROOT_SECRET } from '../interop/support.js';

export const CONF_DIR = path.join(REPO_ROOT, 'interop', 'hadoop-s3a', 'conf');

/** The environment `coffer hadoop` needs for a test server's data directory (its root credentials come from the environment). */
export const ROOT_ENV = { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET };

const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Fills interop/hadoop-s3a/conf/<template> and writes it to `out`; every placeholder must be given. */
export async function fillTemplate(template: string, values: Record<string, string>, out: string): Promise<string> {
  let text = await fs.readFile(path.join(CONF_DIR, template), 'utf8');
  text = text.replace(/@([A-Z_]+)@/g, (m, name: string) => {
    if (name === 'NAME') return m; // the header comment's own example
    const v = values[name];
    if (v === undefined) throw new Error(`${template}: no value for placeholder @${name}@`);
    return xmlEscape(v);
  });
  await fs.writeFile(out, text);
  return out;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `coffer` CLI (dist/src/cli/main.js). */
export function coffer(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('COFFER_')));
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...clean, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** `coffer hadoop config ... > out`; fails the test when the command fails. */
export async function hadoopConfig(dataDir: string, args: string[], out: string, env: Record<string, string> = {}): Promise<{ file: string; stderr: string }> {
  const r = await coffer(['hadoop', 'config', '--data-dir', dataDir, ...args], { ...ROOT_ENV, ...env });
  if (r.code !== 0) throw new Error(`coffer hadoop config ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  await fs.writeFile(out, r.stdout);
  return { file: out, stderr: r.stderr };
}
