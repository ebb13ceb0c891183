// A Coffer with audit delivery for the delivery tests: one per test, on a data directory
// of its own, started (and restarted) with the given COFFER_AUDIT_* settings, its warnings
// collected in logLines. Nothing is shared between tests, so each passes alone and in any
// order.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { S3Client } from '@aws-sdk/client-s3';
import { KMSClient } from '@aws-sdk/client-kms';
import { startCoffer, type RunningCoffer } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { ROOT_KEY_ID, ROOT_SECRET } from '../helpers/server.js';

const credentials = { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET };

export class DeliveryServer {
  /** Warnings and errors of every start, one JSON line each. */
  readonly logLines: string[] = [];
  coffer!: RunningCoffer;
  s3!: S3Client;
  kms!: KMSClient;
  private running = false;

  private constructor(readonly dataDir: string, private readonly env: Record<string, string>) {}

  /** A server on a new data directory. */
  static async start(env: Record<string, string>): Promise<DeliveryServer> {
    const s = new DeliveryServer(await mkdtemp(join(tmpdir(), 'coffer-delivery-')), env);
    await s.restart();
    return s;
  }

  /** The audit directory, <data-dir>/audit. */
  get auditDir(): string {
    return join(this.dataDir, 'audit');
  }

  /** Starts the server again on the same data directory (closing it first if it runs), with new clients. */
  async restart(): Promise<void> {
    await this.close();
    const config = loadConfig({ port: 0, dataDir: this.dataDir, fsync: false }, { COFFER_ROOT_ACCESS_KEY_ID: ROOT_KEY_ID, COFFER_ROOT_SECRET_ACCESS_KEY: ROOT_SECRET, ...this.env });
    const logLines = this.logLines;
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    this.coffer = await startCoffer(config, pino({ level: 'warn' }, sink));
    this.s3 = new S3Client({ endpoint: this.coffer.url, region: 'us-east-1', forcePathStyle: true, credentials });
    this.kms = new KMSClient({ endpoint: this.coffer.url, region: 'us-east-1', credentials });
    this.running = true;
  }

  /** Stops the server; its data directory stays, for a restart. */
  async close(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.s3.destroy();
    this.kms.destroy();
    await this.coffer.close();
  }

  /** Stops the server and removes its data directory. */
  async stop(): Promise<void> {
    await this.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
