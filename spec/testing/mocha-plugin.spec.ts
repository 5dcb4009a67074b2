import { expect } from 'chai';
import path from 'node:path';
import { runMocha, type MochaReport } from '../support/run-mocha.js';
import { queryServer } from '../support/spec-helpers.js';
import { testDatabaseUrl, withDatabase } from '../support/test-server.js';

const fixtures = path.join(import.meta.dirname, 'fixtures');

/** Runs mocha on fixture files with the kit's setup, as an application's suite would; the report and the databases it printed. */
async function runFixtures(
  files: readonly string[],
  testDatabaseUrlValue: string,
  extra: readonly string[] = [],
): Promise<{ report: MochaReport; databases: string[] }> {
  const { report, stdout } = await runMocha({
    nodeArgs: ['--import', 'tsx'],
    args: [
      '--no-config',
      '--extension',
      'ts',
      '--require',
      path.join(fixtures, 'kit-setup.ts'),
      '--timeout',
      '10000',
      ...extra,
      ...files.map((file) => path.join(fixtures, file)),
    ],
    env: { TEST_DATABASE_URL: testDatabaseUrlValue },
    timeoutMs: 120_000,
  });
  return { report, databases: [...stdout.matchAll(/KR_DB=(\S+)/g)].map((match) => match[1]!) };
}

function expectOnlyTheDeliberateFailures(report: MochaReport, passes: number): void {
  const failed = report.failures.map((failure) => `${failure.title}: ${failure.err.message ?? ''}`);
  expect(failed).to.have.length(2);
  expect(failed[0]).to.match(/^fails after writing \(expected to fail\): failing on purpose/);
  expect(failed[1]).to.match(/^times out after writing \(expected to time out\): Timeout of 200ms/);
  expect(report.stats.passes).to.equal(passes);
  expect(report.stats.pending).to.equal(0);
}

async function kitDatabases(): Promise<string[]> {
  const rows = await queryServer<{ name: string }>(
    testDatabaseUrl(),
    "select datname as name from pg_database where datname like 'kr\\_test\\_%' order by 1",
  );
  return rows.map((row) => row.name);
}

describe('testing kit: mocha root hooks, run as an application would', function () {
  this.timeout(180_000);
  const server = (): string => withDatabase(testDatabaseUrl(), 'postgres');

  it('rolls back after a failing test and after a timed-out test, runs nested transactions and hook rows in the sandbox', async () => {
    const before = await kitDatabases();
    const { report, databases } = await runFixtures(['rollback.fixture.ts'], server());
    expectOnlyTheDeliberateFailures(report, 8);
    expect(databases).to.have.length(1);
    expect(databases[0]).to.match(/^kr_test_/);
    expect(await kitDatabases(), 'the run database and the template are dropped').to.deep.equal(before);
  });

  it('gives each of two parallel workers its own database cloned from one template, and drops them all', async () => {
    const before = await kitDatabases();
    const { report, databases } = await runFixtures(['rollback.fixture.ts', 'second.fixture.ts'], server(), [
      '--parallel',
      '--jobs',
      '2',
    ]);
    expectOnlyTheDeliberateFailures(report, 9);
    expect(databases).to.have.length(2);
    expect(new Set(databases).size, 'one database per worker').to.equal(2);
    expect(await kitDatabases()).to.deep.equal(before);
  });

  it('runs the same suite on the embedded engine (TEST_DATABASE_URL=pglite://) with the same results', async () => {
    const { report, databases } = await runFixtures(['rollback.fixture.ts'], 'pglite://');
    expectOnlyTheDeliberateFailures(report, 8);
    expect(databases).to.deep.equal(['postgres']);
  });
});
