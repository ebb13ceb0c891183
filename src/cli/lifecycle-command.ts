// `coffer lifecycle run --bucket B`: applies a bucket's lifecycle rules now, through a running
// server's administration API (POST /_coffer/api/lifecycle/run, s3/lifecycle/lifecycle-route.ts),
// as the principal whose credentials are in the environment (authorized as
// s3:PutLifecycleConfiguration on the bucket) — like `coffer rekey`, not offline: the server
// owns the data directory (its lock), and its worker is the one that must not run beside
// another pass. The server's clock decides what is due. A summary goes to stdout (--json for
// JSON); diagnostics to stderr.

import type { Command } from 'commander';
import type { LifecycleSummary } from '../s3/lifecycle/worker.js';
import { CliError, table } from './output.js';
import { SignedClient, apiError, clientOptionsFromEnv, type ClientCredentials } from './signed-client.js';

export interface LifecycleRunOptions {
  bucket: string;
  endpoint: string;
  region: string;
  credentials: ClientCredentials;
  json: boolean;
}

/** What the server answers. */
export type LifecycleRunSummary = LifecycleSummary;

const HINTS: Record<string, string> = {
  NoSuchBucket: 'check --bucket',
  NoSuchLifecycleConfiguration: 'put the rules first: aws s3api put-bucket-lifecycle-configuration --bucket B --lifecycle-configuration file://rules.json',
  AccessDeniedException: 'allow s3:PutLifecycleConfiguration on arn:aws:s3:::BUCKET to this principal',
  InvalidClientTokenId: 'AWS_ACCESS_KEY_ID is not an access key of this server',
  SignatureDoesNotMatch: 'check AWS_SECRET_ACCESS_KEY, and --region if the server does not run in us-east-1',
  UnknownOperation: 'the server is older than this CLI: it has no lifecycle route',
};

export function registerLifecycleCommands(program: Command): void {
  const lifecycle = program.command('lifecycle').description("S3 lifecycle rules: apply a bucket's rules now");
  lifecycle
    .command('run')
    .description("apply a bucket's lifecycle rules now on a running server (expirations, noncurrent versions, delete markers, incomplete uploads)")
    .requiredOption('--bucket <name>', 'the bucket')
    .option('--endpoint <url>', "the Coffer server (default: COFFER_ENDPOINT, AWS_ENDPOINT_URL, the profile's endpoint_url, http://127.0.0.1:9000)")
    .option('--region <region>', "the region the server signs in (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1)")
    .option('--profile <name>', 'the AWS profile when AWS_ACCESS_KEY_ID is not set (default: AWS_PROFILE, else "default")')
    .option('--json', 'print the summary as JSON')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const opts = lifecycleRunOptions(o, process.env);
      if (process.stderr.isTTY) process.stderr.write(`applying the lifecycle rules of ${opts.bucket} on ${opts.endpoint} ...\n`);
      const summary = await runLifecycle(opts);
      process.stdout.write(opts.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(opts.bucket, summary));
      process.exitCode = summary.failed > 0 || !summary.complete ? 1 : 0;
    });
}

export function lifecycleRunOptions(o: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): LifecycleRunOptions {
  return {
    bucket: String(o.bucket),
    ...clientOptionsFromEnv(o, env),
    json: o.json === true,
  };
}

export async function runLifecycle(opts: LifecycleRunOptions): Promise<LifecycleRunSummary> {
  const client = new SignedClient({ endpoint: opts.endpoint, region: opts.region, credentials: opts.credentials });
  try {
    const reply = await client.admin('POST', 'lifecycle/run', { bucket: opts.bucket });
    if (reply.status !== 200) {
      const e = apiError(reply);
      throw new CliError(`cannot run the lifecycle rules of ${opts.bucket}: ${e.code}: ${e.message}`, HINTS[e.code]);
    }
    return JSON.parse(reply.body) as LifecycleRunSummary;
  } finally {
    client.close();
  }
}

export function formatSummary(bucket: string, s: LifecycleRunSummary): string {
  const rows = [
    ['ACTION', 'COUNT'],
    ['objects expired (deleted)', String(s.expired)],
    ['delete markers added', String(s.markersAdded)],
    ['noncurrent versions deleted', String(s.noncurrentExpired)],
    ['expired delete markers removed', String(s.markersRemoved)],
    ['incomplete uploads aborted', String(s.uploadsAborted)],
    ['skipped: object lock', String(s.locked)],
    ['skipped: changed meanwhile', String(s.changed)],
    ['failed (see the server log)', String(s.failed)],
  ];
  const head = `lifecycle rules of ${bucket} applied as of ${s.asOf} in ${s.seconds.toFixed(3)} s${s.complete ? '' : ' (cut short: the server is stopping; the next run finishes it)'}\n`;
  return head + table(rows);
}
