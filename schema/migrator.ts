/**
 * Runs the package's migrations with Kysely's Migrator: to the latest, one up, one down, and
 * the status of each. Apps, specs and the `kysely-repository` CLI all go through these functions.
 *
 * The package keeps its history in its own tables (`kysely_repository_migration` and
 * `kysely_repository_migration_lock`), so it never clashes with an application's own Migrator,
 * which uses Kysely's defaults (`kysely_migration`, `kysely_migration_lock`). An application that
 * wants one history instead merges {@link packageMigrations} into its own Migrator.
 */
import type { Kysely, Transaction } from 'kysely';
import {
  DEFAULT_MIGRATION_LOCK_TABLE,
  DEFAULT_MIGRATION_TABLE,
  MIGRATION_LOCK_ID,
  Migrator,
  type Migration,
  type MigrationProvider,
  type MigrationResultSet,
} from 'kysely/migration';
import { sql } from 'kysely';
import { requireKysely } from '../lib/arguments.js';
import { databaseContext } from '../lib/database-context.js';
import { DatabaseError, mapError } from '../lib/errors.js';
import { migrations } from './migrations/index.js';

/** The table that records which of the package's migrations ran. */
export const PACKAGE_MIGRATION_TABLE = 'kysely_repository_migration';
/** The lock table of the package's migrations. */
export const PACKAGE_MIGRATION_LOCK_TABLE = 'kysely_repository_migration_lock';

/** One migration that ran (or was meant to run) in one direction. */
export interface MigrationStep {
  /** The migration's name, e.g. `2026-11-27-001-create-users`. */
  readonly name: string;
  readonly direction: 'up' | 'down';
  /** `failed`: this one threw; `skipped`: an earlier one failed, so this one did not run. */
  readonly status: 'done' | 'failed' | 'skipped';
}

/** What a migration run did. An empty `steps` means the database was already there. */
export interface MigrationRun {
  readonly steps: readonly MigrationStep[];
}

/** One known migration and whether the database has it. */
export interface MigrationState {
  readonly name: string;
  /** When it was applied; undefined while it is pending. */
  readonly executedAt: Date | undefined;
  readonly pending: boolean;
}

/** A set of migrations and the tables that keep its history (Kysely's defaults when omitted). */
export interface MigrationSet {
  readonly provider: MigrationProvider;
  /** (Default: `kysely_migration`) */
  readonly migrationTableName?: string;
  /** (Default: `kysely_migration_lock`) */
  readonly migrationLockTableName?: string;
}

/** What a run does: every pending migration, the next one, or revert the last one. */
export type MigrationAction = 'latest' | 'up' | 'down';

/**
 * The package's migrations as a Kysely MigrationProvider, for an application that keeps one
 * history: merge them into the provider of its own Migrator (see docs/cli.md). Such an
 * application runs them only through its own Migrator, never with migrateToLatest as well.
 *
 * @example
 * const provider: MigrationProvider = {
 *   getMigrations: async () => ({ ...(await packageMigrations.getMigrations()), ...(await appMigrations.getMigrations()) }),
 * };
 * await new Migrator({ db, provider, allowUnorderedMigrations: true }).migrateToLatest();
 * @throws nothing: getMigrations resolves to a fresh object every call.
 */
export const packageMigrations: MigrationProvider = Object.freeze({
  getMigrations: () => Promise.resolve<Record<string, Migration>>({ ...migrations }),
});

const PACKAGE_SET: MigrationSet = Object.freeze({
  provider: packageMigrations,
  migrationTableName: PACKAGE_MIGRATION_TABLE,
  migrationLockTableName: PACKAGE_MIGRATION_LOCK_TABLE,
});

/** A history table as Kysely's Migrator creates it. */
interface HistoryRow {
  name: string;
  timestamp: string;
}
type HistoryTables = Record<string, HistoryRow>;

