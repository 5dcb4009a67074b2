import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { DatabaseError } from '../../lib/index.js';
import {
  CheckViolationError,
  ConnectionError,
  createDatabase,
  ForeignKeyViolationError,
  NotNullViolationError,
  PoolTimeoutError,
  QueryTimeoutError,
  silentLogger,
  UniqueViolationError,
  type Database,
} from '../../lib/index.js';
import { freePort } from '../support/free-port.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection } from '../support/spec-helpers.js';

interface Schema {
  db_parents: { id: number; code: string; quantity: number };
  db_children: { id: number; parentId: number; label: string | null };
}

async function connectionsNamed(applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'select count(*) as n from pg_stat_activity where application_name = $1',
      [applicationName],
    );
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

/** A Database whose server port is closed (and whose URL carries a password). */
async function unreachableDatabase(): Promise<Database<Schema>> {
  const port = await freePort();
  return createDatabase<Schema>({
    config: testConfig({ DATABASE_URL: `postgres://postgres:pw-x1@127.0.0.1:${port}/none`, DB_POOL_TIMEOUT: '3000' }),
    logger: silentLogger,
  });
}

describe('createDatabase (real PostgreSQL)', () => {
  let database: Database<Schema>;
  let db: Kysely<Schema>;

  before(async () => {
    database = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
    db = database.db;
    await db.schema
      .createTable('db_parents')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('code', 'text', (c) => c.notNull().unique())
      .addColumn('quantity', 'integer', (c) => c.notNull().check(sql`quantity >= 0`))
      .execute();
    await sql`alter table db_parents rename constraint db_parents_code_key to db_parents_code_unique`.execute(db);
    await sql`alter table db_parents rename constraint db_parents_quantity_check to db_parents_quantity_nonnegative`.execute(
      db,
    );
    await db.schema
      .createTable('db_children')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('parent_id', 'integer', (c) => c.notNull().references('db_parents.id'))
      .addColumn('label', 'text')
      .execute();
    await db.insertInto('db_parents').values({ id: 1, code: 'a', quantity: 1 }).execute();
  });

  after(async () => {
    await database.close();
  });

  describe('construction', () => {
    it('has no side effects: the pool opens on the first query', async () => {
      const name = `kr-lazy-${process.pid}`;
      const lazy = createDatabase({ config: testConfig({ DB_APPLICATION_NAME: name }), logger: silentLogger });
      try {
        expect(lazy.status().pool.total).to.equal(0);
        expect(await connectionsNamed(name)).to.equal(0);
        expect(await lazy.ping()).to.equal(true);
        expect(lazy.status().pool.total).to.equal(1);
        expect(await connectionsNamed(name)).to.equal(1);
      } finally {
        await lazy.close();
      }
      expect(await connectionsNamed(name)).to.equal(0);
    });

    it('maps snake_case columns to camelCase properties', async () => {
      await db.insertInto('db_children').values({ id: 1, parentId: 1, label: 'x' }).execute();
      const row = await db.selectFrom('db_children').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
      expect(row).to.deep.equal({ id: 1, parentId: 1, label: 'x' });
    });
  });

  describe('ping and health', () => {
    it('ping is true while the server is up', async () => {
      expect(await database.ping()).to.equal(true);
    });

    it('ping is false, within 5 s, for a closed port', async () => {
      const down = await unreachableDatabase();
      const started = Date.now();
      try {
        expect(await down.ping()).to.equal(false);
        expect(Date.now() - started).to.be.below(5_000);
      } finally {
        await down.close();
      }
    });

    it('health reports ok, latency and pool while the server is up', async () => {
      const report = await database.health();
      expect(report.ok).to.equal(true);
      expect(report.engine).to.equal('postgres');
      expect(report.latencyMs).to.be.a('number').and.at.least(0);
      expect(report.pool.max).to.equal(10);
      expect(report.pool.total).to.be.at.least(1);
      expect(report.error).to.equal(undefined);
    });

    it('health reports not ok with the error while the server is unreachable, without the password', async () => {
      const down = await unreachableDatabase();
      try {
        const report = await down.health();
        expect(report.ok).to.equal(false);
        expect(report.latencyMs).to.equal(undefined);
        expect(report.error).to.match(/ECONNREFUSED|connect/);
        expect(JSON.stringify(report)).not.to.contain('pw-x1');
      } finally {
        await down.close();
      }
    });
  });

  describe('errors are mapped at the connection layer, for raw Kysely use too', () => {
    it('unique violation -> UniqueViolationError with constraint, table and column', async () => {
      const error = await rejection(db.insertInto('db_parents').values({ id: 2, code: 'a', quantity: 0 }).execute());
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect(error).to.include({
        code: '23505',
        constraint: 'db_parents_code_unique',
        table: 'db_parents',
        column: 'code',
      });
      expect((error as UniqueViolationError).columns).to.deep.equal(['code']);
      expect(error.cause).to.be.instanceOf(Error);
    });

    it('not-null violation -> NotNullViolationError with table and column', async () => {
      const error = await rejection(sql`insert into db_parents (id, code) values (3, 'n')`.execute(db));
      expect(error).to.be.instanceOf(NotNullViolationError);
      expect(error).to.include({ code: '23502', table: 'db_parents', column: 'quantity' });
    });

    it('foreign-key violation -> ForeignKeyViolationError with the constraint', async () => {
      const error = await rejection(
        db.insertInto('db_children').values({ id: 9, parentId: 999, label: null }).execute(),
      );
      expect(error).to.be.instanceOf(ForeignKeyViolationError);
      expect(error).to.include({ code: '23503', constraint: 'db_children_parent_id_fkey', table: 'db_children' });
      expect((error as DatabaseError).detail).to.contain('999');
    });

    it('check violation -> CheckViolationError with the constraint', async () => {
      const error = await rejection(db.insertInto('db_parents').values({ id: 4, code: 'c', quantity: -1 }).execute());
      expect(error).to.be.instanceOf(CheckViolationError);
      expect(error).to.include({ code: '23514', constraint: 'db_parents_quantity_nonnegative', table: 'db_parents' });
    });

    it('statement timeout -> QueryTimeoutError', async () => {
      const slow = createDatabase({ config: testConfig({ DB_STATEMENT_TIMEOUT: '200' }), logger: silentLogger });
      try {
        const error = await rejection(sql`select pg_sleep(3)`.execute(slow.db));
        expect(error).to.be.instanceOf(QueryTimeoutError);
        expect((error as QueryTimeoutError).code).to.equal('57014');
        expect(await slow.ping()).to.equal(true);
      } finally {
        await slow.close();
      }
    });

    it('a connection terminated by the server mid-transaction -> ConnectionError; it is discarded and the pool serves again', async () => {
      const victim = createDatabase({ config: testConfig({ DB_POOL_SIZE: '1' }), logger: silentLogger });
      try {
        const trx = await victim.db.startTransaction().execute();
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await sql`select pg_terminate_backend(${rows[0]?.pid})`.execute(db);
        const error = await rejection(sql`select 1`.execute(trx));
        expect(error).to.be.instanceOf(ConnectionError);
        await trx.rollback().execute();
        const after = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(victim.db);
        expect(after.rows[0]?.pid).not.to.equal(rows[0]?.pid);
        expect(victim.status().pool).to.include({ total: 1, idle: 1 });
      } finally {
        await victim.close();
      }
    });

    it('an idle pooled connection terminated by the server is replaced without an error', async () => {
      const victim = createDatabase({ config: testConfig({ DB_POOL_SIZE: '1' }), logger: silentLogger });
      try {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(victim.db);
        await sql`select pg_terminate_backend(${rows[0]?.pid})`.execute(db);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await victim.ping()).to.equal(true);
      } finally {
        await victim.close();
      }
    });

    it('a pool of 1 held by an open transaction: a second query is PoolTimeoutError within DB_POOL_TIMEOUT + 500 ms, then service resumes', async () => {
      const small = createDatabase<Schema>({
        config: testConfig({ DB_POOL_SIZE: '1', DB_POOL_TIMEOUT: '1000' }),
        logger: silentLogger,
      });
      try {
        const trx = await small.db.startTransaction().execute();
        await trx.selectFrom('db_parents').select('id').execute();
        const started = Date.now();
        const error = await rejection(small.db.selectFrom('db_parents').select('id').execute());
        const waited = Date.now() - started;
        expect(error).to.be.instanceOf(PoolTimeoutError);
        expect(error.message).to.contain('1000 ms');
        expect(waited).to.be.at.least(900).and.below(1_500);
        expect(small.status().pool).to.include({ total: 1, idle: 0, max: 1 });
        await trx.commit().execute();
        expect(await small.db.selectFrom('db_parents').select('id').execute()).to.have.length.at.least(1);
      } finally {
        await small.close();
      }
    });
  });

  describe('status', () => {
    it('counts queries and transactions of this Database only', async () => {
      const counted = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
      try {
        const before = counted.status();
        expect(before.queries).to.deep.equal({ succeeded: 0, failed: 0 });
        await counted.db.selectFrom('db_parents').selectAll().execute();
        await rejection(sql`select 1/0`.execute(counted.db));
        await counted.db.transaction().execute(async (trx) => trx.selectFrom('db_parents').selectAll().execute());
        await rejection(
          counted.db.transaction().execute(async (trx) => {
            await trx.selectFrom('db_parents').selectAll().execute();
            throw new Error('no');
          }),
        );
        const after = counted.status();
        // 1 select + (begin, select, commit) + (begin, select, rollback) = 7; 1 division by zero
        expect(after.queries).to.deep.equal({ succeeded: 7, failed: 1 });
        expect(after.transactions).to.deep.equal({ committed: 1, rolledBack: 1, retried: 0 });
        expect(after.pool).to.include({ total: 1, idle: 1, waiting: 0, max: 10 });
        expect(database.status().transactions.committed).to.equal(0);
      } finally {
        await counted.close();
      }
    });
  });

  describe('close', () => {
    it('is idempotent, and a closed Database fails with a clear ConnectionError', async () => {
      const closing = createDatabase({ config: testConfig(), logger: silentLogger });
      await closing.ping();
      await closing.close();
      await closing.close();
      const error = await rejection(sql`select 1`.execute(closing.db));
      expect(error).to.be.instanceOf(ConnectionError);
      expect(error.message).to.contain('closed');
      expect(await closing.ping()).to.equal(false);
    });

    it('closes a Database that never connected', async () => {
      const unused = createDatabase({ config: testConfig(), logger: silentLogger });
      await unused.close();
      expect(unused.status().pool.total).to.equal(0);
    });

    it('supports await using', async () => {
      const name = `kr-dispose-${process.pid}`;
      {
        await using disposable = createDatabase({
          config: testConfig({ DB_APPLICATION_NAME: name }),
          logger: silentLogger,
        });
        expect(await disposable.ping()).to.equal(true);
      }
      expect(await connectionsNamed(name)).to.equal(0);
    });

    it('waits a bounded time for a checked-out connection, then ends it', async () => {
      const held = createDatabase<Schema>({
        config: testConfig({ DB_POOL_TIMEOUT: '500' }),
        logger: silentLogger,
      });
      const trx = await held.db.startTransaction().execute();
      await sql`select 1`.execute(trx);
      const started = Date.now();
      await held.close();
      expect(Date.now() - started).to.be.below(3_000);
      expect(await rejection(sql`select 1`.execute(trx))).to.be.instanceOf(ConnectionError);
    });
  });
});
