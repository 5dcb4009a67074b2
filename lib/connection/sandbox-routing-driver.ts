/**
 * A Kysely Driver around a Database's own that serves test sandboxes (kysely-repository/testing):
 * while a test's sandbox is current in the caller's async context, a statement on the plain
 * Kysely (`database.db.selectFrom(…)`) borrows the sandbox's connection instead of a pooled one,
 * and a Kysely transaction begun there is a SAVEPOINT of the sandbox's transaction. Until a
 * sandbox is opened in the process, every call goes straight to the inner driver.
 */
import type {
  AbortableOperationOptions,
  CompiledQuery,
  DatabaseConnection,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { CompiledQuery as Compiled } from 'kysely';
import { DatabaseError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StatementEngine } from '../statement-engine.js';

/**
 * A test sandbox (kysely-repository/testing): one transaction on a dedicated connection that a
 * test's statements all run in, rolled back when the test ends. The transaction helper and
 * SandboxRoutingDriver consult it; the testing entry creates it.
 */
export interface SandboxState {
  /** The connection the sandbox's transaction runs on: plain statements of the test borrow it. */
  readonly connection: DatabaseConnection;
  /** Set (for good) when the test ended: a statement of its context after that is refused. */
  ended: boolean;
  /** Savepoints begun inside the sandbox (names are `kr_sandbox_<n>` and `kr_statement_<n>`). */
  savepoints: number;
  /** Settles when the plain statement running in its own savepoint is done (they take turns). */
  turn: Promise<unknown>;
  /** What the refusal says the test was (its title). */
  readonly label: string;
}

/** What the driver asks on each connection request. */
export interface SandboxRoute {
  /** The sandbox current in the caller's async context, if any. @throws when its test has ended. */
  readonly current: () => SandboxState | undefined;
  /** Whether the caller is opening a sandbox: the connection it gets becomes the sandbox's. */
  readonly opening: () => boolean;
}

/** A connection that stands for another (see {@link unwrapConnection}). */
interface WrappedConnection extends DatabaseConnection {
  readonly wrapped: DatabaseConnection;
}

/**
 * The engine's own connection behind a sandbox's, for drivers that run statements on their
 * connections directly (the pg driver's transaction fast path).
 */
export function unwrapConnection(connection: DatabaseConnection): DatabaseConnection {
  let inner = connection;
  while (inner instanceof SandboxConnection || inner instanceof BorrowedConnection) inner = inner.wrapped;
  return inner;
}

/**
 * The statement methods of `connection` as its class defines them. Kysely logs the statements of
 * each connection it hands out by replacing that object's methods, and a connection a sandbox
 * wraps was handed out too (before, or as the sandbox's): calling the class's methods, the
 * statement is logged once, by the outermost object.
 */
function unlogged(connection: DatabaseConnection): Pick<DatabaseConnection, 'executeQuery' | 'streamQuery'> {
  const own = Object.getPrototypeOf(connection) as Partial<DatabaseConnection> | null;
  return typeof own?.executeQuery === 'function' && typeof own.streamQuery === 'function'
    ? (own as Pick<DatabaseConnection, 'executeQuery' | 'streamQuery'>)
    : connection;
}

/** LISTEN / UNLISTEN: notifications are delivered on commit, which a sandbox never reaches. */
const LISTEN = /^\s*(?:un)?listen\b/i;
/** Session-level advisory locks (not the _xact_ ones): they outlive the rollback and never block the test's other statements. */
const SESSION_ADVISORY_LOCK = /\bpg_(?:try_)?advisory_(?:lock|unlock)(?:_shared|_all)?\s*\(/i;

/**
 * Refuses, in a sandbox, what needs a connection of its own to mean what it says.
 * @throws DatabaseError naming the way out.
 */
function checkSandboxed(query: CompiledQuery): void {
  const what = LISTEN.test(query.sql)
    ? 'LISTEN/UNLISTEN (notifications arrive only on commit, and a sandbox never commits)'
    : SESSION_ADVISORY_LOCK.test(query.sql)
      ? 'a session-level advisory lock (it outlives the rollback, and every statement of the test shares its connection, so it never blocks)'
      : undefined;
  if (what === undefined) return;
  throw new DatabaseError(
    `${what} cannot work inside a test sandbox, whose statements all run on one connection in one transaction; ` +
      'run this test without the sandbox (withoutSandbox() from kysely-repository/testing) and clean up what it commits',
  );
}

/** The connection a sandbox's transaction runs on: the engine's, with the sandbox's refusals. */
export class SandboxConnection implements WrappedConnection {
  constructor(readonly wrapped: DatabaseConnection) {}

  /** @throws the refusals of checkSandboxed; what the engine's connection throws. */
  executeQuery<R>(query: CompiledQuery, options?: AbortableOperationOptions): Promise<QueryResult<R>> {
    checkSandboxed(query);
    return unlogged(this.wrapped).executeQuery.call(this.wrapped, query, options) as Promise<QueryResult<R>>;
  }

  /** @throws the refusals of checkSandboxed; what the engine's connection throws. */
  streamQuery<R>(
    query: CompiledQuery,
    chunkSize: number,
    options?: AbortableOperationOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    checkSandboxed(query);
    return unlogged(this.wrapped).streamQuery.call(this.wrapped, query, chunkSize, options) as AsyncIterableIterator<
      QueryResult<R>
    >;
  }
}

/**
 * A sandbox's connection lent to one plain statement or one Kysely transaction of its test. A
 * plain statement runs in a savepoint of its own, as an autocommit statement would run on a pool:
 * when it fails, only it is undone, and the test's later statements still run (a failure would
 * otherwise abort the whole sandbox transaction).
 */
class BorrowedConnection implements WrappedConnection {
  /** The savepoint a Kysely transaction on this loan began, and whether it was read only. */
  savepoint: { readonly name: string; readonly readOnly: boolean } | undefined;

  constructor(
    readonly wrapped: SandboxConnection,
    readonly sandbox: SandboxState,
  ) {}

  /** @throws what the statement throws (after its savepoint was rolled back to). */
  executeQuery<R>(query: CompiledQuery, options?: AbortableOperationOptions): Promise<QueryResult<R>> {
    if (this.savepoint !== undefined) return this.#run<R>(query, options);
    return this.#alone(() => this.#run<R>(query, options));
  }

  /** @throws what the statement throws (after its savepoint was rolled back to). */
  async *streamQuery<R>(
    query: CompiledQuery,
    chunkSize: number,
    options?: AbortableOperationOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    const stream = () =>
      SandboxConnection.prototype.streamQuery.call(this.wrapped, query, chunkSize, options) as AsyncIterableIterator<
        QueryResult<R>
      >;
    if (this.savepoint !== undefined) {
      yield* stream();
      return;
    }
    // a stream holds its statement's savepoint until it ends: collected first, then handed out
    const chunks = await this.#alone(async () => {
      const all: QueryResult<R>[] = [];
      for await (const chunk of stream()) all.push(chunk);
      return all;
    });
    yield* chunks;
  }

  /**
   * Runs a transaction command of the driver's own text (savepoint names are generated, never
   * input) inside this loan's transaction, logged as a BEGIN or COMMIT would be.
   */
  async transactionCommand(text: string): Promise<void> {
    // the instance's method: Kysely's logging wraps it
    await this.executeQuery(Compiled.raw(text));
  }

  /** Runs a command of the sandbox's own (a plain statement's savepoint), not logged: a pool has no such statement. */
  async #command(text: string): Promise<void> {
    await this.#run(Compiled.raw(text));
  }

  // Kysely logs each connection it hands out by patching that object's methods, and it handed out
  // the sandbox's own connection too: the prototype's methods run the statement without logging it twice.
  #run<R>(query: CompiledQuery, options?: AbortableOperationOptions): Promise<QueryResult<R>> {
    return SandboxConnection.prototype.executeQuery.call(this.wrapped, query, options) as Promise<QueryResult<R>>;
  }

  /**
   * Runs `fn` (one plain statement) in a savepoint of its own: released after it, rolled back to
   * when it fails. Plain statements of one sandbox take turns, so their savepoints never interleave.
   * @throws what `fn` throws.
   */
  #alone<T>(fn: () => Promise<T>): Promise<T> {
    const sandbox = this.sandbox;
    const result = sandbox.turn.then(async () => {
      const name = quoted(`kr_statement_${++sandbox.savepoints}`);
      await this.#command(`savepoint ${name}`);
      let value: T;
      try {
        value = await fn();
      } catch (error) {
        await this.#command(`rollback to savepoint ${name}`).catch(() => undefined);
        await this.#command(`release savepoint ${name}`).catch(() => undefined);
        throw error;
      }
      await this.#command(`release savepoint ${name}`);
      return value;
    });
    sandbox.turn = result.catch(() => undefined);
    return result;
  }
}

