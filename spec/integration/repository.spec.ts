import { expect } from 'chai';
import sinon from 'sinon';
import { sql, type Generated } from 'kysely';
import {
  CheckViolationError,
  ConnectionError,
  createDatabase,
  DatabaseError,
  NotFoundError,
  OptimisticLockError,
  Repository,
  silentLogger,
  UniqueViolationError,
  ValidationError,
  withTransaction,
  type Database,
  type OrderBy,
  type RowOf,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { rejection } from '../support/spec-helpers.js';

interface Widgets {
  id: Generated<string>;
  name: string;
  qty: Generated<number>;
  rank: Generated<number>;
  tag: string | null;
  deletedAt: Date | null;
  version: Generated<number>;
  createdAt: Generated<Date>;
  updatedAt: Generated<Date>;
}
interface Plain {
  id: number;
  label: string;
  data: Buffer | null;
}
interface Schema {
  repoWidgets: Widgets;
  repoPlain: Plain;
}
type Widget = RowOf<Schema, 'repoWidgets'>;

describe('Repository (real PostgreSQL)', () => {
  let database: Database<Schema>;
  let widgets: Repository<Schema, 'repoWidgets'>;
  let plain: Repository<Schema, 'repoPlain'>;

  before(async () => {
    database = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
    const db = database.db;
    await sql`create table repo_widgets (
      id bigint generated always as identity primary key,
      name text not null constraint repo_widgets_name_key unique,
      qty int not null default 0 constraint repo_widgets_qty_check check (qty >= 0),
      rank int not null default 0,
      tag text,
      deleted_at timestamptz,
      version int not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
    await sql`create table repo_plain (id int primary key, label text not null, data bytea)`.execute(db);
    widgets = new Repository(db, 'repoWidgets', {
      softDelete: { column: 'deletedAt', kind: 'timestamp' },
      version: 'version',
    });
    plain = new Repository(db, 'repoPlain');
  });

  beforeEach(async () => {
    await sql`truncate repo_widgets restart identity`.execute(database.db);
    await sql`truncate repo_plain`.execute(database.db);
  });

  after(async () => {
    await database.close();
  });

  describe('create and find', () => {
    it('creates a row and returns it as stored, camelCase, with the int8 id as a string', async () => {
      const row = await widgets.create({ name: 'bolt', tag: 'x' });
      expect(row).to.include({ id: '1', name: 'bolt', qty: 0, tag: 'x', deletedAt: null, version: 1 });
      expect(row.createdAt).to.be.instanceOf(Date);
      expect(await widgets.findById('1')).to.deep.equal(row);
      expect(await widgets.findById(1)).to.deep.equal(row);
      expect(await widgets.findById(1n)).to.deep.equal(row);
    });

    it('findById is undefined and getById throws NotFoundError naming table and id when absent', async () => {
      expect(await widgets.findById(42)).to.equal(undefined);
      const error = await rejection(widgets.getById(42));
      expect(error).to.be.instanceOf(NotFoundError);
      expect(error).to.include({ table: 'repoWidgets', id: 42 });
      expect(error.message).to.contain('42');
    });

    it('refuses ids that are not integers, bigints or strings', async () => {
      for (const id of [1.5, NaN, Infinity, '', {}, [], null, 'a\0b', 2 ** 60]) {
        const error = await rejection(widgets.findById(id as never));
        expect(error, typeof id).to.be.instanceOf(ValidationError);
        expect((error as ValidationError).field).to.equal('id');
      }
    });

    it('findMany filters by equality, IN (array) and IS NULL (null), and takes a Kysely expression', async () => {
      await widgets.createMany([
        { name: 'a', qty: 1, tag: 'red' },
        { name: 'b', qty: 2, tag: 'blue' },
        { name: 'c', qty: 3, tag: null },
      ]);
      const names = (rows: Widget[]) => rows.map((r) => r.name);
      expect(names(await widgets.findMany({ where: { tag: 'red' } }))).to.deep.equal(['a']);
      expect(names(await widgets.findMany({ where: { name: ['a', 'c'] } }))).to.deep.equal(['a', 'c']);
      expect(names(await widgets.findMany({ where: { tag: null } }))).to.deep.equal(['c']);
      expect(
        names(await widgets.findMany({ where: (eb) => eb('qty', '>=', 2), orderBy: [['qty', 'desc']] })),
      ).to.deep.equal(['c', 'b']);
      expect(names(await widgets.findMany({ orderBy: 'name', limit: 2, offset: 1 }))).to.deep.equal(['b', 'c']);
      expect((await widgets.findOne({ tag: 'blue' }))?.name).to.equal('b');
      expect(await widgets.findOne({ tag: 'green' })).to.equal(undefined);
    });

    it('limits findMany to 100 by default and refuses limits outside 1..1000', async () => {
      await widgets.createMany(Array.from({ length: 120 }, (_, i) => ({ name: `w${i}` })));
      expect(await widgets.findMany()).to.have.length(100);
      expect(await widgets.findMany({ limit: 1000 })).to.have.length(120);
      for (const limit of [0, -1, 1001, 1.5, NaN, '10']) {
        const error = await rejection(widgets.findMany({ limit: limit as number }));
        expect(error).to.be.instanceOf(ValidationError).and.include({ field: 'limit' });
      }
      const offset = await rejection(widgets.findMany({ offset: -1 }));
      expect(offset).to.be.instanceOf(ValidationError).and.include({ field: 'offset' });
    });

    it('refuses where and order keys that are not columns, prototype keys included, naming them', async () => {
      const hostile = JSON.parse('{"__proto__": 1, "name": "a"}') as Record<string, unknown>;
      const proto = await rejection(widgets.findMany({ where: hostile as never }));
      expect(proto).to.be.instanceOf(ValidationError).and.include({ field: '__proto__' });
      const unknown = await rejection(widgets.findMany({ where: { 'name; drop table repo_widgets': 1 } as never }));
      expect(unknown).to.be.instanceOf(ValidationError).and.include({ field: 'name; drop table repo_widgets' });
      const order = await rejection(widgets.findMany({ orderBy: 'nope' as never }));
      expect(order).to.be.instanceOf(ValidationError).and.include({ field: 'orderBy' });
      const sideways = { orderBy: [['name', 'sideways']] } as unknown as Parameters<typeof widgets.findMany>[0];
      const direction = await rejection(widgets.findMany(sideways));
      expect(direction).to.be.instanceOf(ValidationError).and.include({ field: 'orderBy' });
      expect(await widgets.count()).to.equal(0);
    });

    it('count, exists and findAndCount', async () => {
      await widgets.createMany(Array.from({ length: 7 }, (_, i) => ({ name: `n${i}`, qty: i % 2 })));
      expect(await widgets.count()).to.equal(7);
      expect(await widgets.count({ qty: 1 })).to.equal(3);
      expect(await widgets.exists({ name: 'n3' })).to.equal(true);
      expect(await widgets.exists({ name: 'zz' })).to.equal(false);
      const { items, total } = await widgets.findAndCount({ where: { qty: 0 }, limit: 2, orderBy: 'name' });
      expect(items.map((r) => r.name)).to.deep.equal(['n0', 'n2']);
      expect(items[0]).not.to.have.property('krTotalCount');
      expect(total).to.equal(4);
      expect(await widgets.findAndCount({ limit: 5, offset: 50 })).to.deep.equal({ items: [], total: 7 });
    });
  });

  describe('pagination', () => {
    beforeEach(async () => {
      // 95 rows, many sharing a rank, so the primary key has to break ties
      await widgets.createMany(
        Array.from({ length: 95 }, (_, i) => ({ name: `p${String(i).padStart(3, '0')}`, rank: i % 4 })),
      );
    });

    async function allPages(orderBy: OrderBy<Schema, 'repoWidgets'> | undefined, limit: number) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await widgets.paginate({ orderBy, limit, cursor });
        seen.push(...page.items.map((r) => r.id));
        expect(page.hasMore).to.equal(page.nextCursor !== null);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
      return { seen, pages };
    }

    it('keyset pages cover every row exactly once, in a stable order, for uniform and mixed directions', async () => {
      for (const orderBy of [
        undefined,
        [['rank', 'desc']] as const,
        [
          ['rank', 'asc'],
          ['name', 'desc'],
        ] as const,
        [
          ['rank', 'desc'],
          ['id', 'asc'],
        ] as const,
      ]) {
        const { seen, pages } = await allPages(orderBy, 10);
        expect(new Set(seen).size, JSON.stringify(orderBy)).to.equal(95);
        expect(seen).to.have.length(95);
        expect(pages).to.equal(10);
        const sorted = await widgets.findMany({ orderBy, limit: 1000 });
        expect(seen).to.deep.equal(sorted.map((r) => r.id));
      }
    });

    it('pages by a timestamp column without losing rows that differ only in microseconds', async () => {
      await sql`truncate repo_widgets restart identity`.execute(database.db);
      await sql`insert into repo_widgets (name, created_at)
        select 'us' || g, timestamptz '2026-01-01 12:00:00+00' + g * interval '300 microseconds'
          from generate_series(1, 30) g`.execute(database.db);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await widgets.paginate({ orderBy: [['createdAt', 'desc']], limit: 7, cursor });
        expect(Object.keys(page.items[0] ?? {})).not.to.include('krCursorCreatedAt');
        seen.push(...page.items.map((r) => r.name));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(seen).to.have.length(30);
      expect(new Set(seen).size).to.equal(30);
      expect(seen[0]).to.equal('us30');
    });

    it('keeps the compiled statements of repositories with different options apart', async () => {
      const soft = new Repository(database.db, 'repoWidgets', {
        softDelete: { column: 'deletedAt', kind: 'timestamp' },
      });
      const everything = new Repository(database.db, 'repoWidgets');
      expect(await soft.count()).to.equal(95);
      const row = (await soft.findOne({ name: 'p000' }))!;
      await soft.delete(row.id);
      expect(await soft.count()).to.equal(94);
      expect(await everything.count()).to.equal(95);
      expect(await everything.findById(row.id)).to.include({ name: 'p000' });
    });

    it('reports the total only when asked, and hasMore false with a null cursor on the last page', async () => {
      const first = await widgets.paginate({ limit: 50 });
      expect(first).not.to.have.property('total');
      const second = await widgets.paginate({ limit: 50, cursor: first.nextCursor, withTotal: true });
      expect(second.items).to.have.length(45);
      expect(second).to.include({ hasMore: false, nextCursor: null, total: 95 });
    });

    it('offset pagination too', async () => {
      const page = await widgets.paginate({ limit: 20, offset: 90, orderBy: 'name', withTotal: true });
      expect(page.items.map((r) => r.name)).to.deep.equal(['p090', 'p091', 'p092', 'p093', 'p094']);
      expect(page).to.include({ hasMore: false, nextCursor: null, total: 95 });
      expect((await widgets.paginate({ limit: 20, offset: 0 })).hasMore).to.equal(true);
    });

    it('a tampered, truncated, garbage or foreign cursor is a ValidationError, never SQL', async () => {
      const { nextCursor } = await widgets.paginate({ limit: 5, orderBy: [['rank', 'desc']] });
      const cursor = nextCursor!;
      const [payload, sum] = cursor.split('.') as [string, string];
      const forged = Buffer.from(
        JSON.stringify([
          ['s', "1'); drop table repo_widgets; --"],
          ['s', '1'],
        ]),
      ).toString('base64url');
      for (const bad of [
        `${payload}.${sum.slice(0, -1)}A`,
        cursor.slice(0, -3),
        `${forged}.${sum}`,
        'not-a-cursor',
        '',
        'x'.repeat(10_000),
      ]) {
        const error = await rejection(widgets.paginate({ limit: 5, orderBy: [['rank', 'desc']], cursor: bad }));
        expect(error, bad.slice(0, 20)).to.be.instanceOf(ValidationError).and.include({ field: 'cursor' });
      }
      // a cursor of another sort order
      const foreign = await rejection(widgets.paginate({ limit: 5, orderBy: [['rank', 'asc']], cursor }));
      expect(foreign).to.be.instanceOf(ValidationError).and.include({ field: 'cursor' });
      expect(await widgets.count()).to.equal(95);
    });
  });

  describe('writes', () => {
    it('createMany inserts any number of rows in one call and returns them in order', async () => {
      const rows = await widgets.createMany(Array.from({ length: 2500 }, (_, i) => ({ name: `m${i}`, qty: i })));
      expect(rows).to.have.length(2500);
      expect(rows[2499]).to.include({ name: 'm2499', qty: 2499 });
      expect(await widgets.count()).to.equal(2500);
      expect(await widgets.createMany([])).to.deep.equal([]);
      expect(await widgets.createMany([{ name: 'quiet' }], { returning: false })).to.equal(1);
    });

    it('createMany gives rows with different columns their defaults', async () => {
      const rows = await widgets.createMany([{ name: 'x', qty: 5 }, { name: 'y' }, { name: 'z', tag: 't' }]);
      expect(rows.map((r) => [r.name, r.qty, r.tag])).to.have.deep.members([
        ['x', 5, null],
        ['y', 0, null],
        ['z', 0, 't'],
      ]);
    });

    it('createMany is all or nothing: a clash in the middle keeps none of the rows', async () => {
      await widgets.create({ name: 'taken' });
      const batch = [
        ...Array.from({ length: 30_000 }, (_, i) => ({ name: `ok${i}` })),
        { name: 'taken' },
        ...Array.from({ length: 10 }, (_, i) => ({ name: `after${i}` })),
      ];
      const error = await rejection(widgets.createMany(batch));
      expect(error).to.be.instanceOf(UniqueViolationError).and.include({ constraint: 'repo_widgets_name_key' });
      expect(await widgets.count()).to.equal(1);
    });

    it('createMany chunks multi-row VALUES under the 65,535 parameter limit, all in one transaction', async () => {
      // bytea values cannot travel as JSON: this takes the VALUES path, 3 parameters a row
      const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: i, label: `l${i}`, data: Buffer.from([i % 256]) }));
      const inserted = await plain.createMany(rows, { returning: false });
      expect(inserted).to.equal(30_000);
      expect(await plain.count()).to.equal(30_000);
      const clash = rows.slice(0, 25_000).map((r) => ({ ...r, id: r.id + 29_000 }));
      expect(await rejection(plain.createMany(clash))).to.be.instanceOf(UniqueViolationError);
      expect(await plain.count()).to.equal(30_000);
      expect((await plain.findById(7))?.data).to.deep.equal(Buffer.from([7]));
    });

    it('createMany without returning COPYs large batches, every value intact', async () => {
      const when = new Date('2026-05-04T03:02:01.123Z');
      const rows = Array.from({ length: 5000 }, (_, i) => ({
        name: `c${i}`,
        qty: i,
        tag: i % 3 === 0 ? null : `tab\there, newline\nand back\\slash ${'é😀'.repeat(i % 4)}`,
        deletedAt: i % 5 === 0 ? when : null,
      }));
      expect(await widgets.createMany(rows, { returning: false })).to.equal(5000);
      const stored = await widgets.findMany({ limit: 1000, orderBy: 'qty', withDeleted: true });
      expect(stored[1]).to.include({ name: 'c1', qty: 1, tag: rows[1]!.tag, deletedAt: null });
      expect(stored[10]?.deletedAt?.getTime()).to.equal(when.getTime());
      expect(stored[0]?.tag).to.equal(null);
      expect(await widgets.count(undefined, { withDeleted: true })).to.equal(5000);
      const { rows: copied } = await sql<{
        n: string;
      }>`select count(*) as n from repo_widgets where tag like '%\t%'`.execute(database.db);
      expect(Number(copied[0]?.n)).to.be.above(3000);
    });

    it('createMany by COPY is all or nothing, alone and inside a transaction that rolls back', async () => {
      await widgets.create({ name: 'taken' });
      const batch = [...Array.from({ length: 3000 }, (_, i) => ({ name: `k${i}` })), { name: 'taken' }];
      const error = await rejection(widgets.createMany(batch, { returning: false }));
      expect(error).to.be.instanceOf(UniqueViolationError).and.include({ constraint: 'repo_widgets_name_key' });
      expect(await widgets.count()).to.equal(1);
      await rejection(
        withTransaction(database.db, async () => {
          await widgets.createMany(
            Array.from({ length: 2000 }, (_, i) => ({ name: `t${i}` })),
            { returning: false },
          );
          expect(await widgets.count()).to.equal(2001);
          throw new Error('abort');
        }),
      );
      expect(await widgets.count()).to.equal(1);
    });

    it('refuses rows with generated or unknown columns', async () => {
      const generated = await rejection(widgets.create({ name: 'g', id: '5' }));
      expect(generated).to.be.instanceOf(ValidationError).and.include({ field: 'id' });
      const unknown = await rejection(widgets.createMany([{ name: 'u' }, { name: 'v', colour: 'red' } as never]));
      expect(unknown).to.be.instanceOf(ValidationError).and.include({ field: 'colour' });
      expect(await widgets.count()).to.equal(0);
    });

    it('update changes the row, bumps updatedAt and the version; a stale version is OptimisticLockError', async () => {
      const created = await widgets.create({ name: 'u1' });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const updated = await widgets.update(created.id, { qty: 3, version: created.version });
      expect(updated).to.include({ qty: 3, version: 2 });
      expect(updated!.updatedAt.getTime()).to.be.above(created.updatedAt.getTime());
      const stale = await rejection(widgets.update(created.id, { qty: 4, version: created.version }));
      expect(stale).to.be.instanceOf(OptimisticLockError);
      expect((await widgets.getById(created.id)).qty).to.equal(3);
      const missing = await rejection(widgets.update(created.id, { qty: 4 }));
      expect(missing).to.be.instanceOf(ValidationError).and.include({ field: 'version' });
      expect(await widgets.update(999, { qty: 1, version: 1 })).to.equal(undefined);
    });

    it('update of a table without a version column, and an empty patch returns the row unchanged', async () => {
      await plain.create({ id: 1, label: 'a', data: null });
      expect(await plain.update(1, { label: 'b' })).to.deep.equal({ id: 1, label: 'b', data: null });
      expect(await plain.update(1, {})).to.deep.equal({ id: 1, label: 'b', data: null });
      expect(await plain.update(2, { label: 'c' })).to.equal(undefined);
    });

    it('update maps constraint violations', async () => {
      await widgets.createMany([{ name: 'a' }, { name: 'b' }]);
      const b = (await widgets.findOne({ name: 'b' }))!;
      expect(await rejection(widgets.update(b.id, { name: 'a', version: b.version }))).to.be.instanceOf(
        UniqueViolationError,
      );
      expect(await rejection(widgets.update(b.id, { qty: -1, version: b.version }))).to.be.instanceOf(
        CheckViolationError,
      );
    });

    it('updateMany changes every matching live row and returns the count', async () => {
      await widgets.createMany([{ name: 'a', tag: 't' }, { name: 'b', tag: 't' }, { name: 'c' }]);
      expect(await widgets.updateMany({ tag: 't' }, { qty: 9 })).to.equal(2);
      expect(await widgets.updateMany((eb) => eb('qty', '=', 9), { rank: 1 })).to.equal(2);
      expect(await widgets.count({ rank: 1, qty: 9 })).to.equal(2);
    });

    it('upsert inserts, then updates on conflict', async () => {
      const first = await widgets.upsert({ name: 'k', qty: 1 }, ['name']);
      const second = await widgets.upsert({ name: 'k', qty: 2 }, ['name']);
      expect(second).to.include({ id: first.id, qty: 2 });
      expect(await widgets.upsert({ name: 'k' }, ['name'])).to.include({ id: first.id, qty: 2 });
      expect(await widgets.count()).to.equal(1);
      const missing = await rejection(widgets.upsert({ qty: 1 } as never, ['name']));
      expect(missing).to.be.instanceOf(ValidationError);
    });

    it('increment and decrement are atomic in SQL', async () => {
      const row = await widgets.create({ name: 'counter' });
      await Promise.all(Array.from({ length: 20 }, () => widgets.increment(row.id, 'qty')));
      expect((await widgets.getById(row.id)).qty).to.equal(20);
      expect((await widgets.decrement(row.id, 'qty', 5))?.qty).to.equal(15);
      expect(await rejection(widgets.increment(row.id, 'qty', NaN))).to.be.instanceOf(ValidationError);
      expect(await widgets.increment(12345, 'qty')).to.equal(undefined);
    });
  });

  describe('soft delete', () => {
    it('delete marks the row; finders skip it unless asked; restore undoes it', async () => {
      const row = await widgets.create({ name: 'gone' });
      expect(await widgets.delete(row.id)).to.equal(true);
      expect(await widgets.delete(row.id)).to.equal(false);
      expect(await widgets.findById(row.id)).to.equal(undefined);
      expect(await widgets.findById(row.id, { withDeleted: true })).to.include({ name: 'gone' });
      expect(await widgets.count()).to.equal(0);
      expect(await widgets.count(undefined, { onlyDeleted: true })).to.equal(1);
      expect((await widgets.findMany({ onlyDeleted: true })).map((r) => r.name)).to.deep.equal(['gone']);
      expect(await widgets.update(row.id, { qty: 1, version: row.version })).to.equal(undefined);
      expect(await widgets.restore(row.id)).to.equal(true);
      expect(await widgets.restore(row.id)).to.equal(false);
      expect((await widgets.getById(row.id)).deletedAt).to.equal(null);
    });

    it('delete without softDelete removes the row; restore is a DatabaseError', async () => {
      await plain.create({ id: 1, label: 'a', data: null });
      expect(await plain.delete(1)).to.equal(true);
      expect(await plain.count(undefined, { withDeleted: true })).to.equal(0);
      expect(await rejection(plain.restore(1))).to.be.instanceOf(DatabaseError);
    });
  });

  describe('transactions', () => {
    it('calls made inside withTransaction join it and roll back with it', async () => {
      const error = await rejection(
        withTransaction(database.db, async () => {
          await widgets.create({ name: 'in-tx' });
          await widgets.createMany([{ name: 'in-tx-2' }, { name: 'in-tx-3' }]);
          expect(await widgets.count()).to.equal(3);
          throw new Error('abort');
        }),
      );
      expect(error.message).to.equal('abort');
      expect(await widgets.count()).to.equal(0);
    });

    it('repo.withTransaction(trx) binds a transaction explicitly', async () => {
      const trx = await database.db.startTransaction().execute();
      const bound = widgets.withTransaction(trx);
      await bound.create({ name: 'bound' });
      expect(await bound.count()).to.equal(1);
      expect(await widgets.count()).to.equal(0);
      await trx.rollback().execute();
      expect(await widgets.count()).to.equal(0);
    });

    it('a transaction that has ended is never reused for a later call through it', async () => {
      const trx = await database.db.startTransaction().execute();
      const bound = widgets.withTransaction(trx);
      await bound.create({ name: 'in' });
      await bound.findById(1);
      await trx.commit().execute();
      // the connection is back in the pool (maybe serving someone else): the call must not run on it
      const error = await rejection(bound.findById(1));
      expect(error.message).to.match(/committed|transaction/i);
      expect(await widgets.count()).to.equal(1);
    });

    it('runs its statements as named prepared statements, one per query shape', async () => {
      await withTransaction(database.db, async (trx) => {
        const prepared = async () =>
          (
            await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(
              trx,
            )
          ).rows;
        await widgets.create({ name: 'prep' });
        await widgets.findById(1);
        const before = await prepared();
        await widgets.findById(2);
        await widgets.findById(3);
        await widgets.create({ name: 'prep2' });
        expect(await prepared()).to.deep.equal(before);
        const findById = before.filter((r) =>
          /^select .+ from "repo_widgets" where "id" = \$1 and "deleted_at" is null$/.test(r.statement),
        );
        expect(findById).to.have.length(1);
        expect(findById[0]?.name).to.match(/^kr_/);
      });
    });
  });

  describe('dependency injection', () => {
    it('methods live on the prototype, so sinon can stub them, and bound copies keep the stubs', async () => {
      const sandbox = sinon.createSandbox();
      try {
        const repo = new Repository(database.db, 'repoWidgets');
        const fake = { id: '7', name: 'stub' } as Widget;
        sandbox.stub(repo, 'findById').resolves(fake);
        expect(await repo.findById('7')).to.equal(fake);
        expect(await repo.withTransaction(database.db).findById('7')).to.equal(fake);
        expect(Object.getOwnPropertyNames(Repository.prototype)).to.include.members([
          'findById',
          'getById',
          'findOne',
          'findMany',
          'paginate',
          'count',
          'exists',
          'create',
          'createMany',
          'update',
          'updateMany',
          'upsert',
          'delete',
          'restore',
          'withTransaction',
          'findAndCount',
          'increment',
          'decrement',
        ]);
      } finally {
        sandbox.restore();
      }
    });
  });

  describe('errors', () => {
    it('a repository on a closed Database fails with ConnectionError', async () => {
      const closed = createDatabase<Schema>({ config: testConfig(), logger: silentLogger });
      const repo = new Repository(closed.db, 'repoPlain');
      await repo.count();
      await closed.close();
      expect(await rejection(repo.count())).to.be.instanceOf(ConnectionError);
    });

    it('a table that does not exist is a NotFoundError', async () => {
      const repo = new Repository(database.db, 'repoNothing' as 'repoPlain');
      expect(await rejection(repo.findById(1))).to.be.instanceOf(NotFoundError);
    });
  });
});
