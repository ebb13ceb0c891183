// Test vectors as data files (one scenario per JSON file): the one text form they are
// written in, and the generator step that rewrites a vector directory.
import fs from 'node:fs';
import path from 'node:path';

export const vectorFileText = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/** Writes every vector as <name>.json in dir and removes files of vectors that no longer exist. */
export function writeVectorDir(dir: string, vectors: ReadonlyMap<string, unknown>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith('.json') && !vectors.has(name.slice(0, -5))) fs.rmSync(path.join(dir, name));
  }
  for (const [name, v] of vectors) fs.writeFileSync(path.join(dir, `${name}.json`), vectorFileText(v));
  console.log(`wrote ${vectors.size} vectors to ${dir}`);
}