/** Quotes a generated savepoint name as an identifier. */
function quoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** See the file comment. */
export class SandboxRoutingDriver implements Driver {
  constructor(
    readonly inner: Driver,
    private readonly route: SandboxRoute,
    private readonly logger: Logger,
  ) {}

  init(options?: AbortableOperationOptions): Promise<void> {
    return this.inner.init(options);
  }

  /**
   * The sandbox's connection when one is current in the caller's context, else a pooled one.
   * @throws DatabaseError when the caller's sandbox has ended; what the inner driver throws.
   */
  acquireConnection(options?: AbortableOperationOptions): Promise<DatabaseConnection> {
    const sandbox = this.route.current();
    if (sandbox !== undefined) {
      return Promise.resolve(new BorrowedConnection(sandbox.connection as SandboxConnection, sandbox));
    }
    if (this.route.opening()) {
      return this.inner.acquireConnection(options).then((connection) => new SandboxConnection(connection));
    }
    return this.inner.acquireConnection(options);
  }

  /**
   * BEGIN, or inside a sandbox a SAVEPOINT (read only when asked, by `set transaction read only`
   * inside it; an isolation level cannot change there and is left as the sandbox's).
   */
  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (!(connection instanceof BorrowedConnection)) {
      return this.inner.beginTransaction(unwrapOne(connection), settings);
    }
    const name = `kr_sandbox_${++connection.sandbox.savepoints}`;
    const readOnly = settings.accessMode === 'read only';
    connection.savepoint = { name, readOnly };
    try {
      await connection.transactionCommand(`savepoint ${quoted(name)}`);
      if (readOnly) await connection.transactionCommand('set transaction read only');
    } catch (error) {
      connection.savepoint = undefined;
      throw error;
    }
  }

  /**
   * COMMIT, or RELEASE of the sandbox's savepoint (a read-only one is rolled back to, which undoes
   * nothing but the read-only setting).
   */
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    if (!(connection instanceof BorrowedConnection)) return this.inner.commitTransaction(unwrapOne(connection));
    const savepoint = connection.savepoint;
    if (savepoint === undefined) return;
    try {
      if (savepoint.readOnly) await connection.transactionCommand(`rollback to savepoint ${quoted(savepoint.name)}`);
      await connection.transactionCommand(`release savepoint ${quoted(savepoint.name)}`);
    } finally {
      connection.savepoint = undefined;
    }
  }

  /** ROLLBACK, or ROLLBACK TO the sandbox's savepoint. Never throws for a savepoint (a failure is logged). */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!(connection instanceof BorrowedConnection)) return this.inner.rollbackTransaction(unwrapOne(connection));
    const savepoint = connection.savepoint;
    if (savepoint === undefined) return;
    try {
      await connection.transactionCommand(`rollback to savepoint ${quoted(savepoint.name)}`);
      await connection.transactionCommand(`release savepoint ${quoted(savepoint.name)}`);
    } catch (error) {
      this.logger.warn('ROLLBACK TO SAVEPOINT failed in a test sandbox', { error });
    } finally {
      connection.savepoint = undefined;
    }
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#savepointCommand(connection, 'savepoint', name, compile);
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#savepointCommand(connection, 'rollbackToSavepoint', name, compile);
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#savepointCommand(connection, 'releaseSavepoint', name, compile);
  }

  /**
   * A Kysely savepoint, by the inner driver: on its own connection, or on a loan, whose statements
   * it runs as on any connection (inside the loan's transaction, logged as Kysely logs the loan).
   */
  async #savepointCommand(
    connection: DatabaseConnection,
    command: 'savepoint' | 'rollbackToSavepoint' | 'releaseSavepoint',
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    const inner = this.inner;
    if (inner[command] === undefined) throw new DatabaseError(`this engine's driver has no ${command}`);
    await inner[command](unwrapOne(connection), name, compile);
  }

  /** Gives a pooled connection back; a loan ends without giving anything back. */
  releaseConnection(connection: DatabaseConnection, options?: AbortableOperationOptions): Promise<void> {
    if (connection instanceof BorrowedConnection) return Promise.resolve();
    return this.inner.releaseConnection(unwrapOne(connection), options);
  }

  destroy(options?: AbortableOperationOptions): Promise<void> {
    return this.inner.destroy(options);
  }
}

