/**
 * The vocabulary of the hostile-input table: what each input is expected to get (a typed error of
 * a named class, or a correct result), and the judge that runs one input and says whether the
 * answer was acceptable.
 */
import { expect } from 'chai';
import { ConfigError, DatabaseError, NotFoundError, ValidationError } from '../../../lib/index.js';

/** A class of error, for instanceof. */
export type ErrorClass = abstract new (...args: never[]) => Error;

/** What an input may get: an error of one of `errors` (and `code` / `field` when given), or a result that passes `result`. */
export interface Expected {
  readonly errors: readonly ErrorClass[];
  /** The SQLSTATE a plain DatabaseError (listed as DatabaseError in `errors`) must carry. */
  readonly code?: string;
  /** The `field` a ValidationError must name. */
  readonly field?: string;
  /** The `variable` a ConfigError must name. */
  readonly variable?: string;
  /** Checks a result (throws when it is not correct); absent: resolving at all is wrong. */
  readonly result?: (value: unknown) => unknown;
  /** Words for the table: what is expected. */
  readonly says: string;
}

/** One hostile input through one public method. */
export interface HostileCase {
  /** The input, in a few words. */
  readonly input: string;
  readonly run: () => Promise<unknown>;
  readonly expected: Expected;
  /** A valid write: this table may change (and `expected.result` checks what was written). */
  readonly writes?: 'users' | 'counters';
}

/** How one input was answered. */
export interface Verdict {
  /** The error's class name, or `result`. */
  readonly answer: string;
  /** Why the answer is not acceptable; undefined when it is. */
  readonly violation: string | undefined;
  /** The result, when there was one. */
  readonly value?: unknown;
}

/** A ValidationError (naming `field` when given). */
export function invalid(field?: string): Expected {
  return {
    errors: [ValidationError],
    ...(field ? { field } : {}),
    says: `ValidationError${field ? ` (${field})` : ''}`,
  };
}

/** A NotFoundError. */
export const notFound: Expected = { errors: [NotFoundError], says: 'NotFoundError' };

/** A ConfigError naming `variable`. */
export function configError(variable: string): Expected {
  return { errors: [ConfigError], variable, says: `ConfigError (${variable})` };
}

/**
 * PostgreSQL's own type check, mapped: a DatabaseError with SQLSTATE `code`. The generic
 * Repository passes values of the right JavaScript type to SQL and lets the column type decide.
 */
export function refusedByServer(code: string): Expected {
  return { errors: [DatabaseError], code, says: `DatabaseError ${code}` };
}

/** A correct result, as `check` defines it. */
export function result(says: string, check: (value: unknown) => unknown): Expected {
  return { errors: [], result: check, says };
}

/** The result undefined ("no such thing"). */
export const nothing: Expected = result('undefined', (value) => expect(value).to.equal(undefined));

/** Either `expected`'s result or a ValidationError. */
export function orInvalid(expected: Expected, field?: string): Expected {
  return {
    ...expected,
    errors: [...expected.errors, ValidationError],
    ...(field ? { field } : {}),
    says: `${expected.says} or ValidationError${field ? ` (${field})` : ''}`,
  };
}

function errorName(error: unknown): string {
  if (error instanceof DatabaseError) return `${error.name}${error.code ? ` ${error.code}` : ''}`;
  return `untyped ${error instanceof Error ? error.constructor.name : typeof error}`;
}

/**
 * Runs one case and judges the answer: an error must be a DatabaseError of an expected class
 * (with the expected code / field / variable); a result must pass the expected check.
 */
export async function judge(hostile: HostileCase): Promise<Verdict> {
  const { expected } = hostile;
  let value: unknown;
  try {
    value = await hostile.run();
  } catch (error) {
    const answer = errorName(error);
    const message = error instanceof Error ? error.message.slice(0, 160) : String(error);
    const matches =
      error instanceof DatabaseError &&
      expected.errors.some((Class) =>
        // DatabaseError itself stands for "refused by the server": exactly that class, with the code
        Class === DatabaseError
          ? error.constructor === DatabaseError && error.code === expected.code
          : error instanceof Class &&
            (expected.field === undefined || !(error instanceof ValidationError) || error.field === expected.field) &&
            (expected.variable === undefined ||
              !(error instanceof ConfigError) ||
              error.variable === expected.variable),
      );
    return { answer, violation: matches ? undefined : `expected ${expected.says}, got ${answer}: ${message}` };
  }
  if (!expected.result) {
    return { answer: 'result', violation: `expected ${expected.says}, got a result: ${show(value)}`, value };
  }
  try {
    await expected.result(value);
    return { answer: 'result', violation: undefined, value };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return {
      answer: 'result',
      violation: `expected ${expected.says}, got ${show(value)} (${why.slice(0, 160)})`,
      value,
    };
  }
}

/** A short rendering of a value for messages. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    try {
      text = String(value);
    } catch {
      // a value whose every rendering throws (a hostile Proxy, a broken toJSON and toString)
      text = `[${typeof value} that cannot be shown]`;
    }
  }
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/**
 * A value of any type where a typed parameter belongs (the input is hostile on purpose).
 *
 * @example
 * users.getUserByUsername(untyped<string>({}));
 */
export function untyped<T>(value: unknown): T {
  return value as T;
}
