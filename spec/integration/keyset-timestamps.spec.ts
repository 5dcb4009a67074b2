/**
 * Keyset pages ordered by a timestamp read the cursor row's value from the text it arrived as
 * (no per-row to_char on the server) when that text is ISO, and have the server print it
 * otherwise. Both must walk exactly the rows raw pg's ORDER BY gives, over generated values
 * (microseconds apart, BC, years past 9999, ±infinity, NULLs), session time zones (offsets of
 * seconds before 1900) and DateStyles. Real PostgreSQL throughout.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { sql } from 'kysely';
import {
  createDatabase,
  Repository,
  withTransaction,
  type Database,
  type Logger,
  type LogMeta,
} from '../../lib/index.js';
import { queryServer } from '../support/spec-helpers.js';
import { testConfig } from '../support/test-config.js';
import { testDatabaseUrl } from '../support/test-server.js';

interface Schema {
  ktEvents: { id: number; at: Date | null; local: Date | null };
}

const ZONES = ['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Asia/Kathmandu', 'Africa/Monrovia', 'Europe/Amsterdam'];
const ISO_STYLES = ['ISO, MDY', 'ISO, DMY'];
const OTHER_STYLES = ['SQL, DMY', 'German', 'Postgres, MDY'];

/** A timestamp as UTC text: microseconds apart, BC, far years, ±infinity; or NULL. */
const timestampText = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.integer({ min: 0, max: 40 }).map((us) => `2026-01-01 12:00:00.${String(us).padStart(6, '0')}`),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({
        year: fc.oneof(fc.integer({ min: 1, max: 2100 }), fc.integer({ min: 10_000, max: 200_000 })),
        month: fc.integer({ min: 1, max: 12 }),
        day: fc.integer({ min: 1, max: 28 }),
        second: fc.integer({ min: 0, max: 86_399 }),
        micro: fc.integer({ min: 0, max: 999_999 }),
        bc: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      })
      .map(({ year, month, day, second, micro, bc }) => {
        const hms = [Math.floor(second / 3600), Math.floor(second / 60) % 60, second % 60]
          .map((n) => String(n).padStart(2, '0'))
          .join(':');
        const y = bc ? Math.min(year, 4000) : year;
        return `${String(y).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')} ${hms}.${String(micro).padStart(6, '0')}${bc ? ' BC' : ''}`;
      }),
  },
  { weight: 1, arbitrary: fc.constantFrom('infinity', '-infinity') },
  { weight: 2, arbitrary: fc.constant(null) },
);

/** The statements that read the table's pages. */
const pages = (texts: readonly string[]): string[] => texts.filter((text) => text.includes('kt_events'));

/** Collects the SQL of every statement the Database runs. */
function statementLog(): { logger: Logger; texts: string[] } {
  const texts: string[] = [];
  const keep = (_message: string, meta?: LogMeta): void => {
    if (typeof meta?.['sql'] === 'string') texts.push(meta['sql']);
  };
  return { logger: { error: keep, warn: keep, info: keep, debug: keep }, texts };
}

