/**
 * Kysely's PGliteDriver, made to behave like the pg path where PGlite's single in-process
 * connection allows it: callers queue for the connection with the pool timeout (and can be
 * counted), transactions get the isolation level and access mode asked for, a COMMIT that rolled
 * back says so with SQLSTATE 25P02, and close() waits a bounded time for the connection in use.
 * Error mapping and counters are not here: InstrumentedDriver wraps this driver.
 */
import {
  CompiledQuery,
  PGliteDriver,
  isAbortedTransactionError,
  type AbortableOperationOptions,
  type DatabaseConnection,
  type PGliteDialectConfig,
  type TransactionSettings,
} from 'kysely';
import { ConnectionError, DatabaseError, PoolTimeoutError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/** Options of PGliteSessionDriver. */
export interface PGliteSessionDriverOptions {
  /** How long a caller waits for the connection before PoolTimeoutError (DB_POOL_TIMEOUT). */
  readonly acquireTimeoutMs: number;
  /** How long close() waits for the connection in use before rolling its transaction back. */
  readonly closeTimeoutMs: number;
  readonly logger: Logger;
}

/** What the pool gauges of status() read from the driver. */
export interface PGliteSessionState {
  /** PGlite has started and is not closed. */
  readonly open: boolean;
  /** A caller holds the connection. */
  readonly inUse: boolean;
  /** Callers queued for the connection. */
  readonly waiting: number;
}

type PGliteTransactionConnection = Parameters<PGliteDriver['beginTransaction']>[0];

const ISOLATION_LEVELS: Readonly<Record<string, string>> = {
  'read uncommitted': 'isolation level read uncommitted',
  'read committed': 'isolation level read committed',
  'repeatable read': 'isolation level repeatable read',
  serializable: 'isolation level serializable',
};
const ACCESS_MODES: Readonly<Record<string, string>> = {
  'read only': 'read only',
  'read write': 'read write',
};

/** `isolation level … read only` for SET TRANSACTION, from fixed texts only; undefined when there is nothing to set. */
function transactionModes(settings: TransactionSettings | undefined): string | undefined {
  const parts: string[] = [];
  if (settings?.isolationLevel !== undefined) {
    const level = ISOLATION_LEVELS[settings.isolationLevel];
    if (level === undefined) throw new DatabaseError(`isolation level ${settings.isolationLevel} is not supported`);
    parts.push(level);
  }
  if (settings?.accessMode !== undefined) {
    const mode = ACCESS_MODES[settings.accessMode];
    if (mode === undefined) throw new DatabaseError(`access mode ${settings.accessMode} is not supported`);
    parts.push(mode);
  }
  return parts.length === 0 ? undefined : parts.join(' ');
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One connection, handed to one caller at a time, first come first served, with a timeout. */
class ConnectionGate {
  #held = false;
  readonly #queue: Waiter[] = [];
  #onFree: (() => void) | undefined;

  get held(): boolean {
    return this.#held;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /** @throws PoolTimeoutError when the connection is not handed over within `timeoutMs`. */
  async acquire(timeoutMs: number): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#queue.splice(this.#queue.indexOf(waiter), 1);
          reject(
            new PoolTimeoutError(
              `the embedded engine's single connection did not become free within ${timeoutMs} ms: a transaction ` +
                'or another caller holds it (inside withTransaction(), query through the transaction, not the Database)',
            ),
          );
        }, timeoutMs),
      };
      this.#queue.push(waiter);
    });
  }

  /** Hands the connection to the next caller in line, or marks it free. */
  release(): void {
    const next = this.#queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve();
      return;
    }
    this.#held = false;
    const onFree = this.#onFree;
    this.#onFree = undefined;
    onFree?.();
  }

  /** Rejects every queued caller with `error`. */
  rejectWaiting(error: Error): void {
    for (const waiter of this.#queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  /** Resolves true once the connection is free, or false after `timeoutMs`. */
  async free(timeoutMs: number): Promise<boolean> {
    if (!this.#held) return true;
    let timer: NodeJS.Timeout | undefined;
    const freed = new Promise<boolean>((resolve) => {
      this.#onFree = () => resolve(true);
    });
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([freed, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Kysely's PGliteDriver over one lazily created PGlite, with:
 * - a FIFO gate on the single connection: a caller waits at most `acquireTimeoutMs`, then gets
 *   PoolTimeoutError (Kysely's own ConnectionMutex waits forever and cannot be counted, so the
 *   dialect's adapter turns it off and this gate takes its place);
 * - `SET TRANSACTION isolation level … / read only` right after BEGIN, which Kysely's PGlite driver
 *   does not send;
 * - a COMMIT that PostgreSQL turned into a ROLLBACK (an earlier statement failed) thrown as
 *   DatabaseError 25P02, as on the pg path;
 * - destroy(): refuses queued callers, waits up to `closeTimeoutMs` for the connection in use,
 *   rolls back a transaction still open on it, then closes PGlite. Idempotent.
 *
 * @example
 * const driver = new PGliteSessionDriver({ pglite: () => new PGlite() }, { acquireTimeoutMs: 30_000, closeTimeoutMs: 5_000, logger });
 */
export class PGliteSessionDriver extends PGliteDriver {
  readonly #options: PGliteSessionDriverOptions;
  readonly #gate = new ConnectionGate();
  #connection: DatabaseConnection | undefined;
  #open = false;
  #closing: Promise<void> | undefined;

  constructor(config: PGliteDialectConfig, options: PGliteSessionDriverOptions) {
    super(config);
    this.#options = options;
  }

  /** What status() reports about the connection. */
  get state(): PGliteSessionState {
    return { open: this.#open, inUse: this.#gate.held, waiting: this.#gate.waiting };
  }

  /**
   * Creates PGlite (the factory of the config) and waits until it is ready.
   * @throws whatever the factory or PGlite's start-up throws (mapped by InstrumentedDriver).
   */
  override async init(options?: AbortableOperationOptions): Promise<void> {
    await super.init(options);
    this.#open = true;
  }

  /**
   * Waits for the connection, first come first served.
   * @throws PoolTimeoutError after `acquireTimeoutMs`; ConnectionError when closed meanwhile.
   */
  override async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#closing) throw new ConnectionError('the Database is closed; create a new one to reconnect');
    await this.#gate.acquire(this.#options.acquireTimeoutMs);
    try {
      this.#connection = await super.acquireConnection();
      return this.#connection;
    } catch (error) {
      this.#gate.release();
      throw error;
    }
  }

  /** Hands the connection to the next caller. */
  override async releaseConnection(): Promise<void> {
    await super.releaseConnection();
    this.#gate.release();
  }

  /**
   * BEGIN, then SET TRANSACTION with the isolation level and access mode asked for.
   * @throws DatabaseError for a level or mode PostgreSQL does not have; what PGlite throws.
   */
  override async beginTransaction(
    connection: PGliteTransactionConnection,
    settings?: TransactionSettings,
  ): Promise<void> {
    const modes = transactionModes(settings);
    await super.beginTransaction(connection);
    if (modes === undefined) return;
    try {
      await connection.executeQuery(CompiledQuery.raw(`set transaction ${modes}`));
    } catch (error) {
      await super.rollbackTransaction(connection);
      throw error;
    }
  }

  /**
   * COMMIT.
   * @throws DatabaseError 25P02 when an earlier error had aborted the transaction and COMMIT
   * rolled it back; what PGlite throws otherwise.
   */
  override async commitTransaction(connection: PGliteTransactionConnection): Promise<void> {
    try {
      await super.commitTransaction(connection);
    } catch (error) {
      if (isAbortedTransactionError(error)) {
        throw new DatabaseError('the transaction had been aborted by an earlier error; COMMIT rolled it back', {
          code: '25P02',
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Closes PGlite, after a bounded wait for the connection in use. Idempotent. */
  override async destroy(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#gate.rejectWaiting(new ConnectionError('the Database was closed while this call waited for its connection'));
    const freed = await this.#gate.free(this.#options.closeTimeoutMs);
    if (!freed && this.#connection) {
      this.#options.logger.warn(
        'closing the embedded engine while its connection is in use; its transaction is rolled back',
      );
      // Ends PGlite's exclusive transaction, if one is open, so close() does not wait for it forever.
      await super.rollbackTransaction(this.#connection as PGliteTransactionConnection);
    }
    try {
      await super.destroy();
    } finally {
      this.#open = false;
    }
  }
}
