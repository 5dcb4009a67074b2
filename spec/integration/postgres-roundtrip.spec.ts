import { expect } from 'chai';
import pg from 'pg';
import { testDatabaseUrl } from '../support/test-server.js';

describe('spec harness: the run has its own real PostgreSQL database', () => {
  let client: pg.Client;

  before(async () => {
    client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
  });

  after(async () => {
    await client.end();
  });

  it('creates a table, writes rows and reads back the same values', async () => {
    await client.query('create table harness_roundtrip (id int primary key, name text not null, at timestamptz)');
    const at = new Date('2026-01-02T03:04:05.678Z');
    await client.query('insert into harness_roundtrip values ($1, $2, $3), ($4, $5, $6)', [
      1,
      'ada',
      at,
      2,
      'zoë',
      null,
    ]);
    const { rows } = await client.query('select id, name, at from harness_roundtrip order by id');
    expect(rows).to.deep.equal([
      { id: 1, name: 'ada', at },
      { id: 2, name: 'zoë', at: null },
    ]);
  });

  it('runs in a database named for this run, not a shared one', async () => {
    const { rows } = await client.query<{ db: string }>('select current_database() as db');
    expect(rows[0]?.db).to.match(/^kr_test_\d+_[0-9a-f]{8}$/);
  });
});
