// `coffer hadoop config` and `coffer hadoop check`: a core-site.xml for Hadoop's S3A
// connector that points at this Coffer with SSE-KMS, and an explanation of what an
// existing core-site.xml will do here. Both read the data directory in-process
// (src/hadoop/coffer-view.ts), or a cluster's PostgreSQL database with --metadata
// (src/hadoop/cluster-view.ts); neither needs the server to be running.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CofferView } from '../hadoop/coffer-view.js';
import { makeConfig } from '../hadoop/make-config.js';
import { checkCoreSite, renderReport } from '../hadoop/check.js';
import { CoreSiteError } from '../hadoop/core-site.js';
import { CliError } from './output.js';
import { METADATA_OPTION, METADATA_OPTION_HELP } from './postgres-deployment.js';

interface CommonOptions {
  dataDir?: string;
  metadata?: string;
  region?: string;
  defaultKmsKey?: string;
}

async function withView<T>(o: CommonOptions, fn: (v: CofferView) => Promise<T>): Promise<T> {
  const view = await CofferView.open({ dataDir: o.dataDir, metadata: o.metadata, region: o.region, defaultKmsKeyId: o.defaultKmsKey });
  try {
    return await fn(view);
  } finally {
    await view.close();
  }
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerHadoopCommands(program: Command): void {
  const hadoop = program.command('hadoop').description('Hadoop S3A: generate and check core-site.xml for this server');
  const common = (c: Command): Command => c
    .option('--data-dir <dir>', 'data directory (default ./data, env COFFER_DATA_DIR)')
    .option(METADATA_OPTION, `${METADATA_OPTION_HELP}: read the cluster's buckets, keys and users there instead of a data directory`)
    .option('--region <region>', 'the server\'s region (default us-east-1, env COFFER_REGION)')
    .option('--default-kms-key <key>', 'the server\'s organization default key, if it runs with one (env COFFER_DEFAULT_KMS_KEY_ID)');

  common(hadoop.command('config')
    .description('print a core-site.xml that points S3A at this server with SSE-KMS')
    .requiredOption('--bucket <bucket>', 'the bucket S3A will use')
    .option('--key <key>', 'KMS key id, ARN or alias/NAME (default: unset, i.e. the default key)')
    .option('--user <name>', 'IAM user whose credentials to write: a new access key is created (its secret is shown only in this file)')
    .option('--access-key-id <id>', 'write this existing access key instead; its secret from AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)')
    .option('--no-credentials', 'write placeholders instead of credentials')
    .option('--legacy-names', 'use the seed\'s property names fs.s3a.server-side-encryption-algorithm / .key')
    .option('--per-bucket', 'write fs.s3a.bucket.<bucket>.* properties instead of fs.s3a.*')
    .option('--algorithm <alg>', 'SSE-KMS, DSSE-KMS or none', 'SSE-KMS')
    .option('--endpoint <url>', 'the URL S3A connects to (default: the server\'s address and port, https with --tls-cert)'))
    .action(async (o: CommonOptions & { bucket: string; key?: string; user?: string; accessKeyId?: string; credentials: boolean; legacyNames?: boolean; perBucket?: boolean; algorithm: string; endpoint?: string }) => {
      const algorithm = ({ 'sse-kms': 'SSE-KMS', 'dsse-kms': 'DSSE-KMS', none: 'none' } as const)[o.algorithm.toLowerCase() as 'sse-kms'];
      if (!algorithm) throw new CliError(`unknown --algorithm ${o.algorithm}`, 'use SSE-KMS, DSSE-KMS or none');
      await withView(o, async (view) => {
        if (o.user !== undefined && view.config.metadata !== undefined) {
          // A new access key is an IAM change: on a cluster it goes through a node, which records it in the audit trail.
          throw new CliError('--user creates an access key, which on a cluster is made through a node (so that its audit trail records it), not in the database directly', `create it with \`aws iam create-access-key --user-name ${o.user} --endpoint-url https://NODE\`, then pass --access-key-id with AWS_SECRET_ACCESS_KEY set`);
        }
        const made = await makeConfig(view, {
          bucket: o.bucket,
          key: o.key,
          user: o.user,
          accessKeyId: o.accessKeyId,
          secretAccessKey: o.accessKeyId ? process.env.AWS_SECRET_ACCESS_KEY || undefined : undefined,
          sessionToken: o.accessKeyId ? process.env.AWS_SESSION_TOKEN || undefined : undefined,
          credentials: o.credentials,
          legacyNames: o.legacyNames ?? false,
          perBucket: o.perBucket ?? false,
          algorithm,
          endpoint: o.endpoint,
        });
        if (made.createdAccessKey) {
          process.stderr.write(`coffer: created access key ${made.createdAccessKey.accessKeyId} for user ${made.createdAccessKey.userName}: its secret is in this output only (Coffer cannot show it again)\n`);
        }
        for (const w of made.warnings) process.stderr.write(`coffer: warning: ${w}\n`);
        process.stdout.write(made.xml);
      });
    });

  common(hadoop.command('check <core-site.xml>')
    .description('explain what S3A will do with this core-site.xml against this server; exit 1 when a problem is found')
    .option('--bucket <bucket>', 'check for this bucket (repeatable; default: every bucket with fs.s3a.bucket.* overrides, and the base configuration)', collect, [])
    .option('--json', 'print the report as JSON'))
    .action(async (file: string, o: CommonOptions & { bucket: string[]; json?: boolean }) => {
      let xml: string;
      try {
        xml = await readFile(file, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
      }
      const report = await withView(o, async (view) => {
        try {
          return await checkCoreSite(view, file, xml, o.bucket);
        } catch (e) {
          if (e instanceof CoreSiteError) throw new CliError(`${file}: ${e.message}`);
          throw e;
        }
      });
      process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : renderReport(report));
      process.exitCode = report.ok ? 0 : 1;
    });
}
