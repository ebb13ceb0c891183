// The one place configuration is read and validated: command-line flags, then
// COFFER_* environment variables, then defaults. Every failure says how to fix it.

import { z } from 'zod';

export interface CofferConfig {
  address: string;
  port: number;
  dataDir: string;
  region: string;
  domain?: string;
  /** fsync blobs and directories before an object becomes visible (power-loss durability). */
  fsync: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  rootAccessKeyId?: string;
  rootSecretAccessKey?: string;
  /** Largest single PUT body (S3: 5 GiB). */
  maxObjectSize: number;
}

export class ConfigError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

const schema = z.object({
  address: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  dataDir: z.string().min(1),
  region: z.string().regex(REGION),
  domain: z.string().regex(/^[a-z0-9.-]+$/i).optional(),
  fsync: z.boolean(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  rootAccessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/).optional(),
  rootSecretAccessKey: z.string().min(16).max(128).optional(),
  maxObjectSize: z.number().int().positive(),
});

const HINTS: Record<string, string> = {
  port: 'use --port or COFFER_PORT with a number from 0 to 65535 (0 picks a free port)',
  region: 'use --region or COFFER_REGION with an AWS-style region name such as us-east-1',
  domain: 'use --domain with a bare host name such as s3.example.com',
  logLevel: 'use COFFER_LOG_LEVEL with one of fatal, error, warn, info, debug, trace, silent',
  rootAccessKeyId: 'COFFER_ROOT_ACCESS_KEY_ID must be 16 to 128 upper-case letters and digits',
  rootSecretAccessKey: 'COFFER_ROOT_SECRET_ACCESS_KEY must be 16 to 128 characters',
  dataDir: 'use --data-dir or COFFER_DATA_DIR with a directory path',
  address: 'use --address with an IP address such as 127.0.0.1',
  maxObjectSize: 'COFFER_MAX_OBJECT_SIZE must be a positive number of bytes (default 5368709120, S3\'s limit)',
};

export interface ConfigFlags {
  address?: string;
  port?: string | number;
  dataDir?: string;
  region?: string;
  domain?: string;
  fsync?: boolean;
}

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): CofferConfig {
  const rawFsync = env.COFFER_FSYNC;
  const raw = {
    address: flags.address ?? env.COFFER_ADDRESS ?? '127.0.0.1',
    port: flags.port ?? env.COFFER_PORT ?? 9000,
    dataDir: flags.dataDir ?? env.COFFER_DATA_DIR ?? './data',
    region: flags.region ?? env.COFFER_REGION ?? 'us-east-1',
    domain: flags.domain ?? env.COFFER_DOMAIN ?? undefined,
    fsync: flags.fsync ?? (rawFsync === undefined ? true : !/^(0|false|no|off)$/i.test(rawFsync)),
    logLevel: env.COFFER_LOG_LEVEL ?? 'info',
    rootAccessKeyId: env.COFFER_ROOT_ACCESS_KEY_ID || undefined,
    rootSecretAccessKey: env.COFFER_ROOT_SECRET_ACCESS_KEY || undefined,
    maxObjectSize: env.COFFER_MAX_OBJECT_SIZE === undefined ? 5 * 1024 ** 3 : Number(env.COFFER_MAX_OBJECT_SIZE),
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0] ?? '');
    const shown = field === 'rootSecretAccessKey' ? '(hidden)' : JSON.stringify((raw as Record<string, unknown>)[field]);
    throw new ConfigError(`invalid ${field}: ${shown}`, HINTS[field]);
  }
  if ((raw.rootAccessKeyId === undefined) !== (raw.rootSecretAccessKey === undefined)) {
    throw new ConfigError('only one of COFFER_ROOT_ACCESS_KEY_ID and COFFER_ROOT_SECRET_ACCESS_KEY is set', 'set both, or neither to use the generated root credentials');
  }
  return parsed.data as CofferConfig;
}
