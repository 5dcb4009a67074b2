/**
 * afterCommit() / afterRollback(), and their bookkeeping for withTransaction(): which hooks a
 * frame hands on when it ends, and running them once the outermost transaction has ended. A
 * failing hook is logged, never rethrown.
 */
import { DatabaseError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { innermostActiveFrame, type Frame } from './transaction-context.js';
import type { TransactionHook } from './transaction-options.js';

/** A savepoint was released: its hooks now wait on the frame it was made in. */
export function handHooksToParent(frame: Frame, parent: Frame): void {
  parent.commitHooks.push(...frame.commitHooks);
  parent.rollbackHooks.push(...frame.rollbackHooks);
}

/**
 * A savepoint was rolled back: its afterCommit hooks are dropped (their work is gone), and its
 * afterRollback hooks will run when the outermost transaction ends, however it ends.
 */
export function dropRolledBackHooks(frame: Frame): void {
  frame.connection.rolledBackHooks.push(...frame.rollbackHooks);
}

/** The hooks to run after the outermost frame committed or rolled back, in order. */
export function hooksToRun(frame: Frame, outcome: 'commit' | 'rollback'): TransactionHook[] {
  const own = outcome === 'commit' ? frame.commitHooks : frame.rollbackHooks;
  return [...own, ...frame.connection.rolledBackHooks];
}

/**
 * Runs hooks one after another. A hook that throws or rejects is logged at error (or, with no
 * logger, reported as a process warning) and the next one still runs. Never throws.
 */
export async function runHooks(
  hooks: readonly TransactionHook[],
  outcome: 'commit' | 'rollback',
  logger: Logger | undefined,
): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (error) {
      const message = `a hook run after ${outcome === 'commit' ? 'COMMIT' : 'ROLLBACK'} failed; the outcome stands`;
      if (logger) logger.error(message, { error });
      else process.emitWarning(`${message}: ${String(error)}`);
    }
  }
}

/**
 * Registers `hook` to run once after the outermost transaction commits, for example to send an
 * e-mail only once the row it announces is durable. Registered inside a savepoint that is later
 * rolled back, it is dropped. It runs after COMMIT, outside the transaction; if it fails, the
 * failure is logged and the commit stands.
 *
 * @example
 * await withTransaction(db, async (trx) => {
 *   await trx.insertInto('users').values(values).execute();
 *   afterCommit(() => mailer.sendWelcome(values.email));
 * });
 * @throws DatabaseError when called outside withTransaction(); ValidationError when `hook` is not a function.
 */
export function afterCommit(hook: TransactionHook): void {
  hookFrame('afterCommit', hook).commitHooks.push(hook);
}

/**
 * Registers `hook` to run once after the outermost transaction rolls back (for example to
 * release something reserved outside the database). Registered inside a savepoint that is rolled
 * back, it runs when the outermost transaction ends, whatever its outcome, since its work was
 * undone. A failing hook is logged.
 *
 * @example
 * await withTransaction(db, async () => {
 *   const hold = await inventory.reserve(item);
 *   afterRollback(() => inventory.release(hold));
 *   await orders.create(order);
 * });
 * @throws DatabaseError when called outside withTransaction(); ValidationError when `hook` is not a function.
 */
export function afterRollback(hook: TransactionHook): void {
  hookFrame('afterRollback', hook).rollbackHooks.push(hook);
}

function hookFrame(name: string, hook: unknown): Frame {
  if (typeof hook !== 'function') throw new ValidationError('hook', 'type', `${name}() takes a function`);
  const frame = innermostActiveFrame();
  if (frame === undefined) {
    throw new DatabaseError(`${name}() was called outside withTransaction(); there is no transaction to attach it to`);
  }
  return frame;
}
