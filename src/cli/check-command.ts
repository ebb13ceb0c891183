// `coffer check`: is the data directory whole? SQLite's integrity_check (or quick_check
// with --quick) on every database, then every blob that metadata references against what
// is stored: present, of the size its record implies (plaintext, or sealed segments for an
// encrypted object), and no stored blob that nothing references (an orphan: space that is
// never reclaimed). Exits 0 when all is well, 1 with a report when not.
//
// It reads only, and is safe beside a running server (SQLite's WAL), but a write that
// commits while it runs can show up as an orphan: run it on a stopped server, or again to
// confirm. It does not decrypt: authenticating each segment needs the object's key, which
// for SSE-KMS objects takes the KMS and the caller's permissions (that is what a GET does).

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { ciphertextSize } from '../crypto/layout.js';
import { EmbeddedInventory, type BlobReference } from '../storage/blob-inventory.js';
import { checkSqliteIntegrity } from '../storage/sqlite-integrity.js';
import { CliError } from './output.js';
import { METADATA_OPTION, METADATA_OPTION_HELP, refuseOnPostgres } from './postgres-deployment.js';
import { ProgressReporter } from './progress.js';

interface CheckOptions {
  dataDir?: string;
  metadata?: string;
  quick?: boolean;
}

/** Problems listed per kind before "... and n more". */
const MAX_LISTED = 50;

/** The bytes a part of `size` plaintext bytes takes in its blob (s3/sse/body-cipher.ts storedSize). */
function expectedStoredSize(ref: BlobReference): number {
  const alg = (ref.sys['sse'] as { alg?: string } | undefined)?.alg;
  if (alg === undefined) return ref.size;
  const inner = ciphertextSize(ref.size);
  return alg === 'aws:kms:dsse' ? ciphertextSize(inner) : inner;
}

class Findings {
  readonly lines: string[] = [];
  private readonly counts = new Map<string, number>();

  add(kind: string, text: string): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n <= MAX_LISTED) this.lines.push(`  ${kind}: ${text}`);
    else if (n === MAX_LISTED + 1) this.lines.push(`  ${kind}: ... (more not listed)`);
  }

  count(kind: string): number {
    return this.counts.get(kind) ?? 0;
  }

  get any(): boolean {
    return this.counts.size > 0;
  }
}

export async function runCheck(dataDir: string, quick: boolean, out: NodeJS.WritableStream, err: NodeJS.WriteStream): Promise<boolean> {
  const findings = new Findings();
  out.write(`checking ${dataDir}\n`);
  const databases = readdirSync(dataDir).filter((n) => n.endsWith('.sqlite')).sort();
  for (const name of databases) {
    const r = checkSqliteIntegrity(join(dataDir, name), quick ? 'quick' : 'full');
    out.write(`${name}: ${r.ok ? 'ok' : 'DAMAGED'} (${quick ? 'quick_check' : 'integrity_check'})\n`);
    for (const p of r.problems) findings.add(`${name} damaged`, p);
  }

  const metadata = join(dataDir, 'metadata.sqlite');
  if (existsSync(metadata)) {
    const snapshot = { done: 0, bytes: 0, total: 0, counting: true };
    const progress = new ProgressReporter(err, () => snapshot, { tty: Boolean(err.isTTY) });
    let inv: EmbeddedInventory | undefined;
    let referenced = 0;
    try {
      inv = new EmbeddedInventory(metadata, join(dataDir, 'blobs'));
      const c = inv.counts();
      snapshot.total = c.objects + c.uploadParts;
      progress.start();
      const ids = new Set<string>();
      for (const ref of inv.references()) {
        ids.add(ref.blobId);
        referenced++;
        const stored = await inv.storedSize(ref.blobId);
        const expected = expectedStoredSize(ref);
        if (stored === undefined) findings.add('missing blob', `${ref.owner} (blob ${ref.blobId})`);
        else if (stored !== expected) findings.add('wrong size', `${ref.owner} (blob ${ref.blobId}: ${stored} bytes stored, ${expected} expected)`);
        snapshot.done++;
        snapshot.bytes += stored ?? 0;
      }
      const keep = inv.bookkeeping();
      let orphans = 0;
      for await (const id of inv.stored()) {
        if (EmbeddedInventory.isReferenced(id, ids) || EmbeddedInventory.isReferenced(id, keep)) continue;
        orphans++;
        findings.add('orphan blob', `${id} (no object or upload references it)`);
      }
      progress.stop();
      out.write(`blobs: ${referenced} referenced, ${findings.count('missing blob')} missing, ${findings.count('wrong size')} of the wrong size, ${orphans} orphans\n`);
    } catch (e) {
      progress.stop();
      findings.add('blob check failed', `metadata.sqlite could not be read (${(e as Error).message})`);
    } finally {
      inv?.close();
    }
  }

  if (!findings.any) {
    out.write('no problems found\n');
    return true;
  }
  out.write(`PROBLEMS FOUND:\n${findings.lines.join('\n')}\n`);
  out.write('damaged databases or missing blobs: restore the data directory from a backup (stop the server first); orphan blobs only take space\n');
  return false;
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('check the data directory: SQLite integrity of every database, and every blob against its metadata')
    .option('--quick', 'SQLite quick_check instead of the full integrity_check (faster; skips index checks)')
    .option('--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)')
    .option(METADATA_OPTION, METADATA_OPTION_HELP + ': refused, with what to use instead')
    .action(async (o: CheckOptions) => {
      const config = loadConfig({ dataDir: o.dataDir, metadata: o.metadata });
      refuseOnPostgres('check', config.metadata);
      if (!existsSync(config.dataDir)) throw new CliError(`no data directory at ${config.dataDir}`, 'give the server\'s data directory with --data-dir (or COFFER_DATA_DIR)');
      const ok = await runCheck(config.dataDir, o.quick === true, process.stdout, process.stderr);
      if (!ok) process.exitCode = 1;
    });
}
