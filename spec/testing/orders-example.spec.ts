import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { testDatabaseUrl, withDatabase } from '../support/test-server.js';

const run = promisify(execFile);
const mochaBin = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');

/** Runs the sample application's suite (examples/orders) as its own CI would; returns mocha's stats. */
async function runOrdersSuite(
  testDatabaseUrlValue: string,
  extra: readonly string[],
): Promise<{ passes: number; failures: number; pending: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kr-orders-'));
  const output = path.join(dir, 'report.json');
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, TEST_DATABASE_URL: testDatabaseUrlValue };
    delete env.KYSELY_REPOSITORY_TEST_SERVER;
    delete env.KYSELY_REPOSITORY_TEST_TEMPLATE;
    delete env.ORDERS_SPEC_CLEANUP;
    await run(
      process.execPath,
      [
        mochaBin,
        '--config',
        'examples/orders/.mocharc.json',
        '--reporter',
        'json',
        '--reporter-option',
        `output=${output}`,
        ...extra,
      ],
      { env, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    ).catch((error: { code?: unknown }) => {
      if (typeof error.code !== 'number') throw error; // failures are in the report
    });
    const report = JSON.parse(await readFile(output, 'utf8')) as {
      stats: { passes: number; failures: number; pending: number };
      failures: { fullTitle: string; err: { message?: string } }[];
    };
    for (const failure of report.failures) console.log(`    ${failure.fullTitle}: ${failure.err.message ?? ''}`);
    const { passes, failures, pending } = report.stats;
    return { passes, failures, pending };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('examples/orders: a sample service whose 200 specs run in the testing kit', function () {
  this.timeout(300_000);

  it('passes all 200 on PostgreSQL with --parallel on 2 workers (each inserting the same unique key)', async () => {
    const stats = await runOrdersSuite(withDatabase(testDatabaseUrl(), 'postgres'), ['--parallel', '--jobs', '2']);
    expect(stats).to.deep.equal({ passes: 200, failures: 0, pending: 0 });
  });

  it('passes the same 200 on the embedded engine (pglite://)', async () => {
    const stats = await runOrdersSuite('pglite://', []);
    expect(stats).to.deep.equal({ passes: 200, failures: 0, pending: 0 });
  });
});
