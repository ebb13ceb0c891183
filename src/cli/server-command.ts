// `coffer server`: validates the config, starts the listener, prints generated root
// credentials once.

import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.js';
import { startCoffer } from '../app.js';
import { isLoopbackAddress } from '../http/transport.js';
import { fail } from './output.js';
import { addExternalKmsOptions, addPkcs11Options } from './custody-command.js';
import type { RootKeyFlags } from '../config/root-key-flags.js';
import { createLogger } from '../logger.js';

interface ServerOptions extends RootKeyFlags {
  address?: string;
  port?: string;
  dataDir?: string;
  region?: string;
  domain?: string;
  fsync: boolean;
  blobs?: string;
  metadata?: string;
  tlsCert?: string;
  tlsKey?: string;
  allowSecretsOverHttp?: boolean;
  allowSseOverHttp?: boolean;
  defaultKmsKey?: string;
  encryptionAtRest: boolean;
  sigv2: boolean;
  logLevel?: string;
  config?: string;
}

export function registerServerCommand(program: Command): void {
  addExternalKmsOptions(addPkcs11Options(program
    .command('server')))
    .description('start the S3 and KMS endpoint')
    .option('--address <ip>', 'address to listen on (default 127.0.0.1, env COFFER_ADDRESS)')
    .option('--port <n>', 'port to listen on (default 9000, env COFFER_PORT)')
    .option('--data-dir <dir>', 'where data is kept (default ./data, env COFFER_DATA_DIR)')
    .option('--region <name>', 'the region this endpoint serves (default us-east-1, env COFFER_REGION)')
    .option('--domain <host>', 'base domain for virtual-hosted-style requests (bucket.<domain>)')
    .option('--blobs <url>', 'where object bytes go: file:///shared/path or s3://bucket/prefix?endpoint=… (default: the data directory; env COFFER_BLOBS; docs/CLUSTER-BLOBS.md)')
    .option('--metadata <url>', 'keep metadata, KMS, IAM and usage in this PostgreSQL database: postgres://user:password@host/db (default: SQLite files in the data directory; env COFFER_METADATA; docs/CLUSTER.md)')
    .option('--no-fsync', 'do not fsync object bytes before acknowledging (faster, not power-loss safe)')
    .option('--default-kms-key <key>', 'KMS key (id, ARN or alias) for aws:kms without a key id, instead of aws/s3 (env COFFER_DEFAULT_KMS_KEY_ID)')
    .option('--no-encryption-at-rest', 'store objects that ask for no encryption in the clear (benchmarks only; env COFFER_ENCRYPTION_AT_REST=off)')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (chain) PEM file (env COFFER_TLS_CERT; needs --tls-key)')
    .option('--tls-key <pem>', 'the unencrypted private key PEM file of --tls-cert (env COFFER_TLS_KEY)')
    .option('--allow-secrets-over-http', 'accept SSE-KMS, SSE-C, KMS plaintext, IAM access keys and STS credentials over plain HTTP from any client, not only loopback (trusted networks only; env COFFER_ALLOW_SECRETS_OVER_HTTP=1)')
    .option('--allow-sse-over-http', 'the older name of --allow-secrets-over-http (env COFFER_ALLOW_SSE_OVER_HTTP=1)')
    .option('--config <file>', 'read settings from a TOML, YAML or JSON file (flags and COFFER_* variables take precedence; env COFFER_CONFIG)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info, env COFFER_LOG_LEVEL)')
    .option('--no-sigv2', 'refuse AWS Signature Version 2 (S3 requests, presigned URLs and POST forms) as AWS does for SigV4-only regions (env COFFER_SIGV2=off)')
    .action(async (opts: ServerOptions) => {
      let config;
      try {
        const { defaultKmsKey, encryptionAtRest, allowSseOverHttp, allowSecretsOverHttp, sigv2, ...rest } = opts;
        config = loadConfig({
          ...rest,
          fsync: opts.fsync === false ? false : undefined,
          allowSecretsOverHttp: allowSecretsOverHttp === true || allowSseOverHttp === true ? true : undefined,
          defaultKmsKeyId: defaultKmsKey,
          encryptionAtRest: encryptionAtRest === false ? false : undefined,
          sigv2: sigv2 === false ? false : undefined,
        });
      } catch (e) {
        if (e instanceof ConfigError) fail(e.message, e.hint);
        throw e;
      }
      const log = createLogger({ level: config.logLevel });
      let running;
      try {
        running = await startCoffer(config, log);
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { hint?: string };
        if (err.code === 'EADDRINUSE') fail(`port ${config.port} on ${config.address} is already in use`, 'stop the other process or choose another port with --port');
        if (err.code === 'EACCES' && (err.syscall === 'listen' || err.syscall === 'bind')) fail(`cannot listen on port ${config.port}: permission denied`, 'use a port above 1023 (--port), or grant the process CAP_NET_BIND_SERVICE');
        if (err.code === 'EACCES' || err.code === 'EPERM') fail(`cannot use ${err.path ?? config.dataDir}: permission denied`, `give the user running coffer its data directory and every file in it (sudo chown -R "$(id -un)" ${config.dataDir})`);
        fail(err.message, err.hint);
      }
      if (running.root.generated) {
        process.stdout.write(
          `Generated root credentials (shown once; also in ${config.dataDir}/root-credentials.json):\n` +
            `  AWS_ACCESS_KEY_ID=${running.root.credential.accessKeyId}\n` +
            `  AWS_SECRET_ACCESS_KEY=${running.root.credential.secretAccessKey}\n`,
        );
      }
      // Everything before the listening line: it is the readiness signal, and a
      // supervisor may send SIGTERM the moment it sees it.
      if (!config.encryptionAtRest) log.warn('at-rest encryption is off: objects stored without SSE headers are kept in the clear (use only for benchmarks)');
      // Requests in flight may finish within the grace period; a second signal, with the
      // handlers gone, ends the process at once (the lock it leaves is taken over on start).
      const stop = (signal: NodeJS.Signals) => {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        log.info({ signal }, `${signal}: no longer accepting connections; waiting up to ${config.shutdownGraceSeconds} s for requests in flight`);
        running.close(config.shutdownGraceSeconds * 1000).then(({ forced }) => {
          if (forced) log.warn(`requests still in flight after ${config.shutdownGraceSeconds} s were cut off (COFFER_SHUTDOWN_GRACE_SECONDS)`);
          log.flush();
          process.exit(0);
        }, () => process.exit(1));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      if (!config.tlsCert && !config.allowSecretsOverHttp && !isLoopbackAddress(config.address)) {
        log.warn(
          { hint: 'serve HTTPS with --tls-cert and --tls-key, or on a trusted network allow them with --allow-secrets-over-http' },
          `plain HTTP on ${config.address}: SSE-KMS and SSE-C requests, KMS plaintext, IAM access keys and STS credentials from other hosts will be refused`,
        );
      }
      const scheme = config.tlsCert ? 'HTTPS' : 'plain HTTP';
      // The console line comes first: the listening line is the readiness signal (see above).
      process.stdout.write(`Console: ${running.url}/console (sign in with an access key, or the root credentials)\n`);
      process.stdout.write(`Coffer listening on ${running.url} (${scheme}, region ${config.region}, data in ${config.dataDir})\n`);
    });
}
