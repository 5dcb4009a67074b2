import { expect } from 'chai';
import type { Kysely } from 'kysely';
import pg from 'pg';
import {
  CheckViolationError,
  createDatabase,
  DatabaseError,
  mapError,
  migrateDown,
  migrateToLatest,
  migrationStatus,
  silentLogger,
  UniqueViolationError,
  type Database,
  type DB,
} from '../../lib/index.js';
import { migrations } from '../../schema/migrations/index.js';
import { testConfig } from '../support/test-config.js';
import { createScratchDatabase } from '../support/test-server.js';
import { rejection, planNodes } from '../support/spec-helpers.js';

const CREATE_USERS = '2026-11-27-001-create-users';
const USERNAME_LOWER_KEY = '2026-12-07-002-users-username-lower-key';
const HASH = '$2b$12$C6UzMDM.H6dfI/f/IKcEeO5x9hC0XGm0GqzWvW1kYQ3lWm9cMh4yS';

/** A Database (CamelCasePlugin on, as apps get it) and a raw pg client on a fresh database. */
async function scratch(prefix: string): Promise<{
  database: Database<DB>;
  client: pg.Client;
  close(): Promise<void>;
}> {
  const target = await createScratchDatabase(prefix);
  const database = createDatabase<DB>({ config: testConfig({ DATABASE_URL: target.url }), logger: silentLogger });
  const client = new pg.Client({ connectionString: target.url });
  client.on('error', () => undefined);
  await client.connect();
  return {
    database,
    client,
    close: async () => {
      await client.end();
      await database.close();
      await target.drop();
    },
  };
}

