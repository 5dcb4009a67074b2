import { expect } from 'chai';
import { sql, type Generated, type Kysely } from 'kysely';
import http from 'node:http';
import { once } from 'node:events';
import {
  afterCommit,
  afterRollback,
  createDatabase,
  currentTransaction,
  DatabaseError,
  ReadOnlyTransactionError,
  ValidationError,
  Repository,
  silentLogger,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { openSandbox, recordQueries, type Sandbox } from '../../lib/testing/index.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection, queryServer } from '../support/spec-helpers.js';

interface Schema {
  tkStock: { warehouse: string; sku: string; qty: number };
  tkEvents: { seq: Generated<string>; payload: unknown };
}

/** The rows of tk_stock as the server has them, read on a connection of the spec's own (committed data only). */
async function committedStock(): Promise<number> {
  const rows = await queryServer<{ n: string }>(testDatabaseUrl(), 'select count(*) as n from tk_stock');
  return Number(rows[0]!.n);
}

describe('testing kit: the sandbox (real PostgreSQL)', () => {
  let database: Database<Schema>;
  let db: Kysely<Schema>;
  let stock: Repository<Schema, 'tkStock'>;
  let sandbox: Sandbox | undefined;

  before(async () => {
    database = createDatabase<Schema>({ config: testConfig({ DB_POOL_SIZE: '4' }), logger: silentLogger });
    db = database.db;
    await sql`create table tk_stock (warehouse text, sku text, qty int not null check (qty >= 0), primary key (warehouse, sku))`.execute(
      db,
    );
    await sql`create table tk_events (seq bigint generated always as identity primary key, payload jsonb)`.execute(db);
    stock = new Repository(db, 'tkStock', { primaryKey: ['warehouse', 'sku'] });
  });

  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
    await sql`truncate tk_stock, tk_events`.execute(db);
  });

  after(async () => {
    await sql`drop table tk_stock, tk_events`.execute(db);
    await database.close();
  });

  async function open(options?: Parameters<typeof openSandbox>[1]): Promise<Sandbox> {
    sandbox = await openSandbox(database, options);
    return sandbox;
  }

  it('runs repository, plain Kysely, raw query and withTransaction writes in one transaction that close() rolls back', async () => {
    const box = await open();
    const seen = await box.run(async () => {
      await stock.create({ warehouse: 'north', sku: 'a', qty: 1 });
      await db.insertInto('tkStock').values({ warehouse: 'north', sku: 'b', qty: 2 }).execute();
      await database.query('insert into tk_stock (warehouse, sku, qty) values ($1, $2, $3)', ['north', 'c', 3]);
      await withTransaction(db, (trx) =>
        trx.insertInto('tkStock').values({ warehouse: 'north', sku: 'd', qty: 4 }).execute(),
      );
      await database.executeMany('insert into tk_events (payload) values ($1)', [['{"x":1}'], ['{"x":2}']]);
      return {
        stock: await stock.count(),
        plain: await db
          .selectFrom('tkStock')
          .select(sql<string>`count(*)`.as('n'))
          .executeTakeFirstOrThrow(),
        events: await database.query<{ n: string }>('select count(*) as n from tk_events'),
      };
    });
    expect(seen.stock).to.equal(4);
    expect(Number(seen.plain.n)).to.equal(4);
    expect(Number(seen.events[0]!.n)).to.equal(2);
    expect(await committedStock(), 'nothing committed while the sandbox is open').to.equal(0);
    await box.close();
    expect(await committedStock()).to.equal(0);
    expect(await stock.count(), 'outside the sandbox the Database works as before').to.equal(0);
  });

  it('lets a failing statement outside an application transaction fail alone, as on a pool: earlier writes stay, later statements run', async () => {
    const box = await open();
    await box.run(async () => {
      expect(currentTransaction(db), 'the code under test is in no transaction of its own').to.equal(undefined);
      await stock.create({ warehouse: 's', sku: 'kept', qty: 1 });
      const failures = [
        await rejection(stock.create({ warehouse: 's', sku: 'kept', qty: 1 })),
        await rejection(db.insertInto('tkStock').values({ warehouse: 's', sku: 'neg', qty: -1 }).execute()),
        await rejection(database.query('select 1/0')),
        await rejection(stock.createMany([{ warehouse: 's', sku: 'bad', qty: -5 }])),
      ];
      for (const failure of failures) expect(failure).to.be.instanceOf(DatabaseError);
      await stock.createMany([
        { warehouse: 's', sku: 'b1', qty: 1 },
        { warehouse: 's', sku: 'b2', qty: 2 },
      ]);
      const skus = await db.selectFrom('tkStock').select('sku').orderBy('sku').execute();
      expect(skus.map((r) => r.sku)).to.deep.equal(['b1', 'b2', 'kept']);
    });
  });

  it('makes the outermost withTransaction of the code under test a savepoint whose afterCommit hooks run when it completes', async () => {
    const box = await open();
    const events: string[] = [];
    await box.run(async () => {
      await withTransaction(db, async () => {
        await stock.create({ warehouse: 'w', sku: 'kept', qty: 1 });
        afterCommit(() => {
          events.push('committed');
        });
        const failure = await rejection(
          withTransaction(db, async () => {
            await stock.create({ warehouse: 'w', sku: 'undone', qty: 1 });
            afterCommit(() => {
              events.push('never');
            });
            throw new Error('inner');
          }),
        );
        expect(failure.message).to.equal('inner');
        events.push('body done');
      });
      events.push('after outermost');
      const failure = await rejection(
        withTransaction(db, async () => {
          await stock.create({ warehouse: 'w', sku: 'rolled back', qty: 1 });
          afterRollback(() => {
            events.push('rolled back');
          });
          throw new Error('outer');
        }),
      );
      expect(failure.message).to.equal('outer');
      const skus = await db.selectFrom('tkStock').select('sku').orderBy('sku').execute();
      expect(skus.map((r) => r.sku)).to.deep.equal(['kept']);
    });
    expect(events).to.deep.equal(['body done', 'committed', 'after outermost', 'rolled back']);
    expect(await committedStock()).to.equal(0);
  });

  it("runs Kysely's own transactions and savepoints inside the sandbox, as savepoints of it", async () => {
    const box = await open();
    await box.run(async () => {
      const trx = await db.startTransaction().execute();
      await trx.insertInto('tkStock').values({ warehouse: 'k', sku: 'kept', qty: 1 }).execute();
      const inner = await trx.savepoint('inner').execute();
      await inner.insertInto('tkStock').values({ warehouse: 'k', sku: 'undone', qty: 1 }).execute();
      await inner.rollbackToSavepoint('inner').execute();
      await trx.commit().execute();
      await db.transaction().execute(async (t) => {
        await t.insertInto('tkStock').values({ warehouse: 'k', sku: 'callback', qty: 1 }).execute();
      });
      const skus = await db.selectFrom('tkStock').select('sku').orderBy('sku').execute();
      expect(skus.map((r) => r.sku)).to.deep.equal(['callback', 'kept']);
    });
    await box.close();
    expect(await committedStock()).to.equal(0);
  });

  it('refuses afterCommit outside an application transaction, as without a sandbox', async () => {
    const box = await open();
    const error = await box.run(() => rejection(Promise.resolve().then(() => afterCommit(() => undefined))));
    expect(error).to.be.instanceOf(DatabaseError);
    expect(error.message).to.match(/outside withTransaction/);
  });

  it('gives an application transaction its access mode and timeout, and sets them back after it', async () => {
    const box = await open();
    await box.run(async () => {
      const refused = await rejection(
        withTransaction(db, (trx) => trx.insertInto('tkStock').values({ warehouse: 'r', sku: 'o', qty: 1 }).execute(), {
          accessMode: 'read only',
        }),
      );
      expect(refused).to.be.instanceOf(ReadOnlyTransactionError);
      await withTransaction(db, async (trx) => trx.selectFrom('tkStock').selectAll().execute(), {
        accessMode: 'read only',
      });
      await stock.create({ warehouse: 'r', sku: 'after read only', qty: 1 });
      const inside = await withTransaction(
        db,
        async (trx) =>
          (await sql<{ t: string }>`select current_setting('statement_timeout') as t`.execute(trx)).rows[0]!.t,
        { timeoutMs: 1234, isolationLevel: 'serializable' },
      );
      expect(inside).to.equal('1234ms');
      const after = await sql<{ t: string }>`select current_setting('statement_timeout') as t`.execute(db);
      expect(after.rows[0]!.t).not.to.equal('1234ms');
      expect(await stock.count()).to.equal(1);
    });
  });

  it("refuses propagation 'requiresNew', LISTEN and session advisory locks with an error naming withoutSandbox()", async () => {
    const box = await open();
    await box.run(async () => {
      const errors = [
        await rejection(
          withTransaction(db, () => withTransaction(db, () => Promise.resolve(1), { propagation: 'requiresNew' })),
        ),
        await rejection(withTransaction(db, () => Promise.resolve(1), { propagation: 'requiresNew' })),
        await rejection(sql`listen tk_channel`.execute(db)),
        await rejection(database.query('select pg_advisory_lock(42)')),
        await rejection(withTransaction(db, (trx) => sql`select pg_try_advisory_lock(1, 2)`.execute(trx))),
      ];
      for (const error of errors) {
        expect(error).to.be.instanceOf(DatabaseError);
        expect(error.message).to.include('withoutSandbox()');
      }
      // the transaction-scoped lock is released by the rollback: allowed
      await sql`select pg_advisory_xact_lock(42)`.execute(db);
    });
  });

  it('refuses statements the test makes after its sandbox ended, so nothing escapes the rollback', async () => {
    const box = await open({ label: 'late writer' });
    let late: Promise<unknown> | undefined;
    let lateError: unknown;
    await box.run(async () => {
      await stock.create({ warehouse: 'l', sku: 'in time', qty: 1 });
      late = new Promise((resolve) => setTimeout(resolve, 50)).then(async () => {
        for (const attempt of [
          () => stock.create({ warehouse: 'l', sku: 'late', qty: 1 }),
          () => db.insertInto('tkStock').values({ warehouse: 'l', sku: 'late plain', qty: 1 }).execute(),
          () =>
            withTransaction(db, (trx) =>
              trx.insertInto('tkStock').values({ warehouse: 'l', sku: 'late tx', qty: 1 }).execute(),
            ),
          () => database.query("insert into tk_stock values ('l', 'late raw', 1)"),
        ]) {
          lateError = await rejection(attempt());
          expect(lateError).to.be.instanceOf(DatabaseError);
          expect((lateError as Error).message).to.include('late writer');
        }
      });
    });
    await box.close();
    await late;
    expect(lateError).to.be.instanceOf(DatabaseError);
    expect(await committedStock()).to.equal(0);
  });

  it('keeps two open sandboxes apart: each sees only its own rows, and both insert the same key', async () => {
    const first = await openSandbox(database);
    const second = await openSandbox(database);
    try {
      await first.run(() => stock.create({ warehouse: 'same', sku: 'key', qty: 1 }));
      expect(await second.run(() => stock.count())).to.equal(0);
      // the second insert waits for the first sandbox's row, which never commits
      const secondInsert = second.run(() => stock.create({ warehouse: 'same', sku: 'key', qty: 2 }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await first.close();
      const row = await secondInsert;
      expect(row.qty).to.equal(2);
      expect(await second.run(() => stock.count())).to.equal(1);
    } finally {
      await first.close();
      await second.close();
    }
    expect(await committedStock()).to.equal(0);
  });

  it('shared: serves statements from outside the test context (a server started before it) while open', async () => {
    const server = http.createServer((request, response) => {
      stock
        .create({ warehouse: 'http', sku: request.url!.slice(1), qty: 1 })
        .then(() => response.end('ok'))
        .catch((error: unknown) => {
          response.statusCode = 500;
          response.end(String(error));
        });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const box = await open({ shared: true });
      await box.run(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/from-server`);
        expect(await response.text()).to.equal('ok');
        expect(await stock.findById({ warehouse: 'http', sku: 'from-server' })).to.include({ qty: 1 });
      });
      await box.close();
      expect(await committedStock()).to.equal(0);
    } finally {
      server.close();
    }
  });

  it('refuses options of the wrong form naming them, and keeps a huge label out of its messages', async () => {
    for (const [bad, field] of [
      [{ label: Symbol('t') }, 'label'],
      [{ label: 42 }, 'label'],
      [{ shared: 'yes' }, 'shared'],
    ] as const) {
      const error = await rejection(openSandbox(database, bad as never));
      expect(error).to.be.instanceOf(ValidationError);
      expect(error).to.have.property('field', field);
    }
    const box = await openSandbox(database, { label: 't'.repeat(1_000_000) });
    await box.close();
    const late = await rejection(box.run(() => stock.count()));
    expect(late).to.be.instanceOf(DatabaseError);
    expect(late.message.length).to.be.below(1_000);
    // null options are no options
    await (await openSandbox(database, null as never)).close();
  });

  it('refuses what is not a Database with a ValidationError naming database.db', async () => {
    for (const bad of [undefined, null, {}, { db: 'postgres://u:p@h/d' }]) {
      const error = await rejection(openSandbox(bad as never));
      expect(error).to.be.instanceOf(ValidationError);
      expect(error).to.have.property('field', 'database.db');
      expect(() => recordQueries(bad as never)).to.throw(ValidationError);
    }
  });

  it('recordQueries counts the statements a block ran, by kind, with secret parameters masked', async () => {
    const box = await open();
    await box.run(async () => {
      await stock.create({ warehouse: 'q', sku: 'a', qty: 1 });
      const recording = await recordQueries(database, async () => {
        await stock.findById({ warehouse: 'q', sku: 'a' });
        await stock.update({ warehouse: 'q', sku: 'a' }, { qty: 5 });
        await withTransaction(db, async () => {
          await stock.create({ warehouse: 'q', sku: 'b', qty: 1 });
        });
        await database.query('select $1::text as secret', ['postgres://u:hunter22@h/db']);
      });
      expect(recording.count('read')).to.equal(2);
      expect(recording.count('write')).to.equal(2);
      expect(recording.count('transaction')).to.equal(2); // SAVEPOINT, RELEASE
      expect(recording.count()).to.equal(4);
      expect(JSON.stringify(recording.queries)).not.to.include('hunter22');
    });
  });
});
