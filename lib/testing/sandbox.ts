/**
 * openSandbox(): one test's transaction. Every statement the code under test makes on the
 * Database from the sandbox's async context (repositories, withTransaction, currentTransaction,
 * `database.query`, plain `database.db` queries) runs in it, and close() rolls it all back.
 */
import type { Kysely } from 'kysely';
import { booleanOption, readOptions, requireKysely } from '../arguments.js';
import { ValidationError } from '../errors.js';
import type { Database } from '../database.js';
import { databaseContext } from '../database-context.js';
import {
  createFrame,
  enter,
  openingSandbox,
  shareFrame,
  unshareFrame,
  transactionKey,
  type ConnectionTransaction,
  type SandboxState,
} from '../transaction/transaction-context.js';

/** Options of openSandbox. */
export interface SandboxOptions {
  /** What errors about this sandbox call it (a test's title). (Default: 'a test sandbox') */
  readonly label?: string;
  /**
   * Also serve statements made outside `run()`'s async context (an HTTP server or a fixture hook
   * started elsewhere), as long as the sandbox is open. Only one sandbox per Database can be
   * shared at a time. (Default: false)
   */
  readonly shared?: boolean;
}

/** An open sandbox: one transaction on a dedicated connection, rolled back by close(). */
export interface Sandbox {
  /**
   * Runs `fn` with the sandbox as the ambient transaction of its async context (everything `fn`
   * starts, awaited or not, inherits it) and returns what `fn` returns.
   * @throws what `fn` throws.
   */
  run<T>(fn: () => T): T;
  /**
   * Rolls back everything the sandbox ran and gives its connection back. From then on a statement
   * made from its context is refused with a DatabaseError (never run outside the rollback).
   * Idempotent; never throws (a failing ROLLBACK discards the connection, which ends the transaction).
   */
  close(): Promise<void>;
}

/**
 * Opens a sandbox on `database`: BEGIN on a connection of its own, held until close(). Nested
 * withTransaction() calls inside become savepoints (the outermost one the code under test makes
 * still runs its afterCommit hooks when it completes); 'requiresNew', LISTEN and session advisory
 * locks are refused with an error that names withoutSandbox().
 *
 * @example
 * const sandbox = await openSandbox(database);
 * try {
 *   await sandbox.run(() => orders.place(order));
 * } finally {
 *   await sandbox.close();
 * }
 * @throws ValidationError when `database.db` is not a Kysely, or naming the option of the wrong
 * form (`label` not a string, `shared` not a boolean); PoolTimeoutError / ConnectionError
 * when no connection can be had.
 */
export async function openSandbox<DB>(database: Database<DB>, options?: SandboxOptions): Promise<Sandbox> {
  requireKysely((database as Partial<Database<DB>> | undefined)?.db, 'database.db');
  const { label: given, shared: share } = readOptions(options, 'options');
  if (given !== undefined && typeof given !== 'string') {
    throw new ValidationError('label', 'type', 'label must be a string (the test title)');
  }
  const shared = booleanOption(share, 'shared');
  // it goes into the refusal of late statements: a title, not a document
  const label = given === undefined ? 'a test sandbox' : given.length > 200 ? `${given.slice(0, 200)}…` : given;
  const db = database.db as Kysely<unknown>;
  const trx = await openingSandbox(() => db.startTransaction().execute());
  const connection = await trx.getExecutor().provideConnection((c) => Promise.resolve(c));
  const state: SandboxState = {
    connection,
    ended: false,
    savepoints: 0,
    turn: Promise.resolve(),
    label,
  };
  const transaction: ConnectionTransaction = {
    db,
    plugins: trx.getExecutor().plugins,
    context: databaseContext(db),
    isolationLevel: undefined,
    readOnly: false,
    active: true,
    savepoints: 0,
    rolledBackHooks: [],
    sandbox: state,
  };
  const key = transactionKey(db);
  const frame = createFrame(key, transaction, undefined, trx);
  if (shared) shareFrame(key, frame);
  let closing: Promise<void> | undefined;
  return {
    run: (fn) => enter(frame, fn),
    close: () => {
      closing ??= (async () => {
        state.ended = true;
        frame.active = false;
        transaction.active = false;
        unshareFrame(key, frame);
        try {
          await trx.rollback().execute();
        } catch (error) {
          databaseContext(db)?.logger.warn('the test sandbox could not roll back; its connection is discarded', {
            error,
          });
        }
      })();
      return closing;
    },
  };
}
