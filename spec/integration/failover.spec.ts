/**
 * Following a failover on real servers (spec/support/failover-cluster.ts): a primary, a
 * synchronous standby and an asynchronous one, the application given only the multi-host URL
 * with target_session_attrs=read-write; 50 clients write and read back while the primary is
 * SIGKILLed, the synchronous standby promoted, the other standby repointed and the old primary
 * rewound into a standby. Every acknowledged write must be on the new primary, every read-back
 * after a write must find it.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import { createDatabase, loadConfig, type Database } from '../../lib/index.js';
import { startFailoverCluster, type FailoverCluster } from '../support/failover-cluster.js';
import { createLedgerTable, describeRound, failoverRound, type LedgerSchema } from '../support/failover-scenario.js';
import { findServerBinaries, type ThrowawayCluster } from '../support/postgres-cluster.js';
import { spyLogger, type SpyLogger } from '../support/spec-helpers.js';

describe('following a failover (real primary, synchronous and asynchronous standbys)', function () {
  this.timeout(120_000);
  const sandbox = sinon.createSandbox();
  let cluster: FailoverCluster;
  let database: Database<LedgerSchema>;
  let logger: SpyLogger;

  before(async function () {
    if (!findServerBinaries()) {
      process.stdout.write(
        '    skipped: the failover specs need the PostgreSQL server binaries (pg_basebackup, pg_rewind)\n',
      );
      this.skip();
    }
    cluster = await startFailoverCluster();
    await createLedgerTable(cluster.nodes[0]!);
    logger = spyLogger(sandbox);
    const config = loadConfig(
      {
        DATABASE_URL: cluster.multiHostUrl('postgres', 'target_session_attrs=read-write&connect_timeout=2'),
        DB_POOL_SIZE: '10',
        DB_POOL_TIMEOUT: '20000',
        DB_FAILOVER_TIMEOUT_MS: '30000',
        DB_REPLICA_RETRY_MS: '300',
        DB_APPLICATION_NAME: 'kr-failover-spec',
      },
      { envFile: '/dev/null' },
    );
    database = createDatabase<LedgerSchema>({ config, logger });
  });

  after(async function () {
    this.timeout(60_000);
    await database?.close();
    await cluster?.destroy();
    sandbox.restore();
  });

  it('loses no acknowledged write, reads none stale, and reports the new primary and the old one as a standby', async () => {
    const [p0, s1, s2] = cluster.nodes as [ThrowawayCluster, ThrowawayCluster, ThrowawayCluster];
    const figures = await failoverRound({
      cluster,
      database,
      round: 1,
      kind: 'failover',
      from: p0,
      to: s1,
      other: s2,
      otherName: 's2',
    });
    process.stdout.write(`      ${describeRound(figures)}\n`);
    expect(figures.unexpected, 'errors of an unexpected kind').to.deep.equal([]);
    expect(figures.acknowledged).to.be.above(500);
    expect(figures.lost, 'acknowledged writes missing on the new primary').to.deep.equal([]);
    expect(figures.failedKnownWritten, 'writes reported as not written that were').to.equal(0);
    expect(figures.staleReads, 'read-backs that missed their own write').to.equal(0);
    expect(figures.promotionToFirstWriteMs).to.be.below(5_000);

    const status = database.status().failover!;
    expect(status.current).to.equal(`127.0.0.1:${s1.port}`);
    expect(status.failovers).to.equal(1);
    const warnings = logger.warn.getCalls().filter((call) => /^failover/.test(String(call.args[0])));
    expect(warnings).to.have.length(1);
    expect(warnings[0]!.args[1]).to.deep.include({ from: `127.0.0.1:${p0.port}`, to: `127.0.0.1:${s1.port}` });
    const health = await database.health();
    expect(health.ok).to.equal(true);
    expect(health.failover?.hosts.map((h) => [h.role, h.state, h.current])).to.deep.equal([
      ['standby', 'up', false],
      ['primary', 'up', true],
      ['standby', 'up', false],
    ]);
  });
});
