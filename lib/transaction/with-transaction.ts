/**
 * withTransaction(): a unit of work on Kysely's callback transactions —
 * isolation level and access mode, retries of serialization failures and deadlocks, nesting by
 * savepoint, an ambient transaction that repositories on the same Database join, per-transaction
 * timeouts, and the afterCommit / afterRollback hooks registered inside (transaction-hooks.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely, type Transaction } from 'kysely';
import { databaseContext, type DatabaseContext } from '../database-context.js';
import { DatabaseError, DeadlockError, PoolTimeoutError, SerializationError } from '../errors.js';
import {
  activeFrame,
  connectionsHeld,
  createFrame,
  currentFrame,
  enter,
  isSandboxRoot,
  transactionFor,
  transactionKey,
  type ConnectionTransaction,
  type Frame,
  type TransactionKey,
} from './transaction-context.js';
import {
  ISOLATION_RANK,
  settingsOf,
  type IsolationLevel,
  type Settings,
  type TransactionOptions,
} from './transaction-options.js';
import { requireFunction, requireKysely } from '../arguments.js';
import { poolCapacity } from '../config.js';
import { failSpan } from '../telemetry/database-telemetry.js';
import { dropRolledBackHooks, handHooksToParent, hooksToRun, runHooks } from './transaction-hooks.js';

/** Errors that end a transaction because a 'required' call that joined it failed. */
const doomedErrors = new WeakSet<DatabaseError>();

function doomed(cause: unknown): DatabaseError {
  const error = new DatabaseError(
    "a withTransaction() call with propagation 'required' failed inside this transaction, so it was rolled back " +
      "(use propagation 'nested' to catch an inner failure and continue)",
    { cause },
  );
  doomedErrors.add(error);
  return error;
}

/** Whether running the whole transaction again may succeed: 40001 and 40P01. */
function isRetryable(error: unknown): error is SerializationError | DeadlockError {
  const reason = error instanceof DatabaseError && doomedErrors.has(error) ? error.cause : error;
  return reason instanceof SerializationError || reason instanceof DeadlockError;
}

const BACKOFF_BASE_MS = 20;
const BACKOFF_CAP_MS = 1_000;

/** Exponential, capped, with "equal jitter": half fixed, half random. */
function backoffMs(retry: number): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * Runs `fn` in a transaction and returns its value: BEGIN (with the isolation level and access
 * mode asked for), `fn(trx)`, COMMIT; when `fn` throws, ROLLBACK and the same error rethrown.
 *
 * - Ambient: while `fn` runs, `currentTransaction(db)` returns its transaction, so repositories
 *   built on the same Database join it without being handed `trx`. Each call has its own async
 *   context: parallel calls never see each other's transaction, and two Databases never see
 *   each other's. (A query written directly on `db` inside `fn` does not look: use `trx`, or
 *   `currentTransaction(db) ?? db` as the repositories do.)
 * - Nesting: called while a transaction of the same Database is active (or with that `trx` as
 *   `db`), `propagation: 'nested'` (the default) runs `fn` in a SAVEPOINT: a failure rolls back to
 *   it and rethrows, and the caller may catch and continue. Nested calls on one transaction run
 *   one at a time. `'required'` runs `fn` in the enclosing transaction itself; if it fails, the
 *   enclosing transaction can only roll back. `'requiresNew'` runs a separate transaction on its
 *   own pooled connection that commits or rolls back independently; it needs a second
 *   connection while the first is held, so with a pool of 1 it could never get one: that is
 *   detected and refused at once.
 * - Retries: an outermost (or requiresNew) transaction that fails with SerializationError or
 *   DeadlockError runs `fn` again in a fresh transaction, up to `retries` times, after a jittered
 *   exponential backoff; each retry is counted in `status().transactions.retried` and logged at
 *   warn with its attempt number. `fn` must therefore be safe to run more than once.
 * - Hooks: afterCommit / afterRollback registered inside `fn` run once, after the outermost
 *   transaction ended (and after the connection went back to the pool); a failing hook is
 *   logged, never turned into a rollback. Hooks of a retried attempt are dropped.
 * - Connection failures: a connection lost mid-transaction surfaces as ConnectionError and is
 *   discarded, never pooled again. A failing COMMIT (a deferred constraint) surfaces as its
 *   mapped error, after the transaction was rolled back.
 *
 * Works on any Kysely; on one made by createDatabase it also counts commits, rollbacks and
 * retries in status() and logs to the Database's logger.
 *
 * @example
 * const user = await withTransaction(database.db, async (trx) => {
 *   const row = await trx.insertInto('users').values(values).returningAll().executeTakeFirstOrThrow();
 *   afterCommit(() => mailer.sendWelcome(row.email)); // only once the row is durable
 *   return row;
 * }, { isolationLevel: 'serializable' });
 *
 * @throws whatever `fn` throws, unchanged (errors of queries are already mapped: UniqueViolationError,
 * ReadOnlyTransactionError, …); SerializationError / DeadlockError once retries are used up;
 * QueryTimeoutError when a statement ran past `timeoutMs`; ConnectionError when the connection
 * was lost (or the server ended a transaction idle past `timeoutMs`); the mapped error of a
 * failing COMMIT; PoolTimeoutError when no connection became free; ValidationError for bad
 * options, a `db` that is not a Kysely or an `fn` that is not a function; DatabaseError when a 'requiresNew' would deadlock on the pool, when a nested call asks
 * for a stronger isolation level or for writes in a read-only transaction, when a 'required'
 * call inside failed, or when `db` is a Transaction that is no longer active.
 */
