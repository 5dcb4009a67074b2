import { createDatabase, loadConfig, type Database } from 'kysely-repository';
import type { DB } from './db.js';

/** The application's database, from DATABASE_URL (the environment, else `.env`). */
export function openDatabase(env: NodeJS.ProcessEnv = process.env): Database<DB> {
  return createDatabase<DB>({ config: loadConfig(env) });
}
