// The layers of src/ (docs/ARCHITECTURE.md, "Layers"): which folder may import which,
// no import cycles between files (type-only imports included), and files short enough to
// read in one sitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = new URL('../../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import of a file (static, `export … from`, `import('…')` types), as src-relative paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*'(\.{1,2}\/[^']+)'/gm),
    ...text.matchAll(/^\s*import\s*'(\.{1,2}\/[^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g),
  ].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, normalize(join(dirname(file), s))).replace(/\.js$/, '.ts'));
}

const ALL = files(SRC).map((f) => relative(SRC, f));
const GRAPH = new Map(ALL.map((f) => [f, importsOf(join(SRC, f))]));
const layerOf = (f: string): string => (f.includes('/') ? f.slice(0, f.indexOf('/')) : f);

// What each layer may import besides itself. Layers not named here are the top (cli/, app.ts).
const MAY_IMPORT: Record<string, readonly string[]> = {
  'errors.ts': [],
  // Records keyed by names a client chooses (setOwn, ownValue): any layer may build one.
  'records.ts': [],
  checksum: ['errors.ts'],
  // File reads both the blob store and the decrypt worker do (io/direct-read.ts).
  io: [],
  crypto: ['errors.ts', 'checksum', 'io'],
  custody: ['errors.ts', 'crypto'],
  storage: ['errors.ts', 'checksum', 'io'],
  // The job leader knows storage (its sweeper) and nothing of the services whose jobs it runs.
  cluster: ['errors.ts', 'checksum', 'storage'],
  config: ['errors.ts'],
  auth: ['errors.ts', 'checksum', 'records.ts'],
  http: ['errors.ts', 'auth', 'records.ts'],
  // The database audit store (pg-audit-store.ts) migrates and queries through storage/postgres.
  audit: ['errors.ts', 'auth', 'http', 'admin', 'storage'],
  admin: ['errors.ts', 'auth', 'http', 'iam', 'audit'],
  // Their wire handlers read the connection's transport facts from http/transport.ts.
  iam: ['errors.ts', 'auth', 'http', 'custody', 'crypto', 'storage', 'audit', 'records.ts'],
  kms: ['errors.ts', 'auth', 'http', 'custody', 'crypto', 'storage', 'iam', 'audit', 'records.ts'],
};

for (const [layer, allowed] of Object.entries(MAY_IMPORT)) {
  test(`src/${layer} imports only from ${allowed.length ? allowed.join(', ') : 'itself'}`, () => {
    const bad: string[] = [];
    for (const [f, deps] of GRAPH) {
      if (layerOf(f) !== layer) continue;
      for (const d of deps) if (layerOf(d) !== layer && !allowed.includes(layerOf(d))) bad.push(`${f} imports ${d}`);
    }
    assert.deepEqual(bad, []);
  });
}

test('iam/ imports nothing from kms/ or s3/, kms/ nothing from s3/, hadoop/ nothing from cli/', () => {
  const rules: [string, string[]][] = [['iam', ['kms', 's3']], ['kms', ['s3']], ['hadoop', ['cli']], ['s3', ['cli', 'admin']], ['metering', ['cli', 's3']]];
  const bad: string[] = [];
  for (const [layer, forbidden] of rules) {
    for (const [f, deps] of GRAPH) if (layerOf(f) === layer) for (const d of deps) if (forbidden.includes(layerOf(d))) bad.push(`${f} imports ${d}`);
  }
  assert.deepEqual(bad, []);
});

test('the KMS wire dispatch and its audited runner are used inside kms/ only: others use the typed port (kms/port.ts)', () => {
  const inner = new Set(['kms/dispatch.ts', 'kms/audited.ts']);
  const bad = [...GRAPH].flatMap(([f, deps]) => (layerOf(f) === 'kms' ? [] : deps.filter((d) => inner.has(d)).map((d) => `${f} imports ${d}`)));
  assert.deepEqual(bad, []);
});

test('no import cycles between files of src/ (type-only imports included)', () => {
  // Tarjan's strongly connected components; any component of more than one file is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of GRAPH.get(v) ?? []) {
      if (!GRAPH.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (GRAPH.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of GRAPH.keys()) if (!idx.has(v)) visit(v);
  assert.deepEqual(cycles, []);
});

test('every relative import names a file of src/', () => {
  const missing = [...GRAPH].flatMap(([f, deps]) => deps.filter((d) => !GRAPH.has(d)).map((d) => `${f} imports ${d}`));
  assert.deepEqual(missing, []);
});

test('no source file passes 600 lines', () => {
  for (const f of files(SRC)) {
    const lines = readFileSync(f, 'utf8').split('\n').length;
    assert.ok(lines <= 600, `${f} has ${lines} lines`);
  }
});
