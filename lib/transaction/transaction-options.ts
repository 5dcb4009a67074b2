/**
 * The options of withTransaction() and their check: isolation level, access mode, propagation,
 * retries and timeout, with defaults applied once.
 */
import { readOptions } from '../arguments.js';
import { ValidationError } from '../errors.js';

/** Isolation level of a transaction, weakest first. */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/** Access mode of a transaction. */
export type AccessMode = 'read write' | 'read only';

/**
 * What withTransaction does when a transaction of the same Database is already active in the
 * async context: `nested` makes a savepoint, `required` joins it, `requiresNew` runs a separate
 * transaction on its own pooled connection.
 */
export type Propagation = 'nested' | 'required' | 'requiresNew';

/** A function run once after the outermost transaction commits (afterCommit) or rolls back (afterRollback). */
export type TransactionHook = () => void | Promise<void>;

/** Options of withTransaction. */
export interface TransactionOptions {
  /**
   * Isolation level of a new transaction. Inside an active one (`nested`, `required`) it cannot be
   * raised: asking for a stronger level than the enclosing transaction's is a DatabaseError.
   * (Default: the server's, normally read committed)
   */
  readonly isolationLevel?: IsolationLevel;
  /**
   * Access mode of a new transaction. Inside an active one, `read write` in a `read only`
   * transaction is a DatabaseError; `read only` in a `read write` one is not enforced.
   * (Default: the server's, normally read write)
   */
  readonly accessMode?: AccessMode;
  /**
   * How many times to run `fn` again, each time in a fresh transaction after a jittered
   * exponential backoff, when it fails with SerializationError (40001) or DeadlockError (40P01).
   * Only an outermost (or `requiresNew`) transaction retries; inside one it is ignored.
   * (Default: 3 when isolationLevel is serializable, else 0)
   */
  readonly retries?: number;
  /** (Default: nested) */
  readonly propagation?: Propagation;
  /**
   * Bounds each statement (`statement_timeout`) and each pause between statements
   * (`idle_in_transaction_session_timeout`) of a new transaction, set LOCAL so they end with it.
   * A statement past it fails with QueryTimeoutError and the connection is reused; a transaction
   * left idle past it is ended by the server closing the session: ConnectionError, and the
   * connection is discarded. Ignored inside an active transaction (the enclosing one's applies).
   * (Default: none; the Database's DB_STATEMENT_TIMEOUT still applies to each statement)
   */
  readonly timeoutMs?: number;
}

/** Isolation levels by strength: an enclosing transaction cannot give a stronger one. */
export const ISOLATION_RANK: Readonly<Record<IsolationLevel, number>> = {
  'read committed': 0,
  'repeatable read': 1,
  serializable: 2,
};
const ACCESS_MODES: readonly AccessMode[] = ['read write', 'read only'];
const PROPAGATIONS: readonly Propagation[] = ['nested', 'required', 'requiresNew'];
const DEFAULT_SERIALIZABLE_RETRIES = 3;
const MAX_RETRIES = 100;
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Options with defaults applied and values checked. */
export interface Settings {
  readonly isolationLevel: IsolationLevel | undefined;
  readonly accessMode: AccessMode | undefined;
  readonly retries: number;
  readonly propagation: Propagation;
  readonly timeoutMs: number | undefined;
}

/** What no options mean, worked out once (every withTransaction() without options gets this object). */
const DEFAULT_SETTINGS: Settings = Object.freeze(settingsOf({}));

/**
 * The options with defaults applied.
 * @throws ValidationError naming the option that is out of range or not one of its values.
 */
export function settingsOf(given: TransactionOptions | undefined): Settings {
  if (given === undefined) return DEFAULT_SETTINGS;
  const { isolationLevel, accessMode, retries, propagation = 'nested', timeoutMs } = readOptions(given, 'options');
  if (
    isolationLevel !== undefined &&
    (typeof isolationLevel !== 'string' || !Object.hasOwn(ISOLATION_RANK, isolationLevel))
  ) {
    throw new ValidationError(
      'isolationLevel',
      'oneOf',
      `isolationLevel must be one of ${Object.keys(ISOLATION_RANK).join(', ')}`,
    );
  }
  if (accessMode !== undefined && !ACCESS_MODES.includes(accessMode)) {
    throw new ValidationError('accessMode', 'oneOf', `accessMode must be one of ${ACCESS_MODES.join(', ')}`);
  }
  if (!PROPAGATIONS.includes(propagation)) {
    throw new ValidationError('propagation', 'oneOf', `propagation must be one of ${PROPAGATIONS.join(', ')}`);
  }
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0 && retries <= MAX_RETRIES)) {
    throw new ValidationError('retries', 'range', `retries must be an integer from 0 to ${MAX_RETRIES}`);
  }
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new ValidationError('timeoutMs', 'range', `timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }
  return {
    isolationLevel,
    accessMode,
    retries: retries ?? (isolationLevel === 'serializable' ? DEFAULT_SERIALIZABLE_RETRIES : 0),
    propagation,
    timeoutMs,
  };
}
