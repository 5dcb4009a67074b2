import { expect } from 'chai';
import { sql } from 'kysely';
import {
  createDatabase,
  loadConfig,
  Repository,
  silentLogger,
  type Database,
  type DatabaseError,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { rejection } from '../support/spec-helpers.js';

interface Schema {
  parityRows: { id: string; at: Date | null; atTz: Date | null; doc: unknown };
}

/**
 * What the differential test (spec/differential, on the embedded engine against stock Kysely on a
 * server) found the embedded engine doing differently, each checked on both engines side by side.
 */
describe('embedded engine: the same answers as a server (found by the differential test)', function () {
  this.timeout(60_000);
  const engines: [string, () => Database<Schema>][] = [
    ['server', () => createDatabase<Schema>({ config: testConfig(), logger: silentLogger })],
    [
      'embedded',
      () =>
        createDatabase<Schema>({
          config: loadConfig({ DATABASE_URL: 'pglite://' }, { envFile: '/dev/null' }),
          logger: silentLogger,
        }),
    ],
  ];
  const databases = new Map<string, Database<Schema>>();
  const previousTz = process.env['TZ'];

  before(async () => {
    for (const [name, open] of engines) {
      const database = open();
      await sql`create table parity_rows (id bigint primary key, at timestamp, at_tz timestamptz, doc jsonb)`.execute(
        database.db,
      );
      databases.set(name, database);
    }
  });

  afterEach(async () => {
    if (previousTz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = previousTz;
    for (const database of databases.values()) {
      await sql`truncate parity_rows`.execute(database.db);
      await sql`set datestyle = 'ISO, MDY'`.execute(database.db);
    }
  });

  after(async () => {
    for (const database of databases.values()) {
      await sql`drop table parity_rows`.execute(database.db);
      await database.close();
    }
  });

  /** Runs `fn` on each engine and returns what each gave, by engine. */
  async function onBoth<T>(fn: (database: Database<Schema>) => Promise<T>): Promise<Record<string, T>> {
    const out: Record<string, T> = {};
    for (const [name, database] of databases) out[name] = await fn(database);
    return out;
  }

  it('stores a Date in a timestamp column as the local wall clock, as pg sends it, away from UTC too', async () => {
    process.env['TZ'] = 'America/St_Johns';
    const at = new Date('1970-01-01T00:00:00.000Z');
    const stored = await onBoth(async (database) => {
      const repo = new Repository(database.db, 'parityRows');
      const row = await repo.create({ id: '1', at, atTz: at, doc: null });
      const { rows } = await sql<{ text: string }>`select at::text as text from parity_rows`.execute(database.db);
      return { text: rows[0]!.text, at: row.at?.toISOString(), atTz: row.atTz?.toISOString() };
    });
    expect(stored['embedded']).to.deep.equal(stored['server']);
    expect(stored['server']!.text).to.equal('1969-12-31 20:30:00');
  });

  it('takes a Date past the year 9999 as pg does (toISOString text was refused with 22009)', async () => {
    const far = new Date('+010000-01-01T00:00:00.000Z');
    const read = await onBoth(async (database) => {
      const row = await new Repository(database.db, 'parityRows').create({ id: '2', at: null, atTz: far, doc: null });
      return row.atTz?.getTime();
    });
    expect(read['embedded']).to.equal(far.getTime());
    expect(read['embedded']).to.equal(read['server']);
  });

  it('refuses an array bound to a jsonb column as pg does (it sends an array literal): 22P02 on both', async () => {
    const codes = await onBoth(async (database) => {
      const error = await rejection(
        new Repository(database.db, 'parityRows').create({ id: '3', at: null, atTz: null, doc: [0] }),
      );
      return (error as DatabaseError).code;
    });
    expect(codes).to.deep.equal({ server: '22P02', embedded: '22P02' });
  });

  it('pages by a timestamp column every row once when the DateStyle makes pg read timestamps as null', async () => {
    const pages = await onBoth(async (database) => {
      const repo = new Repository(database.db, 'parityRows');
      for (let i = 1; i <= 5; i++) {
        await repo.create({ id: String(i), at: new Date(Date.UTC(2000 + (i % 3), 0, 1)), atTz: null, doc: null });
      }
      await sql`set datestyle = 'German'`.execute(database.db);
      const seen: string[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await repo.paginate({ orderBy: [['at', 'asc']], limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((row) => row.id));
        cursor = page.nextCursor;
      } while (cursor);
      return seen;
    });
    expect(pages['server']).to.have.members(['1', '2', '3', '4', '5']);
    expect(pages['embedded']).to.deep.equal(pages['server']);
  });
});
