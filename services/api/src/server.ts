// The API process: listens on HOST:PORT; on SIGTERM/SIGINT it stops accepting, drains in-flight requests and
// closes its Redis connections and queue (app.close()).
import { isLoopbackHost, listenRefusal, loadEnvOrExit } from '@quantlab/shared';
import { buildApp } from './app.ts';

const env = loadEnvOrExit();
const refusal = listenRefusal(env);
if (refusal) {
  process.stderr.write(`quantlab: ${refusal}\n`);
  process.exit(2);
}
// Responses come from our own stores and are checked against their schemas in the tests; skip it here for speed.
const app = await buildApp({ env, validateResponses: false });
await app.listen({ host: env.HOST, port: env.PORT });
const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
const { port } = app.server.address() as { port: number }; // the real one when PORT=0
app.log.info(`quantlab API listening on http://${host}:${port}/ (docs at /docs)`);
if (!env.API_TOKEN) {
  app.log.warn(
    isLoopbackHost(env.HOST)
      ? 'API_TOKEN is not set: every process on this machine can use the API'
      : `API_TOKEN is not set and ALLOW_NO_AUTH=1: anyone who can reach ${host}:${port} can use the API`,
  );
}

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  app.log.info(`${signal}: draining`);
  // A bounded drain: a client that never finishes must not keep the process alive.
  const timer = setTimeout(() => {
    app.log.error('shutdown timed out; exiting');
    process.exit(1);
  }, env.SHUTDOWN_TIMEOUT_MS);
  timer.unref();
  try {
    await app.close();
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