export function withTransaction<DB, T>(
  db: Transaction<DB>,
  fn: (trx: Transaction<NoInfer<DB>>) => Promise<T>,
  options?: TransactionOptions,
): Promise<T>;
// The Transaction overload comes first because TypeScript cannot infer DB from a Transaction<DB>
// passed where a Kysely<DB> is expected (it infers through Kysely's members and fails).
/** {@inheritDoc withTransaction:0} */
export function withTransaction<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Transaction<NoInfer<DB>>) => Promise<T>,
  options?: TransactionOptions,
): Promise<T>;
export async function withTransaction<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Transaction<DB>) => Promise<T>,
  options?: TransactionOptions,
): Promise<T> {
  requireKysely(db, 'db');
  requireFunction(fn, 'fn');
  const settings = settingsOf(options);
  const kysely = db as Kysely<unknown>;
  const run = fn as unknown as (trx: Transaction<unknown>) => Promise<T>;
  const key = transactionKey(kysely);
  const enclosing = activeFrame(kysely, key);
  if (enclosing === undefined) {
    if (kysely.isTransaction) {
      throw new DatabaseError(
        'withTransaction() was given a Transaction that is not active (it has ended, or was not started by ' +
          'withTransaction()); pass the Kysely instance instead',
      );
    }
    return await traced(kysely, 'transaction', settings, () => runOutermost(kysely, key, undefined, run, settings));
  }
  if (enclosing.connection.sandbox !== undefined) {
    if (settings.propagation === 'requiresNew') throw requiresNewInSandbox();
    if (isSandboxRoot(enclosing)) {
      // the application's outermost transaction: a savepoint of the test's, begun through the driver
      const from = enclosing.connection.db;
      return await traced(from, 'transaction', settings, () => runOutermost(from, key, enclosing, run, settings));
    }
  }
  if (settings.propagation === 'requiresNew') {
    const from = kysely.isTransaction ? enclosing.connection.db : kysely;
    const parent = currentFrame(key) ?? enclosing;
    return await traced(from, 'transaction', settings, () => runOutermost(from, key, parent, run, settings));
  }
  await assertFits(enclosing, settings);
  if (settings.propagation === 'required') return await join(enclosing, kysely, run);
  return await traced(kysely, 'savepoint', settings, () => nest(enclosing, kysely, run));
}

/**
 * Runs `fn` in a span named `name` when the Database behind `db` reports to OpenTelemetry: its
 * propagation, isolation level and access mode, and `outcome` (committed or rolled back; released
 * or rolled back for a savepoint).
 */
function traced<T>(
  db: Kysely<unknown>,
  name: 'transaction' | 'savepoint',
  settings: Settings,
  fn: () => Promise<T>,
): Promise<T> {
  const telemetry = databaseContext(db)?.telemetry;
  if (telemetry === undefined) return fn();
  const attributes = {
    'db.system.name': 'postgresql',
    'kysely_repository.transaction.propagation': settings.propagation,
    'kysely_repository.transaction.isolation_level': settings.isolationLevel ?? 'default',
    'kysely_repository.transaction.access_mode': settings.accessMode ?? 'read write',
  };
  return telemetry.inSpan(name, attributes, async (span) => {
    try {
      const value = await fn();
      span?.setAttribute(OUTCOME, name === 'savepoint' ? 'released' : 'committed');
      return value;
    } catch (error) {
      span?.setAttribute(OUTCOME, 'rolled back');
      throw error;
    }
  });
}

