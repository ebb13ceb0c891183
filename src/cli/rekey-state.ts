// The checkpoint of `coffer rekey`: a small JSON file naming the run (endpoint, bucket,
// prefix, target and source key, whether every version is re-wrapped, whether SSE-S3
// objects are converted and GOVERNANCE-retained versions re-wrapped) and the last
// position in listing order (a key, and with every version a version of it) up to which
// every object is done, so a rerun after an interruption lists from there. Objects finish out
// of order (several re-wraps run at once), so the checkpoint only moves over a prefix of
// the listing that is entirely done, and never past a failed object: a rerun retries it.
// Redoing an object is harmless — the re-wrap of an object already under the target key
// changes nothing — so losing the last few checkpoint writes (a killed process) only
// costs time. Written to a temporary file and renamed, so it is never torn.

import fs from 'node:fs/promises';
import { CliError } from './output.js';

/** Format 2 added allVersions and afterVersionId; format 1 files (current objects only) are still read. */
export const STATE_FORMAT = 'coffer-rekey-state/2';
const STATE_FORMAT_V1 = 'coffer-rekey-state/1';

export interface RekeyRun {
  endpoint: string;
  bucket: string;
  prefix: string;
  /** The target key's ARN (resolved, so an alias moved between runs is noticed). */
  toKeyArn: string;
  fromKeyArn?: string;
  /** SSE-S3 objects are converted too (--include-sse-s3). */
  convertSseS3?: true;
  /** Every version of every object, not only the current ones (the default; --current-only clears it). */
  allVersions?: true;
  /**
   * GOVERNANCE-retained versions are re-wrapped too (--bypass-governance-retention): a run
   * without it passed over them, so its checkpoint does not cover them for a run with it.
   */
  bypassGovernanceRetention?: true;
}

export interface RekeyState extends RekeyRun {
  format: typeof STATE_FORMAT;
  /** Every object up to and including this key (listing order) is done. */
  after?: string;
  /** With allVersions: done up to and including this version of `after` (its older versions come next). */
  afterVersionId?: string;
  /** Objects done by earlier runs of the same re-key. */
  covered: number;
  updatedAt: string;
}

export function defaultStateFile(bucket: string): string {
  return `.coffer-rekey-${bucket}.json`;
}

/** The saved state of this run, or undefined to start from the beginning. */
export async function loadState(file: string, run: RekeyRun): Promise<RekeyState | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read the state file ${file}: ${(e as Error).message}`);
  }
  let state: RekeyState;
  try {
    const parsed = JSON.parse(text) as Omit<RekeyState, 'format'> & { format: string };
    if (parsed.format === STATE_FORMAT_V1) {
      // A format 1 run re-wrapped current objects only, and has no version position.
      const { allVersions: _ignored, afterVersionId: _none, ...v1 } = parsed;
      state = { ...v1, format: STATE_FORMAT };
    } else if (parsed.format === STATE_FORMAT) {
      state = parsed as RekeyState;
    } else {
      throw new Error('unknown format');
    }
  } catch {
    throw new CliError(`the state file ${file} is not a coffer rekey state file`, 'remove it, or pass another --state-file');
  }
  const same = state.endpoint === run.endpoint && state.bucket === run.bucket && state.prefix === run.prefix
    && state.toKeyArn === run.toKeyArn && (state.fromKeyArn ?? '') === (run.fromKeyArn ?? '') && state.convertSseS3 === run.convertSseS3
    && state.allVersions === run.allVersions && state.bypassGovernanceRetention === run.bypassGovernanceRetention;
  if (!same) {
    throw new CliError(
      `the state file ${file} belongs to another re-key (s3://${state.bucket}/${state.prefix} to ${state.toKeyArn}${state.fromKeyArn ? ` from ${state.fromKeyArn}` : ''}${state.convertSseS3 ? ' with SSE-S3 objects' : ''}${state.allVersions ? '' : ', current versions only'}${state.bypassGovernanceRetention ? ', GOVERNANCE-retained versions too' : ''} at ${state.endpoint})`,
      'rerun that re-key to finish it, pass --restart to discard its progress, or use another --state-file',
    );
  }
  return state;
}

export async function saveState(file: string, state: RekeyState): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
  await fs.rename(tmp, file);
}

export async function removeState(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}

/** The highest listing position below which every object is done (see the header). */
export class Checkpoint {
  private readonly results = new Map<number, { key: string; versionId?: string; ok: boolean }>();
  private next = 0;
  private seq = 0;
  /** Set when a failure stops the checkpoint for the rest of the run. */
  private blocked = false;
  after: string | undefined;
  afterVersionId: string | undefined;
  /** Objects the checkpoint has moved over in this run. */
  advanced = 0;

  constructor(after: string | undefined, afterVersionId?: string) {
    this.after = after;
    this.afterVersionId = afterVersionId;
  }

  /** A ticket for the next object in listing order. */
  take(): number {
    return this.seq++;
  }

  /** Records one object's (or object version's) outcome; true when the checkpoint moved. */
  finish(ticket: number, key: string, ok: boolean, versionId?: string): boolean {
    if (this.blocked) return false; // nothing after a failure can move it: keep no results
    this.results.set(ticket, { key, ok, ...(versionId !== undefined ? { versionId } : {}) });
    const advancedBefore = this.advanced;
    while (!this.blocked) {
      const r = this.results.get(this.next);
      if (!r) break;
      if (!r.ok) {
        this.blocked = true;
        break;
      }
      this.results.delete(this.next);
      this.after = r.key;
      this.afterVersionId = r.versionId;
      this.advanced++;
      this.next++;
    }
    return this.advanced !== advancedBefore;
  }
}