describe('keyset pages ordered by a timestamp (real PostgreSQL)', function () {
  this.timeout(120_000);
  const url = (): string => testDatabaseUrl();

  before(async () => {
    await queryServer(url(), 'create table kt_events (id int primary key, at timestamptz, local timestamp)');
  });

  after(async () => {
    await queryServer(url(), 'drop table if exists kt_events');
  });

  /** Fills the table with `values` (UTC text, made by the generator above) in both columns. */
  async function fill(values: readonly (string | null)[]): Promise<void> {
    const rows = values.map((v, i) => `(${i + 1}, ${v === null ? 'null' : `'${v}'`})`).join(', ');
    await queryServer(
      url(),
      `begin; set local timezone = 'UTC'; set local datestyle = 'ISO';
       truncate kt_events;
       insert into kt_events select i, v::timestamptz, v::timestamp from (values ${rows}) as u(i, v);
       commit`,
    );
  }

  /** The ids in the order raw pg's `order by <column> <direction>, id` gives. */
  async function oracle(column: 'at' | 'local', direction: 'asc' | 'desc'): Promise<number[]> {
    const rows = await queryServer<{ id: number }>(
      url(),
      `select id from kt_events order by ${column} ${direction}, id`,
    );
    return rows.map((r) => r.id);
  }

  /** The ids a Repository's keyset walk gives, each page in one transaction under `zone` and `style`. */
  async function walk(
    database: Database<Schema>,
    column: 'at' | 'local',
    direction: 'asc' | 'desc',
    limit: number,
    zone: string,
    style: string,
  ): Promise<number[]> {
    const events = new Repository(database.db, 'ktEvents');
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await withTransaction(database.db, async (trx) => {
        await sql`select set_config('timezone', ${zone}, true), set_config('datestyle', ${style}, true)`.execute(trx);
        return events.paginate({
          orderBy: [
            [column, direction],
            ['id', 'asc'],
          ],
          limit,
          cursor,
        });
      });
      expect(Object.keys(page.items[0] ?? {}).sort()).to.deep.equal(['at', 'id', 'local']);
      seen.push(...page.items.map((row) => row.id));
      cursor = page.nextCursor;
      expect(++pages).to.be.below(200);
    } while (cursor !== null);
    return seen;
  }

  interface Walk {
    readonly values: readonly (string | null)[];
    readonly column: 'at' | 'local';
    readonly direction: 'asc' | 'desc';
    readonly limit: number;
    readonly zone: string;
    readonly style: string;
  }

  const settings = (styles: readonly string[]): fc.Arbitrary<Walk> =>
    fc.record({
      values: fc.array(timestampText, { minLength: 1, maxLength: 40 }),
      column: fc.constantFrom('at' as const, 'local' as const),
      direction: fc.constantFrom('asc' as const, 'desc' as const),
      limit: fc.integer({ min: 1, max: 7 }),
      zone: fc.constantFrom(...ZONES),
      style: fc.constantFrom(...styles),
    });

  /**
   * Fills the table with `values`, walks it on a fresh Database logging its statements, checks the
   * walk against raw pg's order, then runs `more` on the same Database.
   */
  async function walkChecked(
    { values, column, direction, limit, zone, style }: Walk,
    more: (database: Database<Schema>, log: string[]) => Promise<void> = () => Promise.resolve(),
  ): Promise<string[]> {
    await fill(values);
    const log = statementLog();
    const database = createDatabase<Schema>({ config: testConfig({ DB_LOG_LEVEL: 'debug' }), logger: log.logger });
    try {
      expect(await walk(database, column, direction, limit, zone, style)).to.deep.equal(
        await oracle(column, direction),
      );
      await more(database, log.texts);
    } finally {
      await database.close();
    }
    return log.texts;
  }

  it('in DateStyle ISO walk the rows raw pg orders, reading the cursor from the rows (no to_char)', async () => {
    await fc.assert(
      fc.asyncProperty(settings(ISO_STYLES), async (given) => {
        const texts = pages(await walkChecked(given));
        expect(texts).to.not.be.empty;
        expect(texts.filter((text) => text.includes('to_char'))).to.deep.equal([]);
      }),
      { numRuns: 40 },
    );
  });

  it('in other DateStyles walk the same rows, the server printing the cursor text from then on', async () => {
    await fc.assert(
      fc.asyncProperty(settings(OTHER_STYLES), async (given) => {
        await walkChecked(given, async (database, log) => {
          // the Database remembers: once a page was printed, so are the pages of a later walk in ISO
          const before = pages(log);
          log.length = 0;
          await walk(database, given.column, given.direction, given.limit, 'UTC', 'ISO');
          const first = before.findIndex((text) => text.includes('to_char'));
          if (first >= 0) {
            expect(before.slice(first).filter((text) => !text.includes('to_char'))).to.deep.equal([]);
            expect(pages(log).filter((text) => !text.includes('to_char'))).to.deep.equal([]);
          }
        });
      }),
      { numRuns: 25 },
    );
  });

  it('a page in DateStyle German is read again with the server printing its cursor, and the cursor resumes exactly', async () => {
    await fill(['2026-01-01 12:00:00.000001', '2026-01-01 12:00:00.000002', '2026-01-01 12:00:00.000003']);
    const log = statementLog();
    const database = createDatabase<Schema>({ config: testConfig({ DB_LOG_LEVEL: 'debug' }), logger: log.logger });
    try {
      expect(await walk(database, 'at', 'asc', 1, 'Asia/Kolkata', 'German')).to.deep.equal([1, 2, 3]);
    } finally {
      await database.close();
    }
    const read = pages(log.texts);
    // first page without to_char, read again with it; then two more pages with it
    expect(read.map((text) => text.includes('to_char'))).to.deep.equal([false, true, true, true]);
  });
});