const OUTCOME = 'kysely_repository.transaction.outcome';

/** 'requiresNew' inside a test sandbox: its own connection would commit past the test's rollback. */
function requiresNewInSandbox(): DatabaseError {
  return new DatabaseError(
    "propagation 'requiresNew' needs a connection of its own, which would commit outside the test sandbox's " +
      'rollback; run this test without the sandbox (withoutSandbox() from kysely-repository/testing) and clean up ' +
      'what it commits',
  );
}

/** Refuses what an enclosing transaction cannot give: a stronger isolation level, or writes when it is read only. */
async function assertFits(frame: Frame, settings: Settings): Promise<void> {
  const { connection } = frame;
  if (settings.accessMode === 'read write' && connection.readOnly) {
    throw new DatabaseError(
      "accessMode 'read write' was asked for inside a read-only transaction; use propagation 'requiresNew'",
    );
  }
  const asked = settings.isolationLevel;
  if (asked === undefined || ISOLATION_RANK[asked] === 0) return;
  const current = connection.isolationLevel ?? (await serverIsolationLevel(frame));
  if (ISOLATION_RANK[asked] > ISOLATION_RANK[current]) {
    throw new DatabaseError(
      `isolationLevel '${asked}' was asked for inside a '${current}' transaction, whose level cannot change; ` +
        `start the outer transaction with '${asked}', or use propagation 'requiresNew'`,
    );
  }
}

/** The level the server gave a transaction begun without one (asked once, then remembered). */
async function serverIsolationLevel(frame: Frame): Promise<IsolationLevel> {
  const { connection } = frame;
  if (connection.serverIsolationLevel === undefined) {
    const { rows } = await sql<{ level: string }>`select current_setting('transaction_isolation') as level`.execute(
      frame.trx,
    );
    const level = rows[0]?.level;
    // read uncommitted behaves as read committed in PostgreSQL
    connection.serverIsolationLevel =
      level !== undefined && Object.hasOwn(ISOLATION_RANK, level) ? (level as IsolationLevel) : 'read committed';
  }
  return connection.serverIsolationLevel;
}

/** 'required': `fn` runs in the enclosing frame; a failure dooms that frame. */
async function join<T>(frame: Frame, db: Kysely<unknown>, fn: (trx: Transaction<unknown>) => Promise<T>): Promise<T> {
  try {
    return await enter(frame, () => fn(transactionFor(frame, db)));
  } catch (error) {
    frame.rollbackOnly ??= { error };
    throw error;
  }
}

/** Runs `task` after the tasks queued before it on `frame` have settled. */
function serialized<T>(frame: Frame, task: () => Promise<T>): Promise<T> {
  const result = (frame.tail ?? Promise.resolve()).then(task);
  frame.tail = result.catch(() => undefined);
  return result;
}

/** 'nested': `fn` runs in a SAVEPOINT of the enclosing frame's transaction. */
async function nest<T>(outer: Frame, db: Kysely<unknown>, fn: (trx: Transaction<unknown>) => Promise<T>): Promise<T> {
  return await serialized(outer, async () => {
    if (!outer.active) {
      throw new DatabaseError('the enclosing transaction ended before this nested withTransaction() could begin');
    }
    const name = `kr_sp_${++outer.connection.savepoints}`;
    await sql`savepoint ${sql.id(name)}`.execute(outer.trx);
    // the same connection and plugins, but an object of its own: frames are found by their transaction
    const trx = outer.trx.withTables() as Transaction<unknown>;
    const frame = createFrame(outer.key, outer.connection, currentFrame(outer.key) ?? outer, trx);
    let value: T;
    try {
      value = await enter(frame, () => fn(transactionFor(frame, db)));
      if (frame.rollbackOnly) throw doomed(frame.rollbackOnly.error);
      frame.active = false;
      await sql`release savepoint ${sql.id(name)}`.execute(outer.trx);
    } catch (error) {
      frame.active = false;
      await rollbackToSavepoint(outer, name);
      dropRolledBackHooks(frame);
      throw error;
    }
    handHooksToParent(frame, outer);
    return value;
  });
}

