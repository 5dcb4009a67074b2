/**
 * Repository<DB, Table>: CRUD, pagination, batch writes, upsert, soft delete and optimistic
 * locking for one table, typed from its Kysely types. Each query shape is compiled once and run
 * as a named prepared statement; calls join the ambient transaction of withTransaction().
 *
 * This file is the public face: each method hands its call to the file that does the work —
 * reads (read-rows.ts), pages (paginate.ts), writes (write-rows.ts, create-many.ts) and deletes
 * (soft-delete.ts) — over the table's access (table-access.ts). Methods that build on others
 * (getById, findOne, decrement, and the counts of paginate and findAndCount) call them through
 * the instance, so a stub installed on it applies.
 */
import type { Kysely, Transaction } from 'kysely';
import { readOptions, requireKysely } from '../arguments.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { createMany } from './create-many.js';
import { paginate } from './paginate.js';
import { count, exists, findAndCount, findById, findMany } from './read-rows.js';
import { checkOptions, type LooseOptions } from './repository-options.js';
import type {
  ColumnOf,
  CreateManyOptions,
  DeletedFilter,
  FindByIdOptions,
  FindManyQuery,
  KeyColumns,
  KeyOf,
  NewRowOf,
  NumericColumnOf,
  Page,
  PageRequest,
  PatchOf,
  RepositoryOptions,
  RepositoryOptionsOf,
  RowOf,
  SoftDeleteOptions,
  Where,
} from './repository-types.js';
import { deleteRow, restoreRow } from './soft-delete.js';
import { TableAccess } from './table-access.js';
import { describeKey, keyArguments } from './table-key.js';
import { requireWhere } from './where-plan.js';
import { create, increment, update, updateMany, upsert } from './write-rows.js';

/**
 * A typed repository for one table.
 *
 * @example
 * const users = new Repository(database.db, 'users', { softDelete: { column: 'isActive', kind: 'boolean' } });
 * const page = await users.paginate({ orderBy: [['createdAt', 'desc']], limit: 50 });
 */
export class Repository<
  DB,
  TB extends keyof DB & string,
  const PK extends KeyColumns<ColumnOf<DB, TB>> = ColumnOf<DB, TB>,