function migratorFor(db: Kysely<unknown>, set: MigrationSet): Migrator {
  return new Migrator({
    db,
    provider: set.provider,
    migrationTableName: set.migrationTableName ?? DEFAULT_MIGRATION_TABLE,
    migrationLockTableName: set.migrationLockTableName ?? DEFAULT_MIGRATION_LOCK_TABLE,
  });
}

/**
 * Runs `fn` on `db` without its plugins, so each migration's SQL is exactly what its file says
 * (a CamelCasePlugin or any other plugin of the caller's Kysely does not rewrite it).
 *
 * Behind PgBouncer in transaction mode (DB_PGBOUNCER=transaction or auto) the whole run happens
 * in one transaction: the Migrator's lock is a session-level advisory lock, and taken and
 * released in separate transactions it could land on different server connections and leak.
 */
async function withPlainDb<DB, T>(db: Kysely<DB>, fn: (plain: Kysely<unknown>) => Promise<T>): Promise<T> {
  requireKysely(db, 'db');
  const pooled = databaseContext(db as Kysely<unknown>)?.config.pgbouncer;
  if (!db.isTransaction && (pooled === 'transaction' || pooled === 'auto')) {
    return db.transaction().execute((trx) => fn(trx.withoutPlugins() as unknown as Kysely<unknown>));
  }
  return fn(db.withoutPlugins() as Kysely<unknown>);
}

/**
 * A copy of `mapped` (same class, same fields) whose message starts with `where` and whose cause
 * is the Migrator's own error: a ConnectionError stays a ConnectionError, a UniqueViolationError
 * keeps its constraint, and the message names the migration.
 */
function withContext(mapped: DatabaseError, where: string, original: unknown): DatabaseError {
  const error = Object.create(Object.getPrototypeOf(mapped) as object) as DatabaseError;
  Object.defineProperties(error, Object.getOwnPropertyDescriptors(mapped));
  const hidden = { writable: true, configurable: true, enumerable: false } as const;
  Object.defineProperty(error, 'message', { ...hidden, value: `${where}: ${mapped.message}` });
  Object.defineProperty(error, 'cause', { ...hidden, value: original });
  return error;
}

/** Each action in words, for messages. */
const ACTION_WORDS: Readonly<Record<MigrationAction, string>> = {
  latest: 'migrate to latest',
  up: 'migrate up',
  down: 'migrate down',
};

function toRun(resultSet: MigrationResultSet, action: MigrationAction): MigrationRun {
  const steps: MigrationStep[] = (resultSet.results ?? []).map((result) => ({
    name: result.migrationName,
    direction: result.direction === 'Up' ? 'up' : 'down',
    status: result.status === 'Success' ? 'done' : result.status === 'Error' ? 'failed' : 'skipped',
  }));
  if (resultSet.error === undefined) return { steps };
  const failed = steps.find((step) => step.status === 'failed');
  const where = failed ? `migration ${failed.name} (${failed.direction}) failed` : `${ACTION_WORDS[action]} failed`;
  throw withContext(mapError(resultSet.error), where, resultSet.error);
}

async function runOn(plain: Kysely<unknown>, set: MigrationSet, action: MigrationAction): Promise<MigrationRun> {
  const migrator = migratorFor(plain, set);
  const resultSet =
    action === 'latest'
      ? await migrator.migrateToLatest()
      : action === 'up'
        ? await migrator.migrateUp()
        : await migrator.migrateDown();
  return toRun(resultSet, action);
}

/**
 * Runs a set of migrations (to the latest, one up or one down) with Kysely's Migrator on `db`
 * without its plugins. The CLI runs an application's migrations through it.
 *
 * @example
 * await runMigrationSet(db, { provider: new FileMigrationProvider({ fs, path, migrationFolder }) }, 'latest');
 * @throws DatabaseError, of the class mapError gives the Migrator's error (ConnectionError,
 * UniqueViolationError…), whose message names the failing migration and whose cause is the
 * Migrator's error; ValidationError when `db` is not a Kysely.
 */
