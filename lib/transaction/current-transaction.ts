/**
 * currentTransaction(): the ambient transaction of withTransaction(), as repositories and
 * application code look it up.
 */
import type { Kysely, Transaction } from 'kysely';
import { requireKysely } from '../arguments.js';
import { activeFrame, isSandboxRoot, transactionFor, transactionKey } from './transaction-context.js';

/**
 * The transaction active for `db` in the current async context, or undefined outside one. For a
 * Kysely it is the innermost active withTransaction() of its Database (a savepoint's, a
 * requiresNew's); for a Transaction, the innermost one on that Transaction's connection. A
 * Kysely copy with other plugins (`db.withSchema('x')`) gets the transaction with its plugins.
 * Repositories call it on every query to pick their executor:
 * `currentTransaction(db) ?? db`. Cheap: one AsyncLocalStorage read and a map lookup.
 *
 * @example
 * const executor = currentTransaction(db) ?? db;
 * await executor.insertInto('audit').values(entry).execute();
 * @throws ValidationError when `db` is not a Kysely.
 */
export function currentTransaction<DB>(db: Transaction<DB>): Transaction<DB> | undefined;
/** {@inheritDoc currentTransaction:0} */
export function currentTransaction<DB>(db: Kysely<DB>): Transaction<DB> | undefined;
export function currentTransaction<DB>(db: Kysely<DB>): Transaction<DB> | undefined {
  requireKysely(db, 'db');
  const kysely = db as Kysely<unknown>;
  const frame = activeFrame(kysely, transactionKey(kysely));
  // a test sandbox's own transaction is not one the code under test is in
  if (frame === undefined || isSandboxRoot(frame)) return undefined;
  return transactionFor(frame, kysely) as Transaction<DB>;
}
