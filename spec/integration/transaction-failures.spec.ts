import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionError,
  createDatabase,
  DatabaseError,
  PoolTimeoutError,
  QueryTimeoutError,
  silentLogger,
  UniqueViolationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection } from '../support/spec-helpers.js';

interface Schema {
  txDeferred: { k: number };
}

async function backendPid(db: Kysely<Schema>): Promise<number> {
  const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
  return rows[0]?.pid ?? -1;
}

describe('withTransaction failures (real PostgreSQL)', () => {
  let admin: pg.Client;

  /** Polls (on an unrelated connection) until the server process `pid` has gone. */
  async function untilBackendGone(pid: number): Promise<void> {
    for (;;) {
      const { rowCount } = await admin.query('select 1 from pg_stat_activity where pid = $1', [pid]);
      if (rowCount === 0) return;
      await sleep(20);
    }
  }

  before(async () => {
    admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
  });

  after(async () => {
    await admin.end();
  });

  describe('COMMIT and connection failures (pool of 1)', () => {
    let database: Database<Schema>;
    let db: Kysely<Schema>;

    before(async () => {
      database = createDatabase<Schema>({ config: testConfig({ DB_POOL_SIZE: '1' }), logger: silentLogger });
      db = database.db;
      await sql`create table tx_deferred (k int, constraint tx_deferred_k unique (k) deferrable initially deferred)`.execute(
        db,
      );
    });

    after(async () => {
      await sql`drop table if exists tx_deferred`.execute(db);
      await database.close();
    });

    it('surfaces a deferred unique violation at COMMIT as UniqueViolationError, and keeps nothing', async () => {
      const before = database.status().transactions;
      const error = await rejection(
        withTransaction(db, async (trx) => {
          await trx.insertInto('txDeferred').values({ k: 1 }).execute();
          await trx.insertInto('txDeferred').values({ k: 1 }).execute(); // accepted until COMMIT
          return 'fn resolved';
        }),
      );
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect((error as UniqueViolationError).constraint).to.equal('tx_deferred_k');
      expect(await db.selectFrom('txDeferred').selectAll().execute()).to.deep.equal([]);
      const after = database.status().transactions;
      expect(after.committed).to.equal(before.committed);
      expect(after.rolledBack).to.equal(before.rolledBack + 1);
    });

    it('ends a statement past timeoutMs with QueryTimeoutError, and reuses its connection cleanly', async () => {
      const sessionTimeout = (await sql<{ t: string }>`select current_setting('statement_timeout') as t`.execute(db))
        .rows[0]?.t;
      let pid = 0;
      const error = await rejection(
        withTransaction(
          db,
          async (trx) => {
            pid = await backendPid(trx);
            await sql`select pg_sleep(30)`.execute(trx);
          },
          { timeoutMs: 200 },
        ),
      );
      expect(error).to.be.instanceOf(QueryTimeoutError);
      expect((error as QueryTimeoutError).code).to.equal('57014');
      expect(await backendPid(db), 'the same connection serves the next query').to.equal(pid);
      const { rows } = await sql<{ t: string; idle: string }>`
        select current_setting('statement_timeout') as t,
               current_setting('idle_in_transaction_session_timeout') as idle`.execute(db);
      expect(rows[0], 'the LOCAL timeouts ended with the transaction').to.deep.equal({ t: sessionTimeout, idle: '0' });
    });

    it('ends a transaction left idle past timeoutMs with ConnectionError, discards its connection, and serves again', async () => {
      const before = database.status().transactions;
      let pid = 0;
      const error = await rejection(
        withTransaction(
          db,
          async (trx) => {
            pid = await backendPid(trx);
            await untilBackendGone(pid); // the server ends the idle session after 200 ms
            await sql`select 1`.execute(trx);
          },
          { timeoutMs: 200 },
        ),
      );
      expect(error).to.be.instanceOf(ConnectionError);
      const next = await backendPid(db);
      expect(next, 'a new connection, not the dead one').to.not.equal(pid);
      expect(database.status().pool.total).to.equal(1);
      expect(database.status().transactions.rolledBack).to.equal(before.rolledBack + 1);
    });

    it('surfaces a connection lost mid-transaction as ConnectionError, even when fn resolves, and discards it', async () => {
      const before = database.status().transactions;
      let pid = 0;
      const error = await rejection(
        withTransaction(db, async (trx) => {
          pid = await backendPid(trx);
          await admin.query('select pg_terminate_backend($1)', [pid]);
          await untilBackendGone(pid);
          return 'fn resolved; COMMIT finds the connection gone';
        }),
      );
      expect(error).to.be.instanceOf(ConnectionError);
      expect(await backendPid(db)).to.not.equal(pid);
      const after = database.status().transactions;
      expect(after.committed).to.equal(before.committed);
      expect(after.rolledBack).to.equal(before.rolledBack + 1);
    });

    it("refuses 'requiresNew' at once when the enclosing transaction holds the only pooled connection", async () => {
      const value = await withTransaction(db, async (trx) => {
        const error = await rejection(withTransaction(db, () => Promise.resolve(), { propagation: 'requiresNew' }));
        expect(error).to.be.instanceOf(DatabaseError);
        expect(error.message).to.match(/'requiresNew' would deadlock/);
        expect(error.message).to.match(/DB_POOL_SIZE/);
        // the outer transaction is untouched and still usable
        return backendPid(trx);
      });
      expect(value).to.be.a('number');
    });
  });

  describe("'requiresNew' and a busy pool (pool of 2)", () => {
    let database: Database<Schema>;
    let db: Kysely<Schema>;

    before(() => {
      database = createDatabase<Schema>({
        config: testConfig({ DB_POOL_SIZE: '2', DB_POOL_TIMEOUT: '300' }),
        logger: silentLogger,
      });
      db = database.db;
    });

    after(async () => {
      await database.close();
    });

    it('refuses a second nested requiresNew once the chain holds the whole pool', async () => {
      await withTransaction(db, async () => {
        await withTransaction(
          db,
          async () => {
            const error = await rejection(withTransaction(db, () => Promise.resolve(), { propagation: 'requiresNew' }));
            expect(error.message).to.match(/'requiresNew' would deadlock.*pool has 2.*hold 2/);
          },
          { propagation: 'requiresNew' },
        );
      });
    });

    it('names requiresNew in the PoolTimeoutError when other callers hold the connection it waits for', async () => {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      let began: () => void = () => undefined;
      const holding = new Promise<void>((resolve) => (began = resolve));
      const holder = withTransaction(db, async () => {
        began();
        await released;
      });
      await holding;
      try {
        const error = await rejection(
          withTransaction(db, () => withTransaction(db, () => Promise.resolve(), { propagation: 'requiresNew' })),
        );
        expect(error).to.be.instanceOf(PoolTimeoutError);
        expect(error.message).to.match(/'requiresNew' waited for a second pooled connection/);
        expect(error.cause).to.be.instanceOf(PoolTimeoutError);
      } finally {
        release();
        await holder;
      }
      expect(await backendPid(db)).to.be.a('number');
    });
  });
});
