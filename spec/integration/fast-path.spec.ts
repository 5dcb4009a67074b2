/**
 * Regression specs for the driver's fast path: each behaves as the stock path (Kysely's
 * PostgresDialect over pg) does, on a real PostgreSQL.
 */
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import pg from 'pg';
import sinon from 'sinon';
import { CamelCasePlugin, Kysely, sql, type Generated, type LogEvent } from 'kysely';
import type { DatabaseError } from '../../lib/index.js';
import {
  createDatabase,
  createDialect,
  loadConfig,
  Repository,
  silentLogger,
  UniqueViolationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { createScratchDatabase, testDatabaseUrl } from '../support/test-server.js';
import { testConfig } from '../support/test-config.js';
import { queryServer, rejection, spyLogger } from '../support/spec-helpers.js';

interface Schema {
  fastItems: { id: Generated<string>; name: string; extra: number | null };
  fastTimes: { id: Generated<string>; at: Date; day: Date; label: string };
  fastNullable: { id: Generated<string>; seenAt: Date | null; rank: number | null };
}

const url = (): string => testDatabaseUrl();

describe('the fast path behaves as the stock path (real PostgreSQL)', function () {
  this.timeout(30_000);
  const opened: Database<Schema>[] = [];

  function open(env: Record<string, string> = {}, databaseUrl?: string): Database<Schema> {
    const config = databaseUrl
      ? loadConfig({ DATABASE_URL: databaseUrl, ...env }, { envFile: '/dev/null' })
      : testConfig(env);
    const database = createDatabase<Schema>({ config, logger: silentLogger });
    opened.push(database);
    return database;
  }

  /** The backend pid of the only pooled connection of `db` (pool size 1). */
  async function backendPid(db: Kysely<Schema>): Promise<number> {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
    return rows[0]!.pid;
  }

  before(async () => {
    await queryServer(
      url(),
      `create table fast_items (id bigint generated always as identity primary key, name text not null unique, extra integer);
       create table fast_times (id bigint generated always as identity primary key, at timestamp not null, day date not null, label text not null);
       create table fast_nullable (id bigint generated always as identity primary key, seen_at timestamptz, rank integer)`,
    );
  });

  beforeEach(async () => {
    await queryServer(url(), 'truncate fast_items, fast_times, fast_nullable restart identity');
  });

  afterEach(async () => {
    sinon.restore();
    for (const database of opened.splice(0)) await database.close();
  });

  describe('1. a named statement that fails as the first statement of a transaction', () => {
    it('leaves the connection usable: the same shape runs again on it', async () => {
      const database = open({ DB_POOL_SIZE: '1' });
      const items = new Repository(database.db, 'fastItems');
      await items.count();
      await queryServer(url(), "insert into fast_items (name) values ('taken')");
      const pid = await backendPid(database.db);
      const error = await rejection(withTransaction(database.db, () => items.create({ name: 'taken' })));
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect((await items.create({ name: 'fresh' })).name).to.equal('fresh');
      expect(
        (await withTransaction(database.db, () => items.create({ name: 'fresh in a transaction' }))).name,
      ).to.equal('fresh in a transaction');
      expect(await backendPid(database.db), 'the same connection').to.equal(pid);
    });

    it('lets a serialization failure on the first statement be retried on the same connection', async () => {
      const database = open({ DB_POOL_SIZE: '1' });
      const items = new Repository(database.db, 'fastItems');
      await queryServer(url(), "insert into fast_items (name) values ('contended')");
      const holder = new pg.Client({ connectionString: url() });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query("update fast_items set extra = 1 where name = 'contended'");
        let attempts = 0;
        const done = withTransaction(
          database.db,
          async () => {
            attempts++;
            return items.updateMany({ name: 'contended' }, { extra: 2 });
          },
          { isolationLevel: 'repeatable read', retries: 2 },
        );
        // the first attempt waits for the holder's row lock, then fails with 40001 when it commits
        await waitFor(async () => (await lockWaiters()) > 0);
        await holder.query('commit');
        expect(await done).to.equal(1);
        expect(attempts).to.equal(2);
      } finally {
        await holder.end();
      }
      expect((await items.findOne({ name: 'contended' }))?.extra).to.equal(2);
    });
  });

  describe('2. SQL text that works on the stock path', () => {
    it('runs a multi-statement text as the first statement of a transaction', async () => {
      const database = open();
      await withTransaction(database.db, async (trx) => {
        await sql`insert into fast_items (name) values ('m1'); insert into fast_items (name) values ('m2')`.execute(
          trx,
        );
      });
      const rows = await queryServer<{ name: string }>(url(), 'select name from fast_items order by name');
      expect(rows.map((r) => r.name)).to.deep.equal(['m1', 'm2']);
    });
  });

  describe('3. the same Date is stored the same way by every write path', () => {
    const zone = process.env['TZ'];
    before(() => {
      process.env['TZ'] = 'Asia/Kathmandu';
    });
    after(() => {
      if (zone === undefined) delete process.env['TZ'];
      else process.env['TZ'] = zone;
    });

    it('create, createMany (JSON) and createMany (COPY) store local wall-clock time in timestamp and date columns', async () => {
      const database = open();
      const times = new Repository(database.db, 'fastTimes');
      const at = new Date(2024, 0, 1, 0, 30); // local: 2024-01-01 00:30 in Kathmandu, 2023-12-31 18:45 UTC
      await times.create({ at, day: at, label: 'create' });
      await times.createMany([
        { at, day: at, label: 'json' },
        { at, day: at, label: 'json' },
      ]);
      await times.createMany(
        Array.from({ length: 1000 }, () => ({ at, day: at, label: 'copy' })),
        { returning: false },
      );
      const rows = await queryServer<{ label: string; at: string; day: string }>(
        url(),
        "select distinct label, to_char(at, 'YYYY-MM-DD HH24:MI:SS') as at, to_char(day, 'YYYY-MM-DD') as day from fast_times order by label",
      );
      expect(rows).to.deep.equal(
        ['copy', 'create', 'json'].map((label) => ({ label, at: '2024-01-01 00:30:00', day: '2024-01-01' })),
      );
    });
  });

  describe('4. keyset pages over a nullable sort column', () => {
    for (const [column, direction] of [
      ['seenAt', 'asc'],
      ['seenAt', 'desc'],
      ['rank', 'asc'],
      ['rank', 'desc'],
    ] as const) {
      it(`return every row exactly once (${column} ${direction}, NULLs where PostgreSQL sorts them)`, async () => {
        await queryServer(
          url(),
          `insert into fast_nullable (seen_at, rank)
           select case when i % 3 = 0 then null else timestamptz '2024-01-01 00:00:00.000001+00' + (i % 4) * interval '1 microsecond' end,
                  case when i % 3 = 1 then null else i % 4 end
             from generate_series(1, 23) i`,
        );
        const database = open();
        const rows = new Repository(database.db, 'fastNullable');
        const expected = await queryServer<{ id: string }>(
          url(),
          `select id from fast_nullable order by ${column === 'seenAt' ? 'seen_at' : 'rank'} ${direction}, id ${direction}`,
        );
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 30; page++) {
          const result: Awaited<ReturnType<typeof rows.paginate>> = await rows.paginate({
            orderBy: [[column, direction]],
            limit: 4,
            cursor,
          });
          seen.push(...result.items.map((r) => r.id));
          cursor = result.nextCursor;
          if (!cursor) break;
        }
        expect(seen).to.deep.equal(expected.map((r) => r.id));
      });
    }
  });

  describe('5. cursors under another DateStyle', () => {
    it("page the same rows with DateStyle 'SQL, DMY' and German as with ISO", async () => {
      await queryServer(
        url(),
        `insert into fast_times (at, day, label)
         select timestamp '2024-02-03 04:05:06.123456' + (i % 5) * interval '1 microsecond', date '2024-02-03' + i % 3, 'x'
           from generate_series(1, 17) i`,
      );
      const pages: string[][] = [];
      for (const style of ['ISO', 'SQL, DMY', 'German']) {
        const scratch = await createScratchDatabase('kr_datestyle');
        try {
          await queryServer(
            scratch.url,
            `create table fast_times (id bigint generated always as identity primary key, at timestamp not null, day date not null, label text not null)`,
          );
          await queryServer(
            scratch.url,
            `insert into fast_times (at, day, label)
             select timestamp '2024-02-03 04:05:06.123456' + (i % 5) * interval '1 microsecond', date '2024-02-03' + i % 3, 'x'
               from generate_series(1, 17) i`,
          );
          const dbName = new URL(scratch.url).pathname.slice(1);
          await queryServer(scratch.url, `alter database "${dbName}" set datestyle = '${style}'`);
          const database = open({}, scratch.url);
          const times = new Repository(database.db, 'fastTimes');
          for (const order of [
            [['at', 'desc']],
            [
              ['day', 'asc'],
              ['at', 'desc'],
            ],
          ] as const) {
            const ids: string[] = [];
            let cursor: string | null = null;
            do {
              const page: Awaited<ReturnType<typeof times.paginate>> = await times.paginate({
                orderBy: order,
                limit: 3,
                cursor,
              });
              ids.push(...page.items.map((r) => r.id));
              cursor = page.nextCursor;
            } while (cursor);
            pages.push(ids);
          }
          await database.close();
        } finally {
          await scratch.drop();
        }
      }
      expect(pages[0]).to.have.length(17);
      expect(pages[2], 'SQL, DMY').to.deep.equal(pages[0]);
      expect(pages[4], 'German').to.deep.equal(pages[0]);
      expect(pages[3], 'SQL, DMY').to.deep.equal(pages[1]);
      expect(pages[5], 'German').to.deep.equal(pages[1]);
    });
  });

  describe('6. a schema change under cached statements', () => {
    it('is followed at once: a column type change, then a new column', async () => {
      const database = open({ DB_POOL_SIZE: '3' });
      const items = new Repository(database.db, 'fastItems');
      await items.createMany([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      // every pooled connection has the lookup prepared
      await Promise.all([items.findById('1'), items.findById('2'), items.findById('3')]);
      await queryServer(url(), 'alter table fast_items alter column extra type bigint');
      for (let i = 0; i < 6; i++) {
        const found = await Promise.all([items.findById('1'), items.findById('2'), items.findById('3')]);
        expect(found.map((r) => r?.name)).to.deep.equal(['a', 'b', 'c']);
      }
      await queryServer(url(), 'alter table fast_items add column note text');
      const noted = await (
        items as unknown as Repository<Schema & { fastItems: { note: string } }, 'fastItems'>
      ).create({ name: 'd', note: 'added later' });
      expect((noted as unknown as { note: string }).note).to.equal('added later');
      expect(await items.findById(noted.id)).to.have.property('note', 'added later');
    });

    it('in a transaction, fails at most once per connection and statement, then works', async () => {
      const database = open({ DB_POOL_SIZE: '1' });
      const items = new Repository(database.db, 'fastItems');
      await items.create({ name: 'a' });
      await withTransaction(database.db, async () => items.findById('1'));
      await queryServer(url(), 'alter table fast_items alter column extra type bigint');
      const outcomes: string[] = [];
      for (let i = 0; i < 3; i++) {
        try {
          await withTransaction(database.db, async () => {
            await items.count();
            return items.findById('1');
          });
          outcomes.push('ok');
        } catch (error) {
          outcomes.push((error as DatabaseError).code ?? 'error');
        }
      }
      expect(outcomes.slice(1)).to.deep.equal(['ok', 'ok']);
    });
  });

  describe('7. an error that leaves the connection healthy', () => {
    it('keeps the connection (feature_not_supported is not a broken connection)', async () => {
      const database = open({ DB_POOL_SIZE: '1' });
      const pid = await backendPid(database.db);
      for (let i = 0; i < 5; i++) {
        const error = await rejection(
          database.db.selectFrom('fastItems').select('name').distinct().forUpdate().execute(),
        );
        expect((error as DatabaseError).code).to.equal('0A000');
      }
      expect(await backendPid(database.db)).to.equal(pid);
    });
  });

  describe('8. query arguments cannot be forged from data', () => {
    it('compares a value that looks like an internal placeholder as data', async () => {
      const database = open();
      const items = new Repository(database.db, 'fastItems');
      await items.createMany([{ name: 'x' }, { name: 'y' }]);
      const forged = ['\u0000kysely-repository:arg:0', 'kysely-repository:arg:0'];
      for (const value of forged) {
        const outcome = await items
          .updateMany((eb) => eb('name', '=', value), { name: 'x' })
          .then((n) => `updated ${n}`)
          .catch((error: DatabaseError) => `failed ${error.code}`);
        expect(outcome).to.be.oneOf(['updated 0', 'failed 22021']);
      }
      const names = await queryServer<{ name: string }>(url(), 'select name from fast_items order by id');
      expect(names.map((r) => r.name)).to.deep.equal(['x', 'y']);
    });
  });

  describe('9. named prepared statements per connection', () => {
    it('stay within DB_PREPARED_STATEMENTS_MAX, and every shape still runs', async () => {
      const database = open({ DB_POOL_SIZE: '1', DB_PREPARED_STATEMENTS_MAX: '5' });
      const items = new Repository(database.db, 'fastItems');
      await items.create({ name: 'only' });
      const counts: number[] = [];
      for (let round = 0; round < 2; round++) {
        for (let limit = 1; limit <= 12; limit++) {
          // a distinct orderBy list per call: a distinct statement text
          const found = await items.findMany({
            where: { name: 'only' },
            orderBy: limit % 2 ? [['extra', 'asc']] : [['name', 'desc']],
            offset: limit,
          });
          expect(found).to.deep.equal([]);
          const shapes = await items.findMany({ where: limit % 3 ? { name: 'only' } : { extra: null }, limit });
          expect(shapes.length).to.be.at.most(1);
          const { rows } = await sql<{ n: string }>`select count(*) as n from pg_prepared_statements`.execute(
            database.db,
          );
          counts.push(Number(rows[0]!.n));
        }
      }
      expect(Math.max(...counts)).to.be.at.most(5);
    });
  });

  describe('9b. where callbacks', () => {
    /** The named statements the only pooled connection holds whose text starts as `prefix`. */
    async function named(db: Kysely<Schema>, prefix: string): Promise<number> {
      const { rows } = await sql<{ n: string }>`select count(*) as n from pg_prepared_statements
        where starts_with(statement, ${prefix})`.execute(db);
      return Number(rows[0]!.n);
    }

    it('run as a named statement once their text recurs, with the answers of the stock path', async () => {
      const database = open({ DB_POOL_SIZE: '1' });
      const items = new Repository(database.db, 'fastItems');
      await items.createMany([
        { name: 'a', extra: 1 },
        { name: 'b', extra: 2 },
        { name: 'c', extra: null },
      ]);
      const stock = new Kysely<Schema>({
        dialect: createDialect({ config: testConfig() }),
        plugins: [new CamelCasePlugin()],
      });
      try {
        for (let call = 0; call < 4; call++) {
          const found = await items.findMany({
            where: (eb) => eb.or([eb('extra', '>', call), eb('extra', 'is', null)]),
          });
          const expected = await stock
            .selectFrom('fastItems')
            .selectAll()
            .where((eb) => eb.or([eb('extra', '>', call), eb('extra', 'is', null)]))
            .orderBy('id')
            .execute();
          expect(found).to.deep.equal(expected);
          // the first call runs unnamed, every later one under the name its second call prepared
          expect(await named(database.db, 'select * from "fast_items" where')).to.equal(call === 0 ? 0 : 1);
        }
      } finally {
        await stock.destroy();
      }
    });

    it('without parameters are never named: they keep the simple protocol, as on the stock path', async () => {
      const database = open({ DB_POOL_SIZE: '1' });
      const items = new Repository(database.db, 'fastItems');
      await items.create({ name: 'only' });
      for (let call = 0; call < 3; call++) {
        expect(await items.count(() => sql<boolean>`true`)).to.equal(1);
      }
      expect(await named(database.db, 'select count(*)')).to.equal(0);
    });

    it('with DB_PREPARED_STATEMENTS=false never run as named statements', async () => {
      const database = open({ DB_POOL_SIZE: '1', DB_PREPARED_STATEMENTS: 'false' });
      const items = new Repository(database.db, 'fastItems');
      for (let call = 0; call < 3; call++) await items.findMany({ where: (eb) => eb('extra', '>', call) });
      expect(await named(database.db, 'select')).to.equal(0);
    });
  });

  describe('9c. rows handed to the application', () => {
    it('keep fast properties after the repository drops the cursor text and the total it selected', async () => {
      setFlagsFromString('--allow-natives-syntax');
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- V8's natives reach only code compiled after the flag
      const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
      const database = open();
      const items = new Repository(database.db, 'fastNullable');
      await items.createMany([
        { seenAt: new Date(), rank: 1 },
        { seenAt: new Date(), rank: 2 },
        { seenAt: null, rank: 3 },
      ]);
      const page = await items.paginate({ orderBy: [['seenAt', 'desc']], limit: 2 });
      const counted = await items.findAndCount({ limit: 2 });
      for (const row of [...page.items, ...counted.items]) {
        expect(Object.keys(row)).to.deep.equal(['id', 'seenAt', 'rank']);
        expect(hasFastProperties(row)).to.equal(true);
      }
    });
  });

  describe('10. database.db as a drop-in Kysely', () => {
    it('streams rows in chunks through a server-side cursor, in and out of transactions', async () => {
      const database = open();
      await queryServer(url(), "insert into fast_items (name) select 'row ' || i from generate_series(1, 25) i");
      const names: string[] = [];
      for await (const row of database.db.selectFrom('fastItems').select('name').orderBy('id').stream(10)) {
        names.push(row.name);
      }
      expect(names).to.have.length(25);
      expect(names[24]).to.equal('row 25');
      const inTransaction = await withTransaction(database.db, async (trx) => {
        let count = 0;
        for await (const _row of trx.selectFrom('fastItems').select('id').stream(7)) count++;
        return count;
      });
      expect(inTransaction).to.equal(25);
      const error = await rejection(
        (async () => {
          for await (const _row of database.db
            .selectFrom('fastItems')
            .select(sql`1 / 0`.as('x'))
            .stream(5)) {
            // never reached
          }
        })(),
      );
      expect((error as DatabaseError).code).to.equal('22012');
    });

    for (const strategy of ['cancel query', 'kill session'] as const) {
      it(`aborts a running statement with inflightQueryAbortStrategy '${strategy}'`, async () => {
        const database = open({ DB_POOL_SIZE: '1' });
        const controller = new AbortController();
        const running = sql`select pg_sleep(10)`.execute(database.db, {
          signal: controller.signal,
          inflightQueryAbortStrategy: strategy,
        });
        await waitFor(async () => {
          const rows = await queryServer<{ n: string }>(
            url(),
            "select count(*) as n from pg_stat_activity where query = 'select pg_sleep(10)' and state = 'active'",
          );
          return Number(rows[0]!.n) > 0;
        });
        controller.abort(new Error('stop'));
        expect((await rejection(running)).message).to.equal('stop');
        // gone well before its 10 s are up: the server stopped it (waitFor gives up after 5 s)
        await waitFor(async () => {
          const rows = await queryServer<{ n: string }>(
            url(),
            "select count(*) as n from pg_stat_activity where query = 'select pg_sleep(10)' and state = 'active'",
          );
          return Number(rows[0]!.n) === 0;
        });
        // the pool serves the next statement (a new session after 'kill session')
        expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows).to.deep.equal([{ one: 1 }]);
      });
    }
  });

  describe('10. the log hook sees what is sent', () => {
    it('reports BEGIN when it travels with the first statement', async () => {
      const logger = spyLogger(sinon);
      const database = createDatabase<Schema>({ config: testConfig({ DB_ECHO_SQL: 'true' }), logger });
      opened.push(database);
      const items = new Repository(database.db, 'fastItems');
      await items.count();
      logger.info.resetHistory();
      await withTransaction(database.db, () => items.create({ name: 'logged' }));
      const statements = logger.info.getCalls().map((call) => (call.args[1] as { sql?: string } | undefined)?.sql);
      expect(statements[0]).to.match(/^begin/i);
      expect(statements.at(-1)).to.match(/^commit/i);
    });
  });
});

