// The version of this Coffer: package.json's, read once at run time (dist/src/version.js
// and src/version.ts both sit two levels below it), so a release bump needs no rebuild of
// a constant.

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function cofferVersion(): string {
  if (cached === undefined) {
    const here = new URL('.', import.meta.url);
    // dist/src/ when compiled, src/ when run from source.
    const candidates = [new URL('../../package.json', here), new URL('../package.json', here)];
    for (const url of candidates) {
      try {
        const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'coffer' && typeof pkg.version === 'string') {
          cached = pkg.version;
          break;
        }
      } catch {
        // try the next location
      }
    }
    cached ??= 'unknown';
  }
  return cached;
}
