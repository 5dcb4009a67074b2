/**
 * How the examples get a Database: DATABASE_URL when it is set (through the SSH tunnel when
 * DB_SSH_HOST is set too), else the embedded engine in memory, so they run on a fresh machine.
 * The choice of the embedded engine is the examples' own: the library never falls back silently.
 */
import { createDatabase, createLogger, loadConfig, migrateToLatest, type Database, type DB } from '../lib/index.js';

/** Opens and migrates the examples' Database. */
export async function openExampleDatabase(env: NodeJS.ProcessEnv = process.env): Promise<Database<DB>> {
  const config = loadConfig({ ...env, DATABASE_URL: env['DATABASE_URL'] || 'pglite://' });
  const database = createDatabase<DB>({
    config,
    logger: createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }),
  });
  await migrateToLatest(database.db);
  return database;
}

/** Where an example prints: the console, or a spec's collector. */
export type Print = (line: string) => void;

/** A suffix that keeps example usernames unique on a server that outlives one run. */
export function runSuffix(): string {
  return Date.now().toString(36).slice(-5);
}
