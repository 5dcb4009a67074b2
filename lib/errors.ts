/**
 * The package's one error hierarchy, and the one function that maps what pg (or the network)
 * throws onto it. Every error keeps the original as `cause`.
 */
import { redactText } from './redact.js';

/** Fields PostgreSQL reports with an error, where it reports them. */
export interface ErrorFields {
  /** SQLSTATE (for example `23505`), or a Node.js error code for network failures. */
  readonly code?: string | undefined;
  readonly constraint?: string | undefined;
  readonly table?: string | undefined;
  readonly column?: string | undefined;
  /** PostgreSQL's DETAIL line, with password hashes and other secrets removed. */
  readonly detail?: string | undefined;
}

/** Options every error of the package accepts. */
export interface DatabaseErrorOptions extends ErrorFields {
  readonly cause?: unknown;
}

/**
 * The base of every error this package throws. A field pg did not report is not an own property
 * (reading it gives undefined), so `util.inspect` and `console.error` show only what is known.
 */
export class DatabaseError extends Error {
  override name = 'DatabaseError';
  declare readonly code: string | undefined;
  declare readonly constraint: string | undefined;
  declare readonly table: string | undefined;
  declare readonly column: string | undefined;
  declare readonly detail: string | undefined;

  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    for (const key of ['code', 'constraint', 'table', 'column', 'detail'] as const) {
      const value = options[key];
      // only the fields that have a value (util.inspect shows no `code: undefined`); configurable,
      // so a secret column's value can still be masked out of `detail` afterwards
      if (value !== undefined) {
        Object.defineProperty(this, key, { value, enumerable: true, writable: true, configurable: true });
      }
    }
  }
}

/** A configuration variable has a value that is not allowed. */
export class ConfigError extends DatabaseError {
  override name = 'ConfigError';
  /** Allowed values, in words. */
  readonly allowed: string;

  constructor(
    /** The variable (for example `DB_POOL_SIZE`). */
    readonly variable: string,
    message: string,
    allowed: string,
    options: DatabaseErrorOptions = {},
  ) {
    super(message, options);
    this.allowed = allowed;
  }
}

/** Input to a public method broke a rule; nothing was written. */
export class ValidationError extends DatabaseError {
  override name = 'ValidationError';

