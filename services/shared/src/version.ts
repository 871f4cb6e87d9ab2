import { readFileSync } from 'node:fs';

/** quantlab's version, from the root package.json: the API's OpenAPI document and every run's provenance report it. */
export const QUANTLAB_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
