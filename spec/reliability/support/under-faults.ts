/**
 * A load with faults from start to verdict: warm up, inject each round's fault (waiting for the
 * in-flight calls to settle and service to return), keep the load on, stop, and judge by the
 * rules of fault-round.ts, the ledger, the pool and the server's backends. The server-fault and
 * tunnel-fault specs both run through it.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  describeRecords,
  FAULT_BOUNDS,
  faultRound,
  unexpectedErrors,
  windowOf,
  type FaultRound,
} from './fault-round.js';
import { phases } from './phases.js';
import { scenarioFigures, type LoadScenario, type ScenarioReport } from './scenario.js';
import { printFigures } from './summary.js';

/** Options of runUnderFaults. */
export interface UnderFaultsOptions {
  /** For the summary line, e.g. `restart mid-load`. */
  readonly label: string;
  /** Breaks the component and brings it back; returns a few words on what it did. */
  readonly inject: (round: number) => Promise<string>;
  /** More notes for the summary line, from the report. */
  readonly notes?: (report: ScenarioReport) => readonly string[];
}

/**
 * Runs `scenario` under faults and asserts every promise of the suite: no unhandled rejection,
 * in-flight calls settled within the bound, service back, only ConnectionErrors and only in the
 * fault window, no hang, no answer contradicting the ledger, no lost write, no phantom row, no
 * half transaction, the pool never above its maximum and drained, backends back to the baseline.
 *
 * @example
 * await runUnderFaults(scenario, { label: 'restart mid-load', inject: async () => { … return 'restarted'; } });
 */
export async function runUnderFaults(scenario: LoadScenario, options: UnderFaultsOptions): Promise<void> {
  const { warmupMs, afterMs, faultRounds } = phases();
  const started = performance.now();
  scenario.start();
  await sleep(warmupMs);
  const rounds: FaultRound[] = [];
  const what: string[] = [];
  for (let i = 0; i < faultRounds; i++) {
    rounds.push(
      await faultRound(scenario.driver, async () => {
        what.push(await options.inject(i));
      }),
    );
    await sleep(afterMs);
  }
  const report = await scenario.finish();
  const { driver } = scenario;
  const unexpected = unexpectedErrors(
    driver,
    rounds.map((round) => windowOf(round)),
  );
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

  printFigures(
    scenarioFigures(options.label, driver, report, started, [
      `${rounds.length} fault${rounds.length === 1 ? '' : 's'} (${[...new Set(what)].join('; ')})`,
      `in flight at the fault ${rounds.map((r) => r.inFlight).join('/')}, all settled within ` +
        seconds(Math.max(...rounds.map((r) => r.settledWithinMs))),
      `service back ${rounds.map((r) => (r.recoveredAt === undefined ? 'never' : seconds(r.recoveredAt - r.backAt))).join('/')} after the component`,
      `unconfirmed creates that landed ${report.ledger.unconfirmedCreatesLanded}`,
      ...(options.notes?.(report) ?? []),
    ]),
  );

  expect(report.processEvents, 'unhandled rejections, uncaught exceptions, listener leaks').to.deep.equal([]);
  for (const round of rounds) {
    expect(
      round.unsettled.length,
      `calls in flight at the fault still unsettled after ${FAULT_BOUNDS.settleMs} ms:\n${describeRecords(round.unsettled)}`,
    ).to.equal(0);
    expect(round.recoveredAt, `service back within ${FAULT_BOUNDS.recoveryMs} ms of the component`).to.not.equal(
      undefined,
    );
    const hit = driver.errors.filter((r) => r.connection && (r.endedAt ?? 0) >= round.faultAt).length;
    expect(hit, 'the fault hit calls (ConnectionErrors after it)').to.be.greaterThan(0);
  }
  expect(driver.hangs.length, `calls unsettled after 15 s:\n${describeRecords(driver.hangs)}`).to.equal(0);
  expect(report.unsettledAtStop.length, 'calls still running after stop').to.equal(0);
  expect(
    unexpected.length,
    `errors other than ConnectionError in a fault window, or any error outside one:\n${describeRecords(unexpected)}`,
  ).to.equal(0);
  expect(driver.violations, `${driver.violationCount} answers contradicting the ledger`).to.deep.equal([]);
  expect(report.ledger.lostWrites, 'lost writes').to.deep.equal([]);
  expect(report.ledger.phantomRows, 'rows nobody wrote').to.deep.equal([]);
  expect(report.ledger.brokenTransactions, 'transactions half applied').to.deep.equal([]);
  expect(report.pool.overMax, 'samples with the pool above its maximum').to.equal(0);
  expect(report.poolAfterLoad.waiting, 'callers still queued after the load').to.equal(0);
  expect(report.poolAfterLoad.idle, 'connections checked out after the load').to.equal(report.poolAfterLoad.total);
  expect(report.backendsAfterClose, 'backends after close()').to.equal(report.backendsBefore);
}
