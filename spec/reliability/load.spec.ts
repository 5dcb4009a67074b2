/**
 * Reliability under steady load: 200 concurrent clients on a pool of 10 for 20 s (SOAK_SECONDS
 * under `npm run soak`), a mix of user creates, reads, lookups, updates, soft deletes, listings,
 * keyset pages, password checks and changes, transactions and deliberate username conflicts —
 * real PostgreSQL, real bcrypt (cost 4). No error but the expected conflicts; the pool never
 * above its maximum and its queue drained afterwards; the server's backends back to the baseline
 * after close(); every acknowledged write in the table.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { createScratchDatabase } from '../support/test-server.js';
import { describeRecords, unexpectedErrors } from './support/fault-round.js';
import { sampleBackends } from './support/pg-probe.js';
import { phases } from './support/phases.js';
import { LoadScenario, scenarioFigures } from './support/scenario.js';
import { printFigures } from './support/summary.js';

const CLIENTS = 200;
const POOL_SIZE = 10;

describe('reliability: steady load (200 clients, pool of 10)', function () {
  const { loadMs } = phases();
  let scenario: LoadScenario | undefined;
  let target: { url: string; drop(): Promise<void> } | undefined;

  after(async function () {
    this.timeout(30_000);
    await scenario?.abandon().catch(() => undefined);
    await target?.drop();
  });

  it(`serves ${loadMs / 1000} s of mixed calls: no error but the expected conflicts, no leak, no lost write`, async function () {
    this.timeout(loadMs + 120_000);
    const started = performance.now();
    target = await createScratchDatabase('kr_rel_load');
    const applicationName = `kr-rel-load-${process.pid}`;
    scenario = await LoadScenario.open({
      url: target.url,
      applicationName,
      clients: CLIENTS,
      poolSize: POOL_SIZE,
      prefix: 'ld',
    });
    const backends = await sampleBackends(target.url, applicationName);
    scenario.start();
    await sleep(loadMs);
    const report = await scenario.finish();
    const maxBackends = await backends.stop();
    const { driver } = scenario;
    scenario = undefined;

    printFigures(
      scenarioFigures('steady load', driver, report, started, [
        `${CLIENTS} clients, ${(driver.operations / driver.seconds).toFixed(0)} ops/s over ${driver.seconds.toFixed(1)} s`,
        `pool max ${report.pool.maxTotal}/${report.pool.max}, queue max ${report.pool.maxWaiting}`,
        `backends max ${maxBackends}, after close ${report.backendsAfterClose} (baseline ${report.backendsBefore})`,
      ]),
    );

    expect(report.processEvents, 'unhandled rejections, uncaught exceptions, listener leaks').to.deep.equal([]);
    expect(driver.hangs, `calls unsettled after 15 s:\n${describeRecords(driver.hangs)}`).to.deep.equal([]);
    expect(report.unsettledAtStop, 'calls still running after stop').to.deep.equal([]);
    const unexpected = unexpectedErrors(driver, []);
    expect(unexpected.length, `errors besides the expected conflicts:\n${describeRecords(unexpected)}`).to.equal(0);
    expect(driver.violations, `${driver.violationCount} answers contradicting the ledger`).to.deep.equal([]);
    expect(driver.expectedConflicts, 'the conflicts happened').to.be.greaterThan(0);
    expect(report.ledger.unconfirmedWrites, 'no write failed').to.equal(0);
    expect(report.ledger.lostWrites, 'lost writes').to.deep.equal([]);
    expect(report.ledger.phantomRows, 'rows nobody wrote').to.deep.equal([]);
    expect(report.ledger.brokenTransactions, 'transactions half applied').to.deep.equal([]);
    expect(report.pool.overMax, 'samples with the pool above its maximum').to.equal(0);
    expect(report.pool.maxTotal).to.be.at.most(POOL_SIZE);
    expect(maxBackends, 'server backends of the pool at once').to.be.at.most(POOL_SIZE);
    expect(report.pool.maxWaiting, 'the pool was the bottleneck (callers queued)').to.be.greaterThan(0);
    expect(report.poolAfterLoad.waiting, 'callers still queued after the load').to.equal(0);
    expect(report.poolAfterLoad.idle, 'connections checked out after the load').to.equal(report.poolAfterLoad.total);
    expect(report.backendsAfterClose, 'backends after close()').to.equal(report.backendsBefore);
  });
});
