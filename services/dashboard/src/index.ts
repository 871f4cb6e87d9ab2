import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder the API serves at `/`: index.html plus the bundle that build.mjs writes into build/. */
export const publicDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'public');
