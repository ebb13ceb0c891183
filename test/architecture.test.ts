// Dependencies point inward (STYLE.md): storage/, crypto/ and checksum/ import nothing
// from the service layers (s3/, kms/, iam/, http/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const SRC = new URL('../../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

for (const inner of ['storage', 'crypto', 'checksum']) {
  test(`src/${inner} does not import from the service layers`, () => {
    for (const f of files(join(SRC, inner))) {
      const imports = [...readFileSync(f, 'utf8').matchAll(/from '(\.\.\/[^']+)'/g)].map((m) => m[1]!);
      for (const imp of imports) {
        assert.ok(!/^\.\.\/(s3|kms|iam|http|cli)\//.test(imp), `${f} imports ${imp}`);
      }
    }
  });
}

test('no source file passes 600 lines', () => {
  for (const f of files(SRC)) {
    const lines = readFileSync(f, 'utf8').split('\n').length;
    assert.ok(lines <= 600, `${f} has ${lines} lines`);
  }
});