export async function runMigrationSet<DB>(
  db: Kysely<DB>,
  set: MigrationSet,
  action: MigrationAction,
): Promise<MigrationRun> {
  return withPlainDb(db, (plain) => runOn(plain, set, action));
}

/**
 * Every migration of a set, in name order, with when it was applied. Reads only.
 *
 * @example
 * const pending = (await migrationSetStatus(db, set)).filter((m) => m.pending);
 * @throws DatabaseError (mapped: ConnectionError when the server cannot be reached) with the
 * original as `cause`.
 */
export async function migrationSetStatus<DB>(db: Kysely<DB>, set: MigrationSet): Promise<MigrationState[]> {
  requireKysely(db, 'db');
  try {
    const infos = await migratorFor(db.withoutPlugins() as Kysely<unknown>, set).getMigrations();
    return infos.map((info) => ({ name: info.name, executedAt: info.executedAt, pending: !info.executedAt }));
  } catch (error) {
    throw mapError(error);
  }
}

/** Our migrations' rows in Kysely's default history table, which earlier versions used. */
async function legacyRows(db: Kysely<unknown>): Promise<{ ours: HistoryRow[]; others: number }> {
  const { rows } = await sql<{
    found: boolean;
  }>`select to_regclass(${DEFAULT_MIGRATION_TABLE}) is not null as found`.execute(db);
  if (rows[0]?.found !== true) return { ours: [], others: 0 };
  const history = db as unknown as Kysely<HistoryTables>;
  const all = await history.selectFrom(DEFAULT_MIGRATION_TABLE).select(['name', 'timestamp']).execute();
  const names = new Set(Object.keys(migrations));
  const ours = all.filter((row) => names.has(row.name));
  return { ours, others: all.length - ours.length };
}

/** Moves our rows from kysely_migration into our own table, in `trx`. */
async function moveLegacyRows(trx: Kysely<unknown>): Promise<void> {
  const { ours, others } = await legacyRows(trx);
  if (ours.length === 0) return;
  if (others > 0) throw mergedHistoryError();
  const history = trx as unknown as Kysely<HistoryTables>;
  // the same table Kysely's Migrator creates, so it finds it ready
  await history.schema
    .createTable(PACKAGE_MIGRATION_TABLE)
    .ifNotExists()
    .addColumn('name', 'varchar(255)', (col) => col.notNull().primaryKey())
    .addColumn('timestamp', 'varchar(255)', (col) => col.notNull())
    .execute();
  await history
    .insertInto(PACKAGE_MIGRATION_TABLE)
    .values(ours.map(({ name, timestamp }) => ({ name, timestamp })))
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  await history
    .deleteFrom(DEFAULT_MIGRATION_TABLE)
    .where(
      'name',
      'in',
      ours.map((row) => row.name),
    )
    .execute();
}

function mergedHistoryError(): DatabaseError {
  return new DatabaseError(
    `the package's migrations are recorded in ${DEFAULT_MIGRATION_TABLE} together with other migrations ` +
      "(one merged history, through packageMigrations): run them with the application's own Migrator, " +
      'not with migrateToLatest/migrateUp/migrateDown',
  );
}

/**
 * Adopts a history written by earlier versions of the package, which kept the package's
 * migrations in Kysely's default `kysely_migration`: under the Migrator's lock and in one
 * transaction, copies those rows into `kysely_repository_migration` and deletes only them from
 * `kysely_migration`, so upgrading never runs a migration again. A `kysely_migration` that holds
 * other migrations too is a merged history (packageMigrations in the app's Migrator): refused.
 */
