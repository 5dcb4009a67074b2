import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import {
  createDatabase,
  DatabaseError,
  getTableInfo,
  migrateToLatest,
  NotFoundError,
  silentLogger,
  vacuumAnalyze,
  ValidationError,
  withTransaction,
  type Database,
  type TableInfo,
} from '../../lib/index.js';
import { testConfig } from '../support/test-config.js';
import { createScratchDatabase } from '../support/test-server.js';
import { rejection } from '../support/spec-helpers.js';

/** Names that must never be anything but a table that does not exist. */
const HOSTILE_NAMES = [
  'users; drop table users',
  'users; drop table users; --',
  '"users"',
  'users"; drop table users; --',
  'users--',
  'users/*',
  "users'",
  "users'; drop table users; --",
  'users\u0000',
  '\u0000',
  'USERS',
  ' users',
  'users ',
  'public.users; drop table users',
  'public."users"',
  'users.public',
  `${'users'.repeat(20)}`,
];

/** Deletes on one pooled connection and flushes that session's statistics before it is returned. */
async function deleteAndFlush(db: Kysely<unknown>, statement: ReturnType<typeof sql>): Promise<void> {
  await db.connection().execute(async (connection) => {
    await statement.execute(connection);
    await sql`select pg_stat_force_next_flush()`.execute(connection);
  });
}

async function tableExists(db: Kysely<unknown>, name: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`select to_regclass(${name}) is not null as found`.execute(db);
  return rows[0]?.found === true;
}

