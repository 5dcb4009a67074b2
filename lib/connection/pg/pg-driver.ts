/**
 * Kysely's Driver over a pg Pool, with the connection-layer duties in one place: every error is
 * mapped to the package's hierarchy, a connection that failed at the network level is discarded
 * rather than returned to the pool, statements marked by preparedQuery() run as named
 * prepared statements, and the counters of status() are kept.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  Kysely,
  LogEvent,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { CompiledQuery as Compiled } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { ConnectionError, DatabaseError, PoolTimeoutError, mapError, outcomeUnknown } from '../../errors.js';
import { isWriteStatement } from '../replicas/write-statement.js';
import type { Logger } from '../../logger.js';
import { isPreparedQuery } from '../../prepared-query.js';
import type { SetUpConnection } from './connection-setup.js';
import { corkForTick } from '../cork-for-tick.js';
import { unwrapConnection } from '../sandbox-routing-driver.js';
import type { CopyValue, StatementEngine } from '../../statement-engine.js';
import { copyable, copyRows } from './pg-copy.js';
import * as pgInternals from './pg-internals.js';
import { PreparedStatementCache } from './prepared-statement-cache.js';
import { SlowStatements } from './slow-statements.js';
import { temporalTextsOf } from '../../temporal-texts.js';
import { FAST_TYPES } from './timestamp-parser.js';
import type { ConnectionStats } from '../connection-stats.js';
import type { DatabaseTelemetry, TelemetryTarget } from '../../telemetry/database-telemetry.js';
import { pgQueryIsWrapped } from '../../telemetry/opentelemetry-api.js';

/** Where a transaction's statements run, as Kysely's executor for it told. */
interface TransactionLink {
  readonly connection: PgConnection;
  /** The connection's check-out count when the link was made: a later check-out is someone else's. */
  readonly checkout: number;
}

/** Options of PgDriver. */
export interface PgDriverOptions {
  /** Creates the pool on first use (construction stays free of side effects). */
  readonly createPool: () => pg.Pool;
  /** Whether queries marked by preparedQuery() run as named prepared statements. */
  readonly preparedStatements: boolean;
  /** Named statements kept per connection, least recently used deallocated first. (Default: 100) */
  readonly preparedStatementsMax?: number;
  /**
   * Whether single statements may queue on a busy connection when the pool is full, and BEGIN
   * travels with a transaction's first statement (pg's pipeline mode). (Default: false)
   */
  readonly pipelining?: boolean;
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
  /** OpenTelemetry: each checkout gets a span and a wait time, named for `target`'s pool. (Default: none) */
  readonly telemetry?: { readonly reporter: DatabaseTelemetry; readonly target: TelemetryTarget };
  /** A pool whose connections may go to one of several hosts (a multi-host DATABASE_URL). (Default: none) */
  readonly hosts?: HostRouting;
}

/** What PgDriver asks of a pool whose connections may go to one of several hosts. */
export interface HostRouting {
  /** Whether a pooled client may still be used; one that may not is closed and another checked out. */
  usable(client: pg.ClientBase): boolean;
  /** A statement on `client` failed with `error` (a lost connection, a read-only refusal…). */
  failed(client: pg.ClientBase, error: DatabaseError): void;
  /** Whether a checkout that failed with `error` left nothing behind and may be tried again. */
  retryable(error: unknown): boolean;
}

/** A transaction's end: its outcome is unknown when the connection is lost before the answer. */
const COMMIT = /^\s*(?:commit|end)\b/i;
/** pg's refusals to send on a client it knows is broken or closed. */
const NOT_SENT = /is not queryable/;

/**
 * Whether @opentelemetry/instrumentation-pg wraps pg's `Client.prototype.query` now: it then
 * reports the statements this driver sends. Never throws.
 */
export function pgQueryInstrumented(): boolean {
  return pgQueryIsWrapped(pg.Client.prototype);
}

/**
 * Appends the frames of `here` (made where the caller's statement entered the driver) to the
 * error's stack, as Kysely's PostgresDriver does: the error is made when the server answers, and
 * with Node's 10 frames its stack would not reach the caller's code.
 */
