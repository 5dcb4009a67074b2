/**
 * recordQueries(): the statements a block of code ran on a Database, for specs that assert how
 * many statements an operation takes (and so catch N+1 queries).
 */
import type { Kysely, LogEvent } from 'kysely';
import { requireKysely } from '../arguments.js';
import type { Database } from '../database.js';
import { databaseContext } from '../database-context.js';
import { ValidationError, mapError } from '../errors.js';
import { isWriteStatement } from '../connection/replicas/write-statement.js';
import { logParameters, redactText } from '../redact.js';
import { secretParameters } from '../secret-parameters.js';

/** What a recorded statement did: read, wrote, or controlled a transaction (BEGIN, SAVEPOINT, COMMIT…). */
export type RecordedKind = 'read' | 'write' | 'transaction';

/** One statement, as recordQueries() saw it. */
export interface RecordedQuery {
  /** The SQL text (with `$1` placeholders; secrets in literals masked). */
  readonly sql: string;
  /** The parameters, redacted as log lines carry them (secret values masked). */
  readonly parameters: readonly unknown[];
  readonly durationMs: number;
  readonly kind: RecordedKind;
  /** The SQLSTATE of a statement that failed. */
  readonly errorCode?: string;
}

/** A recording in progress (or stopped). */
export interface QueryRecording {
  /** The statements so far, in the order they completed. */
  readonly queries: readonly RecordedQuery[];
  /** How many statements of `kind` (or of any kind but 'transaction') were recorded. */
  count(kind?: RecordedKind): number;
  /** Stops recording; idempotent. */
  stop(): void;
}

const TRANSACTION_CONTROL =
  /^\s*(?:begin|start\s+transaction|commit|rollback|savepoint|release|end|set\s+transaction)\b/i;

/**
 * Starts recording every statement `database` runs (in the sandbox or not; fast paths included)
 * until stop(). With `fn`, records while `fn` runs, stops, and returns the recording.
 *
 * @example
 * const recording = await recordQueries(database, () => orders.listWithItems(customerId));
 * expect(recording.count('read')).to.equal(2); // not one per order
 * @throws ValidationError when `database` is not one createDatabase made (or `fn` is not a
 * function); what `fn` throws (the recording is stopped first).
 */
export function recordQueries<DB>(database: Database<DB>): QueryRecording;
/** {@inheritDoc recordQueries:0} */
export function recordQueries<DB>(database: Database<DB>, fn: () => Promise<unknown>): Promise<QueryRecording>;
export function recordQueries<DB>(
  database: Database<DB>,
  fn?: () => Promise<unknown>,
): QueryRecording | Promise<QueryRecording> {
  requireKysely(database?.db, 'database.db');
  const context = databaseContext(database.db as Kysely<unknown>);
  if (context === undefined) {
    throw new ValidationError('database', 'type', 'recordQueries() takes a Database made by createDatabase');
  }
  if (fn !== undefined && typeof fn !== 'function') throw new ValidationError('fn', 'type', 'fn must be a function');
  const secrets = context.config.secrets;
  const queries: RecordedQuery[] = [];
  const observe = (event: LogEvent): void => {
    const { sql, parameters } = event.query;
    const kind: RecordedKind = TRANSACTION_CONTROL.test(sql)
      ? 'transaction'
      : isWriteStatement(event.query)
        ? 'write'
        : 'read';
    const errorCode = event.level === 'error' ? mapError(event.error).code : undefined;
    queries.push({
      sql: redactText(sql, secrets),
      parameters: logParameters(parameters, [...secretParameters(parameters), ...secrets]),
      durationMs: event.queryDurationMillis,
      kind,
      ...(errorCode === undefined ? {} : { errorCode }),
    });
  };
  context.observers.add(observe);
  const recording: QueryRecording = {
    queries,
    count: (kind) => queries.filter((q) => (kind === undefined ? q.kind !== 'transaction' : q.kind === kind)).length,
    stop: () => {
      context.observers.delete(observe);
    },
  };
  if (fn === undefined) return recording;
  return (async () => {
    try {
      await fn();
    } finally {
      recording.stop();
    }
    return recording;
  })();
}