/**
 * ROLLBACK TO SAVEPOINT, then RELEASE it (so a loop of failing nested calls does not deepen the
 * server's subtransaction stack). If that fails, the enclosing frame can only roll back: its
 * nested work could not be undone.
 */
async function rollbackToSavepoint(outer: Frame, name: string): Promise<void> {
  try {
    await sql`rollback to savepoint ${sql.id(name)}`.execute(outer.trx);
    await sql`release savepoint ${sql.id(name)}`.execute(outer.trx);
  } catch (error) {
    outer.rollbackOnly ??= { error };
    outer.connection.context?.logger.warn('ROLLBACK TO SAVEPOINT failed; the enclosing transaction will roll back', {
      error,
    });
  }
}

/** What one run of an outermost transaction ended with. */
type Attempt<T> =
  | { readonly committed: true; readonly value: T; readonly frame: Frame }
  | { readonly committed: false; readonly error: unknown; readonly frame: Frame | undefined };

/** An outermost or 'requiresNew' transaction, with retries and hooks. */
async function runOutermost<T>(
  from: Kysely<unknown>,
  key: TransactionKey,
  parent: Frame | undefined,
  fn: (trx: Transaction<unknown>) => Promise<T>,
  settings: Settings,
): Promise<T> {
  const context = databaseContext(from);
  const logger = context?.logger;
  if (parent !== undefined && parent.connection.sandbox === undefined) assertPoolCanServe(context, parent);
  for (let retry = 0; ; retry++) {
    const attempt = await tracedAttempt(context, retry + 1, settings, () =>
      runOnce(from, key, parent, fn, settings, context),
    );
    if (attempt.committed) {
      const hooks = hooksToRun(attempt.frame, 'commit');
      if (hooks.length > 0) await runHooks(hooks, 'commit', logger);
      return attempt.value;
    }
    const { error, frame } = attempt;
    if (retry < settings.retries && isRetryable(error)) {
      if (context) context.stats.retried++;
      const delayMs = backoffMs(retry + 1);
      const code = error instanceof DatabaseError ? error.code : undefined;
      logger?.warn(
        `transaction failed (${code ?? 'retryable'}); running it again, retry ${retry + 1} of ${settings.retries}`,
        {
          attempt: retry + 2,
          retry: retry + 1,
          retries: settings.retries,
          code,
          error,
          delayMs,
        },
      );
      await sleep(delayMs);
      continue;
    }
    if (frame) await runHooks(hooksToRun(frame, 'rollback'), 'rollback', logger);
    throw error;
  }
}

/**
 * Runs one attempt of an outermost transaction in a span of its own (`transaction attempt`, with
 * its number and outcome: committed, retried or rolled back) when the Database reports to
 * OpenTelemetry. Never throws, as runOnce.
 */
async function tracedAttempt<T>(
  context: DatabaseContext | undefined,
  attempt: number,
  settings: Settings,
  run: () => Promise<Attempt<T>>,
): Promise<Attempt<T>> {
  const telemetry = context?.telemetry;
  if (telemetry === undefined) return run();
  const attributes = { 'db.system.name': 'postgresql', 'kysely_repository.transaction.attempt': attempt };
  return telemetry.inSpan('transaction attempt', attributes, async (span) => {
    const result = await run();
    if (span !== undefined) {
      let outcome = 'committed';
      if (!result.committed) {
        outcome = attempt <= settings.retries && isRetryable(result.error) ? 'retried' : 'rolled back';
        failSpan(span, result.error);
      }
      span.setAttribute(OUTCOME, outcome);
    }
    return result;
  });
}

/**
 * BEGIN, `fn`, COMMIT — or ROLLBACK. Never throws: the outcome is returned. Runs on Kysely's
 * callback transaction, not its controlled one: it holds the connection for exactly the
 * callback, and costs a fraction of the controlled transaction's client CPU per call.
 */