function withCallerStack(error: unknown, here: Error): unknown {
  if (error instanceof Error && typeof error.stack === 'string' && here.stack) {
    error.stack += `\n${here.stack.split('\n').slice(1).join('\n')}`;
  }
  return error;
}

/** Whether the warning about pg's private uses falling back was logged (once per process). */
let reportedFallback = false;

/** Named statements per connection when the config does not say. */
const DEFAULT_STATEMENTS_MAX = 100;

/** How many single statements may be in flight on one connection when they share it. */
const PIPELINE_DEPTH = 8;

/** Nothing more is queued on a connection whose oldest statement in flight has run this long. */
const STALLED_MS = 3;

const POOL_WAIT_TIMEOUT = /^timeout exceeded when trying to connect/;
/** A named statement whose plan no longer fits the table (0A000), or that the server no longer has (26000). */
const STALE_STATEMENT = /^(?:cached plan must not change result type|prepared statement "kr_\d+" does not exist)$/;

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
  /** Kysely transactions and the connection each runs on (see executeIn). */
  readonly #links = new WeakMap<object, TransactionLink>();
  /** Connections checked out by run() that more single statements may share (see #shareBusy). */
  readonly #shared: PgConnection[] = [];
  /** run() calls waiting for a connection of their own (so the pool's other waiters can be told apart). */
  #sharedWaiting = 0;
  /** Statement texts that ran slowly: none shares a busy connection, nor is queued behind. */
  readonly #slow = new SlowStatements();

  #internalsChecked = false;

  constructor(readonly options: PgDriverOptions) {}

  /**
   * A new client with the pool's settings (through the tunnel when there is one), for cancelling
   * a statement or ending a session while every pooled connection may be busy.
   */
  #controlClient(): pg.Client {
    const options = this.#pool!.options as pg.PoolConfig;
    // pg-pool keeps the password, but not as an enumerable property
    return new pg.Client({ ...options, password: options.password });
  }

  /** Runs pg's self-tests (once per process) and says once which private uses fell back. */
  async #checkInternals(): Promise<void> {
    const report = await pgInternals.checkPgInternals();
    this.#internalsChecked = true;
    const off = Object.entries(report)
      .filter(([, on]) => !on)
      .map(([use]) => use);
    if (off.length > 0 && !reportedFallback) {
      reportedFallback = true;
      this.options.logger.warn("this pg version differs from the one tested: pg's public path is used instead", {
        fallbacks: off,
      });
    }
  }

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
    if (!this.#internalsChecked) await this.#checkInternals();
    this.#pool ??= this.options.createPool();
    const pool = this.#pool;
    const timeoutMs = pool.options.connectionTimeoutMillis ?? 0;
    const { telemetry, hosts } = this.options;
    // with several hosts, a checkout that found the host gone (or of the wrong role) tries again
    const deadline = hosts && timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
    let connection: PgConnection | undefined;
    while (connection === undefined) {
      let client: pg.PoolClient;
      try {
        client = await (telemetry
          ? telemetry.reporter.checkout(
              telemetry.target,
              () => pool.connect(),
              (error) => mapAcquireError(error, timeoutMs),
            )
          : pool.connect());
      } catch (error) {
        if (hosts?.retryable(error) && performance.now() < deadline) continue;
        throw mapAcquireError(error, timeoutMs);
      }
      if (hosts && !hosts.usable(client)) {
        // it went to a host new connections no longer go to
        client.release(true);
        continue;
      }
      connection = this.#connections.get(client);
      if (!connection) {
        const fresh = new PgConnection(client, this.options, () => this.#controlClient(), this.#slow);
        try {
          await fresh.setUp();
        } catch (error) {
          client.release(true);
          if (hosts?.retryable(error) && performance.now() < deadline) continue;
          throw mapError(error);
        }
        this.#connections.set(client, fresh);
        connection = fresh;
      }
    }
    connection.checkOut();
    this.#held.add(connection);
    return connection;
  }

  /**
   * Runs one statement on a pooled connection outside any transaction, without Kysely's
   * per-query machinery: the repositories' fast path. With pipelining, when every connection is
   * busy and nobody waits for one, the statement is sent on the least busy connection already
   * running such statements instead of waiting for a free one. Timed and logged through the same
   * `log` hook as every Kysely query.
   * @throws as acquireConnection, and the mapped error of the statement.
   */
  async run<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const slow = this.#slow.has(compiledQuery.sql);
    const connection = (slow ? undefined : this.#shareBusy()) ?? (await this.#checkOutShared());
    if (this.#pipelines(connection)) connection.coalesceWrites();
    const started = performance.now();
    const first = connection.began(started, slow);
    try {
      const result = await connection.run<R>(compiledQuery);
      const queryDurationMillis = connection.wireTime(started);
      this.options.log?.({ level: 'query', query: compiledQuery, queryDurationMillis });
      return result;
    } catch (error) {
      const queryDurationMillis = connection.wireTime(started);
      this.options.log?.({ level: 'error', error, query: compiledQuery, queryDurationMillis });
      throw error;
    } finally {
      connection.ended(slow);
      // only a run that waited behind no other statement tells how long the statement itself takes
      if (first) this.#slow.learn(compiledQuery.sql, performance.now() - started);
      this.#giveBack(connection);
    }
  }

  /** Whether `connection` uses pipelining: on for the Database, and not behind a transaction pooler. */
  #pipelines(connection: PgConnection): boolean {
    return this.options.pipelining === true && !connection.transactionPooled && pgInternals.canPipeline();
  }

  /**
   * A connection already running run()'s statements that can take one more, when the pool has
   * no free connection and cannot open another, and no other caller (a transaction) waits for
   * one: the statements then stop coming, their connections drain, and the waiter gets the first
   * one to come free. Counts the statement on it.
   */
  #shareBusy(): PgConnection | undefined {
    const pool = this.#pool;
    if (this.#shared.length === 0 || pool === undefined) return undefined;
    if (pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? 10)) return undefined;
    if (pool.waitingCount > this.#sharedWaiting) return undefined;
    // never behind a statement known to be slow, or one that has been running a while: the
    // statement would wait for it (and count the wait in its own latency) instead of for a free
    // connection, which comes sooner
    const stalledBefore = performance.now() - STALLED_MS;
    let least: PgConnection | undefined;
    for (const connection of this.#shared) {
      if (connection.statements >= PIPELINE_DEPTH || connection.discarded) continue;
      if (connection.slowInFlight > 0 || connection.oldestStarted < stalledBefore) continue;
      if (least === undefined || connection.statements < least.statements) least = connection;
    }
    if (least) least.statements++;
    return least;
  }

  /** Checks out a connection for run(), sharable by later statements when pipelining is on. */
  async #checkOutShared(): Promise<PgConnection> {
    let connection: PgConnection;
    this.#sharedWaiting++;
    try {
      connection = (await this.acquireConnection()) as PgConnection;
    } finally {
      this.#sharedWaiting--;
    }
    connection.statements = 1;
    if (this.#pipelines(connection)) {
      pgInternals.setPipeline(connection.client, true);
      this.#shared.push(connection);
    }
    return connection;
  }

  /** Ends one run() statement; the last one on a connection returns it to the pool. */
  #giveBack(connection: PgConnection): void {
    if (--connection.statements > 0) return;
    const index = this.#shared.indexOf(connection);
    if (index >= 0) {
      this.#shared.splice(index, 1);
      pgInternals.setPipeline(connection.client, false);
    }
    this.#held.delete(connection);
    connection.release();
  }

  /**
   * Runs one statement in the Kysely transaction `trx`, straight on its connection (asked of
   * Kysely's executor once per transaction, which also refuses a transaction that has ended).
   * Falls back to Kysely when the connection is not one of this driver's in a transaction.
   * @throws the mapped error of the statement; what Kysely throws for an ended transaction.
   */
  async executeIn<R>(trx: Kysely<unknown>, compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    let link = this.#links.get(trx);
    if (!link?.connection.serves(link.checkout)) link = await this.#link(trx);
    if (!link) return trx.executeQuery<R>(compiledQuery);
    const connection = link.connection;
    const result = await this.#timed(compiledQuery, () => connection.run<R>(compiledQuery));
    this.options.afterStatement?.(compiledQuery);
    return result;
  }

  /**
   * Asks Kysely which connection `trx` runs on and remembers it for the transaction's later
   * statements; undefined when it is not one of this driver's connections in a transaction.
   * @throws what Kysely throws for a transaction that has ended.
   */
  async #link(trx: Kysely<unknown>): Promise<TransactionLink | undefined> {
    // a test sandbox's connection stands for one of this driver's
    const connection = unwrapConnection(await trx.getExecutor().provideConnection((c) => Promise.resolve(c)));
    if (!(connection instanceof PgConnection) || !connection.inTransaction) {
      this.#links.delete(trx);
      return undefined;
    }
    const link = connection.link();
    this.#links.set(trx, link);
    return link;
  }

  /**
   * This driver as the engine interface the repository uses (statement-engine.ts): its fast path
   * (`run`), statements in a transaction (`executeIn`), COPY, and how pg sends a Date (local time
   * with its offset).
   */
  statementEngine(): Required<StatementEngine> {
    return {
      execute: <R>(query: CompiledQuery) => this.run<R>(query),
      executeIn: <R>(trx: Kysely<unknown>, query: CompiledQuery) => this.executeIn<R>(trx, query),
      copy: { accepts: copyable, into: (statement, rows, trx) => this.copy(statement, rows, trx) },
      dateText: pgInternals.dateParameterText,
    };
  }

  /**
   * COPY `rows` into a table (`statement` is the `copy … from stdin` command), in the Kysely
   * transaction `trx` when given (on its connection), else on a pooled connection of its own.
   * Counted and logged as one statement.
   * @throws the mapped error: a constraint the rows break, a lost connection.
   */
  async copy(statement: string, rows: readonly (readonly CopyValue[])[], trx?: Kysely<unknown>): Promise<number> {
    const query = Compiled.raw(statement);
    if (trx) {
      let link = this.#links.get(trx);
      if (!link?.connection.serves(link.checkout)) link = await this.#link(trx);
      if (!link) throw new DatabaseError('the transaction given to copy() does not run on this Database');
      const connection = link.connection;
      return this.#timed(query, () => connection.copy(statement, rows));
    }
    const connection = (await this.acquireConnection()) as PgConnection;
    try {
      return await this.#timed(query, () => connection.copy(statement, rows));
    } finally {
      this.#held.delete(connection);
      connection.release();
    }
  }

  /** Runs `fn`, timing and logging it through the `log` hook as Kysely does. */
  async #timed<T>(query: CompiledQuery, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await fn();
      this.options.log?.({ level: 'query', query, queryDurationMillis: performance.now() - started });
      return result;
    } catch (error) {
      this.options.log?.({ level: 'error', error, query, queryDurationMillis: performance.now() - started });
      throw error;
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
    const pgConnection = connection as PgConnection;
    const timeoutMs = this.options.statementTimeoutMs;
    if (pgConnection.transactionPooled && timeoutMs !== undefined && Number.isSafeInteger(timeoutMs)) {
      // an integer from the validated config, not input; simple protocol allows the two statements
      sql += `; set local statement_timeout = ${timeoutMs}`;
    }
    if (this.#pipelines(pgConnection)) {
      pgConnection.beginWithNextStatement(Compiled.raw(sql));
    } else {
      await connection.executeQuery(Compiled.raw(sql));
    }
    pgConnection.inTransaction = true;
  }

  /**
   * Commits.
   * @throws the mapped error of a failing COMMIT (a deferred constraint, say); DatabaseError 25P02
   * when an earlier error had aborted the transaction and COMMIT rolled it back.
   */
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    // On failure Kysely calls rollbackTransaction next, which counts the rollback.
    const pgConnection = connection as PgConnection;
    pgConnection.inTransaction = false;
    if (pgConnection.dropPendingBegin()) {
      this.options.stats.committed++; // nothing ran: BEGIN was never sent, nothing to commit
      return;
    }
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
    pgConnection.inTransaction = false;
    if (pgConnection.dropPendingBegin() || pgConnection.discarded) return;
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
    // they are still quoted as identifiers. The text is the one Kysely's PostgresDriver sends.
    const id = `"${name.replace(/"/g, '""')}"`;
    await connection.executeQuery(Compiled.raw(`${command} ${id}`));
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

  /** The statement Kysely runs on this connection now, for cancellation (see cancelQuery). */
  #queryId: object | undefined;
  /** The server's process id for this session. */
  #pid: number | undefined;

  constructor(
    readonly client: pg.PoolClient,
    readonly options: PgDriverOptions,
    private readonly controlClient: () => pg.Client,
    /** The driver's slow statement texts: they run unnamed, planned for their own arguments. */
    private readonly slow: SlowStatements,
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

  #checkouts = 0;
  /** This connection's named statements (made on first use). */
  #statements: PreparedStatementCache | undefined;
  /** A BEGIN not sent yet: it goes out with the next statement (see beginWithNextStatement). */
  #pendingBegin: CompiledQuery | undefined;
  /** Inside BEGIN … COMMIT/ROLLBACK (kept by the driver). */
  inTransaction = false;
  /** Statements of the driver's run() in flight on this connection (kept by the driver). */
  statements = 0;
  /** When each run() statement in flight began, oldest first (they complete in order). */
  readonly #started: number[] = [];
  /** Statements known to be slow among those in flight. */
  slowInFlight = 0;

  /**
   * Counts a run() statement in flight that began at `at`; true when it is the only one, so its
   * time is its own. Never throws.
   */
  began(at: number, slow: boolean): boolean {
    if (slow) this.slowInFlight++;
    this.#started.push(at);
    return this.#started.length === 1;
  }

  /** Counts the oldest run() statement in flight as done. Never throws. */
  ended(slow: boolean): void {
    if (slow) this.slowInFlight--;
    this.#started.shift();
    this.#lastEnded = performance.now();
  }

  /** When the last run() statement on this connection was answered. */
  #lastEnded = -Infinity;

  /**
   * A run() statement's own time on the wire, as it completes (before ended()): from when it was
   * sent, or, when it was queued behind others (pipelining), from when the one before it was
   * answered, since statements on a connection are answered in order; to now. Never throws.
   */
  wireTime(started: number): number {
    const now = performance.now();
    return now - Math.max(started, this.#lastEnded);
  }

  /** When the oldest run() statement in flight began (Infinity when none is). */
  get oldestStarted(): number {
    return this.#started[0] ?? Infinity;
  }

  /**
   * Holds this connection's socket corked until the current tick's work is done, so the
   * statements that share it in one tick (pipelining) leave in one system call and reach the
   * server in one read. Never throws.
   */
  coalesceWrites(): void {
    const socket = pgInternals.clientSocket(this.client);
    if (socket) corkForTick(socket);
  }

  /** Marks the connection as handed out. */
  checkOut(): void {
    this.#checkedOut = true;
    this.#checkouts++;
    this.inTransaction = false;
    this.#pendingBegin = undefined;
  }

  /**
   * Holds `begin` to send it together with the next statement, without waiting for its answer in
   * between: a transaction costs one round trip less. Never throws.
   */
  beginWithNextStatement(begin: CompiledQuery): void {
    this.#pendingBegin = begin;
  }

  /** Forgets a BEGIN that was never sent (the transaction ran no statement); true if there was one. */
  dropPendingBegin(): boolean {
    const pending = this.#pendingBegin !== undefined;
    this.#pendingBegin = undefined;
    return pending;
  }

  /** This check-out's transaction on this connection, for the driver to run statements of it directly. */
  link(): TransactionLink {
    return { connection: this, checkout: this.#checkouts };
  }

  /** Whether this connection still runs the transaction it ran at check-out number `checkout`. */
  serves(checkout: number): boolean {
    return this.#checkedOut && !this.#discarded && this.inTransaction && this.#checkouts === checkout;
  }

  /**
   * COPY rows in with `statement`; counted as one statement.
   * @throws the mapped error; a ConnectionError also marks the connection for discard.
   */
  async copy(statement: string, rows: readonly (readonly CopyValue[])[]): Promise<number> {
    this.#assertUsable();
    const begin = this.#pendingBegin;
    this.#pendingBegin = undefined;
    try {
      if (begin !== undefined) await this.#sendBegin(begin);
      const count = await copyRows(this.client, statement, rows);
      this.options.stats.succeeded++;
      return count;
    } catch (error) {
      this.options.stats.failed++;
      const mapped = this.#mapError(error);
      throw mapped instanceof ConnectionError ? this.#lost(mapped, Compiled.raw(statement), begin) : mapped;
    }
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
    this.#queryId = compiledQuery.queryId;
    try {
      return await this.run<R>(compiledQuery);
    } catch (error) {
      throw withCallerStack(error, new Error());
    } finally {
      this.#queryId = undefined;
      this.options.afterStatement?.(compiledQuery);
    }
  }

  /**
   * Streams the rows of a statement in chunks of `chunkSize` through a server-side portal
   * (pg-cursor), as Kysely's PostgresDialect does; one counted statement.
   * @throws the mapped error of the statement; ConnectionError when the connection was lost.
   */
  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    this.#assertUsable();
    const begin = this.#pendingBegin;
    this.#pendingBegin = undefined;
    this.#queryId = compiledQuery.queryId;
    let cursor: Cursor<R> | undefined;
    try {
      if (begin !== undefined) await this.#sendBegin(begin);
      cursor = this.client.query(
        new Cursor<R>(compiledQuery.sql, compiledQuery.parameters.slice(), { types: FAST_TYPES }),
      );
      for (;;) {
        const rows = await cursor.read(chunkSize);
        if (rows.length === 0) break;
        yield { rows };
      }
      this.options.stats.succeeded++;
    } catch (error) {
      this.options.stats.failed++;
      throw withCallerStack(this.#mapError(error), new Error());
    } finally {
      this.#queryId = undefined;
      await cursor?.close().catch(() => undefined);
      this.options.afterStatement?.(compiledQuery);
    }
  }

  /** Learns the session's server process id, for cancelQuery and killSession. */
  async collectSessionInfo(): Promise<void> {
    if (this.#pid !== undefined) return;
    this.#pid = pgInternals.backendPid(this.client);
    if (this.#pid !== undefined) return;
    const { rows } = await this.run<{ pid: number }>(Compiled.raw('select pg_backend_pid() as pid'));
    this.#pid = Number(rows[0]?.pid);
  }

  /**
   * Cancels the statement Kysely runs on this connection (an AbortSignal with
   * `inflightQueryAbortStrategy: 'cancel query'`), from a control connection of its own.
   * @throws the mapped error when the control connection fails.
   */
  async cancelQuery(): Promise<void> {
    await this.#control('select pg_cancel_backend($1)');
  }

  /**
   * Ends this connection's session (`inflightQueryAbortStrategy: 'kill session'`); the connection
   * is discarded.
   * @throws the mapped error when the control connection fails.
   */
  async killSession(): Promise<void> {
    this.discard();
    await this.#control('select pg_terminate_backend($1)');
  }

  /** Runs `statement` with this session's pid on a new control client, if the same statement still runs. */
  async #control(statement: string): Promise<void> {
    const queryId = this.#queryId;
    if (queryId === undefined || this.#pid === undefined) return;
    const client = this.controlClient();
    client.on('error', () => undefined);
    try {
      await client.connect();
      // another statement may have started meanwhile: never cancel that one
      if (this.#queryId === queryId) await client.query(statement, [this.#pid]);
    } catch (error) {
      throw mapError(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Runs one statement: a named prepared statement when the query asks for one and the driver
   * allows them. A named statement whose plan went stale under a schema change (0A000) or that
   * the server no longer has (26000) is prepared afresh: at once outside a transaction (the
   * statement never ran), from the next call inside one (the error aborted it).
   * @throws the mapped DatabaseError subclass; a ConnectionError also marks the connection for discard.
   */
  async run<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    this.#assertUsable();
    if (this.#statements?.hasStale && !this.inTransaction) this.#deallocateStale();
    const begin = this.#pendingBegin;
    this.#pendingBegin = undefined;
    const { stats } = this.options;
    let result: pg.QueryResult;
    for (let attempt = 1; ; attempt++) {
      const name = this.#statementName(compiledQuery);
      try {
        result = await (begin === undefined || attempt > 1
          ? this.#send(compiledQuery, name)
          : this.#sendWithBegin(begin, compiledQuery, name));
        stats.succeeded++;
        break;
      } catch (error) {
        stats.failed++;
        const mapped = this.#mapError(error);
        if (mapped instanceof ConnectionError) throw this.#lost(mapped, compiledQuery, begin);
        if (name === undefined || !STALE_STATEMENT.test(mapped.message)) throw mapped;
        this.#statements?.invalidate(compiledQuery.sql);
        // once, and only outside a transaction: inside one the error aborted it
        if (attempt > 1 || begin !== undefined || this.inTransaction) throw mapped;
        this.#deallocateStale();
      }
    }
    const { command, rowCount, rows } = result;
    if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command } as R] };
    return {
      numAffectedRows:
        command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE'
          ? BigInt(rowCount ?? 0)
          : undefined,
      rows: (rows ?? []) as R[],
    };
  }

  /**
   * Refuses a statement on a connection that was lost.
   * @throws ConnectionError with the loss as its cause.
   */
  #assertUsable(): void {
    if (this.#discarded) {
      throw new ConnectionError('this connection was lost and has been discarded', { cause: this.#lostBecause });
    }
  }

  /**
   * Maps a failure; only one that leaves the connection unusable (ConnectionError) has it
   * discarded. With several hosts, the pool is told (its server may have failed or changed role).
   */
  #mapError(error: unknown): DatabaseError {
    const mapped = mapError(error);
    if (mapped instanceof ConnectionError) this.discard();
    this.options.hosts?.failed(this.client, mapped);
    return mapped;
  }

  /**
   * The error for `query`'s lost connection: with outcomeUnknown when it may have taken effect
   * (COMMIT, or a write outside a transaction whose BEGIN was not held back with it).
   */
  #lost(mapped: ConnectionError, query: CompiledQuery, begin: CompiledQuery | undefined): ConnectionError {
    if (this.inTransaction || begin !== undefined) return mapped;
    // pg refused to send it: the loss was known before the statement left
    if (NOT_SENT.test(String((mapped.cause as { message?: unknown } | undefined)?.message))) return mapped;
    if (COMMIT.test(query.sql)) return outcomeUnknown(mapped, 'the COMMIT');
    return isWriteStatement(query) ? outcomeUnknown(mapped, 'the write') : mapped;
  }

  /**
   * Sends a held BEGIN and the statement: in one batch when pg sends the statement with the
   * extended protocol anyway and parses nothing named (then pg's own bookkeeping of what the
   * server has parsed stays exact, and a multi-statement text keeps the simple protocol), else
   * BEGIN first, on its own.
   */
  #sendWithBegin(
    begin: CompiledQuery,
    compiledQuery: CompiledQuery,
    name: string | undefined,
  ): Promise<pg.QueryResult> {
    const extended = name !== undefined || compiledQuery.parameters.length > 0;
    const parsesNamed = name !== undefined && !pgInternals.isParsed(this.client, name);
    if (extended && !parsesNamed && pgInternals.canBatchBegin(this.client)) {
      return this.#sendAfter(begin, compiledQuery, name);
    }
    return this.#sendBegin(begin).then(() => this.#send(compiledQuery, name));
  }

  /**
   * Sends one statement, under `name` when given. Uses pg's callback form: with its promise form
   * every result outlived a young-generation collection, and the collections that then copy pages
   * of rows cost more client CPU than building the query.
   */
  #send(compiledQuery: CompiledQuery, name: string | undefined, extended = false): Promise<pg.QueryResult> {
    const texts = temporalTextsOf(compiledQuery);
    const options = { name, extended, types: texts ? texts.over(FAST_TYPES) : FAST_TYPES };
    return new Promise((resolve, reject) => {
      pgInternals.submitPgQuery(this.client, compiledQuery.sql, compiledQuery.parameters, options, (error, result) => {
        if (error) reject(error);
        else resolve(result);
      });
    });
  }

  /** Sends a held BEGIN on its own, reported to the log hook as Kysely reports the statements it runs. */
  async #sendBegin(begin: CompiledQuery): Promise<void> {
    const started = performance.now();
    try {
      await this.#send(begin, undefined);
    } catch (error) {
      this.#logBegin(begin, started, error);
      throw error;
    }
    this.options.stats.succeeded++;
    this.#logBegin(begin, started);
  }

  /** Reports a BEGIN this connection sent by itself to the log hook, as Kysely reports the statements it runs. */
  #logBegin(begin: CompiledQuery, started: number, error?: unknown): void {
    const queryDurationMillis = performance.now() - started;
    this.options.log?.(
      error === undefined
        ? { level: 'query', query: begin, queryDurationMillis }
        : { level: 'error', error, query: begin, queryDurationMillis },
    );
  }

  /**
   * The prepared statement name a query runs under, if it asks for one, the driver allows them,
   * and its text is not known to be slow.
   */
  #statementName(compiledQuery: CompiledQuery): string | undefined {
    if (!isPreparedQuery(compiledQuery) || !this.options.preparedStatements) return undefined;
    if (this.#transactionPooled) return undefined;
    // a slow statement gains nothing from skipping its parse, and a named one may be run on a
    // generic plan, made for no argument in particular: 40% slower here for a count over a range
    if (this.slow.has(compiledQuery.sql)) return undefined;
    this.#statements ??= new PreparedStatementCache(this.options.preparedStatementsMax ?? DEFAULT_STATEMENTS_MAX);
    return this.#statements.nameFor(compiledQuery.sql);
  }

  /**
   * Deallocates the named statements evicted from this connection's cache (or gone stale) that
   * the server holds. Queued ahead of the next statement and never awaited; called outside
   * transactions only, so a failure cannot abort one. Never throws.
   */
  #deallocateStale(): void {
    for (const name of this.#statements?.takeStale() ?? []) {
      if (!pgInternals.isParsed(this.client, name)) continue;
      pgInternals.forgetParsed(this.client, name);
      // names are this connection's own `kr_<n>`, never input
      pgInternals.submitPgQuery(
        this.client,
        `deallocate "${name}"`,
        [],
        { name: undefined, extended: false, types: FAST_TYPES },
        (error) => {
          if (error)
            this.options.logger.debug('DEALLOCATE failed; the statement stays until the connection ends', { error });
        },
      );
    }
  }

  /**
   * Sends `begin` and the statement as one message batch with one Sync at its end, so PostgreSQL
   * answers both in one packet: a transaction costs one round trip less. A BEGIN that fails
   * stops the statement from running (the server skips to the Sync), and its error is the one
   * thrown. The caller makes sure the statement goes out with the extended protocol and parses
   * nothing named (see run).
   */
  async #sendAfter(
    begin: CompiledQuery,
    compiledQuery: CompiledQuery,
    name: string | undefined,
  ): Promise<pg.QueryResult> {
    const started = performance.now();
    let sent: Promise<pg.QueryResult | pg.QueryResult[]> | undefined;
    pgInternals.sendUnsyncedBefore(this.client, begin.sql, () => {
      // one result per CommandComplete in the batch: pg hands back an array of them
      sent = this.#send(compiledQuery, name, true) as Promise<pg.QueryResult | pg.QueryResult[]>;
    });
    let results: pg.QueryResult | pg.QueryResult[];
    try {
      results = await sent!;
    } finally {
      // BEGIN cannot fail on a live connection; a lost one is the statement's error, reported once
      this.options.stats.succeeded++;
      this.#logBegin(begin, started);
    }
    // pg reports each CommandComplete of the batch: BEGIN's first, the statement's last
    return Array.isArray(results) ? results[results.length - 1]! : results;
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
    const socket = pgInternals.clientSocket(this.client);
    if (socket) socket.destroy();
    else void this.client.end().catch(() => undefined);
    this.release();
  }
}
