/**
 * A Kysely Driver around any other Driver that adds the connection layer's common duties: every
 * error is mapped onto the package's hierarchy (mapError), the query and transaction counters of
 * status() are kept, and a closed Database refuses work with a clear ConnectionError.
 */
import type {
  AbortableOperationOptions,
  CompiledQuery,
  DatabaseConnection,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { ConnectionError, DatabaseError, mapError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConnectionStats } from './connection-stats.js';

/** Options of InstrumentedDriver. */
export interface InstrumentedDriverOptions {
  /** The counters status() reports; this driver increments them. */
  readonly stats: ConnectionStats;
  /** Receives the warning when a ROLLBACK fails (which is never thrown). */
  readonly logger: Logger;
  /**
   * Called with whatever the inner driver threw, before mapError; returns what is mapped. For
   * engine-specific clean-up in one place (the embedded engine removes the parameter values its
   * errors carry). (Default: the error as it is)
   */
  readonly prepareError?: (error: unknown) => unknown;
  /**
   * Called with each statement before the inner connection runs it; returns what runs (the
   * embedded engine sends Date parameters as pg does). (Default: the statement as it is)
   */
  readonly prepareQuery?: (query: CompiledQuery) => CompiledQuery;
}

const CLOSED_MESSAGE = 'the Database is closed; create a new one to reconnect';

type SavepointCommand = 'savepoint' | 'rollbackToSavepoint' | 'releaseSavepoint';

/**
 * Wraps `inner` so that:
 * - every error it (or one of its connections) throws reaches Kysely as a DatabaseError subclass;
 * - `stats.succeeded` / `stats.failed` count each statement: every `executeQuery`, and each
 *   transaction command (begin, commit, rollback, savepoint, rollback to, release);
 * - `stats.committed` counts successful commits and `stats.rolledBack` every rollback, as Kysely
 *   asks for them (a failing COMMIT is followed by Kysely's rollback, which counts);
 * - `rollbackTransaction` never throws (a failing ROLLBACK is logged), so the error that caused
 *   the rollback is the one the caller sees;
 * - after `destroy()`, acquiring a connection or running a statement on one still held is a
 *   ConnectionError. `destroy()` is idempotent and waits for an `init()` in flight first, so a
 *   lazily created engine is never left open.
 *
 * @example
 * const driver = new InstrumentedDriver(new PGliteDriver({ pglite: () => new PGlite() }), { stats, logger });
 * const dialect: Dialect = { createDriver: () => driver, … };
 */
export class InstrumentedDriver implements Driver {
  readonly #inner: Driver;
  readonly #options: InstrumentedDriverOptions;
  readonly #connections = new WeakMap<DatabaseConnection, InstrumentedConnection>();
  #init: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;

  constructor(inner: Driver, options: InstrumentedDriverOptions) {
    this.#inner = inner;
    this.#options = options;
  }

  /** Whether destroy() has finished: statements on connections still held now fail. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Initialises the inner driver.
   * @throws ConnectionError once destroy() was called; the mapped error of the inner driver's init.
   */
  async init(options?: AbortableOperationOptions): Promise<void> {
    if (this.#closing) throw new ConnectionError(CLOSED_MESSAGE);
    const init = this.#inner.init(options);
    this.#init = init.catch(() => undefined);
    try {
      await init;
    } catch (error) {
      throw this.#map(error);
    }
  }

  /**
   * A connection of the inner driver, instrumented.
   * @throws ConnectionError once destroy() was called; the mapped error of the inner driver
   * (PoolTimeoutError, ConnectionError, …).
   */
  async acquireConnection(options?: AbortableOperationOptions): Promise<DatabaseConnection> {
    if (this.#closing) throw new ConnectionError(CLOSED_MESSAGE);
    let connection: DatabaseConnection;
    try {
      connection = await this.#inner.acquireConnection(options);
    } catch (error) {
      throw this.#map(error);
    }
    let wrapped = this.#connections.get(connection);
    if (!wrapped) {
      wrapped = new InstrumentedConnection(connection, this);
      this.#connections.set(connection, wrapped);
    }
    return wrapped;
  }

  /**
   * Begins a transaction (one counted statement).
   * @throws the mapped error.
   */
  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await this.statement(() => this.#inner.beginTransaction(unwrap(connection), settings));
  }

  /**
   * Commits (one counted statement) and counts the commit.
   * @throws the mapped error of a failing COMMIT; Kysely then rolls back.
   */
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.statement(() => this.#inner.commitTransaction(unwrap(connection)));
    this.#options.stats.committed++;
  }

  /** Counts the rollback and rolls back. Never throws: a failing ROLLBACK is logged. */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.#options.stats.rolledBack++;
    try {
      await this.statement(() => this.#inner.rollbackTransaction(unwrap(connection)));
    } catch (error) {
      this.#options.logger.warn('ROLLBACK failed', { error });
    }
  }

  /**
   * SAVEPOINT name.
   * @throws DatabaseError when the inner driver has no savepoints; the mapped error.
   */
  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#savepoint('savepoint', connection, name, compile);
  }

  /**
   * ROLLBACK TO SAVEPOINT name.
   * @throws DatabaseError when the inner driver has no savepoints; the mapped error.
   */
  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#savepoint('rollbackToSavepoint', connection, name, compile);
  }

  /**
   * RELEASE SAVEPOINT name.
   * @throws DatabaseError when the inner driver has no savepoints; the mapped error.
   */
  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#savepoint('releaseSavepoint', connection, name, compile);
  }

  /**
   * Gives the connection back to the inner driver.
   * @throws the mapped error of the inner driver.
   */
  async releaseConnection(connection: DatabaseConnection, options?: AbortableOperationOptions): Promise<void> {
    try {
      await this.#inner.releaseConnection(unwrap(connection), options);
    } catch (error) {
      throw this.#map(error);
    }
  }

  /**
   * Refuses new work at once, waits for an init() in flight, then destroys the inner driver.
   * Idempotent: later calls return the first call's promise.
   * @throws the mapped error of the inner driver's destroy.
   */
  async destroy(options?: AbortableOperationOptions): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#init;
        await this.#inner.destroy(options);
      } catch (error) {
        throw this.#map(error);
      } finally {
        this.#closed = true;
      }
    })();
    return this.#closing;
  }

  /**
   * Runs one statement of the inner driver: counts it, and maps what it throws.
   * @throws the mapped error.
   */
  async statement<T>(run: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await run();
    } catch (error) {
      throw this.failed(error);
    }
    this.#options.stats.succeeded++;
    return result;
  }

  /** Counts a statement that succeeded outside statement() (a stream that ended). */
  succeeded(): void {
    this.#options.stats.succeeded++;
  }

  /** Counts a statement that failed outside statement() and returns its mapped error. */
  failed(error: unknown): DatabaseError {
    this.#options.stats.failed++;
    return this.#map(error);
  }

  async #savepoint(
    command: SavepointCommand,
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    const method = this.#inner[command]?.bind(this.#inner);
    if (!method) throw new DatabaseError(`this engine's driver does not support savepoints (${command})`);
    await this.statement(() => method(unwrap(connection), name, compile));
  }

  #map(error: unknown): DatabaseError {
    const { prepareError } = this.#options;
    return mapError(prepareError ? prepareError(error) : error);
  }

  /** The statement as the inner connection runs it (see prepareQuery). */
  prepare(query: CompiledQuery): CompiledQuery {
    const prepareQuery = this.#options.prepareQuery;
    return prepareQuery ? prepareQuery(query) : query;
  }
}

