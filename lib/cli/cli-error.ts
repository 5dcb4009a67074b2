/**
 * The CLI's own failure: a message for one line on stderr and the exit code it ends with.
 */
import { DatabaseError, type DatabaseErrorOptions } from '../errors.js';

/** Exit codes: 1 the operation failed, 2 the command line was wrong. */
export type CliExitCode = 1 | 2;

/** A failure the CLI reports as it is: bad usage (exit 2) or an operation that failed (exit 1). */
export class CliError extends DatabaseError {
  override name = 'CliError';

  constructor(
    message: string,
    /** 2 for a usage error (unknown command or option), 1 otherwise. */
    readonly exitCode: CliExitCode = 1,
    options: DatabaseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/**
 * A usage error (exit code 2).
 *
 * @example
 * throw usageError("unknown command 'migrat'");
 * @throws nothing: returns the error.
 */
export function usageError(message: string): CliError {
  return new CliError(message, 2);
}
