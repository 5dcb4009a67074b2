/**
 * `kysely-repository migrate <latest|up|down|status>`: the application's migrations with Kysely's
 * Migrator (history in Kysely's default tables), after the package's own with --package-migrations
 * (history in kysely_repository_migration).
 */
import type { Kysely } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import {
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationSetStatus,
  migrationStatus,
  runMigrationSet,
  type MigrationRun,
  type MigrationState,
} from '../../schema/migrator.js';
import type { MigrateAction } from './parse-arguments.js';

/** What one `migrate` run needs. */
export interface MigrateOptions {
  readonly action: MigrateAction;
  /** The application's migrations. */
  readonly provider: MigrationProvider;
  /** Also the package's own migrations, before the application's. */
  readonly packageMigrations: boolean;
  /** Receives each line of output. */
  readonly out: (line: string) => void;
}

/** One line per step: `applied <name>` or `reverted <name>`. */
export function formatRun(run: MigrationRun): string[] {
  return run.steps
    .filter((step) => step.status === 'done')
    .map((step) => `${step.direction === 'up' ? 'applied' : 'reverted'} ${step.name}`);
}

/** One line per migration: its name, then when it was applied or `pending`. */
export function formatStatus(states: readonly MigrationState[]): string[] {
  const width = Math.max(0, ...states.map((state) => state.name.length));
  return states.map(
    (state) => `${state.name.padEnd(width)}  ${state.executedAt ? state.executedAt.toISOString() : 'pending'}`,
  );
}

/**
 * Runs one `migrate` action on `db` and writes what it did through `options.out`.
 *
 * @example
 * await runMigrate(database.db, { action: 'latest', provider, packageMigrations: false, out: console.log });
 * @throws DatabaseError of the mapped class (ConnectionError, UniqueViolationError…) naming the
 * migration that failed; CliError for a migration file that cannot be imported.
 */
export async function runMigrate(db: Kysely<unknown>, options: MigrateOptions): Promise<void> {
  const { action, provider, packageMigrations, out } = options;
  const app = { provider };
  const print = (runs: readonly MigrationRun[], idle: string): void => {
    const lines = runs.flatMap(formatRun);
    for (const line of lines.length > 0 ? lines : [idle]) out(line);
  };
  switch (action) {
    case 'status': {
      const states = [...(packageMigrations ? await migrationStatus(db) : []), ...(await migrationSetStatus(db, app))];
      for (const line of states.length > 0 ? formatStatus(states) : ['no migrations']) out(line);
      return;
    }
    case 'latest': {
      const ours = packageMigrations ? [await migrateToLatest(db)] : [];
      print([...ours, await runMigrationSet(db, app, 'latest')], 'nothing to apply: already at the latest migration');
      return;
    }
    case 'up': {
      const oursPending = packageMigrations && (await migrationStatus(db)).some((state) => state.pending);
      const run = oursPending ? await migrateUp(db) : await runMigrationSet(db, app, 'up');
      print([run], 'nothing to apply: already at the latest migration');
      return;
    }
    case 'down': {
      const appApplied = (await migrationSetStatus(db, app)).some((state) => !state.pending);
      const run = packageMigrations && !appApplied ? await migrateDown(db) : await runMigrationSet(db, app, 'down');
      print([run], 'nothing to revert: no migration is applied');
      return;
    }
  }
}
