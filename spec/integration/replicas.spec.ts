/**
 * Read replicas on real streaming replication: a throwaway primary and two standbys made from it
 * with pg_basebackup -R. Which server served a read is read from the server itself: a view that
 * returns pg_is_in_recovery() and the server's port, read through a Repository exactly as any
 * repository read is.
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { CompiledQuery, sql, type Generated, type Kysely } from 'kysely';
import sinon from 'sinon';
import {
  createDatabase,
  loadConfig,
  ReadOnlyTransactionError,
  Repository,
  withReadYourWrites,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { isWriteStatement } from '../../lib/connection/replicas/write-statement.js';
import { findServerBinaries, startThrowawayCluster, type ThrowawayCluster } from '../support/postgres-cluster.js';
import { queryServer as query, spyLogger, type SpyLogger } from '../support/spec-helpers.js';
import { installOtel } from '../support/otel.js';

use(chaiAsPromised);

interface Schema {
  replicaItems: { id: Generated<string>; name: string };
  serverIdentity: { id: number; inRecovery: boolean; port: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a primary and `count` streaming standbys of it. */
async function startReplicatedClusters(count: number): Promise<[ThrowawayCluster, ThrowawayCluster[]]> {
  const primary = await startThrowawayCluster();
  const standbys: ThrowawayCluster[] = [];
  try {
    for (let i = 0; i < count; i++) standbys.push(await startThrowawayCluster({ replicaOf: primary }));
  } catch (error) {
    for (const cluster of [...standbys, primary]) await cluster.destroy();
    throw error;
  }
  return [primary, standbys];
}

/** Polls `check` until it is true, or fails after `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) expect.fail(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

/** Waits until `replica` has replayed a row the primary just committed. */
async function replayed(primary: ThrowawayCluster, replica: ThrowawayCluster, name: string): Promise<void> {
  const count = () =>
    query<{ n: string }>(replica.url(), 'select count(*) as n from replica_items where name = $1', [name]);
  await eventually(
    async () => {
      try {
        return (await count())[0]?.n === '1';
      } catch (error) {
        // the standby has not replayed the CREATE TABLE yet
        if ((error as { code?: string }).code === '42P01') return false;
        throw error;
      }
    },
    30_000,
    `replica :${replica.port} replayed ${name}`,
  );
}

