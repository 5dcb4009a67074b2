/**
 * createTestDatabase(): a Database of its own for a test run, migrated, on a server or on the
 * embedded engine, dropped by close(); createTemplateDatabase(): a migrated database for parallel
 * workers to clone (`CREATE DATABASE … TEMPLATE`) instead of migrating each.
 */
import { randomBytes } from 'node:crypto';
import { sql, type KyselyPlugin } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import { loadConfig } from '../config.js';
import { createDatabase, type Database } from '../database.js';
import { hasMethods, readOptions } from '../arguments.js';
import { ConfigError, ValidationError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { runMigrationSet } from '../../schema/migrator.js';

/** Options of createTestDatabase. */
export interface TestDatabaseOptions {
  /** The application's migrations (Kysely's MigrationProvider), run to the latest. (Default: none) */
  readonly migrations?: MigrationProvider;
  /**
   * Where: a postgres:// URL of a database the kit may connect to in order to CREATE and DROP
   * databases (the new one is made beside it), or `pglite://` for a fresh in-memory embedded
   * engine. (Default: TEST_DATABASE_URL; else the local server at PGHOST/PGPORT (127.0.0.1:5432)
   * as PGUSER (postgres), when it answers within a second; else `pglite://`)
   */
  readonly url?: string;
  /** A database to clone instead of migrating (createTemplateDatabase's name). (Default: none) */
  readonly template?: string;
  /** DB_* settings for the test database, as loadConfig reads them. (Default: process.env's DB_* variables) */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** (Default: a logger that drops everything) */
  readonly logger?: Logger;
  readonly plugins?: readonly KyselyPlugin[];
  /** (Default: true) */
  readonly camelCase?: boolean;
}

/** A Database made for a test run; close() also drops its database. */
export interface TestDatabase<DB> extends Database<DB> {
  /** The server database made for it, or undefined on the embedded engine. */
  readonly name: string | undefined;
}

/** The local server the kit tries when TEST_DATABASE_URL is unset. */
function localServerUrl(): string {
  const user = encodeURIComponent(process.env.PGUSER ?? 'postgres');
  const host = process.env.PGHOST ?? '127.0.0.1';
  const port = process.env.PGPORT ?? '5432';
  return `postgres://${user}@${host.includes(':') ? `[${host}]` : host}:${port}/postgres`;
}

/** Whether a server answers at `url` within a second. Never throws. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The server (or `pglite://`) a test run uses: `url`, TEST_DATABASE_URL, the local server if it
 * answers, else the embedded engine. Never throws.
 */
export async function resolveTestServer(url?: string): Promise<string> {
  const given = url ?? process.env.TEST_DATABASE_URL;
  if (given !== undefined && given !== '') return given;
  const local = localServerUrl();
  return (await answers(local)) ? local : 'pglite://';
}

/** The DB_* variables of `env` (DATABASE_URL and replicas excluded: the kit decides where). */
function settingsOf(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('DB_') && value !== undefined) settings[name] = value;
  }
  return settings;
}

/** `url` with its database name replaced by `name`. */
function onDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

/** A fresh database name: a prefix, the process, and random hex (never input). */
function freshName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * Runs `fn` with a one-connection Database on the server's administrative database.
 * @throws what `fn` throws, mapped.
 */
async function withAdmin<T>(url: string, fn: (admin: Database<unknown>) => Promise<T>): Promise<T> {
  const admin = createDatabase<unknown>({
    config: loadConfig({ DATABASE_URL: url, DB_POOL_SIZE: '1' }, { envFile: '/dev/null' }),
    logger: silentLogger,
  });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

/**
 * Drops a database the kit made, ending any session still on it.
 * @throws the mapped error when the server refuses.
 */
async function dropDatabase(url: string, name: string): Promise<void> {
  await withAdmin(url, (admin) => sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db));
}

/**
 * Creates a migrated Database for a test run: on a server, a new database beside `url`'s (cloned
 * from `template` when given, else migrated), dropped by close(); on the embedded engine, a fresh
 * in-memory instance. The same API as createDatabase.
 *
 * @example
 * const database = await createTestDatabase<DB>({ migrations: new FileMigrationProvider({ fs, path, migrationFolder }) });
 * after(() => database.close());
 * @throws ValidationError naming an option of the wrong form (`url` or `template` not a non-empty
 * string, `migrations` not a MigrationProvider, `env` not an object); ConfigError for a URL that is neither postgres:// nor pglite://; the mapped error when
 * the server refuses CREATE DATABASE; a DatabaseError naming the migration that failed.
 */
