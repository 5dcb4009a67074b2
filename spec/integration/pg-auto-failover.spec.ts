/**
 * Following a failover run by a real HA manager: a pg_auto_failover formation (a monitor, a
 * primary and its synchronous secondary; spec/support/pg-auto-failover.ts), the application given
 * only the multi-host URL with target_session_attrs=read-write. 50 clients write and read back
 * (spec/support/failover-scenario.ts) while the primary is switched over with `pg_autoctl perform
 * failover`, and then lost (its keeper and server SIGKILLed) so that the monitor notices, promotes
 * the secondary, and the restarted node rejoins as a secondary. Every acknowledged write must be
 * on the new primary, every read-back after a write must find it.
 */
import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import sinon from 'sinon';
import { createDatabase, loadConfig, type Database } from '../../lib/index.js';
import { describeRound, underLoad, type LedgerSchema, type RoundFigures } from '../support/failover-scenario.js';
import {
  autoFailoverUnavailable,
  startAutoFailoverFormation,
  type AutoFailoverFormation,
  type AutoFailoverNode,
  type NodeState,
} from '../support/pg-auto-failover.js';
import { queryServer, spyLogger, type SpyLogger } from '../support/spec-helpers.js';

/** Goal states of a secondary the monitor has decided to promote, up to its being primary. */
const PROMOTION_GOALS = new Set(['prepare_promotion', 'stop_replication', 'wait_primary', 'primary']);
/** States of a node that accepts writes. */
const WRITABLE = new Set(['single', 'wait_primary', 'primary']);

const stateOf = (states: NodeState[], node: AutoFailoverNode): NodeState | undefined =>
  states.find((s) => s.name === node.name);
const ms = (from: number, to: number): string => `${Math.round(to - from)} ms`;

