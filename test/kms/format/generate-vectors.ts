// Writes the KMS ciphertext vectors to test/vectors/kms-ciphertext/, one scenario per
// file, removing files no scenario produces. Deterministic: rerunning changes nothing
// unless the format (or a scenario) changed.
//   npx tsc -p tsconfig.json && node dist/test/kms/format/generate-vectors.js

import { fileURLToPath } from 'node:url';
import { buildVectors } from './vector-scenarios.js';
import { vectorFileText, writeVectorDir } from '../../helpers/vector-files.js';

export const VECTOR_DIR = fileURLToPath(new URL('../../../../test/vectors/kms-ciphertext/', import.meta.url));

export { vectorFileText };

if (process.argv[1] === fileURLToPath(import.meta.url)) writeVectorDir(VECTOR_DIR, buildVectors());
