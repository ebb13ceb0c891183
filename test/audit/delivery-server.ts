// A Coffer with audit delivery for the delivery tests: started (and restarted) on one data
// directory with the given COFFER_AUDIT_* settings, its warnings collected in logLines.

import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { S3Client } from '@aws-sdk/client-s3';
import { KMSClient } from '@aws-sdk/client-kms';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';

export const credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

export interface DeliveryServer {
  coffer: RunningCoffer;
  s3: S3Client;
  kms: KMSClient;
}

/** Starts a server on dataDir with `env`; `previous` clients (of an earlier start) are destroyed. */
export async function startDeliveryServer(dataDir: string, env: Record<string, string>, logLines: string[], previous?: Partial<DeliveryServer>): Promise<DeliveryServer> {
  const config = loadConfig({ port: 0, dataDir, fsync: false }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, ...env });
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const coffer = await startCoffer(config, pino({ level: 'warn' }, sink));
  previous?.s3?.destroy();
  previous?.kms?.destroy();
  return {
    coffer,
    s3: new S3Client({ endpoint: coffer.url, region: 'us-east-1', forcePathStyle: true, credentials }),
    kms: new KMSClient({ endpoint: coffer.url, region: 'us-east-1', credentials }),
  };
}

export async function stopDeliveryServer(s: DeliveryServer, dataDir: string): Promise<void> {
  s.s3.destroy();
  s.kms.destroy();
  await s.coffer.close();
  await rm(dataDir, { recursive: true, force: true });
}
