// The console's static assets: /console (index.html) and /console/<asset> (the browser
// modules compiled from src/console/web/ and the html/css copied beside them by
// scripts/copy-console-assets.mjs, all under dist/console/web/, which ships with the
// package). Unsigned GET/HEAD only (http/server.ts routes nothing else here). Everything
// the console does after loading goes through Coffer's signed APIs as the signed-in
// principal, so these files carry no secrets and need no authorization.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PageHandler } from '../http/pages.js';

/** dist/src/console/serve.js → dist/console/web/ (in a checkout and in an installed package). */
export const CONSOLE_ASSET_DIR = fileURLToPath(new URL('../../console/web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// Scripts only from this origin (no inline script, no eval); the page talks only to
// Coffer itself; downloads are blob: URLs the page makes from signed GETs.
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Asset names are lowercase path segments that never start with a dot, so no "..",
 * no encoded characters and no hidden files: anything else is a 404 before the file
 * system is asked.
 */
const ASSET_NAME = /^[a-z0-9][a-z0-9_-]*(?:\/[a-z0-9][a-z0-9_-]*)*\.(?:html|js|css|svg)$/;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export function consolePages(dir: string = CONSOLE_ASSET_DIR): PageHandler {
  const cache = new Map<string, Asset | null>();
  async function load(name: string): Promise<Asset | null> {
    if (cache.has(name)) return cache.get(name)!;
    let asset: Asset | null = null;
    try {
      const body = await readFile(join(dir, name));
      const ext = name.slice(name.lastIndexOf('.'));
      asset = { body, type: TYPES[ext]!, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
    } catch {
      asset = null;
    }
    cache.set(name, asset);
    return asset;
  }
  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path !== '/console' && !path.startsWith('/console/')) return false;
    const rest = path.slice('/console/'.length);
    const name = path === '/console' || rest === '' ? 'index.html' : rest;
    const asset = ASSET_NAME.test(name) ? await load(name) : null;
    const headers: Record<string, string | number> = {
      'content-security-policy': CONSOLE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    };
    if (!asset) {
      const body = 'Not found\n';
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    // Names carry no content hash, so browsers revalidate every time (a cheap 304).
    headers['cache-control'] = 'no-cache';
    headers.etag = asset.etag;
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-type': asset.type, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}
