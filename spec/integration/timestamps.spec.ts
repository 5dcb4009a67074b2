import { expect } from 'chai';
import { sql } from 'kysely';
import pg from 'pg';
import { createDatabase, silentLogger, withTransaction, type Database } from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';

const pgParse = pg.types.getTypeParser(1184, 'text') as (text: string) => Date;

describe('timestamptz values read through the driver (real PostgreSQL)', () => {
  let database: Database<Record<string, never>>;

  before(() => {
    database = createDatabase({ config: testConfig(), logger: silentLogger });
  });

  after(async () => {
    await database.close();
  });

  // offsets of whole hours, half and quarter hours, and (before 1972) seconds
  for (const zone of [
    'UTC',
    'Asia/Kolkata',
    'America/St_Johns',
    'Asia/Kathmandu',
    'Africa/Monrovia',
    'Pacific/Kiritimati',
  ]) {
    it(`are the Dates pg's own parser makes of the server's text, in time zone ${zone}`, async () => {
      const rows = await withTransaction(database.db, async (trx) => {
        await sql`select set_config('timezone', ${zone}, true)`.execute(trx);
        const { rows } = await sql<{ t: Date; text: string }>`
          select t, t::text as text
            from generate_series(timestamptz '1901-01-01 00:00:00.123456+00', timestamptz '2100-01-01', interval '97 days 3 hours 17 minutes 31.654321 seconds') t
        `.execute(trx);
        return rows;
      });
      expect(rows.length).to.be.above(700);
      const differ = rows.filter((row) => !(row.t instanceof Date) || row.t.getTime() !== pgParse(row.text).getTime());
      expect(differ.map((row) => row.text)).to.deep.equal([]);
    });
  }
});