  constructor(
    /** The field or argument at fault (for example `username`, `limit`, `cursor`). */
    readonly field: string,
    /** The rule it broke (for example `minLength`, `range`, `format`). */
    readonly rule: string,
    message: string,
    options: DatabaseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** A row that must exist does not. */
export class NotFoundError extends DatabaseError {
  override name = 'NotFoundError';

  constructor(
    table: string,
    /** The key that was looked up. */
    readonly id: unknown,
    message = `${table} ${String(id)} not found`,
    options: DatabaseErrorOptions = {},
  ) {
    super(message, { ...options, table });
  }
}

/** A user-facing uniqueness clash, for example "Username 'x' already exists". */
export class ConflictError extends DatabaseError {
  override name = 'ConflictError';

  constructor(
    /** The field whose value is taken. */
    readonly field: string,
    message: string,
    options: DatabaseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** The row's version changed since it was read (optimistic locking). */
export class OptimisticLockError extends DatabaseError {
  override name = 'OptimisticLockError';
}

/** Options of ConnectionError. */
export interface ConnectionErrorOptions extends DatabaseErrorOptions {
  /** What to check, naming the variable (for example `check the user and password in DATABASE_URL`). */
  readonly hint?: string | undefined;
  /** See ConnectionError.outcomeUnknown. (Default: false) */
  readonly outcomeUnknown?: boolean | undefined;
}

/**
 * The server could not be reached, refused the connection or the credentials, or dropped the
 * connection (SQLSTATE class 08 and 28, 57P01-57P03, network and TLS failures, pg's SCRAM errors).
 */
export class ConnectionError extends DatabaseError {
  override name = 'ConnectionError';
  /**
   * For a failure to connect: what to check, naming the configuration variable (never its value).
   * Also the end of the message. Not an own property when there is none.
   */
  declare readonly hint: string | undefined;

  /**
   * True when the connection was lost after a statement that may change data (a write outside a
   * transaction, or COMMIT) was sent and before its answer came: it may or may not have taken
   * effect, so running it again may apply it twice. False when nothing was written: the statement
   * was not sent, only read, or ran inside a transaction that the lost session rolled back.
   */
  declare readonly outcomeUnknown: boolean;

  constructor(message: string, options: ConnectionErrorOptions = {}) {
    super(options.hint === undefined ? message : `${message}; ${options.hint}`, options);
    if (options.hint !== undefined) {
      Object.defineProperty(this, 'hint', { value: options.hint, enumerable: true, writable: false });
    }
    if (options.outcomeUnknown === true) {
      Object.defineProperty(this, 'outcomeUnknown', { value: true, enumerable: true, writable: false });
    }
  }
}
// false unless the error says otherwise: an own property only where it is true
Object.defineProperty(ConnectionError.prototype, 'outcomeUnknown', { value: false, writable: false });

/**
 * The ConnectionError to report for `error`, a statement's lost connection, when the statement may
 * have taken effect: the same message with a sentence saying so, `outcomeUnknown` true, and `error`
 * as the cause. A TunnelError stays one.
 * @example
 * throw outcomeUnknown(mapped, 'the COMMIT');
 * @throws never.
 */
export function outcomeUnknown(error: ConnectionError, what: string): ConnectionError {
  if (error.outcomeUnknown) return error;
  const Kind = error instanceof TunnelError ? TunnelError : ConnectionError;
  return new Kind(
    `${error.message} (outcome unknown: ${what} was sent before the connection was lost, and may or may not have taken effect)`,
    { cause: error, code: error.code, outcomeUnknown: true },
  );
}

/** No pooled connection became free within the pool timeout. */
export class PoolTimeoutError extends DatabaseError {
  override name = 'PoolTimeoutError';
}

/** The SSH tunnel failed: handshake, host key, authentication, or a channel. */
export class TunnelError extends ConnectionError {
  override name = 'TunnelError';
}

/** Class 23: a row broke an integrity constraint. */
export class IntegrityConstraintViolationError extends DatabaseError {
  override name = 'IntegrityConstraintViolationError';
}

/** 23505: a unique constraint or index. `columns` lists the key's columns as the server named them. */
export class UniqueViolationError extends IntegrityConstraintViolationError {
  override name = 'UniqueViolationError';
  readonly columns: readonly string[];

  constructor(message: string, options: DatabaseErrorOptions & { columns?: readonly string[] } = {}) {
    super(message, options);
    this.columns = options.columns ?? [];
  }
}

/** 23503: a foreign key. */
export class ForeignKeyViolationError extends IntegrityConstraintViolationError {
  override name = 'ForeignKeyViolationError';
}

/** 23502: a NOT NULL column got null. */
export class NotNullViolationError extends IntegrityConstraintViolationError {
  override name = 'NotNullViolationError';
}

/** 23514: a CHECK constraint. */
export class CheckViolationError extends IntegrityConstraintViolationError {
  override name = 'CheckViolationError';
}

/** Class 40: the server rolled the transaction back; running it again may succeed. */
export class TransactionRollbackError extends DatabaseError {
  override name = 'TransactionRollbackError';
}

/** 40001: serialization failure. */
export class SerializationError extends TransactionRollbackError {
  override name = 'SerializationError';
}

/** 40P01: deadlock detected. */
export class DeadlockError extends TransactionRollbackError {
  override name = 'DeadlockError';
}

/** 57014: the statement (or transaction) ran past its timeout, or was cancelled. */
export class QueryTimeoutError extends DatabaseError {
  override name = 'QueryTimeoutError';
}

/** 25006: a write inside a read-only transaction. */
export class ReadOnlyTransactionError extends DatabaseError {
  override name = 'ReadOnlyTransactionError';
}

type ErrorClass = new (message: string, options: DatabaseErrorOptions) => DatabaseError;

const BY_SQLSTATE: Readonly<Record<string, ErrorClass>> = {
  '23505': UniqueViolationError,
  '23503': ForeignKeyViolationError,
  '23502': NotNullViolationError,
  '23514': CheckViolationError,
  '40001': SerializationError,
  '40P01': DeadlockError,
  '57014': QueryTimeoutError,
  '25006': ReadOnlyTransactionError,
  // the server ended the session: pg_terminate_backend, shutdown, still starting up, idle timeouts
  '25P03': ConnectionError,
  '57P05': ConnectionError,
  '57P01': ConnectionError,
  '57P02': ConnectionError,
  '57P03': ConnectionError,
  '53300': ConnectionError,
};

const BY_CLASS: Readonly<Record<string, ErrorClass>> = {
  '08': ConnectionError,
  // invalid authorization (28P01 a wrong password, 28000 no pg_hba.conf entry): a failure to connect
  '28': ConnectionError,
  '23': IntegrityConstraintViolationError,
  '40': TransactionRollbackError,
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT',
]);

/** Node's codes for a TLS handshake that failed: a certificate that does not verify. */
const TLS_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
]);
/** ERR_TLS_CERT_ALTNAME_INVALID, ERR_SSL_TLSV1_ALERT_UNKNOWN_CA and the rest of TLS's own. */
const TLS_CODE = /^ERR_(?:TLS|SSL)_/;

const CONNECTION_MESSAGES = [
  /^There was an error establishing an SSL connection/,
  /^Connection terminated/,
  /connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^Client has already been connected/,
  /^Cannot use a pool after calling end on the pool/,
  /^The server does not support SSL connections/,
];

interface PgErrorLike {
  message?: unknown;
  code?: unknown;
  constraint?: unknown;
  table?: unknown;
  column?: unknown;
  detail?: unknown;
  severity?: unknown;
  syscall?: unknown;
  errors?: unknown;
}

/** Options of mapError. */
export interface MapErrorOptions {
  /**
   * The variable the connection settings came from, named in the hint of a failure to connect
   * (`DATABASE_REPLICA_URLS` for a replica's pool). (Default: `DATABASE_URL`)
   */
  readonly variable?: string;
}

/** pg's client-side messages when the server asks for a password and none was configured. */
const NO_PASSWORD = [
  /^SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a (?:non-empty )?string$/,
  /^Password must be a string$/,
];
/** Every other failure of pg's SCRAM exchange (a server signature that does not match, say). */
const SASL_MESSAGE = /^SASL: /;

/** Node's codes for a server that could not be reached (with syscall `connect` or `getaddrinfo`). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOENT']);
const NAME_NOT_FOUND = new Set(['ENOTFOUND', 'EAI_AGAIN']);

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The message of an error that has none of its own: Node's AggregateError for a host name with
 * several addresses (`localhost`: ::1 and 127.0.0.1) carries its code, and each attempt's message.
 */
function fallbackMessage(e: PgErrorLike, error: unknown, code: string | undefined): string {
  if (Array.isArray(e.errors)) {
    const inner = e.errors.map((x) => str((x as PgErrorLike | null)?.message)).filter((m) => m !== undefined);
    if (inner.length > 0) return [...new Set(inner)].join('; ');
  }
  return code === undefined ? String(error) : `connect ${code}`;
}

/** `Key (a, b)=(…) already exists.` -> ['a', 'b']; `Key (lower(email::text))=…` -> ['email']. */
function uniqueColumns(detail: string | undefined): string[] {
  const key = detail?.match(/^Key \((.+?)\)=\(/)?.[1];
  if (!key) return [];
  return key.split(',').map((part) => {
    const inner = part.trim().match(/([A-Za-z_][A-Za-z0-9_$]*)(?:::[a-z ]+)?\)*$/);
    return inner?.[1] ?? part.trim();
  });
}

/**
 * Maps anything thrown while talking to PostgreSQL onto the package's hierarchy: by SQLSTATE,
 * then SQLSTATE class, then network error code and pg's connection and authentication messages.
 * An error that is already a DatabaseError is returned as it is. The original is kept as
 * `cause`; messages and details are stripped of secrets.
 *
 * A failure to connect — refused, unknown host, TLS, authentication (SQLSTATE class 28, and pg's
 * SCRAM errors such as a server asking for a password none was given for) — is a ConnectionError
 * whose `hint` (also the end of its message) names what to check in `options.variable`
 * (DATABASE_URL unless told), never a value.
 *
 * @example
 * try { await database.db.selectFrom('users').selectAll().execute(); }
 * catch (error) { const mapped = mapError(error); if (mapped instanceof ConnectionError) console.error(mapped.message); }
 * @throws nothing: whatever it is given (even an object that throws when read) it returns a DatabaseError.
 */
export function mapError(error: unknown, options?: MapErrorOptions): DatabaseError {
  let variable = 'DATABASE_URL';
  try {
    variable = str(options?.variable) ?? variable;
  } catch {
    // options that throw when read: the default
  }
  try {
    return mapKnown(error, variable);
  } catch {
    // something that throws when it is read (a Proxy, a getter): described, not read again
    return new DatabaseError('an error that could not be read was thrown', { cause: error });
  }
}

/** The hint of a failure to connect, or undefined for any other failure. */
function connectHint(e: PgErrorLike, code: string | undefined, message: string, variable: string): string | undefined {
  const syscall = str(e.syscall);
  if (code === '28P01') return `check the user name and password in ${variable}`;
  if (code?.startsWith('28') && /certificate/i.test(message)) return `check sslcert and sslkey in ${variable}`;
  if (code?.startsWith('28')) {
    return `check the user name and database in ${variable} (and that the server's pg_hba.conf lets them in)`;
  }
  if (NO_PASSWORD.some((re) => re.test(message))) {
    return `put the password in ${variable} (postgres://user:password@host/database)`;
  }
  if (SASL_MESSAGE.test(message)) return `check the user name and password in ${variable}`;
  if (code !== undefined && NAME_NOT_FOUND.has(code)) return `check the host name in ${variable}`;
  if (code !== undefined && UNREACHABLE.has(code) && (syscall === undefined || syscall === 'connect')) {
    return `check the host and port in ${variable}, and that the server is running`;
  }
  if (
    (code !== undefined && (TLS_CODES.has(code) || TLS_CODE.test(code))) ||
    /^(?:There was an error establishing an SSL connection|The server does not support SSL connections)/.test(message)
  ) {
    return `check sslmode (and sslrootcert, sslcert, sslkey) in ${variable}`;
  }
  return undefined;
}

function mapKnown(error: unknown, variable: string): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const pgError = (typeof error === 'object' && error !== null ? error : {}) as PgErrorLike;
  const code = str(pgError.code);
  const rawMessage = str(pgError.message) ?? fallbackMessage(pgError, error, code);
  const noPassword = NO_PASSWORD.some((re) => re.test(rawMessage));
  const message = noPassword ? 'the server asks for a password and none was given' : redactText(rawMessage);
  const detail = str(pgError.detail) === undefined ? undefined : redactText(String(pgError.detail));
  // the original stays as `cause`, and inspecting an error shows its cause: clean it there too
  if (detail !== undefined && detail !== pgError.detail) pgError.detail = detail;
  const isServerError = code !== undefined && /^[0-9A-Z]{5}$/.test(code) && pgError.severity !== undefined;
  const options: DatabaseErrorOptions = {
    cause: error,
    code,
    constraint: str(pgError.constraint),
    table: str(pgError.table),
    column: str(pgError.column),
    detail,
  };
  const hint = connectHint(pgError, code, rawMessage, variable);
  if (isServerError) {
    if (code === '23505') {
      const columns = uniqueColumns(detail);
      return new UniqueViolationError(message, { ...options, column: options.column ?? columns[0], columns });
    }
    const Class = BY_SQLSTATE[code] ?? BY_CLASS[code.slice(0, 2)] ?? DatabaseError;
    return Class === ConnectionError ? new ConnectionError(message, { ...options, hint }) : new Class(message, options);
  }
  const network = code !== undefined && (NETWORK_CODES.has(code) || TLS_CODES.has(code) || TLS_CODE.test(code));
  if (network || hint !== undefined || CONNECTION_MESSAGES.some((re) => re.test(message))) {
    return new ConnectionError(message, { ...options, hint });
  }
  return new DatabaseError(message, options);
}
