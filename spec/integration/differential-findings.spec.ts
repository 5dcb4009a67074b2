/**
 * What the differential test (spec/differential) found where the package differed from stock
 * Kysely over pg, one spec each, on a real PostgreSQL.
 */
import { expect } from 'chai';
import { sql, type Generated } from 'kysely';
import {
  createDatabase,
  DatabaseError,
  Repository,
  silentLogger,
  ValidationError,
  withTransaction,
  type Database,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { queryServer, rejection } from '../support/spec-helpers.js';
import { testDatabaseUrl } from '../support/test-server.js';

interface Schema {
  findItems: {
    id: Generated<string>;
    label: Generated<string>;
    score: number | null;
    amount: string | null;
    at: Date | number | null;
    day: Date | null;
    doc: unknown;
  };
  findKeys: { key: string; note: string | null };
  findDays: { day: Date | number; seq: number; note: string | null };
}

describe('differences the differential test found, fixed (real PostgreSQL)', function () {
  this.timeout(30_000);
  let database: Database<Schema>;
  let items: Repository<Schema, 'findItems'>;
  const url = (): string => testDatabaseUrl();

  before(async () => {
    await queryServer(
      url(),
      `create table find_items (id bigint generated always as identity primary key, label text not null default 'none',
         score double precision, amount numeric, at timestamp, day date, doc jsonb);
       create table find_keys (key text primary key, note text);
       create table find_days (day date, seq integer, note text, primary key (day, seq))`,
    );
    database = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
    items = new Repository(database.db, 'findItems');
  });

  beforeEach(async () => {
    await queryServer(url(), 'truncate find_items, find_keys, find_days restart identity');
  });

  after(async () => {
    await database.close();
  });

  it('create({}) inserts a row of defaults', async () => {
    expect((await items.create({})).label).to.equal('none');
  });

  it('stores NaN and ±Infinity in double precision and numeric columns, as pg does', async () => {
    const row = await items.create({ score: NaN, amount: 'NaN' });
    expect(row.score).to.be.NaN;
    expect(row.amount).to.equal('NaN');
    await items.createMany([{ score: Infinity }, { score: -Infinity }]);
    expect((await items.findMany({ orderBy: 'id' })).map((r) => r.score)).to.deep.equal([NaN, Infinity, -Infinity]);
  });

  it('writes back the ±Infinity pg reads from an infinite timestamp', async () => {
    await queryServer(url(), "insert into find_items (at) values ('infinity')");
    const [row] = await items.findMany();
    expect(row!.at).to.equal(Infinity);
    expect((await items.update(row!.id, { at: row!.at }))?.at).to.equal(Infinity);
  });

  it('leaves the keys inside json values alone, whatever form the where takes', async () => {
    await items.create({ doc: { snake_key: [{ inner_key: 1 }] } });
    const byObject = await items.findMany({ where: { label: 'none' } });
    const byCallback = await items.findMany({ where: (eb) => eb('label', '=', 'none') });
    expect(byObject[0]!.doc).to.deep.equal({ snake_key: [{ inner_key: 1 }] });
    expect(byCallback[0]!.doc).to.deep.equal({ snake_key: [{ inner_key: 1 }] });
    expect(byCallback[0]).to.have.keys(Object.keys(byObject[0]!));
  });

  it('paginate with a total: a failing page leaves no unhandled rejection behind', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      await rejection(items.paginate({ where: (eb) => eb(sql`1 / 0`, '=', 1), withTotal: true }));
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).to.deep.equal([]);
  });

  it('reaches every text key a table can hold: empty, and longer than 255 characters', async () => {
    const keys = new Repository(database.db, 'findKeys', { primaryKey: 'key' });
    for (const key of ['', 'k'.repeat(300)]) {
      await keys.create({ key, note: 'before' });
      expect((await keys.update(key, { note: 'after' }))?.note).to.equal('after');
      expect(await keys.delete(key)).to.equal(true);
    }
  });

  it('createMany writes rows naming different columns in the order given, all or nothing', async () => {
    const rows = await items.createMany([{ score: 1 }, { label: 'two' }, { score: 3 }]);
    expect(rows.map((r) => [r.id, r.label, r.score])).to.deep.equal([
      ['1', 'none', 1],
      ['2', 'two', null],
      ['3', 'none', 3],
    ]);
    await rejection(items.createMany([{ score: 4 }, { label: null as unknown as string }, { score: 6 }]));
    expect(await items.count()).to.equal(3);
  });

  it('pages by a long text value; a value too long for a cursor is a ValidationError naming orderBy', async () => {
    const keys = new Repository(database.db, 'findKeys', { primaryKey: 'key' });
    await keys.createMany([
      { key: 'a', note: `a${'x'.repeat(4000)}` },
      { key: 'b', note: `b${'x'.repeat(4000)}` },
    ]);
    const first = await keys.paginate({ orderBy: 'note', limit: 1 });
    expect((await keys.paginate({ orderBy: 'note', limit: 1, cursor: first.nextCursor })).items).to.have.length(1);
    await keys.createMany([
      { key: 'c', note: `c${'x'.repeat(900_000)}` },
      { key: 'd', note: `d${'x'.repeat(900_000)}` },
    ]);
    const error = await rejection(keys.paginate({ orderBy: 'note', limit: 3 }));
    expect(error).to.be.instanceOf(ValidationError);
    expect((error as ValidationError).field).to.equal('orderBy');
  });

  it('pages by a date column holding dates past the timestamp range', async () => {
    await queryServer(
      url(),
      "insert into find_items (day) values ('5874897-12-31'), ('2024-01-01'), ('4713-01-01 BC')",
    );
    const first = await items.paginate({ orderBy: [['day', 'desc']], limit: 1 });
    const rest = await items.paginate({ orderBy: [['day', 'desc']], limit: 5, cursor: first.nextCursor });
    expect(first.items.length + rest.items.length).to.equal(3);
  });

  it('createMany by COPY stores a boolean in a jsonb column as create does', async () => {
    await items.createMany(
      Array.from({ length: 1000 }, () => ({ doc: false })),
      { returning: false },
    );
    const stored = await queryServer<{ doc: string }>(url(), 'select distinct doc::text as doc from find_items');
    expect(stored).to.deep.equal([{ doc: 'false' }]);
  });

  it('paginate withTotal in a transaction reports why its where failed, not the aborted transaction after it', async () => {
    const error = await rejection(
      withTransaction(database.db, async () => {
        await items.create({ score: 1 });
        await items.paginate({ where: (eb) => eb('id', '=', 'not a value'), limit: 1, offset: 0, withTotal: true });
      }),
    );
    expect(error).to.be.instanceOf(DatabaseError);
    expect((error as DatabaseError).code).to.equal('22P02');
    expect(await items.count()).to.equal(0);
  });

  it('a date key read back as infinity names its row again', async () => {
    const days = new Repository(database.db, 'findDays');
    await queryServer(url(), "insert into find_days values ('infinity', 1, 'a'), ('-infinity', 1, 'b')");
    const [last, first] = await days.findMany({ orderBy: [['day', 'desc']] });
    expect(last?.day).to.equal(Infinity);
    expect(await days.update({ day: last!.day, seq: 1 }, { note: 'z' })).to.include({ note: 'z' });
    expect(await days.findById({ day: first!.day, seq: 1 })).to.include({ note: 'b' });
  });
});
