/**
 * Server faults mid-load, on a throwaway cluster this spec starts (never the shared server):
 * every pool connection killed with pg_terminate_backend; and PostgreSQL stopped (immediate: a
 * crash; `fast` on alternate soak rounds), down for a second, and started again (same port). In
 * both: the calls in flight fail with ConnectionError within 10 s (no hang, no unhandled
 * rejection, no crash), calls after recovery succeed, and every acknowledged write is in the
 * table afterwards.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { startThrowawayCluster, type ThrowawayCluster } from '../support/postgres-cluster.js';
import { withClient } from './support/pg-probe.js';
import { phases } from './support/phases.js';
import { LoadScenario } from './support/scenario.js';
import { runUnderFaults } from './support/under-faults.js';

const CLIENTS = 200;
const POOL_SIZE = 10;
const DOWNTIME_MS = 1_000;

describe('reliability: server faults mid-load (throwaway cluster)', function () {
  const { warmupMs, afterMs, faultRounds } = phases();
  let cluster: ThrowawayCluster | undefined;
  let scenario: LoadScenario | undefined;

  before(async function () {
    this.timeout(120_000);
    cluster = await startThrowawayCluster();
  });

  afterEach(async function () {
    this.timeout(30_000);
    await scenario?.abandon().catch(() => undefined);
    scenario = undefined;
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.destroy();
  });

  /** A load scenario on a fresh database of the cluster. */
  async function open(name: string): Promise<LoadScenario> {
    const server = cluster!;
    await withClient(server.url('postgres'), (c) => c.query(`create database kr_rel_${name}`));
    scenario = await LoadScenario.open({
      url: server.url(`kr_rel_${name}`),
      applicationName: `kr-rel-${name}-${process.pid}`,
      clients: CLIENTS,
      poolSize: POOL_SIZE,
      prefix: name.slice(0, 2),
    });
    return scenario;
  }

  it('pg_terminate_backend of every pool connection: in-flight calls fail with ConnectionError, service resumes, no write lost', async function () {
    this.timeout(warmupMs + faultRounds * (afterMs + 25_000) + 90_000);
    const load = await open('terminate');
    await runUnderFaults(load, {
      label: 'pg_terminate_backend mid-load',
      inject: async () => {
        const killed = await withClient(cluster!.url('postgres'), async (c) => {
          const { rows } = await c.query<{ n: number }>(
            'select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1) t',
            [load.options.applicationName],
          );
          return rows[0]?.n ?? 0;
        });
        expect(killed, 'pool connections terminated').to.be.greaterThan(0);
        return `${killed} backends terminated`;
      },
    });
  });

  it('PostgreSQL restarted (crash-like immediate stop; fast on alternate soak rounds): in-flight calls fail with ConnectionError, service resumes, no write lost', async function () {
    this.timeout(warmupMs + faultRounds * (afterMs + 40_000) + 90_000);
    const load = await open('restart');
    await runUnderFaults(load, {
      label: 'PostgreSQL restart mid-load',
      inject: async (round) => {
        const mode = round % 2 === 0 ? 'immediate' : 'fast';
        await cluster!.stop(mode);
        await sleep(DOWNTIME_MS);
        await cluster!.start();
        return `stop -m ${mode}, down ${DOWNTIME_MS / 1000} s, start`;
      },
    });
  });
});
