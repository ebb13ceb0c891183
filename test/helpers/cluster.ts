// A real Coffer cluster for tests: N `coffer server` child processes on one PostgreSQL
// database (test/helpers/postgres.ts) and one blob tier — a shared directory
// (`--blobs file:///…`) or an S3-compatible service (`--blobs s3://…`, typically a second,
// embedded Coffer) — with the same root key and root credentials, each node with a data
// directory of its own (its audit log, its lock). Nodes can be SIGKILLed and restarted;
// `proxy()` spreads connections over the live nodes round-robin (a plain TCP proxy, so
// SigV4 signatures made for the proxy's address still verify on every node), for clients
// that take one endpoint (the AWS CLI, Hadoop S3A).
//
// Nothing is mocked: the nodes are the real server, PostgreSQL the real one.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { KMSClient } from '@aws-sdk/client-kms';
import { SignedClient } from '../../src/cli/signed-client.js';
import { ROOT_KEY_ID, ROOT_SECRET, startChildServer, type ChildServer } from '../interop/support.js';
import { postgresServer } from './postgres.js';

export { ROOT_KEY_ID, ROOT_SECRET };


export interface ClusterNode {
  readonly index: number;
  /** The node's data directory (audit log, lock); not shared. */
  readonly dataDir: string;
  /** The node's URL while it runs; throws when it is down. */
  url(): string;
  /** An S3 client on this node (root credentials unless `opts` says otherwise); destroyed by stop/kill. */
  s3(opts?: Partial<ConstructorParameters<typeof S3Client>[0]>): S3Client;
  /** A KMS client on this node. */
  kms(opts?: Partial<ConstructorParameters<typeof KMSClient>[0]>): KMSClient;
  /** The running child process (stderr, pid), or undefined when the node is down. */
  child(): ChildServer | undefined;
  /** SIGKILL (no shutdown work at all). */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Starts the node again on the same data directory, database and blob tier; `env` changes the cluster's environment for this start (undefined: unset). */
  start(env?: Record<string, string | undefined>): Promise<void>;
  readonly running: boolean;
}

export interface TestCluster {
  readonly nodes: readonly ClusterNode[];
  /** The database's connection string (for checks straight in PostgreSQL). */
  readonly databaseUrl: string;
  /** The `--blobs` setting every node runs with. */
  readonly blobs: string;
  /** The shared blob directory, for `file` tiers. */
  readonly blobDir?: string;
  /** The root key (base64) every node shares. */
  readonly rootKey: string;
  /** The account id every node shares (the database keeps it; each node's root-credentials.json records it). */
  readonly accountId: string;
  /** A TCP proxy on a free loopback port spreading connections round-robin over the running nodes; closed by `stop`. */
  proxy(): Promise<string>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  nodes?: number;
  /** `file` (default): a shared temp directory; or a full `--blobs` setting (s3://…) with its env in `env`. */
  blobs?: 'file' | string;
  /** Extra environment for every node (COFFER_BLOB_S3_ACCESS_KEY_ID, …). */
  env?: Record<string, string>;
  /** Extra server arguments for every node. */
  args?: string[];
  /** An existing database (a restart of a whole cluster); a fresh one otherwise. */
  databaseUrl?: string;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const count = opts.nodes ?? 3;
  const databaseUrl = opts.databaseUrl ?? (await (await postgresServer()).freshDatabase());
  const temp = await mkdtemp(join(tmpdir(), 'coffer-cluster-'));
  const blobDir = opts.blobs === undefined || opts.blobs === 'file' ? join(temp, 'shared-blobs') : undefined;
  const blobs = blobDir ? `file://${blobDir}` : opts.blobs!;
  const rootKey = randomBytes(32).toString('base64');
  const env = { COFFER_ROOT_KEY: rootKey, COFFER_METADATA: databaseUrl, COFFER_BLOBS: blobs, ...opts.env };
  const proxies: Server[] = [];
  const sockets = new Set<Socket>();

  const nodes: ClusterNode[] = [];
  for (let i = 0; i < count; i++) {
    const dataDir = join(temp, `node-${i}`);
    await mkdir(dataDir, { recursive: true });
    let child: ChildServer | undefined;
    let clients: { destroy(): void }[] = [];
    const drop = () => {
      for (const c of clients) c.destroy();
      clients = [];
    };
    const node: ClusterNode = {
      index: i,
      dataDir,
      url() {
        if (!child) throw new Error(`cluster node ${i} is not running`);
        return child.url;
      },
      s3(o = {}) {
        const c = new S3Client({ endpoint: node.url(), region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1, ...o });
        clients.push(c);
        return c;
      },
      kms(o = {}) {
        const c = new KMSClient({ endpoint: node.url(), region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET }, maxAttempts: 1, ...o });
        clients.push(c);
        return c;
      },
      child: () => child,
      async kill() {
        drop();
        await child?.kill();
        child = undefined;
      },
      async stop() {
        drop();
        await child?.stop();
        child = undefined;
      },
      async start(override = {}) {
        if (child) return;
        // spawn leaves out variables whose value is undefined.
        child = await startChildServer(dataDir, { ...env, ...override } as Record<string, string>, opts.args ?? []);
      },
      get running() {
        return child !== undefined;
      },
    };
    nodes.push(node);
  }
  try {
    // One at a time: the first applies the migrations (the others would wait on its advisory lock anyway).
    for (const n of nodes) await n.start();
  } catch (e) {
    for (const n of nodes) await n.kill().catch(() => {});
    await rm(temp, { recursive: true, force: true });
    throw e;
  }

  // The cluster's one account, which the first node made and the database keeps (each node
  // records it in its root-credentials.json; docs/CLUSTER.md, "The account").
  const { accountId } = JSON.parse(await readFile(join(nodes[0]!.dataDir, 'root-credentials.json'), 'utf8')) as { accountId: string };
  let next = 0;
  return {
    nodes,
    databaseUrl,
    blobs,
    ...(blobDir ? { blobDir } : {}),
    rootKey,
    accountId,
    async proxy() {
      const server = createServer((client) => {
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        const live = nodes.filter((n) => n.running);
        if (live.length === 0) {
          client.destroy();
          return;
        }
        const target = new URL(live[next++ % live.length]!.url());
        const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      });
      proxies.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('proxy has no port');
      return `http://127.0.0.1:${address.port}`;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await Promise.all(proxies.map((p) => new Promise<void>((resolve) => p.close(() => resolve()))));
      await Promise.all(nodes.map((n) => n.stop().catch(() => n.kill())));
      await rm(temp, { recursive: true, force: true });
    },
  };
}

/** The root-key rotation's admin route (custody/rotation) on node `n`, signed as root. */
export async function rotationAdmin(n: ClusterNode, method: 'GET' | 'POST' | 'DELETE', body?: unknown): ReturnType<SignedClient['admin']> {
  const c = new SignedClient({ endpoint: n.url(), region: 'us-east-1', credentials: { accessKeyId: ROOT_KEY_ID, secretAccessKey: ROOT_SECRET } });
  try {
    return await c.admin(method, 'custody/rotation', body);
  } finally {
    c.close();
  }
}

/** Polls `ok` every `stepMs` until it holds; throws naming `what` after `ms`. */
export async function until(what: string, ok: () => Promise<boolean> | boolean, ms: number, stepMs = 100): Promise<void> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
