// Unsigned health endpoints for load balancers and orchestrators. Liveness says the
// process answers; readiness asks every part the server needs (the stores, the blob
// directory, the audit log, the root key) a cheap question and answers 503 naming the
// parts that failed. MinIO's paths answer the same way with MinIO's empty bodies, so
// existing probes and `mc ready` (which asks /minio/health/cluster) work unchanged.

import type { PageHandler } from './pages.js';

/** One part readiness asks: resolves when the part works, rejects with why not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface HealthOptions {
  version: string;
  checks: readonly ReadinessCheck[];
  /** A check that has not answered by then counts as failed (default 5 s). */
  timeoutMs?: number;
  /** Where a failed part's error goes: the unsigned answer names the part only (its error may name hosts, buckets, ARNs). */
  logFailure?: (part: string, error: string) => void;
}

const OWN_PATHS: Record<string, 'live' | 'ready'> = { '/health/live': 'live', '/health/ready': 'ready' };
const MINIO_PATHS: Record<string, 'live' | 'ready'> = {
  '/minio/health/live': 'live',
  '/minio/health/ready': 'ready',
  '/minio/health/cluster': 'ready',
  '/minio/health/cluster/read': 'ready',
};

/** Whether a path is one of the health endpoints (http/server.ts routes unsigned GET/HEAD of these here). */
export function isHealthPath(path: string): boolean {
  return path in OWN_PATHS || path in MINIO_PATHS;
}

type PartResult = { status: 'ok' } | { status: 'failed'; error: string };

async function runCheck(c: ReadinessCheck, timeoutMs: number): Promise<PartResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([c.check(), timeout]);
    return { status: 'ok' };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { status: 'failed', error: err.code ? `${err.code}: ${err.message}` : String(err.message ?? e) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check at once; the answer's parts in the order given. */
export async function readiness(checks: readonly ReadinessCheck[], timeoutMs = 5000): Promise<{ ready: boolean; parts: Record<string, PartResult> }> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  const parts: Record<string, PartResult> = {};
  checks.forEach((c, i) => (parts[c.name] = results[i]!));
  return { ready: results.every((r) => r.status === 'ok'), parts };
}

export function healthPages(opts: HealthOptions): PageHandler {
  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const kind = OWN_PATHS[path] ?? MINIO_PATHS[path];
    if (kind === undefined) return false;
    let status = 200;
    let doc: Record<string, unknown> = { status: 'ok', version: opts.version };
    if (kind === 'ready') {
      const r = await readiness(opts.checks, opts.timeoutMs);
      status = r.ready ? 200 : 503;
      const failed = Object.keys(r.parts).filter((name) => r.parts[name]!.status !== 'ok');
      for (const name of failed) {
        const p = r.parts[name]!;
        opts.logFailure?.(name, p.status === 'failed' ? p.error : '');
      }
      // Unsigned: each part's status only; the errors go to the server's log.
      const parts = Object.fromEntries(Object.entries(r.parts).map(([name, p]) => [name, { status: p.status }]));
      doc = r.ready ? { status: 'ok', version: opts.version, parts } : { status: 'unavailable', version: opts.version, failed, parts };
    }
    if (path in MINIO_PATHS) {
      // MinIO answers its probes with an empty body; the status code is the answer.
      res.writeHead(status, { 'content-length': '0', 'cache-control': 'no-store' });
      res.end();
      return true;
    }
    const body = JSON.stringify(doc);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
