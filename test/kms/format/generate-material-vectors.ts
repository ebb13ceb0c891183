// Writes the sealed key material v2 vectors to test/vectors/kms-key-material/.
//   npm run build && node dist/test/kms/format/generate-material-vectors.js

import { fileURLToPath } from 'node:url';
import { buildMaterialVectors } from './key-material-vector-scenarios.js';
import { writeVectorDir } from '../../helpers/vector-files.js';

export const MATERIAL_VECTOR_DIR = fileURLToPath(new URL('../../../../test/vectors/kms-key-material/', import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) writeVectorDir(MATERIAL_VECTOR_DIR, await buildMaterialVectors());