describe('failover under pg_auto_failover (monitor and two data nodes)', function () {
  this.timeout(240_000);
  const sandbox = sinon.createSandbox();
  let formation: AutoFailoverFormation;
  let database: Database<LedgerSchema>;
  let logger: SpyLogger;

  before(async function () {
    this.timeout(180_000);
    const missing = autoFailoverUnavailable();
    if (missing) {
      process.stdout.write(`    skipped: ${missing}\n`);
      this.skip();
    }
    const started = performance.now();
    formation = await startAutoFailoverFormation();
    process.stdout.write(
      `    formation (monitor :${formation.monitor.port}, ${formation.nodes.map((n) => `${n.name} :${n.port}`).join(', ')}) ` +
        `stable after ${ms(started, performance.now())}\n`,
    );
    const changed = Object.entries(formation.monitorSettings)
      .map(([name, value]) => `${name.replace('pgautofailover.', '')}=${value}`)
      .join(' ');
    process.stdout.write(`    monitor settings: ${changed}\n`);
    const primary = await formation.primary();
    // pg_auto_failover's own replication settings: synchronous to the healthy secondary
    const [replication] = await queryServer<{ names: string; standbys: string | null }>(
      formation.url(primary),
      `select current_setting('synchronous_standby_names') as names,
        (select string_agg(application_name || ' ' || sync_state, ', ') from pg_stat_replication) as standbys`,
    );
    process.stdout.write(
      `    ${primary.name}: synchronous_standby_names '${replication?.names}', standbys: ${replication?.standbys}\n`,
    );
    expect(replication?.names, 'synchronous_standby_names of the primary').to.not.equal('');
    await queryServer(
      formation.url(primary),
      'create table failover_ledger (round int, client int, seq int, primary key (round, client, seq))',
    );
    const config = loadConfig(
      {
        DATABASE_URL: formation.multiHostUrl('postgres', 'target_session_attrs=read-write&connect_timeout=2'),
        DB_POOL_SIZE: '10',
        DB_POOL_TIMEOUT: '60000',
        DB_FAILOVER_TIMEOUT_MS: '60000',
        DB_REPLICA_RETRY_MS: '300',
        DB_APPLICATION_NAME: 'kr-paf-spec',
      },
      { envFile: '/dev/null' },
    );
    logger = spyLogger(sandbox);
    database = createDatabase<LedgerSchema>({ config, logger });
  });

  after(async function () {
    this.timeout(90_000);
    await database?.close();
    await formation?.destroy();
    sandbox.restore();
  });

  /** The data node that is not `node`. */
  const other = (node: AutoFailoverNode): AutoFailoverNode => formation.nodes.find((n) => n.name !== node.name)!;

  /** The Database's `failover: …` warnings so far. */
  const failoverWarnings = (): sinon.SinonSpyCall[] =>
    logger.warn.getCalls().filter((call) => /^failover/.test(String(call.args[0])));

  const expectClean = (figures: RoundFigures, from: AutoFailoverNode, to: AutoFailoverNode, round: number): void => {
    process.stdout.write(`      ${describeRound(figures)}\n`);
    expect(figures.unexpected, 'errors of an unexpected kind').to.deep.equal([]);
    expect(figures.acknowledged).to.be.above(100);
    expect(figures.lost, 'acknowledged writes missing on the new primary').to.deep.equal([]);
    expect(figures.failedKnownWritten, 'writes reported as not written that were').to.equal(0);
    expect(figures.staleReads, 'read-backs that missed their own write').to.equal(0);
    const status = database.status().failover!;
    expect(status.current).to.equal(`127.0.0.1:${to.port}`);
    // one failover per round, from the old primary to the new one
    expect(status.failovers).to.equal(round);
    const warnings = failoverWarnings();
    expect(warnings).to.have.length(round);
    expect(warnings[round - 1]!.args[1]).to.deep.include({
      from: `127.0.0.1:${from.port}`,
      to: `127.0.0.1:${to.port}`,
    });
  };

  it('pg_autoctl perform failover: loses no acknowledged write, reads none stale, follows the new primary', async () => {
    const from = await formation.primary();
    const to = other(from);
    let timeline = '';
    const figures = await underLoad(
      {
        database,
        round: 1,
        label: `pg_auto_failover perform failover ${from.name} :${from.port} -> ${to.name} :${to.port}`,
      },
      async () => {
        // the old primary's keeper reports draining (or a later state) once its server has
        // stopped (pg_autoctl's fsm_stop_postgres): from then on no server accepts writes
        const oldStopped = formation.waitForState(
          `${from.name} reports its server stopped`,
          (states) => {
            const s = stateOf(states, from);
            return s !== undefined && !WRITABLE.has(s.reportedState);
          },
          90_000,
        );
        oldStopped.catch(() => undefined);
        const newWritable = formation.waitForState(
          `${to.name} reports a writable primary state`,
          (states) => WRITABLE.has(stateOf(states, to)?.reportedState ?? ''),
          90_000,
        );
        newWritable.catch(() => undefined);
        const stopping = await formation.performFailover();
        const commandDone = performance.now();
        const stopped = await oldStopped;
        const promoted = await newWritable;
        await formation.waitUntilStable(90_000);
        timeline =
          `old primary stopped after ${ms(stopping, stopped)}, ${to.name} reported writable after ${ms(stopping, promoted)}, ` +
          `perform failover returned after ${ms(stopping, commandDone)}, stable after ${ms(stopping, performance.now())}`;
        // "promotion -> first write" counts from the new primary's keeper reporting it writable
        return { stopping, stopped, promoting: promoted, newPrimaryUrl: formation.url(to) };
      },
    );
    process.stdout.write(`      ${timeline}\n`);
    expect((await formation.primary()).name).to.equal(to.name);
    expectClean(figures, from, to, 1);
  });

  it('SIGKILL of the primary (keeper and server): the monitor promotes the secondary, the old primary rejoins', async () => {
    const from = await formation.primary();
    const to = other(from);
    let timeline = '';
    const figures = await underLoad(
      { database, round: 2, label: `pg_auto_failover SIGKILL ${from.name} :${from.port} -> ${to.name} :${to.port}` },
      async () => {
        const { stopping, stopped } = await formation.killPrimary();
        // the monitor's decision: the secondary's goal becomes prepare_promotion (and moves on)
        const promoting = await formation.waitForState(
          `the monitor promotes ${to.name}`,
          (states) => PROMOTION_GOALS.has(stateOf(states, to)?.goalState ?? ''),
          90_000,
        );
        const promoted = await formation.waitForState(
          `${to.name} reports a writable primary state`,
          (states) => WRITABLE.has(stateOf(states, to)?.reportedState ?? ''),
          90_000,
        );
        const restarting = performance.now();
        await formation.restart(from);
        await formation.waitUntilStable(120_000);
        timeline =
          `killed in ${ms(stopping, stopped)}, promotion decided after ${ms(stopped, promoting)}, ` +
          `${to.name} writable after ${ms(stopped, promoted)}, ${from.name} restarted and stable after ${ms(restarting, performance.now())}`;
        // "promotion -> first write" counts from the new primary's keeper reporting it writable
        return { stopping, stopped, promoting: promoted, newPrimaryUrl: formation.url(to) };
      },
    );
    process.stdout.write(`      ${timeline}\n`);
    expect((await formation.primary()).name).to.equal(to.name);
    expectClean(figures, from, to, 2);
  });
});
