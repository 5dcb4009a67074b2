import { expect } from 'chai';
import { runMocha } from '../support/run-mocha.js';
import { testDatabaseUrl, withDatabase } from '../support/test-server.js';

/** Runs the sample application's suite (examples/orders) as its own CI would; returns mocha's counts. */
async function runOrdersSuite(
  testDatabaseUrlValue: string,
  extra: readonly string[],
): Promise<{ passes: number; failures: number; pending: number }> {
  const { report } = await runMocha({
    args: ['--config', 'examples/orders/.mocharc.json', ...extra],
    env: { TEST_DATABASE_URL: testDatabaseUrlValue, ORDERS_SPEC_CLEANUP: undefined },
    timeoutMs: 300_000,
  });
  for (const failure of report.failures) console.log(`    ${failure.fullTitle}: ${failure.err.message ?? ''}`);
  const { passes, failures, pending } = report.stats;
  return { passes, failures, pending };
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