describe('schema: migrations', () => {
  it('are named by date and order, each with up and down', () => {
    const names = Object.keys(migrations);
    expect(names).to.include(CREATE_USERS);
    expect([...names].sort()).to.deep.equal(names);
    for (const name of names) {
      expect(name).to.match(/^\d{4}-\d{2}-\d{2}-\d{3}-[a-z0-9-]+$/);
      expect(migrations[name]?.up).to.be.a('function');
      expect(migrations[name]?.down).to.be.a('function');
    }
  });

  describe('on a fresh database (through createDatabase, CamelCasePlugin on)', () => {
    let database: Database<DB>;
    let db: Kysely<DB>;
    let client: pg.Client;
    let close: () => Promise<void>;

    /** Inserts a row with raw SQL; returns what pg threw, mapped, or undefined. */
    async function insertRaw(row: { username: string; email: string; passwordHash?: string }) {
      try {
        await client.query('insert into users (username, email, password_hash) values ($1, $2, $3)', [
          row.username,
          row.email,
          row.passwordHash ?? HASH,
        ]);
        return undefined;
      } catch (error) {
        return mapError(error);
      }
    }

    /** Every constraint and index of `users`, as the catalog prints them. */
    async function schemaSnapshot(): Promise<string[]> {
      const { rows } = await client.query<{ line: string }>(`
        select conname || ': ' || pg_get_constraintdef(oid) as line from pg_constraint
        where conrelid = 'users'::regclass
        union all
        select indexname || ': ' || indexdef from pg_indexes where tablename = 'users'
        union all
        select tgname || ': ' || pg_get_triggerdef(oid) from pg_trigger
        where tgrelid = 'users'::regclass and not tgisinternal
        order by 1
      `);
      return rows.map((row) => row.line);
    }

    before(async () => {
      ({ database, client, close } = await scratch('kr_schema'));
      db = database.db;
    });

    after(async () => {
      await close();
    });

    it('reports every migration pending before the first run, without creating anything', async () => {
      const status = await migrationStatus(db);
      expect(status.map((m) => [m.name, m.pending, m.executedAt])).to.deep.include([CREATE_USERS, true, undefined]);
      expect(status.every((m) => m.pending)).to.equal(true);
      const { rows } = await client.query("select to_regclass('kysely_migration') as t, to_regclass('users') as u");
      expect(rows[0]).to.deep.equal({ t: null, u: null });
    });

    it('migrates to the latest, then has nothing left to do', async () => {
      const first = await migrateToLatest(db);
      expect(first.steps).to.deep.equal(
        Object.keys(migrations).map((name) => ({ name, direction: 'up', status: 'done' })),
      );
      expect((await migrateToLatest(db)).steps).to.deep.equal([]);
      const status = await migrationStatus(db);
      expect(status.every((m) => !m.pending && m.executedAt instanceof Date)).to.equal(true);
    });

    it('creates users with the intended columns (identity generated always, timestamptz, defaults)', async () => {
      const { rows } = await client.query(`
        select column_name as name, data_type as type, character_maximum_length as max, is_nullable as nullable,
               column_default as default, is_identity as identity, identity_generation as generation
        from information_schema.columns where table_name = 'users' order by ordinal_position
      `);
      expect(rows).to.deep.equal([
        { name: 'id', type: 'bigint', max: null, nullable: 'NO', default: null, identity: 'YES', generation: 'ALWAYS' },
        {
          name: 'username',
          type: 'character varying',
          max: 50,
          nullable: 'NO',
          default: null,
          identity: 'NO',
          generation: null,
        },
        {
          name: 'email',
          type: 'character varying',
          max: 255,
          nullable: 'NO',
          default: null,
          identity: 'NO',
          generation: null,
        },
        {
          name: 'password_hash',
          type: 'text',
          max: null,
          nullable: 'NO',
          default: null,
          identity: 'NO',
          generation: null,
        },
        {
          name: 'is_active',
          type: 'boolean',
          max: null,
          nullable: 'NO',
          default: 'true',
          identity: 'NO',
          generation: null,
        },
        {
          name: 'created_at',
          type: 'timestamp with time zone',
          max: null,
          nullable: 'NO',
          default: 'now()',
          identity: 'NO',
          generation: null,
        },
        {
          name: 'updated_at',
          type: 'timestamp with time zone',
          max: null,
          nullable: 'NO',
          default: 'now()',
          identity: 'NO',
          generation: null,
        },
      ]);
    });

    it('names every constraint and index explicitly', async () => {
      const { rows: constraints } = await client.query<{ name: string; type: string }>(`
        select conname as name, contype as type from pg_constraint where conrelid = 'users'::regclass order by conname
      `);
      expect(constraints).to.deep.equal([
        { name: 'users_email_format_check', type: 'c' },
        { name: 'users_email_length_check', type: 'c' },
        { name: 'users_email_normalized_check', type: 'c' },
        { name: 'users_password_hash_check', type: 'c' },
        { name: 'users_pkey', type: 'p' },
        { name: 'users_username_format_check', type: 'c' },
        { name: 'users_username_key', type: 'u' },
        { name: 'users_username_length_check', type: 'c' },
      ]);
      const { rows: indexes } = await client.query<{ name: string; def: string }>(`
        select indexname as name, indexdef as def from pg_indexes where tablename = 'users' order by indexname
      `);
      expect(indexes.map((index) => index.name)).to.deep.equal([
        'users_active_created_at_idx',
        'users_email_lower_key',
        'users_pkey',
        'users_username_key',
        'users_username_lower_key',
      ]);
      const def = (name: string) => indexes.find((index) => index.name === name)?.def;
      expect(def('users_email_lower_key')).to.match(
        /^CREATE UNIQUE INDEX .* USING btree \(lower\(\(email\)::text\)\)$/,
      );
      expect(def('users_username_lower_key')).to.match(
        /^CREATE UNIQUE INDEX .* USING btree \(lower\(\(username\)::text\)\)$/,
      );
      expect(def('users_active_created_at_idx')).to.match(/USING btree \(created_at DESC, id DESC\) WHERE is_active$/);
    });

    it('accepts rows that follow the user rules', async () => {
      for (const username of ['ada', 'Ada.Lovelace_1815-x', 'a'.repeat(50)]) {
        expect(await insertRaw({ username, email: `${username.toLowerCase()}@example.com` })).to.equal(undefined);
      }
      expect(await insertRaw({ username: 'longmail', email: `${'m'.repeat(242)}@example.com` })).to.equal(undefined);
      await client.query('delete from users');
    });

    const rejected: [string, { username: string; email: string; passwordHash?: string }, string][] = [
      ['a too-short username', { username: 'ab', email: 'ab@example.com' }, 'users_username_length_check'],
      // PostgreSQL runs check constraints in name order: an empty name fails the format check first
      ['an empty username', { username: '', email: 'empty@example.com' }, 'users_username_format_check'],
      ['a username with a space', { username: 'ada lovelace', email: 'a1@example.com' }, 'users_username_format_check'],
      [
        'a username with other characters',
        { username: 'ada!', email: 'a2@example.com' },
        'users_username_format_check',
      ],
      [
        'a username with non-ASCII letters',
        { username: 'zoë', email: 'a3@example.com' },
        'users_username_format_check',
      ],
      ['an upper-case email', { username: 'ada', email: 'Ada@Example.com' }, 'users_email_normalized_check'],
      ['an untrimmed email', { username: 'ada', email: ' ada@example.com' }, 'users_email_format_check'],
      ['an email without @', { username: 'ada', email: 'ada.example.com' }, 'users_email_format_check'],
      ['an email with two @', { username: 'ada', email: 'ada@b@example.com' }, 'users_email_format_check'],
      ['an over-long email', { username: 'ada', email: `${'m'.repeat(243)}@example.com` }, 'users_email_length_check'],
      [
        'an empty password hash',
        { username: 'ada', email: 'ada@example.com', passwordHash: '' },
        'users_password_hash_check',
      ],
      [
        'a password hash with spaces',
        { username: 'ada', email: 'ada@example.com', passwordHash: 'not a hash' },
        'users_password_hash_check',
      ],
    ];
    for (const [what, row, constraint] of rejected) {
      it(`rejects ${what} through raw SQL (${constraint})`, async () => {
        const error = await insertRaw(row);
        expect(error).to.be.instanceOf(CheckViolationError);
        expect(error?.code).to.equal('23514');
        expect(error?.constraint).to.equal(constraint);
        expect(error?.table).to.equal('users');
      });
    }

    it('keeps usernames unique (users_username_key)', async () => {
      expect(await insertRaw({ username: 'ada', email: 'ada@example.com' })).to.equal(undefined);
      const error = await insertRaw({ username: 'ada', email: 'other@example.com' });
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect(error?.constraint).to.equal('users_username_key');
      expect(error?.column).to.equal('username');
    });

    it('keeps emails unique case-insensitively (users_email_lower_key), even without the lower-case check', async () => {
      const same = await insertRaw({ username: 'ada2', email: 'ada@example.com' });
      expect(same).to.be.instanceOf(UniqueViolationError);
      expect(same?.constraint).to.equal('users_email_lower_key');
      expect(same?.column).to.equal('email');

      // with the normalisation check out of the way, the index alone still refuses another case
      await client.query('begin');
      try {
        await client.query('alter table users drop constraint users_email_normalized_check');
        await client.query('savepoint upper');
        const upper = await insertRaw({ username: 'ada3', email: 'ADA@EXAMPLE.COM' });
        expect(upper).to.be.instanceOf(UniqueViolationError);
        expect(upper?.constraint).to.equal('users_email_lower_key');
      } finally {
        await client.query('rollback');
      }
      await client.query('delete from users');
    });

    it('generates ids as strings and refuses an id set by hand', async () => {
      const row = await db
        .insertInto('users')
        .values({ username: 'grace', email: 'grace@example.com', passwordHash: HASH })
        .returning(['id', 'isActive', 'createdAt', 'updatedAt'])
        .executeTakeFirstOrThrow();
      expect(row.id).to.be.a('string').and.match(/^\d+$/);
      expect(row.isActive).to.equal(true);
      expect(row.createdAt).to.be.instanceOf(Date);
      expect(row.updatedAt).to.be.instanceOf(Date);

      const error = await rejection(
        client.query("insert into users (id, username, email, password_hash) values (999, 'x_y', 'x@y.z', $1)", [HASH]),
      );
      expect(mapError(error).code).to.equal('428C9'); // generated always: cannot insert a non-default value
    });

    it('moves updated_at forward on update unless the update sets it', async () => {
      await client.query("update users set updated_at = '2000-01-01T00:00:00Z' where username = 'grace'");
      const pinned = await db
        .selectFrom('users')
        .select('updatedAt')
        .where('username', '=', 'grace')
        .executeTakeFirst();
      expect(pinned?.updatedAt.toISOString()).to.equal('2000-01-01T00:00:00.000Z');

      await db.updateTable('users').set({ isActive: false }).where('username', '=', 'grace').execute();
      const moved = await db.selectFrom('users').select('updatedAt').where('username', '=', 'grace').executeTakeFirst();
      expect(moved?.updatedAt.getTime()).to.be.greaterThan(Date.now() - 60_000);
      await client.query('delete from users');
    });

    it('serves "active users, newest first" from users_active_created_at_idx', async function () {
      this.timeout(60_000);
      await client.query(
        `insert into users (username, email, password_hash, is_active, created_at)
         select 'user_' || i, 'user' || i || '@example.com', $1, i % 10 <> 0,
                timestamptz '2026-01-01' + i * interval '1 minute'
         from generate_series(1, 20000) as i`,
        [HASH],
      );
      await client.query('analyze users');

      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
        'explain (format json) select * from users where is_active order by created_at desc, id desc limit 20',
      );
      // the index gives the order and the filter: no sort, no scan of the whole table
      expect(planNodes(rows[0]?.['QUERY PLAN'])).to.deep.equal([
        'Limit',
        'Index Scan using users_active_created_at_idx',
      ]);

      // the query a repository builds (`is_active = true`, camelCase names) gets the same plan
      const plan = await db
        .selectFrom('users')
        .selectAll()
        .where('isActive', '=', true)
        .orderBy('createdAt', 'desc')
        .orderBy('id', 'desc')
        .limit(20)
        .explain('json');
      expect(planNodes(plan)).to.deep.equal(['Limit', 'Index Scan using users_active_created_at_idx']);

      const newest = await db
        .selectFrom('users')
        .select('username')
        .where('isActive', '=', true)
        .orderBy('createdAt', 'desc')
        .orderBy('id', 'desc')
        .limit(2)
        .execute();
      expect(newest).to.deep.equal([{ username: 'user_19999' }, { username: 'user_19998' }]);
      await client.query('truncate users');
    });

    it('round-trips: down drops users, up brings back the same table', async () => {
      const before = await schemaSnapshot();
      expect(before).to.have.length(14); // 8 constraints, 5 indexes, 1 trigger

      // newest first: the lower(username) index, then users itself
      expect((await migrateDown(db)).steps).to.deep.equal([
        { name: USERNAME_LOWER_KEY, direction: 'down', status: 'done' },
      ]);
      const down = await migrateDown(db);
      expect(down.steps).to.deep.equal([{ name: CREATE_USERS, direction: 'down', status: 'done' }]);
      const { rows: gone } = await client.query(
        "select to_regclass('users') as t, to_regprocedure('users_set_updated_at()') as f",
      );
      expect(gone[0]).to.deep.equal({ t: null, f: null });
      const afterDown = await migrationStatus(db);
      expect(afterDown.find((m) => m.name === CREATE_USERS)).to.deep.equal({
        name: CREATE_USERS,
        executedAt: undefined,
        pending: true,
      });

      const up = await migrateToLatest(db);
      expect(up.steps).to.deep.include({ name: CREATE_USERS, direction: 'up', status: 'done' });
      expect(await schemaSnapshot()).to.deep.equal(before);
      const afterUp = await migrationStatus(db);
      expect(afterUp.find((m) => m.name === CREATE_USERS)?.pending).to.equal(false);
    });

    it('has nothing to revert once every migration is down', async () => {
      for (let i = 0; i < Object.keys(migrations).length; i += 1) await migrateDown(db);
      expect((await migrateDown(db)).steps).to.deep.equal([]);
      expect((await migrationStatus(db)).every((m) => m.pending)).to.equal(true);
      await migrateToLatest(db);
    });
  });

  describe('failures and concurrency', () => {
    it('throws a DatabaseError naming the failed migration, with the error as cause, and applies nothing', async () => {
      const { database, client, close } = await scratch('kr_schema_fail');
      try {
        await client.query('create table users (id int)');
        const error = await rejection(migrateToLatest(database.db));
        expect(error).to.be.instanceOf(DatabaseError);
        expect(error.message).to.match(new RegExp(`^migration ${CREATE_USERS} \\(up\\) failed: .*already exists`));
        expect((error as DatabaseError).code).to.equal('42P07');
        expect(error.cause).to.be.instanceOf(Error);
        expect((error.cause as { code?: string }).code).to.equal('42P07');
        expect((await migrationStatus(database.db)).every((m) => m.pending)).to.equal(true);
        const { rows } = await client.query("select to_regprocedure('users_set_updated_at()') as f");
        expect(rows[0]).to.deep.equal({ f: null });
      } finally {
        await close();
      }
    });

    it('lets concurrent migrateToLatest calls apply each migration once', async () => {
      const { database, close } = await scratch('kr_schema_race');
      try {
        const runs = await Promise.all([migrateToLatest(database.db), migrateToLatest(database.db)]);
        const applied = runs.flatMap((run) => run.steps.map((step) => step.name));
        expect(applied.sort()).to.deep.equal(Object.keys(migrations));
        const { count } = await database.db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .executeTakeFirstOrThrow();
        expect(count).to.equal('0');
      } finally {
        await close();
      }
    });

    it('reports an unreachable server as a DatabaseError', async () => {
      const database = createDatabase<DB>({
        config: testConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DB_POOL_TIMEOUT: '2000' }),
        logger: silentLogger,
      });
      try {
        expect(await rejection(migrationStatus(database.db))).to.be.instanceOf(DatabaseError);
        expect(await rejection(migrateToLatest(database.db))).to.be.instanceOf(DatabaseError);
      } finally {
        await database.close();
      }
    });
  });
});
