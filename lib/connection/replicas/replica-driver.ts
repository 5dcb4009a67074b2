/**
 * The Kysely Driver behind `database.replica`: each connection Kysely asks for comes from the next
 * read replica that is up, or from the primary when none is; everything else about that
 * connection (transactions, savepoints, release) is handled by the driver it came from.
 */
import type { DatabaseConnection, Driver, QueryCompiler, TransactionSettings } from 'kysely';
import { DatabaseError } from '../../errors.js';
import type { PgDriver } from '../pg/pg-driver.js';
import type { ReplicaRouter } from './replica-router.js';

/**
 * A Driver that picks a replica per connection. The pools belong to the Database: destroy() ends
 * nothing (close the Database instead).
 *
 * @example
 * const dialect: Dialect = { createDriver: () => new ReplicaDriver(router), … };
 */
export class ReplicaDriver implements Driver {
  readonly #router: ReplicaRouter;
  readonly #owners = new WeakMap<DatabaseConnection, PgDriver>();

  constructor(router: ReplicaRouter) {
    this.#router = router;
  }

  /** Nothing to set up: the pools are created on first use. */
  async init(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * A connection to the next replica that is up, else to the primary.
   * @throws as PgDriver.acquireConnection.
   */
  async acquireConnection(): Promise<DatabaseConnection> {
    const { driver, connection } = await this.#router.acquireRead();
    this.#owners.set(connection, driver);
    return connection;
  }

  /** BEGIN on the connection's own server. @throws its mapped error. */
  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await this.#owner(connection).beginTransaction(connection, settings);
  }

  /** COMMIT. @throws as PgDriver.commitTransaction. */
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#owner(connection).commitTransaction(connection);
  }

  /** ROLLBACK. Never throws. */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#owner(connection).rollbackTransaction(connection);
  }

  /** SAVEPOINT. @throws its mapped error. */
  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await this.#owner(connection).savepoint(connection, name, compile);
  }

  /** ROLLBACK TO SAVEPOINT. @throws its mapped error. */
  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#owner(connection).rollbackToSavepoint(connection, name, compile);
  }

  /** RELEASE SAVEPOINT. @throws its mapped error. */
  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    await this.#owner(connection).releaseSavepoint(connection, name, compile);
  }

  /** Returns the connection to the pool it came from. */
  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const owner = this.#owner(connection);
    this.#owners.delete(connection);
    await owner.releaseConnection(connection);
  }

  /** Ends nothing: the pools are the Database's, ended by its close(). */
  async destroy(): Promise<void> {
    return Promise.resolve();
  }

  #owner(connection: DatabaseConnection): PgDriver {
    const owner = this.#owners.get(connection);
    if (owner === undefined) throw new DatabaseError('this connection was not checked out through database.replica');
    return owner;
  }
}