export async function createTestDatabase<DB>(given?: TestDatabaseOptions): Promise<TestDatabase<DB>> {
  const options = readOptions(given, 'options');
  for (const field of ['url', 'template'] as const) {
    const value = options[field];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new ValidationError(field, 'type', `${field} must be a non-empty string`);
    }
  }
  if (options.migrations !== undefined && !hasMethods(options.migrations, ['getMigrations'])) {
    throw new ValidationError(
      'migrations',
      'type',
      'migrations must be a Kysely MigrationProvider (a getMigrations method)',
    );
  }
  if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) {
    throw new ValidationError('env', 'type', 'env must be an object of DB_* settings');
  }
  const url = await resolveTestServer(options.url);
  const env = settingsOf(readOptions(options.env ?? process.env, 'env', 'record'));
  const shared = {
    logger: options.logger ?? silentLogger,
    ...(options.plugins ? { plugins: options.plugins } : {}),
    ...(options.camelCase === undefined ? {} : { camelCase: options.camelCase }),
  };
  if (/^pglite:/i.test(url)) {
    const database = createDatabase<DB>({
      config: loadConfig({ ...env, DATABASE_URL: url }, { envFile: '/dev/null' }),
      ...shared,
    });
    await migrate(database, options.migrations);
    return testDatabase(database, undefined, () => Promise.resolve());
  }
  if (!/^postgres(?:ql)?:/i.test(url)) {
    throw new ConfigError(
      'TEST_DATABASE_URL',
      'TEST_DATABASE_URL must be a postgres:// or pglite:// URL',
      'postgres:// or pglite://',
    );
  }
  const name = freshName('kr_test');
  const template = options.template;
  await withAdmin(url, (admin) =>
    sql`create database ${sql.id(name)}${template === undefined ? sql`` : sql` template ${sql.id(template)}`}`.execute(
      admin.db,
    ),
  );
  const drop = (): Promise<void> => dropDatabase(url, name);
  let database: Database<DB> | undefined;
  try {
    database = createDatabase<DB>({
      config: loadConfig({ ...env, DATABASE_URL: onDatabase(url, name) }, { envFile: '/dev/null' }),
      ...shared,
    });
    if (template === undefined) await migrate(database, options.migrations);
    return testDatabase(database, name, drop);
  } catch (error) {
    await database?.close();
    await drop();
    throw error;
  }
}

/** Runs the migrations to the latest. @throws DatabaseError naming the migration that failed. */
async function migrate<DB>(database: Database<DB>, migrations: MigrationProvider | undefined): Promise<void> {
  if (migrations !== undefined) await runMigrationSet(database.db, { provider: migrations }, 'latest');
}

/** `database`, whose close() then drops its database. */
function testDatabase<DB>(
  database: Database<DB>,
  name: string | undefined,
  drop: () => Promise<void>,
): TestDatabase<DB> {
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= database.close().then(drop);
    return closing;
  };
  return {
    name,
    db: database.db,
    primary: database.primary,
    replica: database.replica,
    config: database.config,
    logger: database.logger,
    ping: () => database.ping(),
    health: () => database.health(),
    status: () => database.status(),
    query: (text, values) => database.query(text, values),
    executeMany: (text, valuesList) => database.executeMany(text, valuesList),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A template database: migrated once, cloned by each worker's createTestDatabase. */
export interface TemplateDatabase {
  /** Its name, for createTestDatabase's `template`. */
  readonly name: string;
  /**
   * Drops it (ending any session still on it).
   * @throws the mapped error when the server refuses, so a template left behind is never silent.
   */
  drop(): Promise<void>;
}

/**
 * Creates and migrates a template database on the server at `url` (a postgres:// URL as
 * createTestDatabase takes), with no session left on it, so workers can clone it.
 *
 * @example
 * const template = await createTemplateDatabase(url, migrations);
 * const database = await createTestDatabase({ url, template: template.name });
 * @throws the mapped error when the server refuses; a DatabaseError naming a failing migration.
 */
export async function createTemplateDatabase(
  url: string,
  migrations: MigrationProvider | undefined,
): Promise<TemplateDatabase> {
  const made = await createTestDatabase<unknown>({ url, ...(migrations ? { migrations } : {}), env: {} });
  const name = made.name!;
  // close the pool only: the template stays, without sessions
  await made.db.destroy();
  return { name, drop: () => dropDatabase(url, name) };
}
