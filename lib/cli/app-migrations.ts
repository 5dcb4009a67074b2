/**
 * The application's migrations: Kysely's FileMigrationProvider over its folder, with an import
 * that turns a failure into one clear line (a .ts migration on a Node that cannot strip types).
 */
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileMigrationProvider, type MigrationProvider } from 'kysely/migration';
import { CliError } from './cli-error.js';

/** The Node release that strips TypeScript types by default. */
const TYPE_STRIPPING = 'Node 22.18';

function isTypeScript(file: string): boolean {
  return /\.[cm]?ts$/.test(file) && !/\.d\.[cm]?ts$/.test(file);
}

/** Why importing `file` failed, in one line. */
function importFailure(file: string, error: unknown): CliError {
  const name = path.basename(file);
  const code = (error as { code?: unknown } | null)?.code;
  if (
    isTypeScript(file) &&
    (code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING')
  ) {
    return new CliError(
      `cannot import migration ${name}: ${TYPE_STRIPPING}+ is needed for .ts migrations (this is Node ${process.versions.node}), or compile them to .js`,
      1,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new CliError(`cannot import migration ${name}: ${message}`, 1, { cause: error });
}

/**
 * The migrations in `folder` (absolute), each file .ts/.js/.mjs/.cjs exporting `up` (and `down`),
 * named by its file name without the extension.
 *
 * @example
 * const provider = appMigrations(path.resolve(cwd, 'migrations'));
 * @throws CliError when `folder` does not exist or is not a directory; its getMigrations rejects
 * with a CliError naming a file that cannot be imported (and Node 22.18+ for a .ts one).
 */
export function appMigrations(folder: string, shownAs: string = folder): MigrationProvider {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(folder).isDirectory();
  } catch {
    isDirectory = false;
  }
  if (!isDirectory) {
    throw new CliError(`the migrations folder ${shownAs} does not exist (use --migrations <dir>)`);
  }
  return new FileMigrationProvider({
    fs,
    path,
    migrationFolder: folder,
    import: async (file: string) => {
      try {
        return (await import(pathToFileURL(file).href)) as unknown;
      } catch (error) {
        throw importFailure(file, error);
      }
    },
  });
}
