/**
 * createDialect(): this package's connection layer as a plain Kysely Dialect, for a Kysely the
 * application builds itself (its own plugins, its own log hook) on the same pool, tunnel,
 * replicas, error mapping and counters a Database has.
 */
import type { DatabaseConnection, Dialect, Driver, LogEvent } from 'kysely';
import type { DatabaseConfig } from './config.js';
import { createDatabase, databaseDialect } from './database.js';
import { readOptions } from './arguments.js';
import { DatabaseError } from './errors.js';
import type { Logger } from './logger.js';

/** Options of createDialect. */
export interface CreateDialectOptions {
  /** (Default: loadConfig() from the environment and `.env`) */
  readonly config?: DatabaseConfig;
  /** Any Logger (winston's fits); lines are redacted. (Default: a winston logger) */
  readonly logger?: Logger;
  /**
   * The same log hook given to the Kysely built on this dialect: statements the driver sends by
   * itself (a BEGIN sent with a transaction's first statement) reach it there. (Default: none)
   */
  readonly log?: (event: LogEvent) => void;
}

/**
 * A Kysely Dialect over this package's driver: a pg pool (optionally through the SSH tunnel, with
 * read replicas) or the embedded engine, as `config` says. Kysely's `destroy()` closes it all.
 * Nothing connects until the first query.
 *
 * @example
 * const db = new Kysely<DB>({ dialect: createDialect({ config: loadConfig() }), plugins: [new CamelCasePlugin()] });
 * @throws ConfigError when no config is given and the environment's is invalid; ValidationError
 * when `options` is not an options object.
 */
export function createDialect(given?: CreateDialectOptions): Dialect {
  const options = readOptions(given, 'options');
  // like PostgresDialect: each Kysely built on the dialect gets a pool (a Database) of its own,
  // made when Kysely asks for the driver and closed by that Kysely's destroy()
  const open = (): Dialect => {
    const database = createDatabase<unknown>({ ...options, camelCase: false });
    const inner = databaseDialect(database);
    if (!inner) throw new DatabaseError('createDatabase made no dialect');
    return {
      createAdapter: () => inner.createAdapter(),
      createDriver: () => new ClosingDriver(inner.createDriver(), () => database.close()),
      createIntrospector: (db) => inner.createIntrospector(db),
      createQueryCompiler: () => inner.createQueryCompiler(),
    };
  };
  // a driver per Kysely (each opens a Database); the adapter, compiler and introspector hold no
  // connection and no state, so any Database's serve, and nothing opens before a Kysely asks
  let last: Dialect | undefined;
  const any = (): Dialect => (last ??= open());
  return {
    createDriver: () => (last = open()).createDriver(),
    createAdapter: () => any().createAdapter(),
    createQueryCompiler: () => any().createQueryCompiler(),
    createIntrospector: (db) => any().createIntrospector(db),
  };
}

/** A Driver whose destroy() closes the whole Database behind it (pool, replicas, tunnel). */
class ClosingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly close: () => Promise<void>,
  ) {}

  init(...args: Parameters<Driver['init']>): Promise<void> {
    return this.inner.init(...args);
  }
  acquireConnection(...args: Parameters<Driver['acquireConnection']>): Promise<DatabaseConnection> {
    return this.inner.acquireConnection(...args);
  }
  beginTransaction(...args: Parameters<Driver['beginTransaction']>): Promise<void> {
    return this.inner.beginTransaction(...args);
  }
  commitTransaction(...args: Parameters<Driver['commitTransaction']>): Promise<void> {
    return this.inner.commitTransaction(...args);
  }
  rollbackTransaction(...args: Parameters<Driver['rollbackTransaction']>): Promise<void> {
    return this.inner.rollbackTransaction(...args);
  }
  async savepoint(...args: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    await this.#savepoints('savepoint')(...args);
  }
  async rollbackToSavepoint(...args: Parameters<NonNullable<Driver['rollbackToSavepoint']>>): Promise<void> {
    await this.#savepoints('rollbackToSavepoint')(...args);
  }
  async releaseSavepoint(...args: Parameters<NonNullable<Driver['releaseSavepoint']>>): Promise<void> {
    await this.#savepoints('releaseSavepoint')(...args);
  }
  releaseConnection(...args: Parameters<Driver['releaseConnection']>): Promise<void> {
    return this.inner.releaseConnection(...args);
  }
  destroy(): Promise<void> {
    return this.close();
  }

  #savepoints(command: 'savepoint' | 'rollbackToSavepoint' | 'releaseSavepoint'): NonNullable<Driver['savepoint']> {
    const inner = this.inner;
    if (!inner[command]) throw new DatabaseError(`this engine's driver does not support savepoints (${command})`);
    return (...args) => inner[command]!(...args);
  }
}
