// Writes the object encryption vectors to test/vectors/object-encryption/, one scenario
// per file, removing files no scenario produces. Deterministic: rerunning changes nothing
// unless the format (or a scenario) changed.
//   npx tsc -p tsconfig.json && node dist/test/crypto/generate-vectors.js

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVectors, type Vector } from './vector-scenarios.js';

export const VECTOR_DIR = fileURLToPath(new URL('../../../test/vectors/object-encryption/', import.meta.url));

export const vectorFileText = (v: Vector) => `${JSON.stringify(v, null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  fs.mkdirSync(VECTOR_DIR, { recursive: true });
  const vectors = buildVectors();
  for (const name of fs.readdirSync(VECTOR_DIR)) {
    if (name.endsWith('.json') && !vectors.has(name.slice(0, -5))) fs.rmSync(path.join(VECTOR_DIR, name));
  }
  for (const [name, v] of vectors) fs.writeFileSync(path.join(VECTOR_DIR, `${name}.json`), vectorFileText(v));
  console.log(`wrote ${vectors.size} vectors to ${VECTOR_DIR}`);
}
