/**
 * afterCommit / afterRollback bookkeeping: which hooks a frame hands on when it ends, and running
 * them once the outermost transaction has ended. A failing hook is logged, never rethrown.
 * Internal to the transaction helper: the public face is afterCommit() in transaction.ts.
 */
import type { Logger } from './logger.js';
import type { Frame } from './transaction-context.js';
import type { TransactionHook } from './transaction.js';

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
