/**
 * The failover harness itself, on real servers: a primary with a synchronous and an asynchronous
 * standby; the primary killed (SIGKILL), the synchronous standby promoted, the other standby
 * following it, the old primary rejoined as a standby (pg_rewind) — and the same once more the
 * other way round, to show repeated failovers work. No committed row is lost on the way.
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { startFailoverCluster, type FailoverCluster } from '../support/failover-cluster.js';
import { findServerBinaries, type ThrowawayCluster } from '../support/postgres-cluster.js';
import { queryServer as query } from '../support/spec-helpers.js';

use(chaiAsPromised);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The ids in failover_items on `node`, in order. */
async function ids(node: ThrowawayCluster): Promise<number[]> {
  const rows = await query<{ id: number }>(node.url(), 'select id from failover_items order by id');
  return rows.map((r) => r.id);
}

/** Waits (bounded) until `node` has exactly the ids `expected` (a standby replays asynchronously). */
async function hasIds(node: ThrowawayCluster, expected: number[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let seen: number[] | string = [];
  while (Date.now() < deadline) {
    try {
      seen = await ids(node);
      if (JSON.stringify(seen) === JSON.stringify(expected)) return;
    } catch (error) {
      seen = String(error);
    }
    await sleep(50);
  }
  expect(seen, `rows on :${node.port}`).to.deep.equal(expected);
}

async function inRecovery(node: ThrowawayCluster): Promise<boolean> {
  const [row] = await query<{ r: boolean }>(node.url(), 'select pg_is_in_recovery() as r');
  return row!.r;
}

async function replication(primary: ThrowawayCluster): Promise<{ name: string; state: string; sync: string }[]> {
  return await query<{ name: string; state: string; sync: string }>(
    primary.url(),
    'select application_name as name, state, sync_state as sync from pg_stat_replication order by application_name',
  );
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('failover cluster harness (real servers)', function () {
  this.timeout(120_000);
  let cluster: FailoverCluster | undefined;
  let n0: ThrowawayCluster;
  let n1: ThrowawayCluster;
  let n2: ThrowawayCluster;

  before(async function () {
    if (!findServerBinaries()) {
      process.stdout.write('    skipped: the failover specs need the PostgreSQL server binaries (pg_rewind)\n');
      this.skip();
    }
    cluster = await startFailoverCluster();
    [n0, n1, n2] = cluster.nodes as [ThrowawayCluster, ThrowawayCluster, ThrowawayCluster];
  });

  after(async function () {
    await cluster?.destroy();
    await cluster?.destroy(); // safe twice
  });

  it('starts a primary with a synchronous (s1) and an asynchronous (s2) standby', async function () {
    const c = cluster!;
    expect(c.nodes).to.have.length(3);
    expect(await inRecovery(n0)).to.equal(false);
    expect(await inRecovery(n1)).to.equal(true);
    expect(await inRecovery(n2)).to.equal(true);
    expect(await replication(n0)).to.deep.equal([
      { name: 's1', state: 'streaming', sync: 'sync' },
      { name: 's2', state: 'streaming', sync: 'async' },
    ]);
    expect(c.multiHostUrl()).to.equal(
      `postgres://postgres@127.0.0.1:${n0.port},127.0.0.1:${n1.port},127.0.0.1:${n2.port}/postgres`,
    );
    expect(c.multiHostUrl('app', 'target_session_attrs=read-write')).to.equal(
      `postgres://postgres@127.0.0.1:${n0.port},127.0.0.1:${n1.port},127.0.0.1:${n2.port}/app?target_session_attrs=read-write`,
    );

    await query(n0.url(), 'create table failover_items (id int primary key)');
    await query(n0.url(), 'insert into failover_items select generate_series(1, 100)');
    // committed with synchronous_commit=on: s1 has flushed it; s2 gets it soon
    await hasIds(n1, range(1, 100));
    await hasIds(n2, range(1, 100));
  });

  it('fails over: kill the primary, promote s1, s2 follows it, writes go on', async function () {
    const c = cluster!;
    await c.kill(n0);
    await expect(query(n0.url(), 'select 1')).to.be.rejected;
    const promotedAt = await c.promote(n1);
    expect(promotedAt).to.be.a('number').and.at.most(performance.now());
    expect(await inRecovery(n1)).to.equal(false);
    await c.follow(n2, n1);
    await query(n1.url(), 'insert into failover_items select generate_series(101, 150)');
    await hasIds(n2, range(1, 150));
    expect(await replication(n1)).to.deep.equal([{ name: 's2', state: 'streaming', sync: 'async' }]);
  });

  it('rejoins the killed old primary as a standby of the new one (same port), with every row', async function () {
    const c = cluster!;
    await c.rejoin(n0, n1);
    expect(await inRecovery(n0)).to.equal(true);
    await hasIds(n0, range(1, 150));
    expect(await replication(n1)).to.deep.equal([
      { name: 'p0', state: 'streaming', sync: 'async' },
      { name: 's2', state: 'streaming', sync: 'async' },
    ]);
  });

  it('turns synchronous replication on and off on the new primary', async function () {
    const c = cluster!;
    await c.setSynchronous(n1, 'p0');
    expect((await replication(n1)).find((r) => r.name === 'p0')?.sync).to.equal('sync');
    await query(n1.url(), 'insert into failover_items values (151)');
    await c.setSynchronous(n1, '');
    expect((await replication(n1)).map((r) => r.sync)).to.deep.equal(['async', 'async']);
  });

  it('fails over again the other way: kill s1, promote the old primary, s2 follows, s1 rejoins', async function () {
    const c = cluster!;
    await c.kill(n1);
    await c.promote(n0);
    expect(await inRecovery(n0)).to.equal(false);
    await c.follow(n2, n0);
    await query(n0.url(), 'insert into failover_items select generate_series(152, 200)');
    await hasIds(n2, range(1, 200));
    await c.rejoin(n1, n0);
    expect(await inRecovery(n1)).to.equal(true);
    await hasIds(n1, range(1, 200));
    expect(await replication(n0)).to.deep.equal([
      { name: 's1', state: 'streaming', sync: 'async' },
      { name: 's2', state: 'streaming', sync: 'async' },
    ]);
  });
});
