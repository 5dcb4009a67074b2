/**
 * Kysely's Driver over a pg Pool, with the connection-layer duties in one place: every error is
 * mapped to the package's hierarchy, a connection that failed at the network level is discarded
 * rather than returned to the pool, statements marked by {@link preparedQuery} run as named
 * prepared statements, and the counters of status() are kept.
 */
import { createHash } from 'node:crypto';
import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  LogEvent,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { CompiledQuery as Compiled } from 'kysely';
import type pg from 'pg';
import { ConnectionError, DatabaseError, PoolTimeoutError, mapError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SetUpConnection } from './connection-setup.js';
import type { ConnectionStats } from './connection-stats.js';

const PREPARED_NAME = Symbol('kysely-repository.preparedName');

/** A compiled query that asks to run as a named prepared statement. */
type PreparedCompiledQuery = CompiledQuery & { readonly [PREPARED_NAME]?: string };

/**
 * Marks a compiled query to run as a named prepared statement (when the Database allows them).
 * The name is derived from the SQL text, so the same shape reuses the same server-side plan on
 * every pooled connection. Use it for a bounded set of query shapes, not for ad-hoc SQL.
 */
export function preparedQuery<R>(query: CompiledQuery<R>): CompiledQuery<R> {
  const name = `kr_${createHash('sha1').update(query.sql).digest('base64url').slice(0, 20)}`;
  return Object.freeze({ ...query, [PREPARED_NAME]: name });
}

/** Options of PgDriver. */
export interface PgDriverOptions {
  /** Creates the pool on first use (construction stays free of side effects). */
  readonly createPool: () => pg.Pool;
  /** Whether queries marked by preparedQuery() run as named prepared statements. */
  readonly preparedStatements: boolean;
  readonly stats: ConnectionStats;
  readonly logger: Logger;
  /** The Kysely log hook, called by the fast path (Kysely calls it for everything else). */
  readonly log?: (event: LogEvent) => void;
  /** How long close() waits for checked-out connections before ending them. */
  readonly closeTimeoutMs: number;
  /**
   * Runs once on each new pg client, before its first statement (DB_PGBOUNCER: pooler detection,
   * session settings). A client it reports as transaction-pooled runs no named prepared statements
   * and gets the statement timeout with each BEGIN. (Default: none; every client is direct)
   */
  readonly setUpConnection?: SetUpConnection;
  /** DB_STATEMENT_TIMEOUT: set LOCAL with each BEGIN on a transaction-pooled client. */
  readonly statementTimeoutMs?: number;
  /** Called after each statement run through Kysely (not the run() fast path); read-your-writes marks writes here. */
  readonly afterStatement?: (query: CompiledQuery) => void;
}

const POOL_WAIT_TIMEOUT = /^timeout exceeded when trying to connect/;
const CACHED_PLAN_CHANGED = '0A000';

function mapAcquireError(error: unknown, timeoutMs: number): DatabaseError {
  if (error instanceof Error && POOL_WAIT_TIMEOUT.test(error.message)) {
    return new PoolTimeoutError(`no pooled connection became free within ${timeoutMs} ms`, { cause: error });
  }
  return mapError(error);
}

/** Kysely Driver over pg.Pool. */
export class PgDriver implements Driver {
  #pool: pg.Pool | undefined;
  #closed = false;
  readonly #held = new Set<PgConnection>();
  /** One DatabaseConnection object per pg client, so Kysely instruments each client once. */
  readonly #connections = new WeakMap<pg.PoolClient, PgConnection>();

  constructor(readonly options: PgDriverOptions) {}

  /** The pool, once the first connection was asked for. */
  get pool(): pg.Pool | undefined {
    return this.#pool;
  }

  /** Creates the pool. */
  async init(): Promise<void> {
    this.#pool ??= this.options.createPool();
    return Promise.resolve();
  }

