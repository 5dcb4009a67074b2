import { createRequire } from 'node:module';
import { expect } from 'chai';
import pg from 'pg';
import sinon from 'sinon';
import {
  checkPgInternals,
  pgInternalsReport,
  submitPgQuery,
  type PgQueryOptions,
} from '../../lib/connection/pg/pg-internals.js';
import { rejection } from '../support/spec-helpers.js';
import { testDatabaseUrl } from '../support/test-server.js';

const pgUtils = createRequire(import.meta.url)('pg/lib/utils.js') as {
  normalizeQueryConfig: (config: unknown) => unknown;
};

const DEFAULT_TYPES = { getTypeParser: pg.types.getTypeParser };
/** Unnamed, simple protocol where pg would choose it, pg's own parsers. */
const PLAIN: PgQueryOptions = { name: undefined, extended: false, types: DEFAULT_TYPES };

describe('submitPgQuery (real PostgreSQL)', function () {
  this.timeout(10_000);
  let client: pg.Client;

  before(async () => {
    await checkPgInternals();
  });

  beforeEach(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
  });

  afterEach(async () => {
    sinon.restore();
    await client.end();
  });

  it("passes every self-test of pg's private uses on the installed pg, so the fast paths are the ones that run", () => {
    expect(pgInternalsReport()).to.deep.equal({
      queryFields: true,
      batchedBegin: true,
      parsedStatements: true,
      pipelineFlag: true,
      socket: true,
      prepareValue: true,
    });
  });

  it('hands pg the text, not a config object to copy', async () => {
    const normalize = sinon.spy(pgUtils, 'normalizeQueryConfig');
    await run('select $1::int as n', [1], { ...PLAIN, name: 'kr_spec_text' });
    expect(normalize.callCount).to.equal(1);
    expect(normalize.firstCall.args[0]).to.equal('select $1::int as n');
  });

  for (const fieldsKnown of [true, false]) {
    describe(fieldsKnown ? 'built from the text' : 'as a config object (a pg whose Query differs)', () => {
      function send(text: string, values: unknown[], options: PgQueryOptions): Promise<pg.QueryResult> {
        return run(text, values, options, fieldsKnown);
      }

      it('binds the values and answers with the rows', async () => {
        const result = await send('select $1::int + 1 as n, $2::text as t', [41, 'x'], PLAIN);
        expect(result.rows).to.deep.equal([{ n: 42, t: 'x' }]);
      });

      it('prepares a named statement once per connection and reuses it', async () => {
        const name = `kr_spec_named_${fieldsKnown}`;
        const options = { ...PLAIN, name };
        const first = await send('select $1::int * 2 as n', [2], options);
        const second = await send('select $1::int * 2 as n', [5], options);
        expect([first.rows, second.rows]).to.deep.equal([[{ n: 4 }], [{ n: 10 }]]);
        const prepared = await client.query<{ name: string }>(
          'select name from pg_prepared_statements where name = $1',
          [name],
        );
        expect(prepared.rows).to.deep.equal([{ name }]);
      });

      it('parses each field with the given parsers', async () => {
        const getTypeParser = sinon.spy((oid: number) => (text: string) => `${oid}:${text}`);
        const result = await send('select 7::int4 as a, 8::int8 as b', [], { ...PLAIN, types: { getTypeParser } });
        expect(result.rows).to.deep.equal([{ a: '23:7', b: '20:8' }]);
        expect(getTypeParser.args.map((args) => args[0])).to.deep.equal([23, 20]);
      });

      it('uses the extended protocol when asked, even without values', async () => {
        // two statements in one text run only with the simple protocol
        const simple = await send('select 1; select 2', [], PLAIN);
        expect(simple).to.be.an('array').with.length(2);
        const error = await rejection(send('select 1; select 2', [], { ...PLAIN, extended: true }));
        expect((error as { code?: string }).code).to.equal('42601');
      });

      it("reports the server's error to the callback", async () => {
        const error = await rejection(send('select from nowhere_at_all', [], PLAIN));
        expect((error as { code?: string }).code).to.equal('42P01');
      });
    });
  }

  function run(
    text: string,
    values: unknown[],
    options: PgQueryOptions,
    fieldsKnown = pgInternalsReport().queryFields,
  ): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      submitPgQuery(
        client,
        text,
        values,
        options,
        (error, result) => (error ? reject(error) : resolve(result)),
        fieldsKnown,
      );
    });
  }
});
