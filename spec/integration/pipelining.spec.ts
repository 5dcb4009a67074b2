import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { Socket } from 'node:net';
import { expect } from 'chai';
import sinon from 'sinon';
import { CompiledQuery, sql, type Generated, type Kysely } from 'kysely';
import {
  ConnectionError,
  createDatabase,
  PoolTimeoutError,
  Repository,
  silentLogger,
  UniqueViolationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { databaseContext } from '../../lib/database-context.js';
import { preparedQuery } from '../../lib/prepared-query.js';
import { testConfig } from '../support/test-config.js';
import { queryServer, rejection } from '../support/spec-helpers.js';
import { testDatabaseUrl } from '../support/test-server.js';

interface Schema {
  pipeItems: { id: Generated<string>; name: string };
}

/** Runs raw SQL on the repositories' fast path (outside any transaction). */
function runShared(db: Kysely<Schema>, text: string): Promise<unknown> {
  const context = databaseContext(db as Kysely<unknown>);
  if (!context?.execute) throw new Error('no fast path on this Database');
  return context.execute(CompiledQuery.raw(text), 'read');
}

describe('pipelining on a full pool (real PostgreSQL)', function () {
  this.timeout(20_000);
  const applicationName = `kr-pipe-${process.pid}`;
  let databases: Database<Schema>[] = [];

  /** A Database with one pooled connection that gives up waiting for it after 150 ms, its repository warmed up. */
  async function open(
    env: Record<string, string> = {},
  ): Promise<{ db: Kysely<Schema>; items: Repository<Schema, 'pipeItems'> }> {
    const database = createDatabase<Schema>({
      config: testConfig({ DB_POOL_SIZE: '1', DB_POOL_TIMEOUT: '150', DB_APPLICATION_NAME: applicationName, ...env }),
      logger: silentLogger,
    });
    databases.push(database);
    const items = new Repository(database.db, 'pipeItems');
    await items.count(); // reads the table's metadata, which is not a single shared statement
    return { db: database.db, items };
  }

  before(async () => {
    await queryServer(
      testDatabaseUrl(),
      'create table pipe_items (id bigint generated always as identity primary key, name text not null unique)',
    );
  });

  beforeEach(async () => {
    await queryServer(testDatabaseUrl(), 'truncate pipe_items restart identity');
    await queryServer(testDatabaseUrl(), "insert into pipe_items (name) values ('one'), ('two'), ('three')");
  });

  afterEach(async () => {
    clock?.restore();
    clock = undefined;
    for (const database of databases) await database.close();
    databases = [];
  });

  let clock: sinon.SinonFakeTimers | undefined;
  /**
   * Stops `performance.now()` for a spec whose statements must join a busy connection: the driver
   * queues nothing behind a statement that has run 3 ms, and on a loaded machine the turn between the
   * slow statement and the next ones can take longer than that. Timers and Date still run.
   */
  function holdClock(): void {
    clock = sinon.useFakeTimers({ toFake: ['performance'] });
  }

  it('queues single statements on the busy connection instead of waiting for a free one', async () => {
    holdClock();
    const { db, items } = await open();
    const finished: string[] = [];
    const slow = runShared(db, 'select pg_sleep(0.4)').then(() => finished.push('slow'));
    await tick();
    const reads = ['1', '2', '3', '1', '2'].map((id) => items.getById(id).then((row) => finished.push(row.name)));
    await Promise.all([slow, ...reads]);
    // they waited 400 ms, past the 150 ms pool timeout, on the one connection, answered in order
    expect(finished).to.deep.equal(['slow', 'one', 'two', 'three', 'one', 'two']);
    expect(databases[0]!.status().pool.total).to.equal(1);
  });

  it('sends the statements that share a connection in one tick in one write', async () => {
    holdClock();
    const { db, items } = await open();
    const slow = runShared(db, 'select pg_sleep(0.2)');
    await tick();
    const writes: number[] = []; // chunks per system call made on a socket
    const sandbox = sinon.createSandbox();
    const socket = Socket.prototype as unknown as {
      _write(chunk: Buffer, encoding: string, callback: () => void): void;
      _writev(chunks: { chunk: Buffer }[], callback: () => void): void;
    };
    const write = socket._write;
    const writev = socket._writev;
    sandbox.replace(socket, '_write', function (this: Socket, chunk, encoding, callback) {
      writes.push(1);
      write.call(this, chunk, encoding, callback);
    });
    sandbox.replace(socket, '_writev', function (this: Socket, chunks, callback) {
      writes.push(chunks.length);
      writev.call(this, chunks, callback);
    });
    try {
      const reads = ['1', '2', '3', '1', '2'].map((id) => items.getById(id));
      await tick();
      expect(writes, 'five statements, one write').to.have.length(1);
      expect(writes[0]).to.be.at.least(5);
      expect((await Promise.all(reads)).map((row) => row.name)).to.deep.equal(['one', 'two', 'three', 'one', 'two']);
    } finally {
      sandbox.restore();
      await slow;
    }
  });

  it('waits for a free connection, as pg does, with DB_PIPELINING=false', async () => {
    const { db, items } = await open({ DB_PIPELINING: 'false' });
    const slow = runShared(db, 'select pg_sleep(0.4)');
    await tick();
    const error = await rejection(items.getById('1'));
    expect(error).to.be.instanceOf(PoolTimeoutError);
    await slow;
  });

  it('does not queue behind a statement that has run for more than a few milliseconds: waits for a free connection', async () => {
    const { db, items } = await open();
    const slow = runShared(db, 'select pg_sleep(0.4)');
    await sleep(30);
    // queued behind it, the read would wait the 370 ms it has left; in the pool it gives up at 150
    const error = await rejection(items.getById('1'));
    expect(error).to.be.instanceOf(PoolTimeoutError);
    await slow;
  });

  it('never queues behind a statement whose text ran slowly before, even just sent', async () => {
    const { db, items } = await open();
    await runShared(db, 'select pg_sleep(0.3)'); // alone on the connection: it is known to be slow
    const slow = runShared(db, 'select pg_sleep(0.3)');
    await tick();
    const error = await rejection(items.getById('1'));
    expect(error).to.be.instanceOf(PoolTimeoutError);
    await slow;
    // a statement that ran fast again is no longer held to be slow: one just sent takes company
    await runShared(db, 'select pg_sleep(0.001)');
    const again = runShared(db, 'select pg_sleep(0.001)');
    await tick();
    expect((await items.getById('1')).name).to.equal('one');
    await again;
  });

  it('runs a text known to be slow unnamed, planned for its own arguments each time', async () => {
    const { db } = await open();
    const context = databaseContext(db as Kysely<unknown>)!;
    const named = (text: string) => preparedQuery(CompiledQuery.raw(text, [1]));
    /** How often the server ran the named statement of `text`. */
    const runsOf = async (text: string) => {
      const { rows } = await sql<{ runs: number }>`select (generic_plans + custom_plans)::int as runs
        from pg_prepared_statements where statement = ${text}`.execute(db);
      return rows[0]?.runs ?? 0;
    };
    const slow = 'select pg_sleep(0.02), $1::int as one';
    const fast = 'select $1::int as one';
    for (let i = 0; i < 4; i++) {
      await context.execute!(named(slow), 'read');
      await context.execute!(named(fast), 'read');
    }
    expect(await runsOf(fast)).to.equal(4);
    expect(await runsOf(slow), 'only its first run, before it was known to be slow').to.equal(1);
  });

  it('fails only the statement that failed; the ones around it on the connection succeed', async () => {
    holdClock();
    const { db, items } = await open();
    const slow = runShared(db, 'select pg_sleep(0.2)');
    await tick();
    const [before, duplicate, created, after] = await Promise.allSettled([
      items.getById('1'),
      items.create({ name: 'two' }),
      items.create({ name: 'four' }),
      items.getById('3'),
    ]);
    await slow;
    expect(before).to.include({ status: 'fulfilled' });
    expect(duplicate.status === 'rejected' && duplicate.reason).to.be.instanceOf(UniqueViolationError);
    expect(created.status === 'fulfilled' && created.value.name).to.equal('four');
    expect(after.status === 'fulfilled' && after.value.name).to.equal('three');
    expect(await items.count()).to.equal(4);
  });

  it('does not starve a transaction waiting for the connection the statements share', async () => {
    const { db, items } = await open({ DB_POOL_TIMEOUT: '3000' });
    let stop = false;
    let reads = 0;
    const readers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        await items.getById('1');
        reads++;
      }
    });
    await sleep(100);
    const started = Date.now();
    const renamed = await withTransaction(db, async () => items.update('2', { name: 'TWO' }));
    const waitedMs = Date.now() - started;
    stop = true;
    await Promise.all(readers);
    expect(renamed?.name).to.equal('TWO');
    expect(waitedMs, 'the transaction got the connection as soon as the statements on it drained').to.be.below(1_000);
    expect(reads).to.be.above(8);
  });

  it('fails exactly the statements in flight on a connection that is lost; the next ones get a new one', async () => {
    holdClock();
    const { db, items } = await open();
    const slow = runShared(db, 'select pg_sleep(5)');
    await tick();
    const outcomes = [slow, items.getById('1'), items.getById('2'), items.create({ name: 'lost?' })].map((p) =>
      rejection(p),
    );
    await sleep(100);
    await queryServer(
      testDatabaseUrl(),
      'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1',
      [applicationName],
    );
    const errors = await Promise.all(outcomes);
    for (const error of errors) expect(error).to.be.instanceOf(ConnectionError);
    expect((await items.getById('3')).name).to.equal('three');
    // the create was queued behind the sleep on the dead session: it never ran
    expect(await items.findOne({ name: 'lost?' })).to.equal(undefined);
  });

  it('close() ends a connection statements share: they fail with ConnectionError, close() returns', async () => {
    holdClock();
    const { db, items } = await open();
    const slow = rejection(runShared(db, 'select pg_sleep(5)'));
    await tick();
    const outcomes = [slow, ...[items.getById('1'), items.getById('2')].map((p) => rejection(p))];
    await sleep(100);
    const started = Date.now();
    await databases[0]!.close();
    expect(Date.now() - started, 'close() waited DB_POOL_TIMEOUT (150 ms), not for the sleep').to.be.below(2_000);
    for (const error of await Promise.all(outcomes)) expect(error).to.be.instanceOf(ConnectionError);
  });

  it('runs COPY on a connection that statements shared before', async () => {
    const { db, items } = await open();
    const slow = runShared(db, 'select pg_sleep(0.1)');
    await tick();
    await Promise.all([items.getById('1'), items.getById('2'), slow]);
    const rows = Array.from({ length: 1500 }, (_, i) => ({ name: `bulk-${i}` }));
    await items.createMany(rows, { returning: false });
    expect(await items.count()).to.equal(1503);
  });
});

