/**
 * Mocha root hooks: one database per run on a real PostgreSQL, dropped afterwards — also after a
 * failure (afterAll always runs) and on Ctrl-C or SIGTERM (the signal handler below).
 */
import { setUpTestServer, tearDownTestServer, tearDownTestServerSync } from './test-server.js';

let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  if (signalled) return;
  signalled = true;
  process.stderr.write(`\n${signal}: dropping the spec database before exiting\n`);
  tearDownTestServer()
    .catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`))
    .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', tearDownTestServerSync);
    const server = await setUpTestServer();
    process.stdout.write(`  PostgreSQL ${server.version} (${server.source})\n`);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await tearDownTestServer();
  },
};
