/**
 * Repeated failovers and switchovers under load (`npm run soak`: 10 in a row; `npm test`: 2):
 * each round stops the primary (SIGKILL, or a clean shutdown for a switchover), promotes its
 * synchronous standby, repoints the other standby and makes it synchronous, and rewinds the old
 * primary into a standby, while 50 clients write and read back through the multi-host URL.
 * No acknowledged write may be lost, no read-back may miss its write.
 */
import { expect } from 'chai';
import { createDatabase, loadConfig, silentLogger, type Database } from '../../lib/index.js';
import { startFailoverCluster, type FailoverCluster } from '../support/failover-cluster.js';
import {
  createLedgerTable,
  describeRound,
  failoverRound,
  type LedgerSchema,
  type RoundFigures,
} from '../support/failover-scenario.js';
import { findServerBinaries } from '../support/postgres-cluster.js';
import { phases } from './support/phases.js';

/** cluster_name of each node (startFailoverCluster's order). */
const NAMES = ['p0', 's1', 's2'];

describe('failovers and switchovers in a row (real servers, 50 clients)', function () {
  const { soak } = phases();
  const rounds = soak ? 10 : 2;
  this.timeout(60_000 + rounds * 30_000);
  let cluster: FailoverCluster;
  let database: Database<LedgerSchema>;

  before(async function () {
    if (!findServerBinaries()) {
      process.stdout.write(
        '    skipped: the failover soak needs the PostgreSQL server binaries (pg_basebackup, pg_rewind)\n',
      );
      this.skip();
    }
    cluster = await startFailoverCluster();
    await createLedgerTable(cluster.nodes[0]!);
    const config = loadConfig(
      {
        DATABASE_URL: cluster.multiHostUrl('postgres', 'target_session_attrs=read-write&connect_timeout=2'),
        DB_POOL_SIZE: '10',
        DB_POOL_TIMEOUT: '20000',
        DB_REPLICA_RETRY_MS: '300',
      },
      { envFile: '/dev/null' },
    );
    database = createDatabase<LedgerSchema>({ config, logger: silentLogger });
  });

  after(async function () {
    this.timeout(60_000);
    await database?.close();
    await cluster?.destroy();
  });

  it(`${rounds} rounds, alternating failover and switchover: no acknowledged write lost, no stale read-back`, async () => {
    // roles by node index: the primary, its synchronous standby, the asynchronous one
    let [primary, synchronous, asynchronous] = [0, 1, 2];
    const all: RoundFigures[] = [];
    for (let round = 1; round <= rounds; round++) {
      const figures = await failoverRound({
        cluster,
        database,
        round,
        kind: round % 2 === 1 ? 'failover' : 'switchover',
        from: cluster.nodes[primary]!,
        to: cluster.nodes[synchronous]!,
        other: cluster.nodes[asynchronous]!,
        otherName: NAMES[asynchronous]!,
        beforeMs: 1_000,
        afterMs: 1_000,
      });
      process.stdout.write(`      round ${round}: ${describeRound(figures)}\n`);
      all.push(figures);
      expect(database.status().failover?.current).to.equal(`127.0.0.1:${cluster.nodes[synchronous]!.port}`);
      [primary, synchronous, asynchronous] = [synchronous, asynchronous, primary];
    }
    const total = (pick: (f: RoundFigures) => number) => all.reduce((sum, f) => sum + pick(f), 0);
    const worst = Math.max(...all.map((f) => f.promotionToFirstWriteMs));
    process.stdout.write(
      `      total: ${total((f) => f.acknowledged)} acknowledged, ${total((f) => f.lost.length)} lost, ` +
        `${total((f) => f.outcomeUnknown)} outcome unknown (${total((f) => f.unknownWritten)} written), ` +
        `${total((f) => f.staleReads)} stale reads; worst promotion -> first write ${worst} ms\n`,
    );
    expect(all.flatMap((f) => f.unexpected)).to.deep.equal([]);
    expect(all.flatMap((f) => f.lost)).to.deep.equal([]);
    expect(total((f) => f.failedKnownWritten)).to.equal(0);
    expect(total((f) => f.staleReads)).to.equal(0);
    expect(worst).to.be.below(5_000);
    expect(database.status().failover?.failovers).to.equal(rounds);
  });
});