/** Sessions of this server waiting for a lock. */
async function lockWaiters(): Promise<number> {
  const rows = await queryServer<{ n: string }>(
    testDatabaseUrl(),
    "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
  );
  return Number(rows[0]!.n);
}

/** Polls `check` until it holds (at most 5 s). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the condition never held');
}

describe('createDialect (real PostgreSQL)', function () {
  this.timeout(20_000);

  it("builds a stock Kysely on the package's driver; BEGIN reaches its log hook; destroy() closes the pool", async () => {
    const events: string[] = [];
    const log = (event: LogEvent): void => {
      events.push(event.query.sql);
    };
    const db = new Kysely<Schema>({
      dialect: createDialect({ config: testConfig(), logger: silentLogger, log }),
      plugins: [new CamelCasePlugin()],
      log,
    });
    const seen = await db.transaction().execute(async (trx) => {
      await trx.insertInto('fastItems').values({ name: 'through a dialect' }).execute();
      return trx.selectFrom('fastItems').select('name').where('name', '=', 'through a dialect').execute();
    });
    expect(seen).to.deep.equal([{ name: 'through a dialect' }]);
    expect(events.filter((text) => /^begin/i.test(text))).to.have.length.at.least(1);
    await db.destroy();
    const error = await rejection(db.selectFrom('fastItems').selectAll().execute());
    expect(error.message).to.match(/closed|destroyed/);
  });

  it('gives each Kysely built on one dialect a pool of its own, as PostgresDialect does', async () => {
    const dialect = createDialect({ config: testConfig(), logger: silentLogger });
    const first = new Kysely<Schema>({ dialect, plugins: [new CamelCasePlugin()] });
    const second = new Kysely<Schema>({ dialect, plugins: [new CamelCasePlugin()] });
    await first.selectFrom('fastItems').selectAll().execute();
    await first.destroy();
    expect(await second.selectFrom('fastItems').select('id').execute()).to.be.an('array');
    await second.destroy();
  });

  it("keeps the caller's frames in the stack of a failed statement, inside a transaction too", async () => {
    const db = new Kysely<Schema>({ dialect: createDialect({ config: testConfig(), logger: silentLogger }) });
    try {
      const error = await rejection(
        db.transaction().execute(async function callerInTransaction(trx) {
          await sql`select from nowhere_at_all`.execute(trx);
        }),
      );
      expect(error.stack).to.match(/callerInTransaction/);
    } finally {
      await db.destroy();
    }
  });
});