async function runOnce<T>(
  from: Kysely<unknown>,
  key: TransactionKey,
  parent: Frame | undefined,
  fn: (trx: Transaction<unknown>) => Promise<T>,
  settings: Settings,
  context: DatabaseContext | undefined,
): Promise<Attempt<T>> {
  let builder = from.transaction();
  if (settings.isolationLevel) builder = builder.setIsolationLevel(settings.isolationLevel);
  if (settings.accessMode) builder = builder.setAccessMode(settings.accessMode);
  let frame: Frame | undefined;
  let failure: { readonly error: unknown } | undefined;
  try {
    const value = await builder.execute(async (trx) => {
      const connection: ConnectionTransaction = {
        db: from,
        plugins: trx.getExecutor().plugins,
        context,
        isolationLevel: settings.isolationLevel,
        readOnly: settings.accessMode === 'read only',
        active: true,
        savepoints: 0,
        rolledBackHooks: [],
        sandbox: parent?.connection.sandbox,
      };
      const entered = createFrame(key, connection, parent, trx);
      frame = entered;
      try {
        // in a test sandbox the transaction is a savepoint, whose RELEASE keeps SET LOCAL values
        const restore =
          settings.timeoutMs === undefined
            ? undefined
            : await setLocalTimeouts(trx, settings.timeoutMs, connection.sandbox !== undefined);
        const result = await enter(entered, () => fn(trx));
        if (entered.rollbackOnly) throw doomed(entered.rollbackOnly.error);
        if (restore !== undefined) await restore();
        return result;
      } catch (error) {
        failure = { error };
        throw error;
      } finally {
        entered.active = false;
      }
    });
    return { committed: true, value, frame: frame! };
  } catch (error) {
    // Kysely has rolled back, after a failing COMMIT too. This package's drivers never throw from
    // ROLLBACK; another Kysely's may, and then the error that caused the rollback is still the one reported.
    if (failure !== undefined && failure.error !== error) {
      context?.logger.warn('ROLLBACK could not run', { error });
      return { committed: false, error: failure.error, frame };
    }
    const poolStarved = frame === undefined && parent !== undefined && error instanceof PoolTimeoutError;
    return {
      committed: false,
      error: poolStarved ? requiresNewTimeout(error, parent, context) : error,
      frame,
    };
  } finally {
    if (frame) frame.connection.active = false;
  }
}

/**
 * SET LOCAL statement_timeout and idle_in_transaction_session_timeout, as one parameterized
 * statement. With `restorable` (a savepoint, whose RELEASE keeps them), it also reads the values
 * they had and returns what sets them back.
 */
async function setLocalTimeouts(
  trx: Transaction<unknown>,
  timeoutMs: number,
  restorable: boolean,
): Promise<(() => Promise<void>) | undefined> {
  const ms = String(timeoutMs);
  const set = sql`set_config('statement_timeout', ${ms}, true), set_config('idle_in_transaction_session_timeout', ${ms}, true)`;
  if (!restorable) {
    await sql`select ${set}`.execute(trx);
    return undefined;
  }
  const { rows } = await sql<{
    statement: string;
    idle: string;
  }>`select current_setting('statement_timeout') as statement,
    current_setting('idle_in_transaction_session_timeout') as idle, ${set}`.execute(trx);
  const before = rows[0]!;
  return async () => {
    await sql`select set_config('statement_timeout', ${before.statement}, true), set_config('idle_in_transaction_session_timeout', ${before.idle}, true)`.execute(
      trx,
    );
  };
}

/**
 * A 'requiresNew' needs one more connection than its enclosing transactions hold, and they hold
 * theirs until it returns: when they already hold the whole pool, waiting would never end.
 */
function assertPoolCanServe(context: DatabaseContext | undefined, parent: Frame): void {
  if (context === undefined) return;
  const held = connectionsHeld(parent);
  const size = context.config.engine === 'pglite' ? 1 : poolCapacity(context.config.pool);
  if (held >= size) {
    throw new DatabaseError(
      `propagation 'requiresNew' would deadlock: it needs another pooled connection, but the pool has ${size} ` +
        `and the enclosing transaction${held === 1 ? '' : 's'} in this async context hold${held === 1 ? 's' : ''} ` +
        `${held} until it returns. Raise DB_POOL_SIZE, or use propagation 'nested'`,
    );
  }
}

function requiresNewTimeout(
  error: PoolTimeoutError,
  parent: Frame,
  context: DatabaseContext | undefined,
): PoolTimeoutError {
  const held = connectionsHeld(parent);
  const pool = context ? ` of ${poolCapacity(context.config.pool)}` : '';
  return new PoolTimeoutError(
    `propagation 'requiresNew' waited for a second pooled connection while its enclosing transaction held ${held}${pool}, ` +
      `and none became free (${error.message}). Callers holding one connection while waiting for another can starve ` +
      `the pool: raise DB_POOL_SIZE, or use propagation 'nested'`,
    { cause: error },
  );
}
