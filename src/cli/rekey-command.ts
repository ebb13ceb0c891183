// `coffer rekey`: moves a bucket's (or a prefix's) SSE-KMS objects to another KMS key by
// re-wrapping each object's key — the object bytes are not rewritten — through a
// running server's administration API (POST /_coffer/api/objects/rewrap, see
// s3/rewrap/), as the principal whose credentials are in the environment: every
// re-wrap is authorized (s3:GetObject, s3:PutObject, kms:ReEncryptFrom/To) and
// audited (KMS ReEncrypt) as that principal.
//
// Every version of every object is re-wrapped (ListObjectVersions; each version has its
// own envelope), or with --current-only the current objects (ListObjectsV2).
// The run: a preflight (credentials, server, target key), then the listing in key
// order with a few re-wraps in flight, a checkpoint file so an interrupted run resumes
// where it stopped (rekey-state.ts), a progress bar on stderr and a summary on stdout.
// A second listing pass only counts, to give the bar its total and ETA.
// Versions under object lock are left under their key and counted as skipped (object-lock):
// COMPLIANCE and legal holds always, GOVERNANCE unless --bypass-governance-retention (and the
// principal is allowed s3:BypassGovernanceRetention). Like every skip, not a failure.

import type { Command } from 'commander';
import { listObjectPages, listVersionPages, type ListedObject } from './object-listing.js';
import { CliError, table } from './output.js';
import { ProgressReporter, formatBytes } from './progress.js';
import { Checkpoint, defaultStateFile, loadState, removeState, saveState, STATE_FORMAT, type RekeyRun, type RekeyState } from './rekey-state.js';
import { SignedClient, UnreachableError, apiError, clientOptionsFromEnv, type ClientCredentials } from './signed-client.js';

export interface RekeyOptions {
  bucket: string;
  prefix: string;
  toKey: string;
  fromKey?: string;
  endpoint: string;
  region: string;
  /** Flags, then the environment (AWS_ACCESS_KEY_ID...), then the AWS profile. */
  credentials: ClientCredentials;
  concurrency: number;
  stateFile: string;
  restart: boolean;
  maxObjects?: number;
  json: boolean;
  /** Also convert SSE-S3 objects to SSE-KMS under the target key. */
  includeSseS3: boolean;
  /** Only the current version of each object (--current-only); otherwise every version. */
  currentOnly: boolean;
  /** Also re-wrap versions under GOVERNANCE retention (--bypass-governance-retention; needs s3:BypassGovernanceRetention). */
  bypassGovernanceRetention: boolean;
  progress: 'auto' | 'bar' | 'lines' | 'off';
}

type Status = 'rewrapped' | 'converted' | 'unchanged' | 'skipped' | 'changed' | 'failed';

export interface RekeySummary {
  endpoint: string;
  bucket: string;
  prefix: string;
  toKeyId: string;
  fromKeyId?: string;
  /** Every listed object was handled (false when stopped by --max-objects, a signal or a fatal error). */
  complete: boolean;
  stopped?: 'max-objects' | 'interrupted' | 'fatal';
  resumedAfter?: string;
  /** Objects covered by earlier, interrupted runs of this re-key. */
  coveredEarlier: number;
  objects: Record<Status, number>;
  bytes: Record<Status, number>;
  skippedBy: Record<string, number>;
  failures: { key: string; code: string; message: string }[];
  seconds: number;
}

/** Codes that will fail every other object the same way: the run stops. */
const FATAL_CODES = new Set(['InvalidClientTokenId', 'UnrecognizedClientException', 'SignatureDoesNotMatch', 'IncompleteSignature', 'ExpiredToken', 'ExpiredTokenException', 'MissingAuthenticationToken', 'NoSuchBucket']);

const ERROR_HINTS: Record<string, string> = {
  InvalidClientTokenId: 'AWS_ACCESS_KEY_ID is not an access key of this server',
  InvalidAccessKeyId: 'the access key (AWS_ACCESS_KEY_ID or the profile\'s aws_access_key_id) is not an access key of this server',
  UnrecognizedClientException: 'AWS_ACCESS_KEY_ID is not an access key of this server',
  SignatureDoesNotMatch: 'check AWS_SECRET_ACCESS_KEY, and --region if the server does not run in us-east-1',
  ExpiredToken: 'the temporary credentials expired: get new ones',
  ExpiredTokenException: 'the temporary credentials expired: get new ones',
  NotFoundException: 'check --to-key / --from-key: a key id, key ARN, alias name (alias/NAME) or alias ARN of this server',
  DisabledException: 'enable the key (EnableKey) or choose another',
  KMSInvalidStateException: 'the key is pending deletion: cancel the deletion or choose another key',
  UnknownOperation: 'the server is older than this CLI: it has no re-wrap route',
};

