// Starts the real Coffer server on a free loopback port with a fresh data dir, and
// gives tests configured clients. Nothing here mocks Coffer.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { S3Client } from '@aws-sdk/client-s3';
import { KMSClient } from '@aws-sdk/client-kms';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';

export const ROOT_KEY_ID = 'AKIACOFFERTESTROOT01';
export const ROOT_SECRET = 'coffer-test-root-secret-key-0123456789';

export interface TestServer {
  coffer: RunningCoffer;
  url: string;
  dataDir: string;
  s3: S3Client;
  kms: KMSClient;
  /** A KMS client with other options (e.g. another user's credentials). */
  kmsClient(opts?: Partial<ConstructorParameters<typeof KMSClient>[0]>): KMSClient;
  /** An S3 client with other options (e.g. forcePathStyle false, other credentials). */
  client(opts?: Partial<ConstructorParameters<typeof S3Client>[0]>): S3Client;
  stop(): Promise<void>;
}

/**
 * With COFFER_TLS_CERT and COFFER_TLS_KEY in `env` the server speaks HTTPS, and the
 * clients trust that certificate (a self-signed one is its own CA).
 */
export async function startTestServer(env: Record<string, string> = {}, opts: { dataDir?: string; log?: Logger; now?: () => number; fsync?: boolean } = {}): Promise<TestServer> {
  // opts.dataDir: start on an existing data directory (a restart); the caller removes it.
  // opts.log: the server's logger (silent otherwise), for tests that check what it logs.
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'coffer-test-')));
  const config = loadConfig(
    // opts.fsync: durable writes (blobs written, and read back, with O_DIRECT where the filesystem takes it).
    { port: 0, dataDir, fsync: opts.fsync ?? false },
    { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, ...env },
  );
  // opts.now: the S3 services' clock (object lock), for tests that move time.
  const coffer = await startCoffer(config, opts.log ?? pino({ level: 'silent' }), opts.now ? { now: opts.now } : {});
  const ca = config.tlsCert ? await readFile(config.tlsCert) : undefined;
  // A fresh agent per client: destroying a client destroys its agent.
  const tls = () => (ca ? { requestHandler: { httpsAgent: new Agent({ ca, keepAlive: true }) } } : {});
  const client = (opts: Partial<ConstructorParameters<typeof S3Client>[0]> = {}) =>
    new S3Client({
      ...tls(),
      endpoint: coffer.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      ...opts,
    });
  const s3 = client();
  const kmsClient = (opts: Partial<ConstructorParameters<typeof KMSClient>[0]> = {}) =>
    new KMSClient({
      ...tls(),
      endpoint: coffer.url,
      region: 'us-east-1',
      credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET },
      ...opts,
    });
  const kms = kmsClient();
  return {
    coffer,
    url: coffer.url,
    dataDir,
    s3,
    client,
    kms,
    kmsClient,
    async stop() {
      s3.destroy();
      kms.destroy();
      await coffer.close();
      if (opts.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
export function uniqueBucket(prefix = 'bucket'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}
