/**
 * The CLI's help texts, one per command.
 */

/** The help of `kysely-repository` itself. */
export const MAIN_HELP = `Usage: kysely-repository <command> [options]

Commands:
  migrate <latest|up|down|status>   run the application's migrations (Kysely's Migrator)
  codegen                           write TypeScript types of the database (kysely-codegen)

Options:
  -h, --help       show help (also: kysely-repository <command> --help)
  -v, --version    show the version

The database is DATABASE_URL (and every DB_* variable, the SSH tunnel's DB_SSH_* included), from
the environment, else from .env in the current directory (or --env-file).
Exit codes: 0 done, 1 the operation failed, 2 usage error.`;

/** The help of `kysely-repository migrate`. */
export const MIGRATE_HELP = `Usage: kysely-repository migrate <latest|up|down|status> [options]

  latest   apply every pending migration
  up       apply the next pending migration
  down     revert the last applied migration
  status   list every migration: its name and when it was applied, or "pending"

Options:
  --migrations <dir>     the folder of the application's migrations, files .ts/.js/.mjs each
                         exporting up and down (default: ./migrations)
  --package-migrations   also the package's own migrations (the users table UserRepository needs),
                         kept in kysely_repository_migration, and run before the application's
  --env-file <file>      read DATABASE_URL and DB_* from this file (default: .env when it exists)
  -h, --help             show this help

The application's history is in Kysely's default tables kysely_migration and kysely_migration_lock.
.ts migrations need Node 22.18 or later (or compile them to .js).`;

/** The help of `kysely-repository codegen`. */
export const CODEGEN_HELP = `Usage: kysely-repository codegen [options]

Writes TypeScript types of the database (kysely-codegen, camelCase), without the migration
bookkeeping tables. Needs kysely-codegen: npm install --save-dev kysely-codegen

Options:
  --out <file>          the file to write (default: ./src/db.ts)
  --verify              write nothing; exit 1 when the file differs from what codegen produces
  --env-file <file>     read DATABASE_URL and DB_* from this file (default: .env when it exists)
  -h, --help            show this help`;