> {
  /** The Kysely this repository was built on (the Database's, usually). */
  protected readonly db: Kysely<DB>;
  protected readonly table: TB;
  protected readonly options: RepositoryOptions<string, string, KeyColumns>;
  /** A transaction bound by withTransaction(trx); otherwise the ambient one, or the pool. */
  protected readonly bound: Kysely<DB> | undefined;
  /** The table as read, its compiled shapes and where statements run (a copy from withTransaction() shares the first two). */
  private readonly access: TableAccess;

  /**
   * A repository for `table` (a name as TypeScript writes it, or `schema.table`). Nothing is read
   * until the first call; then the table's columns are read from the catalog, and the options'
   * columns checked against them.
   * @throws ValidationError naming the option when an option has the wrong form (a softDelete kind
   * other than 'timestamp' or 'boolean', say); the first call throws it when an option names a
   * column the table lacks or of the wrong type, a `primaryKey` that is not the table's primary
   * key or a unique set of NOT NULL columns, or the table is in a schema it may not serve.
   */
  constructor(db: Kysely<DB> | Transaction<DB>, table: TB, given?: RepositoryOptionsOf<DB, TB, PK>) {
    requireKysely(db, 'db');
    const read = readOptions(given, 'options');
    const soft = read.softDelete === undefined ? undefined : readOptions(read.softDelete, 'softDelete');
    const options: LooseOptions = soft === undefined ? read : { ...read, softDelete: soft as SoftDeleteOptions };
    checkOptions(table, options);
    this.db = db;
    this.table = table;
    this.options = options;
    this.bound = undefined;
    this.access = new TableAccess(db as Kysely<unknown>, table, options);
  }

  /**
   * A copy of this repository that runs every call in `trx` (a transaction of the same Database).
   * Stubs installed on this instance carry over.
   */
  withTransaction(trx: Kysely<DB>): this {
    requireKysely(trx, 'trx');
    const copy = Object.create(Object.getPrototypeOf(this) as object, Object.getOwnPropertyDescriptors(this)) as this;
    Object.defineProperty(copy, 'bound', { value: trx, enumerable: true, writable: false, configurable: true });
    const access = this.access.boundTo(trx as Kysely<unknown>);
    Object.defineProperty(copy, 'access', { value: access, enumerable: true, writable: false, configurable: true });
    return copy;
  }

  /**
   * The row with this primary key, or undefined (soft-deleted rows count as absent). With
   * `forUpdate`, the row stays locked until the transaction ends (use it inside withTransaction).
   * A composite key is an object of its columns: `findById({ orderId, lineNo })`.
   * @throws ValidationError for a key that does not fit the key columns, a table without a key,
   * or bad options.
   */
  findById(id: KeyOf<DB, TB, PK>, given?: FindByIdOptions): Promise<RowOf<DB, TB> | undefined> {
    return this.access.traced('findById', () => findById(this.access, id, given)) as Promise<RowOf<DB, TB> | undefined>;
  }

  /**
   * The row with this primary key.
   * @throws NotFoundError naming table and key when there is none; ValidationError as findById.
   */
  async getById(id: KeyOf<DB, TB, PK>, options?: FindByIdOptions): Promise<RowOf<DB, TB>> {
    const row = await this.findById(id, options);
    if (row === undefined) {
      // findById checked the key against the key columns it loaded
      const key = this.access.current()?.key;
      const message = key ? `${this.table} ${describeKey(key, keyArguments(id, key))} not found` : undefined;
      throw new NotFoundError(this.table, id, message);
    }
    return row;
  }

  /**
   * The first row matching `where` (by primary key), or undefined.
   * @throws ValidationError when `where` is missing, names no column or something that is not a
   * column, or has an `undefined` value.
   */
  async findOne(where: Where<DB, TB>, filter?: DeletedFilter): Promise<RowOf<DB, TB> | undefined> {
    requireWhere(where);
    const rows = await this.findMany({ ...readOptions(filter, 'filter'), where, limit: 1 });
    return rows[0];
  }

  /**
   * Rows matching the query, ordered, at most `limit` (default 100, at most 1000).
   * @throws ValidationError for a bad limit, offset, column or order.
   */
  findMany(given?: FindManyQuery<DB, TB>): Promise<RowOf<DB, TB>[]> {
    return this.access.traced('findMany', () => findMany(this.access, given)) as Promise<RowOf<DB, TB>[]>;
  }

  /**
   * A page of rows: keyset pagination on the sort columns plus the primary key (pass the
   * previous page's nextCursor), or offset pagination when `offset` is given.
   * @throws ValidationError for a bad limit, offset, order, or a cursor this repository did not
   * issue for the same table and order.
   */
  paginate(given?: PageRequest<DB, TB>): Promise<Page<RowOf<DB, TB>>> {
    return this.access.traced('paginate', () => paginate(this.access, this, given)) as Promise<Page<RowOf<DB, TB>>>;
  }

  /**
   * Rows of the query and the number of all rows matching its `where`, in one statement when
   * the page is not past the end.
   * @throws ValidationError as findMany.
   */
  findAndCount(given?: FindManyQuery<DB, TB>): Promise<{ items: RowOf<DB, TB>[]; total: number }> {
    return this.access.traced('findAndCount', () => findAndCount(this.access, this, given)) as Promise<{
      items: RowOf<DB, TB>[];
      total: number;
    }>;
  }

  /**
   * The number of rows matching `where` (all live rows when omitted).
   * @throws ValidationError when `where` names no column or something that is not a column, or
   * has an `undefined` value.
   */
  count(where?: Where<DB, TB>, filter?: DeletedFilter): Promise<number> {
    return this.access.traced('count', () => count(this.access, where, filter));
  }

  /**
   * Whether any row matches `where`.
   * @throws ValidationError when `where` is missing, names no column or something that is not a
   * column, or has an `undefined` value.
   */
  exists(where: Where<DB, TB>, filter?: DeletedFilter): Promise<boolean> {
    return this.access.traced('exists', () => exists(this.access, where, filter));
  }

  /**
   * Inserts one row and returns it as stored.
   * @throws ValidationError for a key that is not a writable column; the mapped constraint errors.
   */
  create(values: NewRowOf<DB, TB>): Promise<RowOf<DB, TB>> {
    return this.access.traced('create', () => create(this.access, values)) as Promise<RowOf<DB, TB>>;
  }

  /**
   * Inserts any number of rows, all or nothing (one transaction), in as few statements as
   * PostgreSQL's limits allow; resolves to the rows as stored, or with `{ returning: false }` to
   * the number of rows written.
   * @throws ValidationError for a row that is not an object or names a non-writable column; the
   * mapped constraint errors (and then no row of the call is kept).
   */
  createMany(
    rows: readonly NewRowOf<DB, TB>[],
    options: CreateManyOptions & { readonly returning: false },
  ): Promise<number>;
  createMany(
    rows: readonly NewRowOf<DB, TB>[],
    options?: CreateManyOptions & { readonly returning?: true },
  ): Promise<RowOf<DB, TB>[]>;
  createMany(rows: readonly NewRowOf<DB, TB>[], options?: CreateManyOptions): Promise<RowOf<DB, TB>[] | number>;
  createMany(rows: readonly NewRowOf<DB, TB>[], given?: CreateManyOptions): Promise<RowOf<DB, TB>[] | number> {
    return this.access.traced('createMany', () => createMany(this.access, rows, given)) as Promise<
      RowOf<DB, TB>[] | number
    >;
  }

  /**
   * Changes one row and returns it, or undefined when there is none (or it is soft-deleted).
   * Bumps the updated-at column. With a version column, `patch` must carry the version that was
   * read: the row is changed only if it still has it, and the version is incremented.
   * @throws OptimisticLockError when the row's version changed since it was read; ValidationError
   * for a bad id, a non-writable column, or a missing version; the mapped constraint errors.
   */
  update(id: KeyOf<DB, TB, PK>, patch: PatchOf<DB, TB>): Promise<RowOf<DB, TB> | undefined> {
    return this.access.traced('update', () => update(this.access, this, id, patch)) as Promise<
      RowOf<DB, TB> | undefined
    >;
  }

  /**
   * Changes every live row matching `where` (pass {@link allRows} to change every live row);
   * returns how many changed. Bumps the version column, when the repository has one.
   * @throws ValidationError when `where` is missing, names no column or something that is not a
   * column, or has an `undefined` value; as update for the patch; the mapped constraint errors.
   */
  updateMany(where: Where<DB, TB>, patch: PatchOf<DB, TB>): Promise<number> {
    return this.access.traced('updateMany', () => updateMany(this.access, where, patch));
  }

  /**
   * Inserts the row, or on a conflict over `conflictColumns` updates the existing row with the
   * other given values; returns the row as stored.
   * @throws ValidationError when a conflict column is not given or not a column; the mapped
   * constraint errors.
   */
  upsert(values: NewRowOf<DB, TB>, conflictColumns: readonly ColumnOf<DB, TB>[]): Promise<RowOf<DB, TB>> {
    return this.access.traced('upsert', () => upsert(this.access, values, conflictColumns)) as Promise<RowOf<DB, TB>>;
  }

  /**
   * Deletes a row: soft (marks it) when the repository has softDelete, else for real. True when a
   * row changed; false when there was none (or it was already deleted).
   * @throws ValidationError for a bad id; the mapped constraint errors (a foreign key, say).
   */
  delete(id: KeyOf<DB, TB, PK>): Promise<boolean> {
    return this.access.traced('delete', () => deleteRow(this.access, id));
  }

  /**
   * Undoes a soft delete. True when a row changed; false when there was no deleted row.
   * @throws DatabaseError when the repository has no softDelete; ValidationError for a bad id.
   */
  restore(id: KeyOf<DB, TB, PK>): Promise<boolean> {
    return this.access.traced('restore', () => restoreRow(this.access, id));
  }

  /**
   * Adds `by` (default 1) to a numeric column, atomically in SQL; returns the row, or undefined.
   * @throws ValidationError for a bad id, a column that is not a column, or `by` not a finite number.
   */
  increment(
    id: KeyOf<DB, TB, PK>,
    column: NumericColumnOf<DB, TB>,
    by: number = 1,
  ): Promise<RowOf<DB, TB> | undefined> {
    return this.access.traced('increment', () => increment(this.access, id, column, by)) as Promise<
      RowOf<DB, TB> | undefined
    >;
  }

  /**
   * Subtracts `by` (default 1) from a numeric column, atomically in SQL; returns the row, or undefined.
   * @throws ValidationError as increment.
   */
  async decrement(
    id: KeyOf<DB, TB, PK>,
    column: NumericColumnOf<DB, TB>,
    by: number = 1,
  ): Promise<RowOf<DB, TB> | undefined> {
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new ValidationError('by', 'type', 'by must be a finite number');
    }
    return this.increment(id, column, -by);
  }

  /** Where calls run: the bound transaction, else the ambient one of withTransaction, else the pool. */
  protected executor(): Kysely<DB> {
    return this.access.executor() as Kysely<DB>;
  }
}
