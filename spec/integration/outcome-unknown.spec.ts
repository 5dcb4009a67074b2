/**
 * A statement whose connection is lost before its answer (the server ends the session while it
 * runs): ConnectionError.outcomeUnknown says whether it may have taken effect. Real PostgreSQL;
 * the backend is ended with pg_terminate_backend from another connection while the statement sleeps.
 */
import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionError,
  createDatabase,
  Repository,
  silentLogger,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';
import { rejection } from '../support/spec-helpers.js';

interface Schema {
  outcomeLedger: { id: number; note: string };
  outcomeCommits: { id: number };
}

describe('ConnectionError.outcomeUnknown (real PostgreSQL, sessions ended mid-statement)', function () {
  this.timeout(20_000);
  let admin: pg.Client;
  let database: Database<Schema>;
  let db: Kysely<Schema>;
  const applicationName = `kr-outcome-${process.pid}`;

  /** Ends the session that runs a statement containing `marker`, once it is running. */
  async function terminateWhenRunning(marker: string): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const { rows } = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity
          where application_name = $1 and state = 'active' and query like '%' || $2 || '%' and pid <> pg_backend_pid()`,
        [applicationName, marker],
      );
      if (rows[0]) {
        const { pid } = rows[0];
        await admin.query('select pg_terminate_backend($1)', [pid]);
        // gone before the next step looks: a dying backend may still be listed as active
        while ((await admin.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount) await sleep(10);
        return;
      }
      await sleep(10);
    }
    throw new Error(`no running statement with ${marker}`);
  }

  async function lost(run: () => Promise<unknown>, marker: string): Promise<ConnectionError> {
    const [error] = await Promise.all([rejection(run()), terminateWhenRunning(marker)]);
    expect(error).to.be.instanceOf(ConnectionError);
    return error as ConnectionError;
  }

  before(async () => {
    admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    database = createDatabase<Schema>({
      config: testConfig({ DB_POOL_SIZE: '2', DB_APPLICATION_NAME: applicationName }),
      logger: silentLogger,
    });
    db = database.db;
    await sql`
      create table outcome_ledger (id int primary key, note text not null);
      create function outcome_slow() returns trigger language plpgsql as
        $$ begin if new.note like 'slow%' then perform pg_sleep(5); end if; return new; end $$;
      create trigger outcome_slow before insert on outcome_ledger for each row execute function outcome_slow();
      create table outcome_commits (id int primary key);
      create function outcome_slow_commit() returns trigger language plpgsql as
        $$ begin perform pg_sleep(5); return null; end $$;
      create constraint trigger outcome_slow_commit after insert on outcome_commits
        deferrable initially deferred for each row execute function outcome_slow_commit();
    `.execute(db.withoutPlugins());
  });

  after(async () => {
    await sql`drop table if exists outcome_ledger, outcome_commits;
              drop function if exists outcome_slow(), outcome_slow_commit()`.execute(db.withoutPlugins());
    await database.close();
    await admin.end();
  });

  it('is true for a write outside a transaction (database.query, Kysely, the repository fast path)', async () => {
    const raw = await lost(
      () => database.query("insert into outcome_ledger (id, note) values (1, 'slow raw')"),
      'slow raw',
    );
    expect(raw.outcomeUnknown).to.equal(true);
    expect(raw.message).to.match(/outcome unknown: the write was sent/);
    expect(raw.cause).to.be.instanceOf(ConnectionError);

    const built = await lost(
      () => db.insertInto('outcomeLedger').values({ id: 2, note: 'slow built' }).execute(),
      'insert into "outcome_ledger"',
    );
    expect(built.outcomeUnknown).to.equal(true);

    const ledger = new Repository(db, 'outcomeLedger');
    const fast = await lost(() => ledger.create({ id: 3, note: 'slow fast path' }), 'insert into "outcome_ledger"');
    expect(fast.outcomeUnknown).to.equal(true);
    // here the server ended them before they finished: none was written
    expect(await db.selectFrom('outcomeLedger').selectAll().execute()).to.deep.equal([]);
  });

  it('is true for a lost COMMIT, and the error says so', async () => {
    const error = await lost(
      () =>
        withTransaction(db, async (trx) => {
          await trx.insertInto('outcomeCommits').values({ id: 1 }).execute();
        }),
      'commit',
    );
    expect(error.outcomeUnknown).to.equal(true);
    expect(error.message).to.match(/outcome unknown: the COMMIT was sent/);
  });

  it('is false for a read, for a write inside a transaction (the session rolled it back), and for a connection already known lost', async () => {
    const read = await lost(() => database.query("select pg_sleep(5), 'slow read'"), 'slow read');
    expect(read.outcomeUnknown).to.equal(false);
    expect(read).not.to.have.ownProperty('outcomeUnknown');

    const inside = await lost(
      () =>
        withTransaction(db, async (trx) => {
          await sql`select 1`.execute(trx);
          await trx.insertInto('outcomeLedger').values({ id: 4, note: 'slow inside' }).execute();
        }),
      'insert into "outcome_ledger"',
    );
    expect(inside.outcomeUnknown).to.equal(false);

    const known = await rejection(
      withTransaction(db, async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await sleep(200);
        await sql`select 1`.execute(trx);
      }),
    );
    expect(known).to.be.instanceOf(ConnectionError);
    expect((known as ConnectionError).outcomeUnknown).to.equal(false);
    expect(await db.selectFrom('outcomeLedger').selectAll().execute()).to.deep.equal([]);
  });
});
