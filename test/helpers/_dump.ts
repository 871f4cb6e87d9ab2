import { buildApp } from '@quantlab/api';
import { testEnv } from './redis.ts';
const env = testEnv('i19b-dump', {});
const app = await buildApp({ env, logger: false });
await app.ready();
const { writeFileSync } = await import('node:fs');
writeFileSync('/tmp/i19b/openapi.json', JSON.stringify(app.swagger(), null, 2));
await app.close(); await env.cleanup();
