/**
 * querySummary: the operation and single table a statement names, read off its text, for span
 * names and db.query.summary. Checked on Kysely's own compiled statements over generated table
 * names, and on texts whose literals, comments and subqueries must never be taken for a table.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import { querySummary } from '../../lib/telemetry/query-summary.js';

const db = new Kysely<Record<string, Record<string, unknown>>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Table names as an application may have them: plain, mixed case, with spaces, quotes and keywords. */
const tableName = fc.oneof(
  fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/),
  fc.constantFrom('Orders', 'order lines', 'from', 'select', 'a"b', 'täble', 'x.y'),
);

describe('querySummary', () => {
  it("names the table of Kysely's single-table statements, whatever the table is called", () => {
    fc.assert(
      fc.property(tableName, (table) => {
        const statements = {
          SELECT: db.selectFrom(table).selectAll().where('id', '=', 1),
          INSERT: db.insertInto(table).values({ a: 1 }).returningAll(),
          UPDATE: db.updateTable(table).set({ a: 2 }).where('id', '=', 1),
          DELETE: db.deleteFrom(table).where('id', '=', 1),
        };
        for (const [operation, query] of Object.entries(statements)) {
          const summary = querySummary(query.compile().sql);
          // Kysely reads a dot as schema.table, and quotes each part
          const expected = table;
          expect(summary, `${operation} ${table}`).to.deep.equal({
            operation,
            collection: expected,
            summary: `${operation} ${expected}`,
          });
        }
      }),
      { numRuns: 200 },
    );
  });

  it('names no table for joins, subqueries, functions, literals and comments, and takes no value from the text', () => {
    const cases: [string, string | undefined, string | undefined][] = [
      ['select 1', 'SELECT', undefined],
      ['select a.x from a join b on a.id = b.id', 'SELECT', undefined],
      ['select * from a, b', 'SELECT', undefined],
      ['select * from (select 1) s', 'SELECT', undefined],
      ['select * from generate_series(1, 3)', 'SELECT', undefined],
      ["select 'from secret_table' as t", 'SELECT', undefined],
      ["select E'it\\'s from leaked' as t", 'SELECT', undefined],
      ['select $tag$ from leaked $tag$ as t', 'SELECT', undefined],
      ['select $$ from leaked $$ as t', 'SELECT', undefined],
      ['/* from leaked */ select 1', 'SELECT', undefined],
      ['-- from leaked\nselect x from orders where y = 1', 'SELECT', 'orders'],
      ['select x from "Weird ""Name""" where y = $1', 'SELECT', 'Weird "Name"'],
      ['select count(*) from orders where total > $1', 'SELECT', 'orders'],
      ['select * from public.orders', 'SELECT', 'public.orders'],
      ['with t as (select 1) select * from t', 'WITH', undefined],
      ['insert into orders (a) values ($1)', 'INSERT', 'orders'],
      ['update only orders set a = 1', 'UPDATE', 'orders'],
      ['copy orders (a, b) from stdin', 'COPY', 'orders'],
      ['truncate table orders', 'TRUNCATE', 'orders'],
      ['begin', 'BEGIN', undefined],
      ['rollback to savepoint "kr_sp_1"', 'ROLLBACK', undefined],
      ['', undefined, undefined],
      ['(select 1)', undefined, undefined],
    ];
    for (const [text, operation, collection] of cases) {
      const summary = querySummary(text);
      expect([summary.operation, summary.collection], text).to.deep.equal([operation, collection]);
      expect(summary.summary, text).to.equal(
        operation === undefined ? undefined : collection === undefined ? operation : `${operation} ${collection}`,
      );
    }
  });

  it('never throws and never returns text that is not an identifier of the statement', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const { operation, collection } = querySummary(`select x from ${text}`);
        expect(operation).to.equal('SELECT');
        // each part is a name in the text: bare names fold to lower case, quoted ones double their quotes
        const statement = `select x from ${text}`;
        for (const part of collection?.split('.') ?? []) {
          const found =
            statement.toLowerCase().includes(part.toLowerCase()) || statement.includes(part.replaceAll('"', '""'));
          expect(found, part).to.equal(true);
        }
      }),
      { numRuns: 500 },
    );
    expect(querySummary(sql`select 1`.compile(db).sql).operation).to.equal('SELECT');
  });
});
