// Copies the console's static files (html, css, svg) from src/console/web/static/ next to
// its compiled modules in dist/console/web/, where src/console/serve.ts serves them.
import { cpSync, mkdirSync } from 'node:fs';

const from = new URL('../src/console/web/static/', import.meta.url);
const to = new URL('../dist/console/web/', import.meta.url);
mkdirSync(to, { recursive: true });
cpSync(from, to, { recursive: true });