/** The engine's connection behind a sandbox's own (the inner driver's object). */
function unwrapOne(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof SandboxConnection ? connection.wrapped : connection;
}

/**
 * `engine` with its paths past Kysely's executor routed through `db` while a sandbox is current
 * (they would take a pooled connection of their own): the fast path runs as a plain statement on
 * `db` (so in the sandbox, in a savepoint of its own), and COPY outside a transaction runs in a
 * Kysely transaction on `db` (a savepoint of the sandbox). Unchanged when no sandbox is current.
 */
export function sandboxAwareEngine(
  engine: StatementEngine,
  db: () => Kysely<unknown>,
  route: SandboxRoute,
): StatementEngine {
  const { execute, copy } = engine;
  return {
    ...engine,
    ...(execute
      ? {
          execute: <R>(query: CompiledQuery, intent: Parameters<typeof execute>[1]) =>
            route.current() === undefined ? execute<R>(query, intent) : db().withoutPlugins().executeQuery<R>(query),
        }
      : {}),
    ...(copy
      ? {
          copy: {
            accepts: copy.accepts.bind(copy),
            into: (statement, rows, trx) =>
              trx !== undefined || route.current() === undefined
                ? copy.into(statement, rows, trx)
                : db()
                    .transaction()
                    .execute((inner) => copy.into(statement, rows, inner)),
          } satisfies NonNullable<StatementEngine['copy']>,
        }
      : {}),
  };
}