export function registerRekeyCommand(program: Command): void {
  program
    .command('rekey')
    .description("re-wrap SSE-KMS objects' keys under another KMS key, without rewriting the objects (resumable)")
    .requiredOption('--bucket <name>', 'the bucket')
    .option('--prefix <prefix>', 'only keys starting with this prefix', '')
    .requiredOption('--to-key <key>', 'the target KMS key: key id, key ARN, alias/NAME or alias ARN')
    .option('--from-key <key>', 'only objects currently under this KMS key (id, ARN or alias)')
    .option('--endpoint <url>', "the Coffer server (default: COFFER_ENDPOINT, AWS_ENDPOINT_URL, the profile's endpoint_url, http://127.0.0.1:9000)")
    .option('--region <region>', "the region the server signs in (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1)")
    .option('--profile <name>', 'the AWS profile (~/.aws/credentials and ~/.aws/config) when AWS_ACCESS_KEY_ID is not set (default: AWS_PROFILE, else "default")')
    .option('--concurrency <n>', 're-wraps in flight at once', '8')
    .option('--state-file <path>', 'the checkpoint file (default: .coffer-rekey-<bucket>.json in the current directory)')
    .option('--restart', 'discard the checkpoint of an earlier run and start from the first key')
    .option('--max-objects <n>', 'stop after this many objects (the checkpoint lets the next run continue)')
    .option('--progress <mode>', 'auto (a bar on a terminal, lines otherwise), bar, lines or off', 'auto')
    .option('--include-sse-s3', 'also convert SSE-S3 objects to SSE-KMS under the target key (needs kms:Encrypt on it)')
    .option('--bypass-governance-retention', 'also re-wrap versions under GOVERNANCE retention (needs s3:BypassGovernanceRetention; COMPLIANCE and legal holds are always left as they are)')
    .option('--current-only', 're-wrap only the current version of each object (default: every version; each keeps its own envelope)')
    .option('--json', 'print the summary as JSON')
    .option('--metadata <url>', 'not used: rekey works through a running server on any backend (refused, with what to use instead)')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      if (o.metadata !== undefined) {
        throw new CliError('coffer rekey does not open the database: it re-wraps through a running server, whatever its backend', 'drop --metadata and give --endpoint the URL of any node of the cluster (or its load balancer)');
      }
      const opts = rekeyOptions(o, process.env);
      const print = (summary: RekeySummary) =>
        process.stdout.write(opts.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary, opts.stateFile));
      let summary: RekeySummary;
      try {
        summary = await runRekey(opts);
      } catch (e) {
        // What was done before the stop is kept (and checkpointed): say so, then the error.
        if (e instanceof RekeyStopped && e.summary) print(e.summary);
        throw e;
      }
      print(summary);
      process.exitCode = summary.stopped === 'interrupted' ? 130 : summary.objects.failed > 0 ? 1 : 0;
    });
}

export function rekeyOptions(o: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): RekeyOptions {
  const positive = (name: string, v: string | boolean | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`--${name} must be a positive integer, not "${String(v)}"`);
    return n;
  };
  const progress = String(o.progress ?? 'auto');
  if (!['auto', 'bar', 'lines', 'off'].includes(progress)) throw new CliError(`--progress must be auto, bar, lines or off, not "${progress}"`);
  const bucket = String(o.bucket);
  const concurrency = positive('concurrency', o.concurrency) ?? 8;
  if (concurrency > 64) throw new CliError('--concurrency must be at most 64');
  const maxObjects = positive('max-objects', o.maxObjects);
  return {
    bucket,
    prefix: String(o.prefix ?? ''),
    toKey: String(o.toKey),
    ...(o.fromKey !== undefined ? { fromKey: String(o.fromKey) } : {}),
    ...clientOptionsFromEnv(o, env),
    concurrency,
    stateFile: String(o.stateFile ?? defaultStateFile(bucket)),
    restart: o.restart === true,
    ...(maxObjects !== undefined ? { maxObjects } : {}),
    json: o.json === true,
    includeSseS3: o.includeSseS3 === true,
    currentOnly: o.currentOnly === true,
    bypassGovernanceRetention: o.bypassGovernanceRetention === true,
    progress: progress as RekeyOptions['progress'],
  };
}

