/**
 * Database.query and Database.executeMany (the Python design's execute_query / execute_many)
 * against real PostgreSQL: rows as the SQL names them, values bound (never spliced), errors
 * mapped, executeMany all or nothing, both inside withTransaction, and the query log.
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import sinon from 'sinon';
import {
  createDatabase,
  silentLogger,
  UniqueViolationError,
  ValidationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { rejection, spyLogger } from '../support/spec-helpers.js';
import { testConfig } from '../support/test-config.js';
import { createScratchDatabase } from '../support/test-server.js';

const HOSTILE = [
  "'; drop table rs_items; --",
  '$1',
  '\\',
  '"quoted"',
  'O\'Brien "x" $$ $tag$',
  '\u{1F600} ünïcödé',
  ' ',
];

describe('raw SQL: query and executeMany (real PostgreSQL)', () => {
  let scratch: { url: string; drop(): Promise<void> };
  let database: Database<unknown>;
  const sandbox = sinon.createSandbox();

  before(async () => {
    scratch = await createScratchDatabase('kr_rawsql');
    database = createDatabase<unknown>({ config: testConfig({ DATABASE_URL: scratch.url }), logger: silentLogger });
    await sql`create table rs_items (id int primary key, item_name text not null, weight int)`.execute(database.db);
  });

  beforeEach(async () => {
    await sql`truncate rs_items`.execute(database.db);
  });

  afterEach(() => sandbox.restore());

  after(async () => {
    await database?.close();
    await scratch?.drop();
  });

  async function names(): Promise<string[]> {
    const rows = await database.query<{ item_name: string }>('select item_name from rs_items order by id');
    return rows.map((row) => row.item_name);
  }

  describe('query', () => {
    it('returns rows as plain objects keyed by the column names the SQL gives (no camelCase mapping)', async () => {
      await database.query('insert into rs_items (id, item_name, weight) values ($1, $2, $3)', [1, 'anvil', 50]);
      const rows = await database.query('select id, item_name, weight, 1 + 1 as "twoAsIs" from rs_items');
      expect(rows).to.deep.equal([{ id: 1, item_name: 'anvil', weight: 50, twoAsIs: 2 }]);
      expect(Object.getPrototypeOf(rows[0])).to.equal(Object.prototype);
      expect(await database.query('select 1 as one where false')).to.deep.equal([]);
    });

    it('binds $n values, so hostile strings are data, stored and read back unchanged', async () => {
      for (const [i, text] of HOSTILE.entries()) {
        await database.query('insert into rs_items (id, item_name) values ($1, $2)', [i, text]);
      }
      expect(await names()).to.deep.equal(HOSTILE);
      const found = await database.query('select id from rs_items where item_name = $1', [HOSTILE[0]]);
      expect(found).to.deep.equal([{ id: 0 }]);
    });

    it('maps errors: a duplicate key is UniqueViolationError with the constraint', async () => {
      await database.query('insert into rs_items (id, item_name) values ($1, $2)', [1, 'a']);
      const error = await rejection(database.query('insert into rs_items (id, item_name) values ($1, $2)', [1, 'b']));
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect(error).to.include({ constraint: 'rs_items_pkey', code: '23505' });
    });

    it('refuses bad arguments with ValidationError naming them', async () => {
      const empty = await rejection(database.query('  '));
      expect(empty).to.be.instanceOf(ValidationError).and.include({ field: 'text' });
      const notText = await rejection(database.query(42 as unknown as string));
      expect(notText).to.be.instanceOf(ValidationError).and.include({ field: 'text' });
      const values = await rejection(database.query('select $1', 'x' as unknown as unknown[]));
      expect(values).to.be.instanceOf(ValidationError).and.include({ field: 'values' });
    });

    it('inside withTransaction runs on the transaction (sees its rows, and is rolled back with it)', async () => {
      const failure = new Error('roll it back');
      const error = await rejection(
        withTransaction(database.db, async () => {
          await database.query('insert into rs_items (id, item_name) values ($1, $2)', [1, 'inside']);
          expect(await names()).to.deep.equal(['inside']);
          throw failure;
        }),
      );
      expect(error).to.equal(failure);
      expect(await names()).to.deep.equal([]);
    });

    it('is logged with its timing, and without its parameter values', async () => {
      const logger = spyLogger(sandbox);
      const logged = createDatabase<unknown>({
        config: testConfig({ DATABASE_URL: scratch.url, DB_LOG_LEVEL: 'debug' }),
        logger,
      });
      try {
        const secret = 'hunter2-do-not-log';
        await logged.query('select $1::text as pw', [secret]);
        const lines = logger.debug.getCalls().filter((call) => call.args[0] === 'query');
        const line = lines.find((call) => String((call.args[1] as { sql?: unknown }).sql).includes('select $1::text'));
        expect(line, 'a debug line for the statement').to.not.equal(undefined);
        expect(line!.args[1]).to.have.property('durationMs').that.is.a('number');
        const everything = JSON.stringify(Object.values(logger).map((spy) => spy.args));
        expect(everything).not.to.contain(secret);
      } finally {
        await logged.close();
      }
    });
  });

  describe('executeMany', () => {
    const insert = 'insert into rs_items (id, item_name, weight) values ($1, $2, $3)';

    it('runs the statement for every parameter list and returns the total of affected rows', async () => {
      const count = await database.executeMany(insert, [
        [1, 'a', 1],
        [2, 'b', 2],
        [3, 'c', 3],
      ]);
      expect(count).to.equal(3);
      expect(
        await database.executeMany('update rs_items set weight = weight + 1 where weight >= $1', [[2], [4]]),
      ).to.equal(3);
      expect(await names()).to.deep.equal(['a', 'b', 'c']);
    });

    it('an empty list is 0, without a round trip', async () => {
      const before = database.status().queries.succeeded;
      expect(await database.executeMany(insert, [])).to.equal(0);
      expect(database.status().queries.succeeded).to.equal(before);
    });

    it('is all or nothing: the third set failing leaves none of the rows', async () => {
      const error = await rejection(
        database.executeMany(insert, [
          [1, 'a', 1],
          [2, 'b', 2],
          [1, 'duplicate', 3],
          [4, 'd', 4],
        ]),
      );
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect(await names()).to.deep.equal([]);
    });

    it('inside withTransaction: a failure undoes only its own rows; the outer rollback undoes all', async () => {
      const failure = new Error('outer fails');
      const error = await rejection(
        withTransaction(database.db, async () => {
          await database.query(insert, [10, 'outer', 0]);
          const inner = await rejection(
            database.executeMany(insert, [
              [11, 'x', 0],
              [10, 'clash', 0],
            ]),
          );
          expect(inner).to.be.instanceOf(UniqueViolationError);
          expect(await names()).to.deep.equal(['outer']);
          expect(await database.executeMany(insert, [[12, 'kept until the outer rolls back', 0]])).to.equal(1);
          throw failure;
        }),
      );
      expect(error).to.equal(failure);
      expect(await names()).to.deep.equal([]);
    });

    it('refuses bad arguments with ValidationError naming them and the index', async () => {
      const text = await rejection(database.executeMany('', [[1]]));
      expect(text).to.be.instanceOf(ValidationError).and.include({ field: 'text' });
      const list = await rejection(database.executeMany(insert, 'x' as unknown as unknown[][]));
      expect(list).to.be.instanceOf(ValidationError).and.include({ field: 'valuesList' });
      const entry = await rejection(database.executeMany(insert, [[1, 'a', 1], 'b' as unknown as unknown[]]));
      expect(entry).to.be.instanceOf(ValidationError).and.include({ field: 'valuesList' });
      expect(entry.message).to.contain('valuesList[1]');
      expect(await names()).to.deep.equal([]);
    });
  });
});