describe('BEGIN travels with the first statement (real PostgreSQL)', function () {
  this.timeout(20_000);
  let database: Database<Schema>;
  let items: Repository<Schema, 'pipeItems'>;

  before(() => {
    database = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
    items = new Repository(database.db, 'pipeItems');
  });

  beforeEach(async () => {
    await queryServer(testDatabaseUrl(), 'truncate pipe_items restart identity');
  });

  after(async () => {
    await database.close();
  });

  it('runs the first statement inside the transaction: a rollback undoes it', async () => {
    const error = await rejection(
      withTransaction(database.db, async () => {
        await items.create({ name: 'undone' });
        throw new Error('changed my mind');
      }),
    );
    expect(error.message).to.equal('changed my mind');
    expect(await items.count()).to.equal(0);
  });

  it('holds the isolation level the transaction asked for', async () => {
    const level = await withTransaction(
      database.db,
      async (trx) =>
        (await sql<{ l: string }>`select current_setting('transaction_isolation') as l`.execute(trx)).rows[0]?.l,
      { isolationLevel: 'serializable' },
    );
    expect(level).to.equal('serializable');
  });

  it('sends nothing for a transaction that runs no statement, and counts it committed', async () => {
    await items.count(); // the pool is open
    const before = database.status();
    expect(await withTransaction(database.db, async () => Promise.resolve('nothing'))).to.equal('nothing');
    const after = database.status();
    expect(after.queries.succeeded - before.queries.succeeded, 'no BEGIN, no COMMIT').to.equal(0);
    expect(after.transactions.committed - before.transactions.committed).to.equal(1);
  });

  it('a first statement that fails to parse leaves nothing behind on the connection', async () => {
    const single = createDatabase<Schema>({ config: testConfig({ DB_POOL_SIZE: '1' }), logger: silentLogger });
    try {
      const repo = new Repository(single.db, 'pipeItems');
      await repo.create({ name: 'kept' });
      await queryServer(testDatabaseUrl(), 'alter table pipe_items rename to pipe_items_away');
      const error = await rejection(withTransaction(single.db, () => repo.findById('1')));
      expect(error.message).to.match(/pipe_items/);
      await queryServer(testDatabaseUrl(), 'alter table pipe_items_away rename to pipe_items');
      // the same connection prepares the statement again rather than taking it for prepared
      expect((await withTransaction(single.db, () => repo.getById('1'))).name).to.equal('kept');
      expect(single.status().pool.total).to.equal(1);
    } finally {
      await single.close();
    }
  });

  it('sends BEGIN before a COPY that is the first statement of a transaction', async () => {
    const rows = Array.from({ length: 1200 }, (_, i) => ({ name: `tx-bulk-${i}` }));
    const error = await rejection(
      withTransaction(database.db, async () => {
        await items.createMany(rows, { returning: false });
        throw new Error('roll it back');
      }),
    );
    expect(error.message).to.equal('roll it back');
    expect(await items.count()).to.equal(0);
  });
});