describe('maintenance (real PostgreSQL)', () => {
  let scratch: { url: string; drop(): Promise<void> };
  let database: Database<unknown>;
  let db: Kysely<unknown>;

  before(async () => {
    scratch = await createScratchDatabase('kr_maint');
    database = createDatabase<unknown>({ config: testConfig({ DATABASE_URL: scratch.url }), logger: silentLogger });
    db = database.db;
    await migrateToLatest(db);
    await sql`insert into users (username, email, password_hash) values ('mallory', 'm@example.com', 'x')`.execute(db);
    await sql`
      create table mt_parents (
        id bigint generated always as identity primary key,
        code text not null constraint mt_parents_code_key unique,
        label varchar(40) default 'none',
        quantity integer not null default 0,
        doubled integer generated always as (quantity * 2) stored,
        created_at timestamptz not null default now()
      ) with (autovacuum_enabled = false)
    `.execute(db);
    await sql`create index mt_parents_lower_label on mt_parents (lower(label))`.execute(db);
    await sql`
      create table mt_children (
        id integer primary key,
        parent_id bigint not null,
        parent_code text,
        note text,
        constraint mt_children_parent_fk foreign key (parent_id) references mt_parents (id) on delete cascade,
        constraint mt_children_code_fk foreign key (parent_code) references mt_parents (code) on update set null
      ) with (autovacuum_enabled = false)
    `.execute(db);
    await sql`insert into mt_parents (code, quantity) select 'c' || g, g from generate_series(1, 100) g`.execute(db);
    await sql`insert into mt_children (id, parent_id) select g, g from generate_series(1, 10) g`.execute(db);
    await deleteAndFlush(db, sql`delete from mt_parents where id > 60`);
    await sql`create schema mt_other`.execute(db);
    await sql`create table mt_other."Odd ""Name""; drop table users" (id integer primary key)`.execute(db);
    await sql`create view mt_view as select id from mt_parents`.execute(db);
  });

  after(async () => {
    await database?.close();
    await scratch?.drop();
  });

  describe('getTableInfo', () => {
    let info: TableInfo;

    before(async () => {
      info = await getTableInfo(db, 'mt_parents');
    });

    it('names the table and its schema', () => {
      expect(info).to.include({ schema: 'public', name: 'mt_parents', kind: 'table' });
    });

    it('lists the columns in order with SQL names, types, nullability and defaults', () => {
      expect(info.columns.map((c) => c.name)).to.deep.equal([
        'id',
        'code',
        'label',
        'quantity',
        'doubled',
        'created_at',
      ]);
      const byName = new Map(info.columns.map((c) => [c.name, c]));
      expect(byName.get('id')).to.deep.equal({
        name: 'id',
        type: 'bigint',
        nullable: false,
        default: null,
        identity: 'always',
        generated: null,
      });
      expect(byName.get('code')).to.include({ type: 'text', nullable: false, default: null, identity: null });
      expect(byName.get('label')).to.include({ type: 'character varying(40)', nullable: true });
      expect(byName.get('label')?.default).to.match(/^'none'/);
      expect(byName.get('quantity')).to.include({ type: 'integer', nullable: false, default: '0' });
      expect(byName.get('doubled')).to.include({ default: null, generated: '(quantity * 2)' });
      expect(byName.get('created_at')).to.include({ type: 'timestamp with time zone', default: 'now()' });
    });

    it('reports the primary key', () => {
      expect(info.primaryKey).to.deep.equal(['id']);
    });

    it('reports every index with its columns, uniqueness and size', () => {
      expect(info.indexes.map((i) => i.name)).to.deep.equal([
        'mt_parents_code_key',
        'mt_parents_lower_label',
        'mt_parents_pkey',
      ]);
      const [code, lower, pkey] = info.indexes;
      expect(code).to.include({ unique: true, primary: false });
      expect(code?.columns).to.deep.equal(['code']);
      expect(code?.definition).to.match(
        /^CREATE UNIQUE INDEX mt_parents_code_key ON public\.mt_parents USING btree \(code\)$/,
      );
      expect(lower).to.include({ unique: false, primary: false });
      expect(lower?.columns).to.deep.equal(['lower(label::text)']);
      expect(pkey).to.include({ unique: true, primary: true });
      expect(pkey?.columns).to.deep.equal(['id']);
      for (const index of info.indexes) expect(index.sizeBytes).to.be.a('number').and.above(0);
    });

    it('reports the foreign keys of the referencing table with their actions', async () => {
      const children = await getTableInfo(db, 'mt_children');
      expect(children.foreignKeys).to.deep.equal([
        {
          name: 'mt_children_code_fk',
          columns: ['parent_code'],
          referencedSchema: 'public',
          referencedTable: 'mt_parents',
          referencedColumns: ['code'],
          onDelete: 'no action',
          onUpdate: 'set null',
        },
        {
          name: 'mt_children_parent_fk',
          columns: ['parent_id'],
          referencedSchema: 'public',
          referencedTable: 'mt_parents',
          referencedColumns: ['id'],
          onDelete: 'cascade',
          onUpdate: 'no action',
        },
      ]);
      expect(info.foreignKeys).to.deep.equal([]);
      expect(children.rowCount).to.equal(10);
    });

    it('counts rows exactly, reports sizes in bytes and the dead tuples of the deletes', () => {
      expect(info.rowCount).to.equal(60);
      expect(info.sizeBytes).to.be.a('number').and.above(0);
      expect(info.indexSizeBytes).to.equal(info.indexes.reduce((sum, i) => sum + i.sizeBytes, 0));
      expect(info.totalSizeBytes).to.equal(info.sizeBytes + info.indexSizeBytes);
      expect(info.deadTuples).to.be.a('number').and.at.least(40);
      // never vacuumed or analyzed: no planner estimate yet, no maintenance times
      expect(info.estimatedRows).to.equal(null);
      expect(info).to.include({ lastVacuum: null, lastAnalyze: null, lastAutovacuum: null, lastAutoanalyze: null });
    });

    it('reports SQL names whatever the Kysely plugins (the Database maps to camelCase)', () => {
      expect(info.columns.map((c) => c.name)).to.include('created_at');
    });

    it('accepts schema.table, and quotes catalog names it did not get from the caller', async () => {
      expect((await getTableInfo(db, 'public.mt_parents')).name).to.equal('mt_parents');
      const odd = await getTableInfo(db, 'mt_other.Odd "Name"; drop table users');
      expect(odd).to.include({ schema: 'mt_other', name: 'Odd "Name"; drop table users', rowCount: 0 });
      expect(odd.primaryKey).to.deep.equal(['id']);
      expect(await tableExists(db, 'public.users')).to.equal(true);
    });

    it('an unknown table is NotFoundError naming it', async () => {
      const error = await rejection(getTableInfo(db, 'no_such_table'));
      expect(error).to.be.instanceOf(NotFoundError);
      expect(error.message).to.contain('"no_such_table"');
      expect(error).to.include({ table: 'no_such_table', id: 'no_such_table' });
    });

    it('a view, or a table of another schema without its schema, is NotFoundError', async () => {
      expect(await rejection(getTableInfo(db, 'mt_view'))).to.be.instanceOf(NotFoundError);
      expect(await rejection(getTableInfo(db, 'Odd "Name"; drop table users'))).to.be.instanceOf(NotFoundError);
      expect(await rejection(getTableInfo(db, 'nope.mt_parents'))).to.be.instanceOf(NotFoundError);
    });

    it('hostile names are tables that do not exist, and users is still there', async () => {
      const before = await sql<{ n: string }>`select count(*) as n from users`.execute(db);
      for (const name of HOSTILE_NAMES) {
        const error = await rejection(getTableInfo(db, name));
        expect(error, JSON.stringify(name)).to.be.instanceOf(NotFoundError);
        expect(error.message).to.contain(JSON.stringify(name));
      }
      expect(await tableExists(db, 'public.users')).to.equal(true);
      const after = await sql<{ n: string }>`select count(*) as n from users`.execute(db);
      expect(after.rows).to.deep.equal(before.rows);
    });

    it('a table name that is not a string is ValidationError', async () => {
      expect(await rejection(getTableInfo(db, 42 as unknown as string))).to.be.instanceOf(ValidationError);
    });

    it('inside withTransaction, reads through the transaction (sees its uncommitted table)', async () => {
      await withTransaction(db, async (trx) => {
        await sql`create table mt_in_trx2 (id integer primary key)`.execute(trx);
        const inner = await getTableInfo(db, 'mt_in_trx2');
        expect(inner.columns.map((c) => c.name)).to.deep.equal(['id']);
        throw new Error('roll back');
      }).catch((error: unknown) => expect((error as Error).message).to.equal('roll back'));
      expect(await rejection(getTableInfo(db, 'mt_in_trx2'))).to.be.instanceOf(NotFoundError);
    });
  });

  describe('table names as a Repository takes them (camelCase) as well as SQL names', () => {
    before(async () => {
      await sql`create table mt_order_items (id integer primary key, unit_price numeric)`.execute(db);
      await sql`create table "mtCamelExact" (id integer primary key)`.execute(db);
      await sql`create table mt_camel_exact (id integer primary key, other integer)`.execute(db);
    });

    it('getTableInfo takes the camelCase name, the SQL name and schema-qualified forms of both', async () => {
      for (const name of ['mtOrderItems', 'mt_order_items', 'public.mtOrderItems', 'public.mt_order_items']) {
        const info = await getTableInfo(db, name);
        expect(info, name).to.include({ schema: 'public', name: 'mt_order_items' });
        expect(info.columns.map((c) => c.name)).to.deep.equal(['id', 'unit_price']);
      }
    });

    it('a table whose SQL name is the exact name given wins over the snake_case mapping', async () => {
      expect((await getTableInfo(db, 'mtCamelExact')).name).to.equal('mtCamelExact');
      expect((await getTableInfo(db, 'mt_camel_exact')).name).to.equal('mt_camel_exact');
    });

    it('without the CamelCasePlugin only the SQL name is found', async () => {
      const plain = db.withoutPlugins();
      expect((await getTableInfo(plain, 'mt_order_items')).name).to.equal('mt_order_items');
      const error = await rejection(getTableInfo(plain, 'mtOrderItems'));
      expect(error).to.be.instanceOf(NotFoundError);
      expect(error.message).to.equal('table "mtOrderItems" does not exist');
    });

    it('an unknown camelCase name is NotFoundError naming both names it looked for', async () => {
      const error = await rejection(getTableInfo(db, 'mtNoSuchItems'));
      expect(error).to.be.instanceOf(NotFoundError).and.include({ table: 'mtNoSuchItems' });
      expect(error.message).to.equal('table "mtNoSuchItems" does not exist (nor "mt_no_such_items")');
    });

    it('vacuumAnalyze takes the same names', async () => {
      await vacuumAnalyze(db, 'mtOrderItems');
      await vacuumAnalyze(db, 'public.mtOrderItems');
      expect((await getTableInfo(db, 'mtOrderItems')).lastVacuum).to.be.instanceOf(Date);
      expect(await rejection(vacuumAnalyze(db, 'mtNoSuchItems'))).to.be.instanceOf(NotFoundError);
    });
  });

  describe('vacuumAnalyze', () => {
    it('vacuums and analyzes one table: dead tuples gone, times set, estimate present', async () => {
      const started = new Date(Date.now() - 1_000);
      await vacuumAnalyze(db, 'mt_parents');
      const info = await getTableInfo(db, 'mt_parents');
      expect(info.lastVacuum).to.be.instanceOf(Date);
      expect(info.lastAnalyze).to.be.instanceOf(Date);
      expect(info.lastVacuum?.getTime()).to.be.at.least(started.getTime());
      expect(info.lastAnalyze?.getTime()).to.be.at.least(started.getTime());
      expect(info.deadTuples).to.equal(0);
      expect(info.estimatedRows).to.equal(60);
      expect(info.rowCount).to.equal(60);
    });

    it('vacuums a table whose catalog name needs quoting, given as schema.table', async () => {
      await vacuumAnalyze(db, 'mt_other.Odd "Name"; drop table users');
      expect((await getTableInfo(db, 'mt_other.Odd "Name"; drop table users')).lastVacuum).to.be.instanceOf(Date);
      expect(await tableExists(db, 'public.users')).to.equal(true);
    });

    it('vacuums the whole database', async () => {
      await vacuumAnalyze(db);
      expect((await getTableInfo(db, 'mt_children')).lastVacuum).to.be.instanceOf(Date);
    });

    it('an unknown or hostile table is NotFoundError, and nothing runs', async () => {
      expect(await rejection(vacuumAnalyze(db, 'no_such_table'))).to.be.instanceOf(NotFoundError);
      for (const name of HOSTILE_NAMES) {
        expect(await rejection(vacuumAnalyze(db, name)), JSON.stringify(name)).to.be.instanceOf(NotFoundError);
      }
      expect(await tableExists(db, 'public.users')).to.equal(true);
    });

    it('inside withTransaction is a clear DatabaseError, not a PostgreSQL one', async () => {
      const error = await rejection(withTransaction(db, () => vacuumAnalyze(db, 'mt_parents')));
      expect(error).to.be.instanceOf(DatabaseError);
      expect(error.message).to.contain('cannot run inside a transaction');
      expect((error as DatabaseError).code).to.equal(undefined);
      const whole = await rejection(withTransaction(db, () => vacuumAnalyze(db)));
      expect(whole.message).to.contain('cannot run inside a transaction');
    });

    it('given a Transaction is the same clear DatabaseError', async () => {
      const error = await rejection(db.transaction().execute((trx) => vacuumAnalyze(trx)));
      expect(error).to.be.instanceOf(DatabaseError);
      expect(error.message).to.contain('cannot run inside a transaction');
    });
  });
});
