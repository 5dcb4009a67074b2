import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { queryServer } from '../support/spec-helpers.js';
import { testDatabaseUrl } from '../support/test-server.js';

const run = promisify(execFile);

describe("pg's private state: self-tests and the public path (real PostgreSQL)", function () {
  this.timeout(60_000);

  before(async () => {
    await queryServer(
      testDatabaseUrl(),
      'create table fallback_items (id bigint generated always as identity primary key, name text not null, at timestamp not null)',
    );
  });

  it('switches off each use whose self-test fails, logs that once, and still gives the same results', async () => {
    const fixture = new URL('../support/fixtures/pg-that-differs.ts', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture, testDatabaseUrl()], {
      env: { ...process.env, TZ: 'Asia/Kathmandu' },
    });
    const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      report: Record<string, boolean>;
      found: string;
      warnings: { message: string; meta: { fallbacks: string[] } }[];
    };
    expect(outcome.report).to.deep.equal({
      queryFields: false,
      batchedBegin: true,
      parsedStatements: true,
      pipelineFlag: true,
      socket: true,
      prepareValue: false,
    });
    expect(outcome.found).to.equal('one');
    expect(outcome.warnings, 'one warning for two Databases').to.have.length(1);
    expect(outcome.warnings[0]!.meta.fallbacks).to.deep.equal(['queryFields', 'prepareValue']);
    // the Date text written here, as pg 8 writes it: every path stored the local wall clock
    const rows = await queryServer<{ at: string }>(
      testDatabaseUrl(),
      "select distinct to_char(at, 'YYYY-MM-DD HH24:MI') as at from fallback_items",
    );
    expect(rows).to.deep.equal([{ at: '2024-01-01 00:30' }]);
  });
});