/** Credentials, server and target key, checked once before any object is touched. */
async function preflight(client: SignedClient, opts: RekeyOptions): Promise<{ toKeyArn: string; fromKeyArn?: string }> {
  const who = await client.admin('GET', 'whoami');
  if (who.status !== 200) {
    const e = apiError(who);
    throw new CliError(`${client.endpoint} refused the credentials: ${e.code}: ${e.message}`, ERROR_HINTS[e.code] ?? 'is the endpoint a Coffer server?');
  }
  const check = await client.admin('POST', 'objects/rewrap', { check: true, toKeyId: opts.toKey, ...(opts.fromKey ? { fromKeyId: opts.fromKey } : {}) });
  if (check.status !== 200) {
    const e = apiError(check);
    // The preflight is authorized as kms:DescribeKey on each key (see resolveRewrapKeys); a run
    // without it would fail or skip object by object, so it stops here with what to allow.
    const hint = e.code === 'AccessDeniedException' ? 'coffer rekey checks --to-key and --from-key first as kms:DescribeKey: allow it to this principal on those keys' : ERROR_HINTS[e.code];
    throw new CliError(`cannot use the key: ${e.code}: ${e.message}`, hint);
  }
  const keys = JSON.parse(check.body) as { toKeyId: string; fromKeyId?: string };
  return { toKeyArn: keys.toKeyId, ...(keys.fromKeyId ? { fromKeyArn: keys.fromKeyId } : {}) };
}

/** A run that had to stop: the error, and what was done before it (if anything). */
export class RekeyStopped extends CliError {
  constructor(cause: Error, readonly summary: RekeySummary | undefined) {
    super(cause.message, (cause as CliError).hint);
  }
}

export async function runRekey(opts: RekeyOptions): Promise<RekeySummary> {
  const client = new SignedClient({ endpoint: opts.endpoint, region: opts.region, credentials: opts.credentials });
  const started = Date.now();
  try {
    const keys = await preflight(client, opts);
    const run: RekeyRun = {
      endpoint: client.endpoint, bucket: opts.bucket, prefix: opts.prefix, toKeyArn: keys.toKeyArn,
      ...(keys.fromKeyArn ? { fromKeyArn: keys.fromKeyArn } : {}), ...(opts.includeSseS3 ? { convertSseS3: true as const } : {}),
      ...(opts.currentOnly ? {} : { allVersions: true as const }),
      ...(opts.bypassGovernanceRetention ? { bypassGovernanceRetention: true as const } : {}),
    };
    if (opts.restart) await removeState(opts.stateFile);
    const saved = await loadState(opts.stateFile, run);
    const summary: RekeySummary = {
      endpoint: run.endpoint, bucket: opts.bucket, prefix: opts.prefix, toKeyId: keys.toKeyArn, ...(keys.fromKeyArn ? { fromKeyId: keys.fromKeyArn } : {}),
      complete: false, coveredEarlier: saved?.covered ?? 0, ...(saved?.after !== undefined ? { resumedAfter: saved.after } : {}),
      objects: { rewrapped: 0, converted: 0, unchanged: 0, skipped: 0, changed: 0, failed: 0 },
      bytes: { rewrapped: 0, converted: 0, unchanged: 0, skipped: 0, changed: 0, failed: 0 },
      skippedBy: {}, failures: [], seconds: 0,
    };
    if (saved?.after !== undefined && !opts.json) process.stderr.write(`coffer: resuming after "${saved.after}" (${saved.covered} objects done by earlier runs)\n`);
    await new RekeyRunner(client, opts, run, saved, summary).run();
    summary.seconds = Math.round((Date.now() - started) / 100) / 10;
    return summary;
  } finally {
    client.close();
  }
}