  /**
   * Checks a connection out of the pool.
   * @throws PoolTimeoutError when none becomes free within the pool timeout; ConnectionError when
   * the server cannot be reached or the Database is closed.
   */
  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#closed) throw new ConnectionError('the Database is closed; create a new one to reconnect');
    this.#pool ??= this.options.createPool();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw mapAcquireError(error, this.#pool.options.connectionTimeoutMillis ?? 0);
    }
    let connection = this.#connections.get(client);
    if (!connection) {
      connection = new PgConnection(client, this.options);
      try {
        await connection.setUp();
      } catch (error) {
        client.release(true);
        throw mapError(error);
      }
      this.#connections.set(client, connection);
    }
    connection.checkOut();
    this.#held.add(connection);
    return connection;
  }

  /**
   * Runs one statement on a pooled connection outside any transaction, without Kysely's
   * per-query machinery: the repositories' fast path. Timed and logged through the same `log`
   * hook as every Kysely query.
   * @throws as acquireConnection, and the mapped error of the statement.
   */
  async run<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const connection = (await this.acquireConnection()) as PgConnection;
    const started = performance.now();
    try {
      const result = await connection.run<R>(compiledQuery);
      this.options.log?.({ level: 'query', query: compiledQuery, queryDurationMillis: performance.now() - started });
      return result;
    } catch (error) {
      this.options.log?.({
        level: 'error',
        error,
        query: compiledQuery,
        queryDurationMillis: performance.now() - started,
      });
      throw error;
    } finally {
      this.#held.delete(connection);
      connection.release();
    }
  }

  /**
   * Begins a transaction with the settings asked for. On a transaction-pooled client, the statement
   * timeout is set LOCAL in the same round trip (it cannot be a startup parameter there).
   */
  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let sql = 'begin';
    if (settings.isolationLevel || settings.accessMode) {
      sql = 'start transaction';
      if (settings.isolationLevel) sql += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode) sql += ` ${settings.accessMode}`;
    }
    const timeoutMs = this.options.statementTimeoutMs;
    if ((connection as PgConnection).transactionPooled && timeoutMs !== undefined && Number.isSafeInteger(timeoutMs)) {
      // an integer from the validated config, not input; simple protocol allows the two statements
      sql += `; set local statement_timeout = ${timeoutMs}`;
    }
    await connection.executeQuery(Compiled.raw(sql));
  }

  /**
   * Commits.
   * @throws the mapped error of a failing COMMIT (a deferred constraint, say); DatabaseError 25P02
   * when an earlier error had aborted the transaction and COMMIT rolled it back.
   */
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    // On failure Kysely calls rollbackTransaction next, which counts the rollback.
    const { rows } = await connection.executeQuery<{ command?: string }>(Compiled.raw('commit'));
    if (rows[0]?.command === 'ROLLBACK') {
      throw new DatabaseError('the transaction had been aborted by an earlier error; COMMIT rolled it back', {
        code: '25P02',
      });
    }
    this.options.stats.committed++;
  }

  /**
   * Rolls back. Never throws, so the error that caused the rollback is the one the caller sees:
   * a connection that was lost, or whose ROLLBACK fails, is discarded instead (the server rolls
   * back a transaction whose session ends).
   */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.options.stats.rolledBack++;
    const pgConnection = connection as PgConnection;
    if (pgConnection.discarded) return;
    try {
      await connection.executeQuery(Compiled.raw('rollback'));
    } catch (error) {
      pgConnection.discard();
      this.options.logger.warn('ROLLBACK failed; the connection is discarded', { error });
    }
  }

  /** SAVEPOINT name. */
  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#savepointCommand(connection, 'savepoint', name, compile);
  }

  /** ROLLBACK TO SAVEPOINT name. */
  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#savepointCommand(connection, 'rollback to', name, compile);
  }

  /** RELEASE SAVEPOINT name. */
  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#savepointCommand(connection, 'release', name, compile);
  }

  async #savepointCommand(
    connection: DatabaseConnection,
    command: 'savepoint' | 'rollback to' | 'release',
    name: string,
    _compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    // Savepoint names come from Kysely's own generator or our transaction helper, never from input;
    // they are still quoted as identifiers.
    const id = `"${name.replace(/"/g, '""')}"`;
    const sql = command === 'savepoint' ? `savepoint ${id}` : `${command} savepoint ${id}`;
    await connection.executeQuery(Compiled.raw(sql));
  }

  /** Returns a connection to the pool, or destroys it when it failed at the network level. */
  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const pgConnection = connection as PgConnection;
    this.#held.delete(pgConnection);
    pgConnection.release();
    return Promise.resolve();
  }

  /**
   * Ends the pool: waits up to closeTimeoutMs for checked-out connections, then ends them.
   * Idempotent.
   */
  async destroy(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    if (!pool) return;
    const ended = pool.end();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.closeTimeoutMs);
    });
    const result = await Promise.race([ended, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      for (const connection of this.#held) connection.terminate();
      await ended;
    }
  }
}

