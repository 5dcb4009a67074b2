import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import sinon from 'sinon';
import {
  afterCommit,
  createDatabase,
  DeadlockError,
  SerializationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { spyLogger, type SpyLogger } from '../support/spec-helpers.js';

interface Schema {
  txCounters: { id: number; n: number };
}

/** Resolves for everyone once `parties` callers have arrived. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    arrived += 1;
    if (arrived === parties) open();
    await opened;
  };
}

async function counter(db: Kysely<Schema>, id: number): Promise<number | undefined> {
  const row = await db.selectFrom('txCounters').select('n').where('id', '=', id).executeTakeFirst();
  return row?.n;
}

describe('withTransaction retries (real PostgreSQL)', () => {
  const sandbox = sinon.createSandbox();
  let database: Database<Schema>;
  let db: Kysely<Schema>;
  let logger: SpyLogger;

  before(async () => {
    logger = spyLogger(sandbox);
    database = createDatabase<Schema>({ config: testConfig({ DB_POOL_SIZE: '4' }), logger });
    db = database.db;
    await sql`create table tx_counters (id int primary key, n int not null)`.execute(db);
  });

  beforeEach(async () => {
    await sql`truncate tx_counters`.execute(db);
    await db
      .insertInto('txCounters')
      .values([
        { id: 1, n: 0 },
        { id: 2, n: 0 },
      ])
      .execute();
  });

  afterEach(() => {
    sandbox.resetHistory();
  });

  after(async () => {
    await sql`drop table if exists tx_counters`.execute(db);
    await database.close();
    sandbox.restore();
  });

  /**
   * Two serializable read-then-write increments of one row; on their first attempts both read
   * before either writes, so the second writer must fail with 40001.
   */
  function racingIncrements(options: { retries?: number }): {
    runs: Promise<void>[];
    attempts: () => number;
    hooks: string[];
  } {
    const bothRead = barrier(2);
    let attempts = 0;
    const hooks: string[] = [];
    const increment = (name: string) =>
      withTransaction(
        db,
        async (trx) => {
          attempts += 1;
          const first = attempts <= 2;
          const { n } = await trx.selectFrom('txCounters').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
          if (first) await bothRead();
          await trx
            .updateTable('txCounters')
            .set({ n: n + 1 })
            .where('id', '=', 1)
            .execute();
          afterCommit(() => void hooks.push(name));
        },
        { isolationLevel: 'serializable', ...options },
      );
    return { runs: [increment('a'), increment('b')], attempts: () => attempts, hooks };
  }

  it('retries two concurrent serializable increments of one row until both succeed: the row ends +2', async () => {
    const before = database.status().transactions;
    const { runs, attempts, hooks } = racingIncrements({});
    await Promise.all(runs);
    expect(await counter(db, 1)).to.equal(2);
    expect(attempts()).to.be.greaterThan(2);
    const retried = database.status().transactions.retried - before.retried;
    expect(retried).to.equal(attempts() - 2);
    expect(logger.warn.calledWithMatch(/retry 1 of 3/, { attempt: 2, retry: 1, retries: 3, code: '40001' })).to.be.true;
    expect(hooks.sort(), 'afterCommit runs once per committed transaction, never for a retried attempt').to.deep.equal([
      'a',
      'b',
    ]);
  });

  it('fails one of them with SerializationError when retries is 0', async () => {
    const before = database.status().transactions;
    const { runs } = racingIncrements({ retries: 0 });
    const results = await Promise.allSettled(runs);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).to.have.length(1);
    expect(rejected[0]?.reason).to.be.instanceOf(SerializationError);
    expect((rejected[0]?.reason as SerializationError).code).to.equal('40001');
    expect(await counter(db, 1)).to.equal(1);
    expect(database.status().transactions.retried).to.equal(before.retried);
    expect(logger.warn.calledWithMatch(/retry/)).to.be.false;
  });

  it('retries a provoked deadlock (two rows locked in opposite order) and both transactions finish', async () => {
    const before = database.status().transactions;
    const bothLockedOne = barrier(2);
    let attempts = 0;
    const bump = async (trx: Kysely<Schema>, id: number) => {
      await trx
        .updateTable('txCounters')
        .set((eb) => ({ n: eb('n', '+', 1) }))
        .where('id', '=', id)
        .execute();
    };
    const lockInOrder = (first: number, second: number) =>
      withTransaction(
        db,
        async (trx) => {
          attempts += 1;
          const initial = attempts <= 2;
          await bump(trx, first);
          if (initial) await bothLockedOne();
          await bump(trx, second);
        },
        { retries: 2 },
      );
    await Promise.all([lockInOrder(1, 2), lockInOrder(2, 1)]);
    expect(await counter(db, 1)).to.equal(2);
    expect(await counter(db, 2)).to.equal(2);
    expect(attempts).to.equal(3);
    expect(database.status().transactions.retried).to.equal(before.retried + 1);
    expect(logger.warn.calledWithMatch(/retry 1 of 2/, { attempt: 2, code: '40P01' })).to.be.true;
  });

  it('surfaces the deadlock as DeadlockError when retries is 0 (the default outside serializable)', async () => {
    const bothLockedOne = barrier(2);
    const lockInOrder = (first: number, second: number) =>
      withTransaction(db, async (trx) => {
        await trx.updateTable('txCounters').set({ n: first }).where('id', '=', first).execute();
        await bothLockedOne();
        await trx.updateTable('txCounters').set({ n: first }).where('id', '=', second).execute();
      });
    const results = await Promise.allSettled([lockInOrder(1, 2), lockInOrder(2, 1)]);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).to.have.length(1);
    expect(rejected[0]?.reason).to.be.instanceOf(DeadlockError);
  });

  it('retries only the outermost transaction: a nested call runs again with it, never alone', async () => {
    const bothRead = barrier(2);
    let outerRuns = 0;
    let innerRuns = 0;
    const increment = () =>
      withTransaction(
        db,
        async () => {
          outerRuns += 1;
          const first = outerRuns <= 2;
          await withTransaction(
            db,
            async (inner) => {
              innerRuns += 1;
              const { n } = await inner
                .selectFrom('txCounters')
                .select('n')
                .where('id', '=', 1)
                .executeTakeFirstOrThrow();
              if (first) await bothRead();
              await inner
                .updateTable('txCounters')
                .set({ n: n + 1 })
                .where('id', '=', 1)
                .execute();
            },
            { retries: 5 },
          );
        },
        { isolationLevel: 'serializable' },
      );
    await Promise.all([increment(), increment()]);
    expect(await counter(db, 1)).to.equal(2);
    expect(innerRuns).to.equal(outerRuns);
  });
});
