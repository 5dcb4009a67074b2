/**
 * The package's migrations next to an application's own Migrator in one database: each keeps its
 * history in its own tables, in either order; an application may merge packageMigrations into its
 * own history instead; a database an earlier version migrated (the package's rows in
 * kysely_migration) is adopted without running anything again; failures keep their mapped class.
 */
import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { createDatabase, type Database } from '../../lib/database.js';
import { ConnectionError, DatabaseError, UniqueViolationError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/logger.js';
import { migrations } from '../../schema/migrations/index.js';
import {
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationStatus,
  packageMigrations,
  PACKAGE_MIGRATION_LOCK_TABLE,
  PACKAGE_MIGRATION_TABLE,
} from '../../schema/migrator.js';
import { freePort } from '../support/free-port.js';
import { rejection } from '../support/spec-helpers.js';
import { testConfig } from '../support/test-config.js';
import { createScratchDatabase } from '../support/test-server.js';

const OURS = Object.keys(migrations);
const APP_MIGRATION = '2020-01-01-app-create-orders';

/** The application's own migration: a table of its own. */
const appMigration: Migration = {
  up: async (db: Kysely<unknown>) => {
    await db.schema
      .createTable('orders')
      .addColumn('id', 'bigint', (col) => col.primaryKey())
      .execute();
  },
  down: async (db: Kysely<unknown>) => {
    await db.schema.dropTable('orders').execute();
  },
};
const appProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ [APP_MIGRATION]: appMigration }),
};

interface Scratch {
  database: Database<unknown>;
  client: pg.Client;
  /** The names recorded in `table`, in name order ([] when the table does not exist). */
  history(table: string): Promise<string[]>;
  close(): Promise<void>;
}

async function scratch(prefix: string): Promise<Scratch> {
  const target = await createScratchDatabase(prefix);
  const database = createDatabase<unknown>({ config: testConfig({ DATABASE_URL: target.url }), logger: silentLogger });
  const client = new pg.Client({ connectionString: target.url });
  client.on('error', () => undefined);
  await client.connect();
  const result: Scratch = {
    database,
    client,
    history: async (table) => {
      const { rows } = await client.query<{ found: boolean }>('select to_regclass($1) is not null as found', [table]);
      if (!rows[0]?.found) return [];
      const names = await client.query<{ name: string }>(`select name from "${table}" order by name`);
      return names.rows.map((row) => row.name);
    },
    close: async () => {
      await client.end();
      await database.close();
      await target.drop();
    },
  };
  return result;
}

/** The application's own Migrator: Kysely's default tables. */
function appMigrator(db: Kysely<unknown>, provider: MigrationProvider = appProvider): Migrator {
  return new Migrator({ db, provider });
}