/** One connection of the inner driver, instrumented. */
class InstrumentedConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  readonly #driver: InstrumentedDriver;

  constructor(inner: DatabaseConnection, driver: InstrumentedDriver) {
    this.inner = inner;
    this.#driver = driver;
  }

  /**
   * Runs one statement on the inner connection, counted.
   * @throws ConnectionError when the Database was closed; the mapped error.
   */
  async executeQuery<R>(compiledQuery: CompiledQuery, options?: AbortableOperationOptions): Promise<QueryResult<R>> {
    if (this.#driver.closed) throw new ConnectionError(CLOSED_MESSAGE);
    const query = this.#driver.prepare(compiledQuery);
    return await this.#driver.statement(() => this.inner.executeQuery<R>(query, options));
  }

  /**
   * Streams from the inner connection (one counted statement, however many chunks).
   * @throws ConnectionError when the Database was closed; the mapped error.
   */
  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize: number,
    options?: AbortableOperationOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    if (this.#driver.closed) throw new ConnectionError(CLOSED_MESSAGE);
    try {
      const query = this.#driver.prepare(compiledQuery);
      for await (const chunk of this.inner.streamQuery<R>(query, chunkSize, options)) yield chunk;
    } catch (error) {
      throw this.#driver.failed(error);
    }
    this.#driver.succeeded();
  }
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof InstrumentedConnection ? connection.inner : connection;
}