class RekeyRunner {
  private readonly checkpoint: Checkpoint;
  private readonly inFlight = new Set<Promise<void>>();
  private done = 0;
  private bytes = 0;
  private counted = { objects: 0, counting: true };
  private stop: RekeySummary['stopped'];
  private fatal: Error | undefined;
  private lastSave = 0;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: SignedClient,
    private readonly opts: RekeyOptions,
    private readonly runInfo: RekeyRun,
    private readonly saved: RekeyState | undefined,
    private readonly summary: RekeySummary,
  ) {
    this.checkpoint = new Checkpoint(saved?.after, saved?.afterVersionId);
  }

  async run(): Promise<void> {
    const onSignal = () => {
      if (this.stop === 'interrupted') process.exit(130); // a second ^C: the checkpoint on disk is at most a moment old
      this.stop = 'interrupted';
      process.stderr.write('\ncoffer: interrupted: finishing the re-wraps in flight and saving the checkpoint (^C again to quit now)\n');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const tty = this.opts.progress === 'bar' || (this.opts.progress === 'auto' && process.stderr.isTTY === true);
    const progress = this.opts.progress === 'off' ? undefined : new ProgressReporter(process.stderr, () => ({
      done: this.done, bytes: this.bytes, total: this.counted.objects, counting: this.counted.counting,
    }), { tty });
    // The work pass reports listing errors; without a count the bar just has no total.
    const counting = this.count().catch(() => undefined);
    progress?.start();
    try {
      await this.work();
    } catch (e) {
      this.fatal ??= e as Error;
    } finally {
      await Promise.all(this.inFlight);
      if (!this.stop && !this.fatal) await counting; // it stops by itself at the next page otherwise
      progress?.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.counted.counting = false;
    }
    if (this.fatal) {
      await this.save(true);
      this.summary.stopped = 'fatal';
      throw new RekeyStopped(this.fatal, this.done > 0 ? this.summary : undefined);
    }
    if (this.stop) this.summary.stopped = this.stop;
    this.summary.complete = this.stop === undefined;
    if (this.summary.complete && this.summary.objects.failed === 0) await removeState(this.opts.stateFile);
    else await this.save(true);
  }

  /** The listing from the checkpoint on: every version (ListObjectVersions) or the current objects (ListObjectsV2). */
  private pages(): AsyncGenerator<ListedObject[]> {
    const { bucket, prefix } = this.opts;
    const after = this.saved?.after;
    if (!this.runInfo.allVersions) return listObjectPages(this.client, bucket, prefix, after);
    return listVersionPages(this.client, bucket, prefix, after === undefined ? undefined : { key: after, ...(this.saved?.afterVersionId !== undefined ? { versionId: this.saved.afterVersionId } : {}) });
  }

  /** The counting pass: totals for the progress bar, ahead of the work. */
  private async count(): Promise<void> {
    for await (const page of this.pages()) {
      if (this.stop || this.fatal) return;
      this.counted.objects += page.length;
      if (this.opts.maxObjects !== undefined && this.counted.objects >= this.opts.maxObjects) {
        this.counted.objects = this.opts.maxObjects;
        break;
      }
    }
    this.counted.counting = false;
  }

  private async work(): Promise<void> {
    let dispatched = 0;
    for await (const page of this.pages()) {
      for (const obj of page) {
        if (this.opts.maxObjects !== undefined && dispatched >= this.opts.maxObjects) this.stop ??= 'max-objects';
        if (this.stop || this.fatal) return;
        while (this.inFlight.size >= this.opts.concurrency) await Promise.race(this.inFlight);
        if (this.stop || this.fatal) return;
        dispatched++;
        const ticket = this.checkpoint.take();
        const p: Promise<void> = this.one(obj, ticket).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
    }
  }

  private async one(obj: ListedObject, ticket: number): Promise<void> {
    let status: Status;
    try {
      const reply = await this.client.admin('POST', 'objects/rewrap', {
        bucket: this.opts.bucket, key: obj.key, toKeyId: this.runInfo.toKeyArn, expectedETag: obj.etag,
        ...(obj.versionId !== undefined ? { versionId: obj.versionId } : {}),
        ...(this.runInfo.fromKeyArn ? { fromKeyId: this.runInfo.fromKeyArn } : {}),
        ...(this.runInfo.convertSseS3 ? { convertSseS3: true } : {}),
        ...(this.opts.bypassGovernanceRetention ? { bypassGovernanceRetention: true } : {}),
      });
      if (reply.status === 200) {
        const out = JSON.parse(reply.body) as { status: Exclude<Status, 'failed'>; reason?: string };
        status = out.status;
        if (status === 'skipped') this.summary.skippedBy[out.reason ?? 'unknown'] = (this.summary.skippedBy[out.reason ?? 'unknown'] ?? 0) + 1;
      } else {
        const e = apiError(reply);
        if (e.code === 'NoSuchKey' || e.code === 'NoSuchVersion') status = 'changed'; // deleted since it was listed
        else {
          if (FATAL_CODES.has(e.code)) this.fatal ??= new CliError(`the server refused the re-wrap of "${obj.key}": ${e.code}: ${e.message}`, ERROR_HINTS[e.code]);
          status = 'failed';
          this.summary.failures.push({ key: obj.key, code: e.code, message: e.message });
        }
      }
    } catch (e) {
      status = 'failed';
      if (e instanceof UnreachableError) this.fatal ??= e;
      else this.fatal ??= e as Error;
      this.summary.failures.push({ key: obj.key, code: 'ClientError', message: (e as Error).message });
    }
    this.summary.objects[status]++;
    this.summary.bytes[status] += obj.size;
    this.done++;
    this.bytes += obj.size;
    if (this.checkpoint.finish(ticket, obj.key, status !== 'failed', obj.versionId)) await this.save(false);
  }

  /**
   * Writes the checkpoint, at most twice a second unless `now`. A run creates the file only
   * once an object is done: a start that fails (no such bucket, a refused listing) leaves
   * nothing behind, since a rerun would begin at the first key anyway.
   */
  private async save(now: boolean): Promise<void> {
    if (this.saved === undefined && this.checkpoint.advanced === 0) return;
    if (!now && Date.now() - this.lastSave < 500) return;
    this.lastSave = Date.now();
    const state: RekeyState = {
      format: STATE_FORMAT, ...this.runInfo,
      ...(this.checkpoint.after !== undefined ? { after: this.checkpoint.after } : {}),
      ...(this.checkpoint.afterVersionId !== undefined ? { afterVersionId: this.checkpoint.afterVersionId } : {}),
      covered: (this.saved?.covered ?? 0) + this.checkpoint.advanced,
      updatedAt: new Date().toISOString(),
    };
    this.saving = this.saving.then(() => saveState(this.opts.stateFile, state)).catch((e: Error) => {
      this.fatal ??= new CliError(`cannot write the state file ${this.opts.stateFile}: ${e.message}`, 'pass a writable --state-file');
    });
    await this.saving;
  }
}

export function formatSummary(s: RekeySummary, stateFile: string): string {
  const lines: string[] = [];
  lines.push(`re-key of s3://${s.bucket}/${s.prefix} to ${s.toKeyId}${s.fromKeyId ? ` (only objects under ${s.fromKeyId})` : ''}`);
  const skipped = Object.entries(s.skippedBy).sort().map(([r, n]) => `${r}: ${n}`).join(', ');
  const row = (label: string, st: Status, note = ''): string[] => [label, String(s.objects[st]), s.objects[st] ? formatBytes(s.bytes[st]) : '', note];
  lines.push(table([
    row('rewrapped', 'rewrapped', 'now under the target key'),
    ...(s.objects.converted ? [row('converted', 'converted', 'SSE-S3 objects now SSE-KMS under the target key')] : []),
    row('unchanged', 'unchanged', 'already under the target key'),
    row('skipped', 'skipped', skipped),
    row('changed', 'changed', 'overwritten or deleted during the run: left as they are'),
    row('failed', 'failed'),
  ]).trimEnd());
  const locked = s.skippedBy['object-lock'] ?? 0;
  if (locked > 0) {
    lines.push(`${locked} version${locked === 1 ? '' : 's'} under object lock ${locked === 1 ? 'was' : 'were'} left under ${locked === 1 ? 'its' : 'their'} key (COMPLIANCE or legal hold; GOVERNANCE needs --bypass-governance-retention and s3:BypassGovernanceRetention)`);
  }
  if (s.coveredEarlier > 0) lines.push(`${s.coveredEarlier} objects were covered by earlier runs (resumed after "${s.resumedAfter}")`);
  for (const f of s.failures.slice(0, 20)) lines.push(`failed: ${f.key}: ${f.code}: ${f.message}`);
  if (s.failures.length > 20) lines.push(`... and ${s.failures.length - 20} more failures`);
  if (s.stopped === 'max-objects') lines.push(`stopped after --max-objects; run the same command again to continue (checkpoint: ${stateFile})`);
  if (s.stopped === 'interrupted') lines.push(`interrupted; run the same command again to resume (checkpoint: ${stateFile})`);
  if (s.stopped === 'fatal') lines.push(`stopped by the error below; run the same command again to resume (checkpoint: ${stateFile})`);
  if (s.complete && s.objects.failed > 0) lines.push(`fix the failures and run the same command again to retry them (checkpoint: ${stateFile})`);
  lines.push(`took ${s.seconds}s`);
  return lines.join('\n') + '\n';
}
