import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import {
  ConnectionError,
  createDatabase,
  DatabaseError,
  ForeignKeyViolationError,
  getTableInfo,
  loadConfig,
  migrateToLatest,
  migrationStatus,
  NotFoundError,
  NotNullViolationError,
  PoolTimeoutError,
  ReadOnlyTransactionError,
  Repository,
  silentLogger,
  UniqueViolationError,
  vacuumAnalyze,
  withTransaction,
  type Database,
  type DB,
} from '../../lib/index.js';
import { rejection } from '../support/spec-helpers.js';

/** PGlite starts in one to several seconds (more on a busy machine). */
const START_TIMEOUT_MS = 120_000;

function embeddedConfig(url: string, env: Record<string, string> = {}) {
  return loadConfig({ DATABASE_URL: url, ...env }, { envFile: '/dev/null' });
}

interface Extra {
  pl_items: { id: number; code: string; ownerId: string | null };
}

describe('embedded engine (PGlite)', () => {
  describe('in memory (pglite://)', () => {
    let database: Database<DB & Extra>;
    let db: Kysely<DB & Extra>;

    before(async function () {
      this.timeout(START_TIMEOUT_MS);
      database = createDatabase<DB & Extra>({
        config: embeddedConfig('pglite://', { DB_POOL_TIMEOUT: '1500' }),
        logger: silentLogger,
      });
      expect(database.status().pool).to.deep.equal({ total: 0, idle: 0, waiting: 0, max: 1 });
      db = database.db;
      await migrateToLatest(db);
      await sql`
        create table pl_items (
          id integer primary key,
          code text not null constraint pl_items_code_key unique,
          owner_id bigint references users (id)
        )
      `.execute(db);
    });

    after(async function () {
      this.timeout(START_TIMEOUT_MS);
      await database?.close();
    });

    it('migrates: every migration applied, users table present', async () => {
      const states = await migrationStatus(db);
      expect(states.length).to.be.above(0);
      expect(states.every((state) => !state.pending)).to.equal(true);
      expect((await migrateToLatest(db)).steps).to.deep.equal([]);
    });

    it('status and health name the engine and its single connection', async () => {
      const report = await database.health();
      expect(report).to.include({ ok: true, engine: 'pglite' });
      expect(report.latencyMs).to.be.a('number');
      expect(report.pool).to.deep.equal({ total: 1, idle: 1, waiting: 0, max: 1 });
      expect(report.tunnel).to.equal(undefined);
      const status = database.status();
      expect(status.engine).to.equal('pglite');
      expect(status.pool).to.deep.equal({ total: 1, idle: 1, waiting: 0, max: 1 });
      expect(status.queries.succeeded).to.be.above(0);
      expect(await database.ping()).to.equal(true);
    });

    it('maps errors like the pg path, without the parameter values in the cause', async () => {
      await db.insertInto('pl_items').values({ id: 1, code: 'a', ownerId: null }).execute();
      const failedBefore = database.status().queries.failed;
      const unique = await rejection(db.insertInto('pl_items').values({ id: 2, code: 'a', ownerId: null }).execute());
      expect(unique).to.be.instanceOf(UniqueViolationError);
      expect(unique).to.include({ code: '23505', constraint: 'pl_items_code_key', table: 'pl_items', column: 'code' });
      expect((unique as UniqueViolationError).columns).to.deep.equal(['code']);
      expect(unique.cause).to.be.instanceOf(Error);
      expect(unique.cause).not.to.have.property('params');
      const notNull = await rejection(sql`insert into pl_items (id) values (3)`.execute(db));
      expect(notNull).to.be.instanceOf(NotNullViolationError);
      expect(notNull).to.include({ code: '23502', table: 'pl_items', column: 'code' });
      const foreign = await rejection(db.insertInto('pl_items').values({ id: 4, code: 'f', ownerId: '999' }).execute());
      expect(foreign).to.be.instanceOf(ForeignKeyViolationError);
      expect(foreign).to.include({ code: '23503', constraint: 'pl_items_owner_id_fkey' });
      expect(database.status().queries.failed).to.equal(failedBefore + 3);
    });

    it('withTransaction commits, rolls back, and nests by savepoint; counters follow', async () => {
      const before = database.status().transactions;
      await withTransaction(db, async (trx) => {
        await trx.insertInto('pl_items').values({ id: 10, code: 't10', ownerId: null }).execute();
        const inner = await rejection(
          withTransaction(db, async (nested) => {
            await nested.insertInto('pl_items').values({ id: 11, code: 't11', ownerId: null }).execute();
            throw new Error('undo the savepoint');
          }),
        );
        expect(inner.message).to.equal('undo the savepoint');
      });
      const rolledBack = await rejection(
        withTransaction(db, async (trx) => {
          await trx.insertInto('pl_items').values({ id: 12, code: 't12', ownerId: null }).execute();
          throw new Error('undo all');
        }),
      );
      expect(rolledBack.message).to.equal('undo all');
      const ids = await db.selectFrom('pl_items').select('id').where('id', '>=', 10).orderBy('id').execute();
      expect(ids.map((row) => row.id)).to.deep.equal([10]);
      const after = database.status().transactions;
      expect(after.committed - before.committed).to.equal(1);
      expect(after.rolledBack - before.rolledBack).to.equal(1);
    });

    it('applies the isolation level and access mode asked for', async () => {
      const level = await withTransaction(
        db,
        async (trx) =>
          (await sql<{ level: string }>`select current_setting('transaction_isolation') as level`.execute(trx)).rows[0]
            ?.level,
        { isolationLevel: 'serializable' },
      );
      expect(level).to.equal('serializable');
      const readOnly = await rejection(
        withTransaction(
          db,
          (trx) => trx.insertInto('pl_items').values({ id: 20, code: 'ro', ownerId: null }).execute(),
          {
            accessMode: 'read only',
          },
        ),
      );
      expect(readOnly).to.be.instanceOf(ReadOnlyTransactionError);
    });

    it('a COMMIT after a failed statement is DatabaseError 25P02, and nothing is written', async () => {
      const trx = await db.startTransaction().execute();
      await trx.insertInto('pl_items').values({ id: 30, code: 'c30', ownerId: null }).execute();
      await rejection(sql`select 1/0`.execute(trx));
      const error = await rejection(trx.commit().execute());
      expect(error).to.be.instanceOf(DatabaseError);
      expect((error as DatabaseError).code).to.equal('25P02');
      if (!trx.isRolledBack) await trx.rollback().execute();
      expect(await db.selectFrom('pl_items').select('id').where('id', '=', 30).execute()).to.deep.equal([]);
    });

    it('queues callers for the single connection, counts them, and times out with PoolTimeoutError', async () => {
      const trx = await db.startTransaction().execute();
      try {
        await sql`select 1`.execute(trx);
        const queued = [sql`select 2`.execute(db), sql`select 3`.execute(db)];
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(database.status().pool).to.deep.equal({ total: 1, idle: 0, waiting: 2, max: 1 });
        const timedOut = await Promise.allSettled(queued);
        for (const outcome of timedOut) {
          expect(outcome.status).to.equal('rejected');
          expect((outcome as PromiseRejectedResult).reason).to.be.instanceOf(PoolTimeoutError);
        }
      } finally {
        await trx.commit().execute();
      }
      expect(database.status().pool).to.deep.equal({ total: 1, idle: 1, waiting: 0, max: 1 });
      const parallel = await Promise.all(
        [1, 2, 3, 4].map((n) => sql<{ n: number }>`select ${n}::int as n`.execute(db)),
      );
      expect(parallel.map((result) => result.rows[0]?.n)).to.deep.equal([1, 2, 3, 4]);
    });

    it('a requiresNew transaction cannot get a second connection: a DatabaseError, not a hang', async () => {
      const error = await rejection(
        withTransaction(db, () => withTransaction(db, () => Promise.resolve(1), { propagation: 'requiresNew' })),
      );
      expect(error).to.be.instanceOf(DatabaseError);
    });

    it('Repository: create, findById, paginate, createMany (ids are strings, as pg returns int8)', async () => {
      const users = new Repository(db, 'users');
      const alice = await users.create({ username: 'alice', email: 'alice@example.com', passwordHash: 'x' });
      expect(alice.id).to.be.a('string');
      expect(await users.findById(alice.id)).to.deep.equal(alice);
      const many = await users.createMany([
        { username: 'bob', email: 'bob@example.com', passwordHash: 'x' },
        { username: 'carol', email: 'carol@example.com', passwordHash: 'x' },
      ]);
      expect(many.map((user) => user.username)).to.deep.equal(['bob', 'carol']);
      const first = await users.paginate({ limit: 2 });
      expect(first.items).to.have.length(2);
      expect(first.hasMore).to.equal(true);
      const second = await users.paginate({ limit: 2, cursor: first.nextCursor ?? undefined });
      expect(second.items.map((user) => user.username)).to.deep.equal(['carol']);
      expect(second.hasMore).to.equal(false);
      const clash = await rejection(users.create({ username: 'alice', email: 'other@example.com', passwordHash: 'x' }));
      expect(clash).to.be.instanceOf(UniqueViolationError);
    });

    it('getTableInfo and vacuumAnalyze work; autovacuum times are null', async () => {
      await sql`insert into pl_items (id, code) select g, 'g' || g from generate_series(100, 149) g`.execute(db);
      await sql`delete from pl_items where id >= 130`.execute(db);
      const info = await getTableInfo(db, 'pl_items');
      expect(info).to.include({ schema: 'public', name: 'pl_items', rowCount: 32 });
      expect(info.columns.map((column) => column.name)).to.deep.equal(['id', 'code', 'owner_id']);
      expect(info.primaryKey).to.deep.equal(['id']);
      expect(info.indexes.map((index) => index.name)).to.deep.equal(['pl_items_code_key', 'pl_items_pkey']);
      expect(info.foreignKeys[0]).to.include({ referencedTable: 'users', onDelete: 'no action' });
      expect(info.deadTuples).to.be.at.least(20);
      expect(info.sizeBytes).to.be.above(0);
      await vacuumAnalyze(db, 'pl_items');
      const after = await getTableInfo(db, 'pl_items');
      expect(after.deadTuples).to.equal(0);
      expect(after.lastVacuum).to.be.instanceOf(Date);
      expect(after.lastAnalyze).to.be.instanceOf(Date);
      expect(after.estimatedRows).to.equal(32);
      expect(after).to.include({ lastAutovacuum: null, lastAutoanalyze: null });
      await vacuumAnalyze(db);
      expect(await rejection(getTableInfo(db, 'pl_items; drop table pl_items'))).to.be.instanceOf(NotFoundError);
      const inside = await rejection(withTransaction(db, () => vacuumAnalyze(db)));
      expect(inside.message).to.contain('cannot run inside a transaction');
    });

    // last in this describe: it closes the shared Database
    it('close waits a bounded time for a held transaction, rolls it back, and is idempotent', async function () {
      this.timeout(START_TIMEOUT_MS);
      const trx = await db.startTransaction().execute();
      await trx.insertInto('pl_items').values({ id: 500, code: 'held', ownerId: null }).execute();
      const waiting = rejection(sql`select 1`.execute(db));
      const started = Date.now();
      await Promise.all([database.close(), database.close()]);
      expect(Date.now() - started).to.be.below(5_000);
      expect(await waiting).to.be.instanceOf(ConnectionError);
      expect(await rejection(sql`select 1`.execute(trx))).to.be.instanceOf(ConnectionError);
      expect(await rejection(sql`select 1`.execute(db))).to.be.instanceOf(ConnectionError);
      expect(database.status().pool).to.deep.equal({ total: 0, idle: 0, waiting: 0, max: 1 });
    });
  });

  describe('persisted (pglite:///dir)', () => {
    let dir: string;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kr-pglite-'));
    });

    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writes, closes, reopens and reads back; a closed Database is a ConnectionError', async function () {
      this.timeout(2 * START_TIMEOUT_MS);
      const dataDir = join(dir, 'data', 'nested');
      const url = `pglite://${dataDir}`;
      const first = createDatabase<DB>({ config: embeddedConfig(url), logger: silentLogger });
      try {
        await migrateToLatest(first.db);
        await new Repository(first.db, 'users').create({
          username: 'kept',
          email: 'kept@example.com',
          passwordHash: 'x',
        });
      } finally {
        await first.close();
      }
      await first.close();
      expect(first.status().pool.total).to.equal(0);
      const closed = await rejection(sql`select 1`.execute(first.db));
      expect(closed).to.be.instanceOf(ConnectionError);
      expect(closed.message).to.contain('closed');
      expect(await first.ping()).to.equal(false);

      const second = createDatabase<DB>({ config: embeddedConfig(url), logger: silentLogger });
      try {
        expect((await migrateToLatest(second.db)).steps).to.deep.equal([]);
        const rows = await second.db.selectFrom('users').select(['username', 'email']).execute();
        expect(rows).to.deep.equal([{ username: 'kept', email: 'kept@example.com' }]);
      } finally {
        await second.close();
      }
    });

    it('closing a Database that never started does nothing and starts nothing', async () => {
      const unused = createDatabase({ config: embeddedConfig(`pglite://${join(dir, 'never')}`), logger: silentLogger });
      await unused.close();
      expect(unused.status().pool.total).to.equal(0);
      expect(await rejection(sql`select 1`.execute(unused.db))).to.be.instanceOf(ConnectionError);
    });
  });
});