/** One pooled pg client, as a Kysely DatabaseConnection (made once per client, reused). */
class PgConnection implements DatabaseConnection {
  #checkedOut = false;
  #discarded = false;
  #lostBecause: Error | undefined;
  #transactionPooled = false;

  constructor(
    readonly client: pg.PoolClient,
    readonly options: PgDriverOptions,
  ) {
    // pg-pool listens for errors only while a client is idle: one that dies while checked out
    // (terminated by the server between statements, a dropped tunnel) would be an uncaught
    // 'error' event. Idle failures are pg-pool's to handle and log.
    client.on('error', (error: Error) => {
      if (!this.#checkedOut) return;
      this.#discarded = true;
      this.#lostBecause = error;
      this.options.logger.warn('a checked-out connection failed; it will be discarded', { error });
    });
  }

  /** Marks the connection as handed out. */
  checkOut(): void {
    this.#checkedOut = true;
  }

  /** Whether this client goes through a transaction pooler (set up by setUpConnection). */
  get transactionPooled(): boolean {
    return this.#transactionPooled;
  }

  /**
   * Runs the driver's setUpConnection on this new client.
   * @throws pg's error when its statement fails.
   */
  async setUp(): Promise<void> {
    const setUp = this.options.setUpConnection;
    if (setUp) this.#transactionPooled = (await setUp(this.client)).transactionPooled;
  }

  /**
   * Runs one statement (Kysely's entry point; Kysely may wrap it with its logging), then tells
   * afterStatement.
   * @throws as {@link run}.
   */
  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.run<R>(compiledQuery);
    } finally {
      this.options.afterStatement?.(compiledQuery);
    }
  }

  /**
   * Runs one statement: a named prepared statement when the query asks for one and the driver
   * allows them.
   * @throws the mapped DatabaseError subclass; a ConnectionError also marks the connection for discard.
   */
  async run<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    if (this.#discarded) {
      throw new ConnectionError('this connection was lost and has been discarded', { cause: this.#lostBecause });
    }
    const { stats } = this.options;
    const prepared = this.options.preparedStatements && !this.#transactionPooled;
    const name = prepared ? (compiledQuery as PreparedCompiledQuery)[PREPARED_NAME] : undefined;
    try {
      const result = await (name === undefined
        ? this.client.query(compiledQuery.sql, compiledQuery.parameters as unknown[])
        : this.client.query({ name, text: compiledQuery.sql, values: compiledQuery.parameters as unknown[] }));
      stats.succeeded++;
      const { command, rowCount, rows } = result;
      if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command } as R] };
      return {
        numAffectedRows:
          command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE'
            ? BigInt(rowCount ?? 0)
            : undefined,
        rows: (rows ?? []) as R[],
      };
    } catch (error) {
      stats.failed++;
      const mapped = mapError(error);
      if (mapped instanceof ConnectionError || mapped.code === CACHED_PLAN_CHANGED) this.discard();
      throw mapped;
    }
  }

  /**
   * Streaming needs a server-side cursor (pg-cursor), which this package does not ship.
   * @throws DatabaseError always; page with Repository.paginate instead.
   */
  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    const error = new DatabaseError('streaming is not supported by this driver; page with Repository.paginate instead');
    const iterator: AsyncIterableIterator<QueryResult<R>> = {
      next: () => Promise.reject(error),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Whether the connection will be destroyed rather than pooled. */
  get discarded(): boolean {
    return this.#discarded;
  }

  /** Marks the connection so it is destroyed, not pooled, when released. */
  discard(): void {
    this.#discarded = true;
  }

  /** Releases to the pool (or destroys when discarded). Idempotent. */
  release(): void {
    if (!this.#checkedOut) return;
    this.#checkedOut = false;
    this.client.release(this.#discarded ? true : undefined);
  }

  /**
   * Closes the socket under a connection someone still holds (close() past its bound) and gives
   * it back to the pool to be destroyed; the holder's next statement fails with ConnectionError.
   */
  terminate(): void {
    this.#discarded = true;
    (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    this.release();
  }
}