async function adoptLegacyHistory(plain: Kysely<unknown>): Promise<void> {
  const seen = await legacyRows(plain);
  if (seen.ours.length === 0) return;
  if (seen.others > 0) throw mergedHistoryError();
  const adapter = plain.getExecutor().adapter;
  const lock = { lockTable: PACKAGE_MIGRATION_LOCK_TABLE, lockRowId: MIGRATION_LOCK_ID };
  const underLock = async (conn: Kysely<unknown>, work: () => Promise<void>): Promise<void> => {
    await adapter.acquireMigrationLock(conn, lock);
    try {
      await work();
    } finally {
      await adapter.releaseMigrationLock(conn, lock);
    }
  };
  if (plain.isTransaction) {
    await underLock(plain, () => moveLegacyRows(plain));
    return;
  }
  await plain
    .connection()
    .execute((conn) =>
      underLock(conn, () => conn.transaction().execute((trx: Transaction<unknown>) => moveLegacyRows(trx))),
    );
}

async function runPackage<DB>(db: Kysely<DB>, action: MigrationAction): Promise<MigrationRun> {
  return withPlainDb(db, async (plain) => {
    try {
      await adoptLegacyHistory(plain);
    } catch (error) {
      throw withContext(mapError(error), `${ACTION_WORDS[action]} failed`, error);
    }
    return runOn(plain, PACKAGE_SET, action);
  });
}

/**
 * Applies every pending migration of the package, in name order, each in its own transaction
 * (PostgreSQL DDL is transactional, so a failed migration leaves nothing behind). Concurrent
 * callers are serialised by the Migrator's lock. The history lives in
 * `kysely_repository_migration`; a history an earlier version left in `kysely_migration` is
 * adopted first.
 *
 * @example
 * const database = createDatabase<DB>();
 * const { steps } = await migrateToLatest(database.db);
 * for (const step of steps) console.log(`${step.direction} ${step.name}`);
 * @throws DatabaseError when a migration fails or the database cannot be reached, of the class
 *   mapError gives (ConnectionError for a refused connection, UniqueViolationError…); the
 *   message names the failing migration and the Migrator's error is the `cause`. DatabaseError
 *   when `kysely_migration` holds the package's migrations merged with others; ValidationError
 *   when `db` is not a Kysely.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationRun> {
  return runPackage(db, 'latest');
}

/**
 * Applies the next pending migration of the package, if any.
 *
 * @example
 * await migrateUp(database.db);
 * @throws DatabaseError as migrateToLatest does; ValidationError when `db` is not a Kysely.
 */
export async function migrateUp<DB>(db: Kysely<DB>): Promise<MigrationRun> {
  return runPackage(db, 'up');
}

/**
 * Reverts the most recently applied migration of the package, if any (its `down`).
 *
 * @example
 * const { steps } = await migrateDown(database.db); // steps[0]?.name is the one reverted
 * @throws DatabaseError as migrateToLatest does (the Migrator's error as `cause`);
 * ValidationError when `db` is not a Kysely.
 */
export async function migrateDown<DB>(db: Kysely<DB>): Promise<MigrationRun> {
  return runPackage(db, 'down');
}

/**
 * Every migration the package knows, in order, with when it was applied. Reads only: a
 * database that was never migrated reports every migration pending, and one an earlier version
 * migrated (its history still in `kysely_migration`) reports them applied.
 *
 * @example
 * const pending = (await migrationStatus(database.db)).filter((m) => m.pending);
 * @throws DatabaseError when the database cannot be read (mapped: ConnectionError when it
 * cannot be reached; the original error as `cause`).
 */
export async function migrationStatus<DB>(db: Kysely<DB>): Promise<MigrationState[]> {
  const states = await migrationSetStatus(db, PACKAGE_SET);
  if (states.every((state) => !state.pending)) return states;
  let legacy: HistoryRow[];
  try {
    legacy = (await legacyRows(db.withoutPlugins() as Kysely<unknown>)).ours;
  } catch (error) {
    throw mapError(error);
  }
  return states.map((state) => {
    const row = state.pending ? legacy.find((candidate) => candidate.name === state.name) : undefined;
    return row ? { name: state.name, executedAt: new Date(row.timestamp), pending: false } : state;
  });
}
