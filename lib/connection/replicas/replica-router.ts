/**
 * Where a statement runs when a Database has read replicas. Writes go to the primary and mark
 * read-your-writes; a read goes to the next replica that is up, unless the current async context
 * wrote recently (then the primary). A replica that cannot be reached, or drops the connection, is
 * marked down and the read runs on the next one, or on the primary when none is up; a read a
 * replica cancels for a recovery conflict runs again on the primary. Re-running a read is safe
 * because a replica cannot have changed anything.
 */
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import { ConnectionError, TransactionRollbackError } from '../../errors.js';
import type { PgDriver } from '../pg/pg-driver.js';
import type { ReadYourWrites } from './read-your-writes.js';
import type { ReplicaSet } from './replica-set.js';

/** Whether a statement only reads, or writes (as the repositories say). */
export type RoutedIntent = 'read' | 'write';

/** A connection checked out for reads, and the driver it must be released to. */
export interface ReadConnection {
  readonly driver: PgDriver;
  readonly connection: DatabaseConnection;
}

/**
 * Routes statements between the primary and the replicas of one Database.
 *
 * @example
 * const router = new ReplicaRouter(primary, replicas, new ReadYourWrites({ windowMs: undefined }));
 * await router.run(compiled, 'read'); // a replica, unless this context wrote
 */
export class ReplicaRouter {
  constructor(
    readonly primary: PgDriver,
    readonly replicas: ReplicaSet,
    readonly readYourWrites: ReadYourWrites,
  ) {}

  /**
   * Runs one statement outside any transaction: a write on the primary (then marked for
   * read-your-writes, even when it failed: it may have written before failing); a read on a
   * replica unless the current context must read its own writes.
   * @throws as PgDriver.run (the mapped error of the statement, PoolTimeoutError, ConnectionError).
   */
  async run<R>(query: CompiledQuery, intent: RoutedIntent): Promise<QueryResult<R>> {
    if (intent === 'write') {
      try {
        return await this.primary.run<R>(query);
      } finally {
        this.readYourWrites.markWrite();
      }
    }
    if (this.readYourWrites.primaryRequired()) return this.primary.run<R>(query);
    return this.read<R>(query);
  }

  /**
   * Runs a read on the next replica that is up (read-your-writes not consulted: the caller chose a
   * replica), falling back as the class describes.
   * @throws the statement's mapped error; PoolTimeoutError when the chosen pool stays full.
   */
  async read<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    for (let tries = 0; tries < this.replicas.size; tries++) {
      const replica = this.replicas.next();
      if (replica === undefined) break;
      try {
        return await replica.driver.run<R>(query);
      } catch (error) {
        if (error instanceof ConnectionError) {
          this.replicas.markDown(replica, error);
          continue;
        }
        // 40001 / 40P01 on a standby: canceled for a conflict with recovery
        if (error instanceof TransactionRollbackError) break;
        throw error;
      }
    }
    return this.primary.run<R>(query);
  }

  /**
   * Checks a connection out of the next replica that is up (one that cannot be reached is marked
   * down and the next tried), else out of the primary.
   * @throws PoolTimeoutError or ConnectionError of the primary's pool, when it comes to that.
   */
  async acquireRead(): Promise<ReadConnection> {
    for (let tries = 0; tries < this.replicas.size; tries++) {
      const replica = this.replicas.next();
      if (replica === undefined) break;
      try {
        return { driver: replica.driver, connection: await replica.driver.acquireConnection() };
      } catch (error) {
        if (!(error instanceof ConnectionError)) throw error;
        this.replicas.markDown(replica, error);
      }
    }
    return { driver: this.primary, connection: await this.primary.acquireConnection() };
  }
}