describe("schema: the package's migrations next to the application's", () => {
  let s: Scratch;
  const opened: Scratch[] = [];

  afterEach(async () => {
    for (const each of opened.splice(0)) await each.close();
  });

  it('keeps its history in its own tables', () => {
    expect(PACKAGE_MIGRATION_TABLE).to.equal('kysely_repository_migration');
    expect(PACKAGE_MIGRATION_LOCK_TABLE).to.equal('kysely_repository_migration_lock');
  });

  it("runs after the application's own Migrator, each history in its own tables", async () => {
    opened.push((s = await scratch('kr_coexist_app_first')));
    const app = await appMigrator(s.database.db).migrateToLatest();
    expect(app.error).to.equal(undefined);
    const ours = await migrateToLatest(s.database.db);
    expect(ours.steps.map((step) => step.name)).to.deep.equal(OURS);
    expect(await s.history('kysely_migration')).to.deep.equal([APP_MIGRATION]);
    expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal(OURS);
    // and the application's Migrator still sees a clean history afterwards
    const again = await appMigrator(s.database.db).migrateToLatest();
    expect(again.error).to.equal(undefined);
    expect(again.results).to.deep.equal([]);
    expect((await migrationStatus(s.database.db)).every((m) => !m.pending)).to.equal(true);
  });

  it("runs before the application's own Migrator, which then works as if alone", async () => {
    opened.push((s = await scratch('kr_coexist_ours_first')));
    await migrateToLatest(s.database.db);
    const app = await appMigrator(s.database.db).migrateToLatest();
    expect(app.error).to.equal(undefined);
    expect(app.results?.map((r) => [r.migrationName, r.status])).to.deep.equal([[APP_MIGRATION, 'Success']]);
    const { rows } = await s.client.query("select to_regclass('orders') as o, to_regclass('users') as u");
    expect(rows[0]).to.deep.equal({ o: 'orders', u: 'users' });
    // reverting ours leaves the application's alone, and the other way round
    const down = await migrateDown(s.database.db);
    expect(down.steps.map((step) => step.name)).to.deep.equal([OURS.at(-1)]);
    expect(await s.history('kysely_migration')).to.deep.equal([APP_MIGRATION]);
    const appDown = await appMigrator(s.database.db).migrateDown();
    expect(appDown.error).to.equal(undefined);
    expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal(OURS.slice(0, -1));
  });

  it("merges into the application's own Migrator through packageMigrations (one history)", async () => {
    opened.push((s = await scratch('kr_coexist_merged')));
    const merged: MigrationProvider = {
      getMigrations: async () => ({
        ...(await packageMigrations.getMigrations()),
        ...(await appProvider.getMigrations()),
      }),
    };
    const run = await new Migrator({ db: s.database.db, provider: merged }).migrateToLatest();
    expect(run.error).to.equal(undefined);
    expect(await s.history('kysely_migration')).to.deep.equal([APP_MIGRATION, ...OURS]);
    expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal([]);
    const { rows } = await s.client.query("select to_regclass('users') as u");
    expect(rows[0]).to.deep.equal({ u: 'users' });
    // getMigrations hands out a fresh object each time: merging never changes the package's list
    expect(await packageMigrations.getMigrations()).not.to.equal(await packageMigrations.getMigrations());
    expect(Object.keys(await packageMigrations.getMigrations())).to.deep.equal(OURS);

    // running them the other way as well would run them twice: refused, and nothing moves
    const error = await rejection(migrateToLatest(s.database.db));
    expect(error).to.be.instanceOf(DatabaseError);
    expect(error.message).to.match(/^migrate to latest failed: .*merged history/);
    expect(await s.history('kysely_migration')).to.deep.equal([APP_MIGRATION, ...OURS]);
    expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal([]);
  });

  describe('a database an earlier version migrated (our rows in kysely_migration)', () => {
    /** What earlier versions did: the package's migrations in Kysely's default tables. */
    async function migrateAsEarlierVersion(db: Kysely<unknown>): Promise<Map<string, string>> {
      const run = await new Migrator({ db, provider: packageMigrations }).migrateToLatest();
      expect(run.error).to.equal(undefined);
      const { rows } = await sql<{ name: string; timestamp: string }>`
        select name, timestamp from kysely_migration order by name`.execute(db);
      return new Map(rows.map((row) => [row.name, row.timestamp]));
    }

    it('reports them applied before adoption, then adopts them without running anything again', async () => {
      opened.push((s = await scratch('kr_coexist_adopt')));
      const before = await migrateAsEarlierVersion(s.database.db);
      expect([...before.keys()]).to.deep.equal(OURS);

      const status = await migrationStatus(s.database.db);
      expect(status.map((m) => [m.name, m.pending])).to.deep.equal(OURS.map((name) => [name, false]));
      expect(status[0]?.executedAt?.toISOString()).to.equal(before.get(OURS[0]!));
      expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal([]); // status only reads

      // users exists: running create-users again would fail, so an empty run proves adoption
      expect((await migrateToLatest(s.database.db)).steps).to.deep.equal([]);
      expect(await s.history('kysely_migration')).to.deep.equal([]);
      const { rows } = await s.client.query<{ name: string; timestamp: string }>(
        `select name, timestamp from ${PACKAGE_MIGRATION_TABLE} order by name`,
      );
      expect(new Map(rows.map((row) => [row.name, row.timestamp]))).to.deep.equal(before);

      // the application's own Migrator now has kysely_migration to itself
      const app = await appMigrator(s.database.db).migrateToLatest();
      expect(app.error).to.equal(undefined);
      expect(await s.history('kysely_migration')).to.deep.equal([APP_MIGRATION]);
      expect((await migrateToLatest(s.database.db)).steps).to.deep.equal([]);
    });

    it('adopts once when two processes upgrade at the same time', async () => {
      opened.push((s = await scratch('kr_coexist_adopt_race')));
      await migrateAsEarlierVersion(s.database.db);
      const other = createDatabase<unknown>({ config: s.database.config, logger: silentLogger });
      try {
        const runs = await Promise.all([migrateToLatest(s.database.db), migrateToLatest(other.db)]);
        expect(runs.map((run) => run.steps)).to.deep.equal([[], []]);
      } finally {
        await other.close();
      }
      expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal(OURS);
      expect(await s.history('kysely_migration')).to.deep.equal([]);
    });

    it('adopts before migrateDown too, so down reverts the last one', async () => {
      opened.push((s = await scratch('kr_coexist_adopt_down')));
      await migrateAsEarlierVersion(s.database.db);
      const down = await migrateDown(s.database.db);
      expect(down.steps).to.deep.equal([{ name: OURS.at(-1), direction: 'down', status: 'done' }]);
      expect(await s.history(PACKAGE_MIGRATION_TABLE)).to.deep.equal(OURS.slice(0, -1));
    });
  });

  describe('failures keep their class', () => {
    it('reports a refused connection as a ConnectionError, the original as cause', async () => {
      const port = await freePort();
      const database = createDatabase<unknown>({
        config: testConfig({ DATABASE_URL: `postgres://postgres:not-the-password@127.0.0.1:${port}/none` }),
        logger: silentLogger,
      });
      try {
        const error = await rejection(migrateToLatest(database.db));
        expect(error).to.be.instanceOf(ConnectionError);
        expect(error.message).to.match(/^migrate to latest failed: /);
        expect(error.message).not.to.include('not-the-password');
        expect((error.cause as { code?: string }).code).to.equal('ECONNREFUSED');
        expect(await rejection(migrationStatus(database.db))).to.be.instanceOf(ConnectionError);
      } finally {
        await database.close();
      }
    });

    it('reports a migration that fails on a constraint with its class, named in the message', async () => {
      opened.push((s = await scratch('kr_coexist_unique')));
      // create-users only, then two names that differ in case: the next migration refuses them
      await migrateUp(s.database.db);
      const hash = '$2b$12$C6UzMDM.H6dfI/f/IKcEeO5x9hC0XGm0GqzWvW1kYQ3lWm9cMh4yS';
      await s.client.query(
        "insert into users (username, email, password_hash) values ('ada', 'a@x.io', $1), ('ADA', 'b@x.io', $1)",
        [hash],
      );
      const error = await rejection(migrateToLatest(s.database.db));
      expect(error).to.be.instanceOf(UniqueViolationError);
      expect(error.message).to.match(new RegExp(`^migration ${OURS.at(-1)} \\(up\\) failed: `));
      expect(error).to.include({ constraint: 'users_username_lower_key', column: 'username' });
      expect(error.cause).to.be.instanceOf(UniqueViolationError);
      expect(error.cause).not.to.equal(error);
    });
  });
});
