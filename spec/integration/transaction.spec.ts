import { expect } from 'chai';
import { Kysely, PostgresDialect, sql, type Generated, type Transaction } from 'kysely';
import pg from 'pg';
import sinon from 'sinon';
import {
  afterCommit,
  afterRollback,
  createDatabase,
  currentTransaction,
  DatabaseError,
  ReadOnlyTransactionError,
  silentLogger,
  ValidationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection, spyLogger, type SpyLogger } from '../support/spec-helpers.js';

interface Schema {
  txItems: { id: Generated<number>; label: string };
}

/**
 * Stands in for a repository call made without `trx` (the Repository class comes later): it picks
 * its executor exactly as the repositories will, `currentTransaction(db) ?? db`.
 */
async function insertLikeARepository(db: Kysely<Schema>, label: string): Promise<void> {
  await (currentTransaction(db) ?? db).insertInto('txItems').values({ label }).execute();
}

async function labels(db: Kysely<Schema>): Promise<string[]> {
  const rows = await db.selectFrom('txItems').select('label').orderBy('id').execute();
  return rows.map((r) => r.label);
}

class Oops extends Error {}

describe('withTransaction (real PostgreSQL)', () => {
  const sandbox = sinon.createSandbox();
  let database: Database<Schema>;
  let db: Kysely<Schema>;
  let logger: SpyLogger;

  before(async () => {
    logger = spyLogger(sandbox);
    database = createDatabase<Schema>({ config: testConfig(), logger });
    db = database.db;
    await sql`create table tx_items (id int generated always as identity primary key, label text not null)`.execute(db);
  });

  beforeEach(async () => {
    await sql`truncate tx_items`.execute(db);
  });

  afterEach(() => {
    sandbox.resetHistory();
  });

  after(async () => {
    await sql`drop table if exists tx_items`.execute(db);
    await database.close();
    sandbox.restore();
  });

  describe('commit and rollback', () => {
    it("commits when fn resolves and returns fn's value", async () => {
      const before = database.status().transactions;
      const value = await withTransaction(db, async (trx) => {
        await trx.insertInto('txItems').values({ label: 'a' }).execute();
        return { ok: 42 };
      });
      expect(value).to.deep.equal({ ok: 42 });
      expect(await labels(db)).to.deep.equal(['a']);
      expect(database.status().transactions.committed).to.equal(before.committed + 1);
    });

    it("rolls back when fn throws, leaves nothing, and rethrows the caller's own error unchanged", async () => {
      const before = database.status().transactions;
      const thrown = new Oops('no');
      const error = await rejection(
        withTransaction(db, async (trx) => {
          await trx.insertInto('txItems').values({ label: 'a' }).execute();
          throw thrown;
        }),
      );
      expect(error).to.equal(thrown);
      expect(await labels(db)).to.deep.equal([]);
      expect(database.status().transactions.rolledBack).to.equal(before.rolledBack + 1);
      expect(database.status().transactions.committed).to.equal(before.committed);
    });

    it('begins with the isolation level and access mode asked for', async () => {
      const settings = await withTransaction(
        db,
        async (trx) => {
          const { rows } = await sql<{ iso: string; ro: string }>`
            select current_setting('transaction_isolation') as iso, current_setting('transaction_read_only') as ro`.execute(
            trx,
          );
          return rows[0];
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      );
      expect(settings).to.deep.equal({ iso: 'repeatable read', ro: 'on' });
    });

    it('rejects a write in a read-only transaction with ReadOnlyTransactionError, writing nothing', async () => {
      const error = await rejection(
        withTransaction(db, (trx) => trx.insertInto('txItems').values({ label: 'ro' }).execute(), {
          accessMode: 'read only',
        }),
      );
      expect(error).to.be.instanceOf(ReadOnlyTransactionError);
      expect((error as ReadOnlyTransactionError).code).to.equal('25006');
      expect(await labels(db)).to.deep.equal([]);
    });

    it('refuses bad options with a ValidationError before taking a connection', async () => {
      const before = database.status().queries;
      const cases = [{ retries: -1 }, { retries: 1.5 }, { timeoutMs: 0 }, { propagation: 'sometimes' }];
      for (const options of cases) {
        const error = await rejection(withTransaction(db, () => Promise.resolve(), options as never));
        expect(error, JSON.stringify(options)).to.be.instanceOf(ValidationError);
      }
      expect(database.status().queries).to.deep.equal(before);
    });
  });

  describe('nesting', () => {
    it("rolls a failing nested call back to its savepoint and keeps the outer's work; the outer catches and continues", async () => {
      const before = database.status().transactions;
      await withTransaction(db, async (trx) => {
        await trx.insertInto('txItems').values({ label: 'outer-1' }).execute();
        const error = await rejection(
          withTransaction(db, async (inner) => {
            expect(inner).to.not.equal(trx);
            expect(currentTransaction(db)).to.equal(inner);
            await inner.insertInto('txItems').values({ label: 'inner-failed' }).execute();
            throw new Oops('inner');
          }),
        );
        expect(error).to.be.instanceOf(Oops);
        expect(currentTransaction(db)).to.equal(trx);
        await withTransaction(db, (inner) => inner.insertInto('txItems').values({ label: 'inner-kept' }).execute());
        await trx.insertInto('txItems').values({ label: 'outer-2' }).execute();
      });
      expect(await labels(db)).to.deep.equal(['outer-1', 'inner-kept', 'outer-2']);
      const after = database.status().transactions;
      expect(after.committed - before.committed, 'savepoints are not counted as transactions').to.equal(1);
      expect(after.rolledBack).to.equal(before.rolledBack);
    });

    it('nests when given the trx itself', async () => {
      await withTransaction(db, async (trx) => {
        await trx.insertInto('txItems').values({ label: 'outer' }).execute();
        await rejection(
          withTransaction(trx, async (inner) => {
            await inner.insertInto('txItems').values({ label: 'gone' }).execute();
            throw new Oops('inner');
          }),
        );
      });
      expect(await labels(db)).to.deep.equal(['outer']);
    });

    it('undoes a nested failure caused by SQL, so the outer transaction is usable again', async () => {
      await sql`create table tx_unique (k int primary key)`.execute(db);
      try {
        await withTransaction(db, async (trx) => {
          await sql`insert into tx_unique values (1)`.execute(trx);
          const error = await rejection(
            withTransaction(db, (inner) => sql`insert into tx_unique values (1)`.execute(inner)),
          );
          expect(error.name).to.equal('UniqueViolationError');
          await trx.insertInto('txItems').values({ label: 'after' }).execute();
        });
        expect(await labels(db)).to.deep.equal(['after']);
      } finally {
        await sql`drop table tx_unique`.execute(db);
      }
    });

    it("runs nested calls made in parallel one at a time, so one's rollback never undoes another's work", async () => {
      await withTransaction(db, async () => {
        const results = await Promise.allSettled(
          ['p1', 'p2', 'p3'].map((label) =>
            withTransaction(db, async (inner) => {
              await inner.insertInto('txItems').values({ label }).execute();
              if (label === 'p2') throw new Oops(label);
            }),
          ),
        );
        expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
      });
      expect(await labels(db)).to.deep.equal(['p1', 'p3']);
    });

    it("'required' joins the outer transaction: same trx, one commit", async () => {
      const before = database.status().transactions;
      await withTransaction(db, async (trx) => {
        await trx.insertInto('txItems').values({ label: 'outer' }).execute();
        await withTransaction(
          db,
          async (inner) => {
            expect(inner).to.equal(trx);
            await inner.insertInto('txItems').values({ label: 'joined' }).execute();
          },
          { propagation: 'required' },
        );
      });
      expect(await labels(db)).to.deep.equal(['outer', 'joined']);
      expect(database.status().transactions.committed).to.equal(before.committed + 1);
    });

    it("'required' shares the outer's fate: a failing joined call rolls the whole transaction back", async () => {
      const inner = new Oops('joined failed');
      const error = await rejection(
        withTransaction(db, async (trx) => {
          await trx.insertInto('txItems').values({ label: 'outer' }).execute();
          const caught = await rejection(withTransaction(db, () => Promise.reject(inner), { propagation: 'required' }));
          expect(caught).to.equal(inner);
          await trx.insertInto('txItems').values({ label: 'after' }).execute();
        }),
      );
      expect(error).to.be.instanceOf(DatabaseError);
      expect(error.message).to.match(/'required'/);
      expect(error.cause).to.equal(inner);
      expect(await labels(db)).to.deep.equal([]);
    });

    it("'requiresNew' commits on its own connection and survives the outer's rollback", async () => {
      const before = database.status().transactions;
      await rejection(
        withTransaction(db, async (trx) => {
          await trx.insertInto('txItems').values({ label: 'outer' }).execute();
          await withTransaction(
            db,
            async (inner) => {
              expect(inner).to.not.equal(trx);
              expect(currentTransaction(db)).to.equal(inner);
              const pids = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(inner);
              const outerPids = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
              expect(pids.rows[0]?.pid).to.not.equal(outerPids.rows[0]?.pid);
              await insertLikeARepository(db, 'independent');
            },
            { propagation: 'requiresNew' },
          );
          expect(currentTransaction(db)).to.equal(trx);
          throw new Oops('outer fails after');
        }),
      );
      expect(await labels(db)).to.deep.equal(['independent']);
      const after = database.status().transactions;
      expect(after.committed).to.equal(before.committed + 1);
      expect(after.rolledBack).to.equal(before.rolledBack + 1);
    });

    it('refuses a nested call that asks for a stronger isolation level, or for writes in a read-only transaction', async () => {
      await withTransaction(
        db,
        async () => {
          const error = await rejection(
            withTransaction(db, () => Promise.resolve(), { isolationLevel: 'serializable' }),
          );
          expect(error).to.be.instanceOf(DatabaseError);
          expect(error.message).to.match(/serializable.*repeatable read/);
          await withTransaction(db, () => Promise.resolve(), { isolationLevel: 'read committed' });
        },
        { isolationLevel: 'repeatable read' },
      );
      await withTransaction(
        db,
        async () => {
          const error = await rejection(withTransaction(db, () => Promise.resolve(), { accessMode: 'read write' }));
          expect(error.message).to.match(/read-only/);
        },
        { accessMode: 'read only' },
      );
      await withTransaction(db, async () => {
        // no level asked for: the server's default (read committed) is looked up, not assumed
        const error = await rejection(withTransaction(db, () => Promise.resolve(), { isolationLevel: 'serializable' }));
        expect(error.message).to.match(/inside a 'read committed' transaction/);
      });
    });
  });

  describe('ambient propagation', () => {
    it('rolls back repository calls made without trx together with the transaction, and commits them with it', async () => {
      await rejection(
        withTransaction(db, async () => {
          await insertLikeARepository(db, 'rolled back');
          throw new Oops('no');
        }),
      );
      expect(await labels(db)).to.deep.equal([]);
      await withTransaction(db, async () => {
        await insertLikeARepository(db, 'kept');
        // the row is inside the transaction: not visible to another connection yet
        expect(await labels(db)).to.deep.equal([]);
      });
      expect(await labels(db)).to.deep.equal(['kept']);
      expect(currentTransaction(db)).to.equal(undefined);
    });

    it("keeps 30 parallel transactions apart: of which half throw, exactly the other half's rows remain", async () => {
      const runs = Array.from({ length: 30 }, (_, i) =>
        withTransaction(db, async (trx) => {
          await insertLikeARepository(db, `row-${i}`);
          await new Promise((resolve) => setImmediate(resolve));
          expect(currentTransaction(db)).to.equal(trx);
          await insertLikeARepository(db, `row-${i}-second`);
          if (i % 2 === 1) throw new Oops(`run ${i}`);
          return i;
        }),
      );
      const results = await Promise.allSettled(runs);
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(15);
      for (const [i, result] of results.entries()) {
        if (i % 2 === 1) expect(result.status === 'rejected' && result.reason instanceof Oops).to.equal(true);
      }
      const expected = Array.from({ length: 15 }, (_, k) => [`row-${2 * k}`, `row-${2 * k}-second`]).flat();
      expect((await labels(db)).sort()).to.deep.equal(expected.sort());
    });

    it("never shows one Database's transaction to another", async () => {
      const other = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
      try {
        await rejection(
          withTransaction(other.db, async (otherTrx) => {
            expect(currentTransaction(other.db)).to.equal(otherTrx);
            expect(currentTransaction(db)).to.equal(undefined);
            // a transaction of the first Database here is an outermost one, not a savepoint of the other's
            await withTransaction(db, async (trx) => {
              expect(currentTransaction(db)).to.equal(trx);
              expect(currentTransaction(other.db)).to.equal(otherTrx);
              await insertLikeARepository(db, 'first database');
            });
            await insertLikeARepository(other.db, 'other database');
            throw new Oops('other rolls back');
          }),
        );
        expect(await labels(db)).to.deep.equal(['first database']);
      } finally {
        await other.close();
      }
    });

    it('gives a copy of the Kysely with other plugins (withSchema) the transaction with its own plugins', async () => {
      await sql`create schema tx_tenant`.execute(db);
      await sql`create table tx_tenant.tx_items (id int generated always as identity primary key, label text not null)`.execute(
        db,
      );
      try {
        const tenant = db.withSchema('tx_tenant');
        await rejection(
          withTransaction(db, async () => {
            await insertLikeARepository(tenant, 'tenant row');
            expect(await labels(tenant)).to.deep.equal(['tenant row']);
            throw new Oops('no');
          }),
        );
        expect(await labels(tenant)).to.deep.equal([]);
        expect(await labels(db)).to.deep.equal([]);
      } finally {
        await sql`drop schema tx_tenant cascade`.execute(db);
      }
    });

    it('does not hand out a transaction that has ended to work that outlives it', async () => {
      let later: Promise<Transaction<Schema> | undefined> | undefined;
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      await withTransaction(db, async () => {
        later = gate.then(() => currentTransaction(db));
        return Promise.resolve();
      });
      release();
      expect(await later).to.equal(undefined);
    });

    it('works on a Kysely not made by createDatabase: commits, rolls back and nests (without counters)', async () => {
      const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
      const plain = new Kysely<{ tx_items: { id: Generated<number>; label: string } }>({
        dialect: new PostgresDialect({ pool }),
      });
      try {
        await withTransaction(plain, async (trx) => {
          await trx.insertInto('tx_items').values({ label: 'plain' }).execute();
          await rejection(
            withTransaction(plain, async (inner) => {
              await inner.insertInto('tx_items').values({ label: 'plain-gone' }).execute();
              throw new Oops('inner');
            }),
          );
        });
        await rejection(
          withTransaction(plain, async (trx) => {
            await trx.insertInto('tx_items').values({ label: 'plain-rolled-back' }).execute();
            throw new Oops('outer');
          }),
        );
        expect(await labels(db)).to.deep.equal(['plain']);
      } finally {
        await plain.destroy();
      }
    });
    it('on a Kysely not made by createDatabase, a failing ROLLBACK does not hide the error that caused it', async () => {
      const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 1 });
      // the session this spec ends: pg reports it on the client (checked out) and the pool (idle)
      pool.on('connect', (client) => client.on('error', () => undefined));
      pool.on('error', () => undefined);
      const plain = new Kysely<{ tx_items: { id: Generated<number>; label: string } }>({
        dialect: new PostgresDialect({ pool }),
      });
      try {
        const error = await rejection(
          withTransaction(plain, async (trx) => {
            await trx.insertInto('tx_items').values({ label: 'plain-lost' }).execute();
            // the session ends, so Kysely's ROLLBACK fails too
            await sql`select pg_terminate_backend(pg_backend_pid())`.execute(trx).catch(() => undefined);
            throw new Oops('the cause');
          }),
        );
        expect(error).to.be.instanceOf(Oops);
        expect(error.message).to.equal('the cause');
        expect(await labels(db)).to.not.include('plain-lost');
      } finally {
        await plain.destroy();
      }
    });
  });

  describe('afterCommit / afterRollback', () => {
    it('runs afterCommit hooks once, after the outermost commit, and only for work that was committed', async () => {
      const calls: string[] = [];
      let seenByHook: string[] | undefined;
      await withTransaction(db, async (trx) => {
        await trx.insertInto('txItems').values({ label: 'durable' }).execute();
        afterCommit(async () => {
          calls.push('outer');
          // outside the transaction, on another connection: the row is already committed
          seenByHook = await labels(db);
        });
        await withTransaction(db, () => {
          afterCommit(() => void calls.push('nested-released'));
          return withTransaction(db, () => {
            afterCommit(() => void calls.push('nested-twice'));
            return Promise.resolve();
          });
        });
        await rejection(
          withTransaction(db, () => {
            afterCommit(() => void calls.push('nested-rolled-back'));
            throw new Oops('inner');
          }),
        );
        await withTransaction(db, () => Promise.resolve(afterCommit(() => void calls.push('required'))), {
          propagation: 'required',
        });
        expect(calls, 'nothing runs before the outermost commit').to.deep.equal([]);
      });
      expect(calls).to.deep.equal(['outer', 'nested-released', 'nested-twice', 'required']);
      expect(seenByHook).to.deep.equal(['durable']);
    });

    it('runs afterRollback hooks, not afterCommit hooks, when the outermost transaction rolls back', async () => {
      const calls: string[] = [];
      await rejection(
        withTransaction(db, async () => {
          afterCommit(() => void calls.push('commit'));
          afterRollback(() => void calls.push('rollback'));
          await withTransaction(db, () => Promise.resolve(afterRollback(() => void calls.push('nested rollback'))));
          throw new Oops('no');
        }),
      );
      expect(calls).to.deep.equal(['rollback', 'nested rollback']);
    });

    it("runs a rolled-back savepoint's afterRollback hook once, after the outermost transaction ends", async () => {
      const calls: string[] = [];
      await withTransaction(db, async () => {
        await rejection(
          withTransaction(db, () => {
            afterRollback(() => void calls.push('savepoint undone'));
            return Promise.reject(new Oops('inner'));
          }),
        );
        expect(calls).to.deep.equal([]);
      });
      expect(calls).to.deep.equal(['savepoint undone']);
    });

    it('logs a failing hook and keeps the commit; the hooks after it still run', async () => {
      const calls: string[] = [];
      const value = await withTransaction(db, async (trx) => {
        await trx.insertInto('txItems').values({ label: 'kept' }).execute();
        afterCommit(() => Promise.reject(new Oops('mail server down')));
        afterCommit(() => void calls.push('second'));
        return 'done';
      });
      expect(value).to.equal('done');
      expect(calls).to.deep.equal(['second']);
      expect(await labels(db)).to.deep.equal(['kept']);
      expect(logger.error.calledWithMatch(/hook run after COMMIT failed/, { error: { message: 'mail server down' } }))
        .to.be.true;
    });

    it('throws a DatabaseError when registered outside a transaction', () => {
      expect(() => afterCommit(() => undefined)).to.throw(DatabaseError, /outside withTransaction/);
      expect(() => afterRollback(() => undefined)).to.throw(DatabaseError, /outside withTransaction/);
    });
  });
});