describe('read replicas (real streaming replication)', function () {
  this.timeout(60_000);
  const sandbox = sinon.createSandbox();
  const applicationName = `kr-replicas-${process.pid}`;
  let primary: ThrowawayCluster;
  let replicas: ThrowawayCluster[] = [];
  let logger: SpyLogger;
  let database: Database<Schema>;
  let db: Kysely<Schema>;
  let identity: Repository<Schema, 'serverIdentity'>;
  let items: Repository<Schema, 'replicaItems'>;
  let serial = 0;
  const name = () => `item-${++serial}`;

  function configFor(env: Record<string, string> = {}) {
    return loadConfig(
      {
        DATABASE_URL: primary.url(),
        DATABASE_REPLICA_URLS: replicas.map((r) => r.url()).join(','),
        DB_REPLICA_RETRY_MS: '200',
        DB_POOL_TIMEOUT: '5000',
        DB_APPLICATION_NAME: applicationName,
        ...env,
      },
      { envFile: '/dev/null' },
    );
  }

  /** Who served a repository read outside any read-your-writes scope: the view's row, read through `repo`'s normal path. */
  async function servedUnscoped(repo = identity): Promise<{ inRecovery: boolean; port: number }> {
    const row = await repo.getById(1);
    return { inRecovery: row.inRecovery, port: row.port };
  }

  /**
   * Who served a repository read in the current scope, or in a scope of its own (so writes other
   * specs made outside any scope, which pin unscoped reads for a while, do not count).
   */
  function servedBy(repo = identity): Promise<{ inRecovery: boolean; port: number }> {
    return withReadYourWrites(() => servedUnscoped(repo));
  }

  before(async function () {
    this.timeout(180_000);
    if (!findServerBinaries()) {
      process.stdout.write('    skipped: the replica specs need the PostgreSQL server binaries (pg_basebackup)\n');
      this.skip();
    }
    [primary, replicas] = await startReplicatedClusters(2);
    // made after the base backups: the standbys receive them by streaming replication
    await query(
      primary.url(),
      `create table replica_items (id bigint generated always as identity primary key, name text not null);
       create view server_identity as
         select 1 as id, pg_is_in_recovery() as in_recovery, current_setting('port')::int as port`,
    );
    await query(primary.url(), 'insert into replica_items (name) values ($1)', ['marker']);
    for (const replica of replicas) await replayed(primary, replica, 'marker');

    logger = spyLogger(sandbox);
    database = createDatabase<Schema>({ config: configFor(), logger });
    db = database.db;
    identity = new Repository(db, 'serverIdentity', { primaryKey: 'id' });
    items = new Repository(db, 'replicaItems');
  });

  after(async function () {
    this.timeout(60_000);
    await database?.close();
    for (const cluster of [...replicas, primary]) await cluster?.destroy();
  });

  afterEach(() => {
    logger?.warn.resetHistory();
    logger?.info.resetHistory();
  });

  it('sets up a real standby: the replicas are in recovery, the primary is not', async () => {
    expect((await query<{ r: boolean }>(primary.url(), 'select pg_is_in_recovery() as r'))[0]?.r).to.equal(false);
    for (const replica of replicas) {
      expect((await query<{ r: boolean }>(replica.url(), 'select pg_is_in_recovery() as r'))[0]?.r).to.equal(true);
    }
  });

  it('serves repository reads from the replicas, round robin', async () => {
    const served = [];
    for (let i = 0; i < 4; i++) served.push(await servedBy());
    expect(served.every((s) => s.inRecovery)).to.equal(true);
    const ports = served.map((s) => s.port);
    expect(new Set(ports)).to.deep.equal(new Set(replicas.map((r) => r.port)));
    expect(ports[0]).not.to.equal(ports[1]);
    expect(ports[2]).to.equal(ports[0]);
    // the servers themselves see this Database's connections
    for (const replica of replicas) {
      const [row] = await query<{ n: string }>(
        replica.url(),
        'select count(*) as n from pg_stat_activity where application_name = $1',
        [applicationName],
      );
      expect(Number(row?.n)).to.be.at.least(1);
    }
    // and the replica pools are the ones that opened connections
    for (const replica of database.status().replicas ?? []) expect(replica.pool.total).to.be.at.least(1);
  });

  it('runs writes on the primary, and everything inside withTransaction, reads included', async () => {
    const created = await items.create({ name: name() });
    expect(created.id).to.be.a('string');
    const inside = await withTransaction(db, async () => {
      await items.create({ name: name() });
      return servedBy();
    });
    expect(inside).to.deep.equal({ inRecovery: false, port: primary.port });
    // a read-only transaction too: withTransaction always means the primary
    const readOnly = await withTransaction(db, () => servedBy(), { accessMode: 'read only' });
    expect(readOnly.inRecovery).to.equal(false);
    // outside any scope, a write pins this Database's unscoped reads to the primary for a while
    expect((await servedUnscoped()).inRecovery).to.equal(false);
  });

  describe('read-your-writes', () => {
    it('after a write, the rest of the scope reads from the primary; before it, from a replica', async () => {
      const item = await withReadYourWrites(async () => {
        expect((await servedBy()).inRecovery).to.equal(true);
        const created = await items.create({ name: name() });
        expect(await servedBy()).to.deep.equal({ inRecovery: false, port: primary.port });
        expect(await items.findById(created.id)).to.deep.equal(created);
        return created;
      });
      expect(item.name).to.match(/^item-/);
    });

    it('sees a write made deep inside a function the scope awaited, after further awaits', async () => {
      async function register(): Promise<void> {
        await sleep(5);
        await (async () => {
          await sleep(5);
          await items.create({ name: name() });
        })();
      }
      await withReadYourWrites(async () => {
        await register();
        await sleep(5);
        expect((await servedBy()).inRecovery).to.equal(false);
        // also from work the scope starts later
        const later = await new Promise<{ inRecovery: boolean }>((resolve, reject) => {
          setTimeout(() => void servedBy().then(resolve, reject), 5);
        });
        expect(later.inRecovery).to.equal(false);
      });
    });

    it('does not leak to other scopes, concurrent or later', async () => {
      let wrote!: () => void;
      const written = new Promise<void>((resolve) => (wrote = resolve));
      const sibling = withReadYourWrites(async () => {
        await written;
        return servedBy();
      });
      await withReadYourWrites(async () => {
        await items.create({ name: name() });
        wrote();
        expect((await servedBy()).inRecovery).to.equal(false);
      });
      expect((await sibling).inRecovery).to.equal(true);
      expect((await withReadYourWrites(() => servedBy())).inRecovery).to.equal(true);
    });

    it('counts writes made through database.db, in and out of transactions, but not its reads', async () => {
      await withReadYourWrites(async () => {
        await db.selectFrom('replicaItems').selectAll().limit(1).execute();
        await sql`select 1`.execute(db);
        expect((await servedBy()).inRecovery).to.equal(true);
        await db.insertInto('replicaItems').values({ name: name() }).execute();
        expect((await servedBy()).inRecovery).to.equal(false);
      });
      await withReadYourWrites(async () => {
        await withTransaction(db, async (trx) => {
          await trx.updateTable('replicaItems').set({ name: 'renamed' }).where('name', '=', 'nothing').execute();
        });
        expect((await servedBy()).inRecovery).to.equal(false);
      });
      await withReadYourWrites(async () => {
        await db.selectFrom('replicaItems').selectAll().forUpdate().limit(1).execute();
        expect((await servedBy()).inRecovery).to.equal(false);
      });
    });

    it('with DB_READ_YOUR_WRITES_MS, lasts that long, in a scope and outside any', async () => {
      const windowed = createDatabase<Schema>({ config: configFor({ DB_READ_YOUR_WRITES_MS: '300' }), logger });
      try {
        const who = new Repository(windowed.db, 'serverIdentity', { primaryKey: 'id' });
        const things = new Repository(windowed.db, 'replicaItems');
        await withReadYourWrites(async () => {
          await things.create({ name: name() });
          expect((await servedBy(who)).inRecovery).to.equal(false);
          await sleep(400);
          expect((await servedBy(who)).inRecovery).to.equal(true);
        });
        // outside any scope: per Database, for the same window
        await things.create({ name: name() });
        expect((await servedUnscoped(who)).inRecovery).to.equal(false);
        expect((await servedBy(who)).inRecovery).to.equal(true);
        await sleep(400);
        expect((await servedUnscoped(who)).inRecovery).to.equal(true);
      } finally {
        await windowed.close();
      }
    });
  });

  describe('what counts as a write', () => {
    const writes = (query: { compile(): CompiledQuery }) => isWriteStatement(query.compile());
    const raw = (text: string) => isWriteStatement(CompiledQuery.raw(text));

    it('judges built queries by their syntax tree', () => {
      expect(writes(db.selectFrom('replicaItems').selectAll())).to.equal(false);
      expect(writes(db.selectFrom('replicaItems').selectAll().forUpdate())).to.equal(true);
      expect(writes(db.selectFrom('replicaItems').selectAll().forShare().skipLocked())).to.equal(true);
      expect(
        writes(
          db
            .with('x', (q) => q.selectFrom('replicaItems').selectAll())
            .selectFrom('x')
            .selectAll(),
        ),
      ).to.equal(false);
      const cteInsert = db
        .with('made', (q) => q.insertInto('replicaItems').values({ name: 'x' }).returningAll())
        .selectFrom('made')
        .selectAll();
      expect(writes(cteInsert)).to.equal(true);
      expect(writes(db.insertInto('replicaItems').values({ name: 'x' }))).to.equal(true);
      expect(writes(db.updateTable('replicaItems').set({ name: 'x' }))).to.equal(true);
      expect(writes(db.deleteFrom('replicaItems'))).to.equal(true);
      expect(writes(db.schema.createTable('t').addColumn('a', 'integer'))).to.equal(true);
    });

    it('judges raw SQL by its first keyword, and counts what it cannot tell as a write', () => {
      for (const text of ['select 1', ' SELECT * from t', 'with a as (select 1) select * from a', 'show x', 'begin']) {
        expect(raw(text), text).to.equal(false);
      }
      for (const text of ['commit', 'rollback', 'savepoint s', 'release savepoint s', "set local x = '1'"]) {
        expect(raw(text), text).to.equal(false);
      }
      for (const text of [
        'insert into t values (1)',
        'with a as (delete from t returning *) select * from a',
        'select * from t for update',
        'select * from t for no key update',
        'vacuum analyze t',
        'call p()',
        'do $$ begin end $$',
      ]) {
        expect(raw(text), text).to.equal(true);
      }
    });
  });

  describe('explicit handles', () => {
    it('database.primary is db; database.replica reads a replica and refuses writes there', async () => {
      expect(database.primary).to.equal(db);
      const { rows } = await sql<{ r: boolean }>`select pg_is_in_recovery() as r`.execute(database.replica);
      expect(rows[0]?.r).to.equal(true);
      // its own Repository reads a replica whatever the scope wrote
      const onReplica = new Repository(database.replica, 'serverIdentity', { primaryKey: 'id' });
      await withReadYourWrites(async () => {
        await items.create({ name: name() });
        expect((await servedBy(onReplica)).inRecovery).to.equal(true);
      });
      const write = database.replica.insertInto('replicaItems').values({ name: name() }).execute();
      await expect(write).to.eventually.be.rejectedWith(ReadOnlyTransactionError);
    });

    it('runs transactions of database.replica on one replica', async () => {
      const seen = await withTransaction(database.replica, async (trx) => {
        const a = await trx.selectFrom('serverIdentity').selectAll().executeTakeFirstOrThrow();
        const b = await trx.selectFrom('serverIdentity').selectAll().executeTakeFirstOrThrow();
        return [a, b];
      });
      expect(seen[0]?.inRecovery).to.equal(true);
      expect(seen[1]?.port).to.equal(seen[0]?.port);
    });

    it('is db itself when no replicas are configured, and status() then has no replicas', async () => {
      const single = createDatabase<Schema>({
        config: loadConfig({ DATABASE_URL: primary.url() }, { envFile: '/dev/null' }),
        logger,
      });
      try {
        expect(single.replica).to.equal(single.db);
        expect(single.status()).not.to.have.property('replicas');
      } finally {
        await single.close();
      }
    });
  });

  describe('status and health', () => {
    it('report each replica: redacted url, state, pool and replication lag', async () => {
      const report = await database.health();
      expect(report.ok).to.equal(true);
      expect(report.replicas).to.have.length(2);
      for (const [i, replica] of (report.replicas ?? []).entries()) {
        expect(replica.url).to.equal(replicas[i]?.url());
        expect(replica.state).to.equal('up');
        expect(replica.lagMs).to.be.a('number').and.at.least(0);
        expect(replica.pool.max).to.equal(10);
        expect(replica).not.to.have.property('lastError');
      }
      const status = database.status();
      expect(status.replicas?.map((r) => r.state)).to.deep.equal(['up', 'up']);
      expect(status.replicas?.[0]?.lagMs).to.be.a('number');
    });

    it('OpenTelemetry: a read names the replica that served it; each replica reports its state, lag and pool', async () => {
      const otel = installOtel();
      try {
        await database.health();
        const served = await servedBy();
        expect(served.inRecovery).to.equal(true);
        const read = otel.spans().find((span) => span.name === 'SELECT server_identity');
        expect(read?.attributes['server.port']).to.equal(served.port);
        const points = await otel.collect();
        const names = replicas.map((r) => `127.0.0.1:${new URL(r.url()).port}/${new URL(r.url()).pathname.slice(1)}`);
        const of = (metric: string) =>
          points.filter((p) => p.name === metric).map((p) => [p.attributes['db.client.connection.pool.name'], p.value]);
        expect(of('kysely_repository.replica.up')).to.deep.equal(names.map((n) => [n, 1]));
        expect(of('kysely_repository.replica.lag').map(([n]) => n)).to.deep.equal(names);
        expect(of('kysely_repository.replica.lag').every(([, lag]) => typeof lag === 'number' && lag >= 0)).to.equal(
          true,
        );
        expect(of('db.client.connection.max').map(([n]) => n)).to.include.members(names);
      } finally {
        await otel.uninstall();
      }
    });

    it('never show a replica password', async () => {
      const withPassword = (cluster: ThrowawayCluster) => cluster.url().replace('postgres@', 'postgres:s3cr3t-pw@');
      const secretive = createDatabase<Schema>({
        config: configFor({ DATABASE_REPLICA_URLS: replicas.map(withPassword).join(',') }),
        logger,
      });
      try {
        const report = await secretive.health();
        expect(report.replicas?.map((r) => r.state)).to.deep.equal(['up', 'up']);
        expect(report.replicas?.[0]?.url).to.contain(':***@');
        expect(JSON.stringify([report, secretive.status()])).not.to.contain('s3cr3t-pw');
      } finally {
        await secretive.close();
      }
    });
  });

  describe('failures', () => {
    it('skips a stopped replica, falls back to the primary when none is up (logged once), and takes them back when restarted', async function () {
      this.timeout(120_000);
      const [first, second] = replicas as [ThrowawayCluster, ThrowawayCluster];

      await first.stop();
      for (let i = 0; i < 4; i++) expect(await servedBy()).to.deep.equal({ inRecovery: true, port: second.port });
      let status = database.status().replicas ?? [];
      expect(status.map((r) => r.state)).to.deep.equal(['down', 'up']);
      expect(status[0]?.lastError).to.be.a('string').and.not.equal('');
      expect(logger.warn.calledWithMatch('read replica is down')).to.equal(true);

      await second.stop();
      for (let i = 0; i < 20; i++) expect(await servedBy()).to.deep.equal({ inRecovery: false, port: primary.port });
      const noneUp = logger.warn.getCalls().filter((c) => String(c.args[0]).startsWith('no read replica is up'));
      expect(noneUp).to.have.length(1);
      const report = await database.health();
      expect(report.ok).to.equal(true);
      expect(report.replicas?.map((r) => r.state)).to.deep.equal(['down', 'down']);

      await first.start();
      await second.start();
      const seen = new Set<number>();
      await eventually(
        async () => {
          const s = await servedBy();
          if (s.inRecovery) seen.add(s.port);
          return seen.size === 2;
        },
        30_000,
        'both replicas serve reads again',
      );
      status = database.status().replicas ?? [];
      expect(status.map((r) => r.state)).to.deep.equal(['up', 'up']);
      expect(logger.info.calledWithMatch('read replica is up again')).to.equal(true);
      // they replay what the primary wrote meanwhile
      const created = await items.create({ name: name() });
      for (const replica of replicas) await replayed(primary, replica, created.name);
    });
  });
});
