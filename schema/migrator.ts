/**
 * Runs the package's migrations with Kysely's Migrator: to the latest, one up, one down, and
 * the status of each. Apps, specs and the `db:migrate` CLI all go through these functions.
 */
import type { Kysely } from 'kysely';
import { Migrator, type MigrationProvider, type MigrationResultSet, type Migration } from 'kysely/migration';
import { requireKysely } from '../lib/arguments.js';
import { databaseContext } from '../lib/database.js';
import { DatabaseError, mapError } from '../lib/errors.js';
import { migrations } from './migrations/index.js';

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

const provider: MigrationProvider = {
  getMigrations: () => Promise.resolve<Record<string, Migration>>({ ...migrations }),
};

/**
 * Runs `fn` with a Migrator on `db` without its plugins, so each migration's SQL is exactly what
 * its file says (a CamelCasePlugin or any other plugin of the caller's Kysely does not rewrite it).
 * Kysely's own bookkeeping tables are `kysely_migration` and `kysely_migration_lock`.
 *
 * Behind PgBouncer in transaction mode (DB_PGBOUNCER=transaction or auto) the whole run happens
 * in one transaction: the Migrator's lock is a session-level advisory lock, and taken and
 * released in separate transactions it could land on different server connections and leak.
 */
async function withMigrator<DB>(
  db: Kysely<DB>,
  fn: (migrator: Migrator) => Promise<MigrationResultSet>,
): Promise<MigrationResultSet> {
  requireKysely(db, 'db');
  const pooled = databaseContext(db as Kysely<unknown>)?.config.pgbouncer;
  if (!db.isTransaction && (pooled === 'transaction' || pooled === 'auto')) {
    return db.transaction().execute((trx) => fn(new Migrator({ db: trx.withoutPlugins(), provider })));
  }
  return fn(new Migrator({ db: db.withoutPlugins(), provider }));
}

function toRun(resultSet: MigrationResultSet, action: string): MigrationRun {
  const steps: MigrationStep[] = (resultSet.results ?? []).map((result) => ({
    name: result.migrationName,
    direction: result.direction === 'Up' ? 'up' : 'down',
    status: result.status === 'Success' ? 'done' : result.status === 'Error' ? 'failed' : 'skipped',
  }));
  if (resultSet.error === undefined) return { steps };
  const failed = steps.find((step) => step.status === 'failed');
  const mapped = mapError(resultSet.error);
  const where = failed ? `migration ${failed.name} (${failed.direction}) failed` : `${action} failed`;
  throw new DatabaseError(`${where}: ${mapped.message}`, {
    cause: resultSet.error,
    code: mapped.code,
    constraint: mapped.constraint,
    table: mapped.table,
    column: mapped.column,
    detail: mapped.detail,
  });
}

/**
 * Applies every pending migration, in name order, each in its own transaction (PostgreSQL DDL
 * is transactional, so a failed migration leaves nothing behind). Concurrent callers are
 * serialised by the Migrator's lock.
 *
 * @example
 * const database = createDatabase<DB>();
 * const { steps } = await migrateToLatest(database.db);
 * for (const step of steps) console.log(`${step.direction} ${step.name}`);
 * @throws DatabaseError when a migration fails or the database cannot be reached; the
 *   Migrator's error is the `cause` and the message names the failing migration; ValidationError
 *   when `db` is not a Kysely.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationRun> {
  return toRun(await withMigrator(db, (m) => m.migrateToLatest()), 'migrate to latest');
}

/**
 * Applies the next pending migration, if any.
 *
 * @example
 * await migrateUp(database.db);
 * @throws DatabaseError when the migration fails (the Migrator's error as `cause`); ValidationError
 * when `db` is not a Kysely.
 */
export async function migrateUp<DB>(db: Kysely<DB>): Promise<MigrationRun> {
  return toRun(await withMigrator(db, (m) => m.migrateUp()), 'migrate up');
}

/**
 * Reverts the most recently applied migration, if any (its `down`).
 *
 * @example
 * const { steps } = await migrateDown(database.db); // steps[0]?.name is the one reverted
 * @throws DatabaseError when the migration's `down` fails (the Migrator's error as `cause`);
 * ValidationError when `db` is not a Kysely.
 */
export async function migrateDown<DB>(db: Kysely<DB>): Promise<MigrationRun> {
  return toRun(await withMigrator(db, (m) => m.migrateDown()), 'migrate down');
}

/**
 * Every migration the package knows, in order, with when it was applied. Reads only: a
 * database that was never migrated reports every migration pending.
 *
 * @example
 * const pending = (await migrationStatus(database.db)).filter((m) => m.pending);
 * @throws DatabaseError when the database cannot be read (the original error as `cause`).
 */
export async function migrationStatus<DB>(db: Kysely<DB>): Promise<MigrationState[]> {
  try {
    const infos = await new Migrator({ db: db.withoutPlugins(), provider }).getMigrations();
    return infos.map((info) => ({ name: info.name, executedAt: info.executedAt, pending: !info.executedAt }));
  } catch (error) {
    throw mapError(error);
  }
}
