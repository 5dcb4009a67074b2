/**
 * DB_MAX_OVERFLOW (SQLAlchemy QueuePool's max_overflow) on the real server: under load the pool
 * opens up to DB_POOL_SIZE + DB_MAX_OVERFLOW connections, and once idle it closes those above
 * DB_POOL_SIZE and keeps DB_POOL_SIZE open. Counted by the pool and by pg_stat_activity.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase, silentLogger, withTransaction, type Database } from '../../lib/index.js';
import { queryServer } from '../support/spec-helpers.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';

/** Waits (polling; the suite's timeout bounds it) until `check` holds. */
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(25);
}

/** Backends of this run's database with `name` as application_name, as the server counts them. */
async function serverConnections(name: string): Promise<number> {
  const rows = await queryServer<{ n: string }>(
    testDatabaseUrl(),
    'select count(*) as n from pg_stat_activity where application_name = $1',
    [name],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Holds `n` pooled connections (one transaction each) until the returned release() is called. */
async function hold(database: Database<unknown>, n: number): Promise<{ release(): Promise<void> }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let started = 0;
  const running = Array.from({ length: n }, () =>
    withTransaction(database.db, async () => {
      await database.query('select 1');
      started++;
      await gate;
    }),
  );
  await eventually(() => started === n);
  return {
    release: async () => {
      open();
      await Promise.all(running);
    },
  };
}

describe('DB_MAX_OVERFLOW: connections beyond DB_POOL_SIZE under load (real PostgreSQL)', function () {
  this.timeout(60_000);
  const opened: Database<unknown>[] = [];

  function open(env: Record<string, string>): Database<unknown> {
    const database = createDatabase<unknown>({ config: testConfig(env), logger: silentLogger });
    opened.push(database);
    return database;
  }

  after(async () => {
    await Promise.all(opened.map((database) => database.close()));
  });

  it('opens up to size + overflow, then closes the overflow once idle and keeps size open', async () => {
    const name = `kr_overflow_${process.pid}`;
    const database = open({
      DB_POOL_SIZE: '2',
      DB_MAX_OVERFLOW: '3',
      DB_POOL_IDLE_TIMEOUT: '100',
      DB_APPLICATION_NAME: name,
    });
    expect(database.config.pool).to.include({ size: 2, maxOverflow: 3 });
    expect(database.status().pool.max).to.equal(5);

    const held = await hold(database, 5);
    expect(database.status().pool).to.include({ total: 5, idle: 0 });
    expect(await serverConnections(name)).to.equal(5);

    // a sixth caller waits: the pool never opens more than size + overflow
    const sixth = database.query('select 1');
    await eventually(() => database.status().pool.waiting === 1);
    expect(database.status().pool.total).to.equal(5);

    await held.release();
    await sixth;
    await eventually(() => database.status().pool.total === 2);
    await eventually(async () => (await serverConnections(name)) === 2);
    // well past the idle timeout, the first DB_POOL_SIZE stay open (QueuePool's pool_size)
    await sleep(500);
    expect(database.status().pool).to.include({ total: 2, idle: 2 });
    expect(await serverConnections(name)).to.equal(2);
  });

  it('without DB_MAX_OVERFLOW (0) the pool is DB_POOL_SIZE, and every idle connection closes', async () => {
    const name = `kr_no_overflow_${process.pid}`;
    const database = open({ DB_POOL_SIZE: '2', DB_POOL_IDLE_TIMEOUT: '100', DB_APPLICATION_NAME: name });
    expect(database.config.pool.maxOverflow).to.equal(0);
    expect(database.status().pool.max).to.equal(2);
    const held = await hold(database, 2);
    const third = database.query('select 1');
    await eventually(() => database.status().pool.waiting === 1);
    expect(database.status().pool.total).to.equal(2);
    await held.release();
    await third;
    await eventually(() => database.status().pool.total === 0);
    await eventually(async () => (await serverConnections(name)) === 0);
  });
});
