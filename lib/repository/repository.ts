/**
 * Repository<DB, Table>: CRUD, pagination, batch writes, upsert, soft delete and optimistic
 * locking for one table, typed from its Kysely types. Each query shape is compiled once and run
 * as a named prepared statement; calls join the ambient transaction of withTransaction().
 */
import {
  sql,
  type Compilable,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type SelectQueryBuilder,
  type SqlBool,
  type WhereInterface,
} from 'kysely';
import { databaseContext } from '../database.js';
import { DatabaseError, NotFoundError, OptimisticLockError, ValidationError } from '../errors.js';
import { currentTransaction, withTransaction } from '../transaction.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { arg, bindCompiled, bindShape, compileShape, ShapeCache, type QueryShape } from './query-shape.js';
import type {
  ColumnOf,
  CreateManyOptions,
  DeletedFilter,
  FindManyQuery,
  Id,
  NewRowOf,
  NumericColumnOf,
  OrderBy,
  Page,
  PageRequest,
  PatchOf,
  RepositoryOptions,
  RowOf,
  Where,
} from './repository-types.js';
import { CAMEL_CASE_NAMING, IDENTITY_NAMING, tableMetadata, type Naming, type TableMeta } from './table-metadata.js';

/** The loose view of a schema the builders below use; the public methods carry the real types. */
type AnyTable = Record<string, unknown>;
type AnyDB = Record<string, AnyTable>;
type AnyKysely = Kysely<AnyDB>;
type Row = Record<string, unknown>;
type WhereFn = (eb: ExpressionBuilder<AnyDB, string>) => Expression<SqlBool>;

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** PostgreSQL's limit on bind parameters in one statement. */
const MAX_PARAMETERS = 65_535;
/** Rows per statement of createMany's JSON path. */
const JSON_CHUNK_ROWS = 20_000;

const shapes = new ShapeCache();

/** A where object, split into its shape (columns and kinds) and its values. */
interface WherePlan {
  readonly key: string;
  readonly entries: readonly (readonly [column: string, kind: 'eq' | 'null' | 'any'])[];
  readonly values: readonly unknown[];
}

type DeletedMode = 'live' | 'all' | 'deleted';
type Direction = 'asc' | 'desc';

function deletedMode(filter: DeletedFilter | undefined): DeletedMode {
  if (filter?.onlyDeleted) return 'deleted';
  return filter?.withDeleted ? 'all' : 'live';
}

/** Validates a limit: an integer in 1..1000. */
function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ValidationError('limit', 'range', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return limit;
}

/** Validates an offset: a non-negative safe integer. */
function checkOffset(offset: unknown): number {
  if (offset === undefined) return 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new ValidationError('offset', 'range', 'offset must be a non-negative integer');
  }
  return offset;
}

/** Validates an id: a safe integer, a bigint, or a non-empty string without NUL. */
function checkId(id: unknown, field = 'id'): Id {
  if (typeof id === 'bigint') return id.toString();
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  if (typeof id === 'string' && id.length > 0 && id.length <= 255 && !id.includes('\0')) return id;
  throw new ValidationError(field, 'type', `${field} must be an integer, a bigint or a non-empty string`);
}

function isPlainObject(value: unknown): value is Row {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * A typed repository for one table.
 *
 * @example
 * const users = new Repository(database.db, 'users', { softDelete: { column: 'isActive', kind: 'boolean' } });
 * const page = await users.paginate({ orderBy: [['createdAt', 'desc']], limit: 50 });
 */
export class Repository<DB, TB extends keyof DB & string> {
  /** The Kysely this repository was built on (the Database's, usually). */
  protected readonly db: Kysely<DB>;
  protected readonly table: TB;
  protected readonly options: RepositoryOptions;
  /** A transaction bound by withTransaction(trx); otherwise the ambient one, or the pool. */
  protected readonly bound: Kysely<DB> | undefined;
  private readonly naming: Naming;
  private readonly prepare: boolean;
  private readonly primaryKey: string;
  private readonly state: { meta: TableMeta | undefined };

  constructor(db: Kysely<DB>, table: TB, options: RepositoryOptions = {}) {
    this.db = db;
    this.table = table;
    this.options = options;
    this.bound = undefined;
    const context = databaseContext(db as Kysely<unknown>);
    this.naming = (context?.camelCase ?? false) ? CAMEL_CASE_NAMING : IDENTITY_NAMING;
    this.prepare = options.prepare ?? context?.config.preparedStatements ?? true;
    this.primaryKey = options.primaryKey ?? 'id';
    this.state = { meta: undefined };
  }

  /**
   * A copy of this repository that runs every call in `trx` (a transaction of the same Database).
   * Stubs installed on this instance carry over.
   */
  withTransaction(trx: Kysely<DB>): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object, Object.getOwnPropertyDescriptors(this)) as this;
    Object.defineProperty(copy, 'bound', { value: trx, enumerable: true, writable: false, configurable: true });
    return copy;
  }

  /**
   * The row with this primary key, or undefined (soft-deleted rows count as absent).
   * @throws ValidationError for an id that is not an integer, bigint or string.
   */
  async findById(id: Id, filter?: DeletedFilter): Promise<RowOf<DB, TB> | undefined> {
    const key = checkId(id);
    const meta = await this.meta();
    const mode = deletedMode(filter);
    const shape = this.shape(`findById|${mode}`, 1, (q) =>
      this.deletedFilter(q.selectFrom(this.tableName).selectAll().where(this.primaryKey, '=', arg(0)), mode, meta),
    );
    const rows = await this.run(shape, [key]);
    return rows[0] as RowOf<DB, TB> | undefined;
  }

  /**
   * The row with this primary key.
   * @throws NotFoundError naming table and id when there is none; ValidationError for a bad id.
   */
  async getById(id: Id, filter?: DeletedFilter): Promise<RowOf<DB, TB>> {
    const row = await this.findById(id, filter);
    if (row === undefined) throw new NotFoundError(this.table, id);
    return row;
  }

  /**
   * The first row matching `where` (by primary key), or undefined.
   * @throws ValidationError when `where` names something that is not a column.
   */
  async findOne(where: Where<DB, TB>, filter?: DeletedFilter): Promise<RowOf<DB, TB> | undefined> {
    const rows = await this.findMany({ ...filter, where, limit: 1 });
    return rows[0];
  }

  /**
   * Rows matching the query, ordered, at most `limit` (default 100, at most 1000).
   * @throws ValidationError for a bad limit, offset, column or order.
   */
  async findMany(query: FindManyQuery<DB, TB> = {}): Promise<RowOf<DB, TB>[]> {
    const limit = checkLimit(query.limit);
    const offset = checkOffset(query.offset);
    const meta = await this.meta();
    const order = this.orderColumns(query.orderBy, meta);
    const mode = deletedMode(query);
    const rows = await this.select(
      query.where,
      mode,
      meta,
      `findMany|${order.key}|${offset > 0}`,
      (q, base) => {
        let built = this.applyOrder(q, order.columns);
        built = built.limit(numberArg(base));
        return offset > 0 ? built.offset(numberArg(base + 1)) : built;
      },
      offset > 0 ? [limit, offset] : [limit],
    );
    return rows as RowOf<DB, TB>[];
  }

  /**
   * A page of rows: keyset pagination on the sort columns plus the primary key (pass the
   * previous page's nextCursor), or offset pagination when `offset` is given.
   * @throws ValidationError for a bad limit, offset, order, or a cursor this repository did not
   * issue for the same table and order.
   */
  async paginate(request: PageRequest<DB, TB> = {}): Promise<Page<RowOf<DB, TB>>> {
    const limit = checkLimit(request.limit);
    const meta = await this.meta();
    const order = this.orderColumns(request.orderBy, meta);
    const mode = deletedMode(request);
    const totalPromise = request.withTotal ? this.count(request.where, request) : undefined;

    if (request.offset !== undefined) {
      if (request.cursor !== undefined && request.cursor !== null) {
        throw new ValidationError('cursor', 'exclusive', 'give either cursor or offset, not both');
      }
      const offset = checkOffset(request.offset);
      const rows = await this.select(
        request.where,
        mode,
        meta,
        `pageOffset|${order.key}`,
        (q, base) =>
          this.applyOrder(q, order.columns)
            .limit(numberArg(base))
            .offset(numberArg(base + 1)),
        [limit + 1, offset],
      );
      const hasMore = rows.length > limit;
      const items = (hasMore ? rows.slice(0, limit) : rows) as RowOf<DB, TB>[];
      return { items, nextCursor: null, hasMore, ...(totalPromise ? { total: await totalPromise } : {}) };
    }

    const scope = `${this.table}|${order.key}`;
    const after =
      request.cursor === undefined || request.cursor === null
        ? undefined
        : decodeCursor(scope, request.cursor, order.columns.length);
    const rows = await this.select(
      request.where,
      mode,
      meta,
      `pageKeyset|${order.key}|${after ? 'after' : 'first'}`,
      (q, base) => {
        let built = q;
        if (after) built = built.where(this.keysetCondition(order.columns, base));
        return this.applyOrder(built, order.columns).limit(numberArg(base + (after ? after.length : 0)));
      },
      [...(after ?? []), limit + 1],
    );
    const hasMore = rows.length > limit;
    const items = (hasMore ? rows.slice(0, limit) : rows) as RowOf<DB, TB>[];
    const last = items[items.length - 1] as Row | undefined;
    const nextCursor =
      hasMore && last
        ? encodeCursor(
            scope,
            order.columns.map(([c]) => last[c]),
          )
        : null;
    return { items, nextCursor, hasMore, ...(totalPromise ? { total: await totalPromise } : {}) };
  }

  /**
   * Rows of the query and the number of all rows matching its `where`, in one statement when
   * the page is not past the end.
   * @throws ValidationError as findMany.
   */
  async findAndCount(query: FindManyQuery<DB, TB> = {}): Promise<{ items: RowOf<DB, TB>[]; total: number }> {
    const limit = checkLimit(query.limit);
    const offset = checkOffset(query.offset);
    const meta = await this.meta();
    const order = this.orderColumns(query.orderBy, meta);
    const mode = deletedMode(query);
    const totalColumn = this.naming.toTs('kr_total_count');
    const rows = await this.select(
      query.where,
      mode,
      meta,
      `findAndCount|${order.key}`,
      (q, base) =>
        this.applyOrder(q.select(sql<string>`count(*) over ()`.as('kr_total_count')), order.columns)
          .limit(numberArg(base))
          .offset(numberArg(base + 1)),
      [limit, offset],
    );
    if (rows.length === 0) return { items: [], total: offset === 0 ? 0 : await this.count(query.where, query) };
    const total = Number(rows[0]![totalColumn]);
    for (const row of rows) delete row[totalColumn];
    return { items: rows as RowOf<DB, TB>[], total };
  }

  /**
   * The number of rows matching `where` (all live rows when omitted).
   * @throws ValidationError when `where` names something that is not a column.
   */
  async count(where?: Where<DB, TB>, filter?: DeletedFilter): Promise<number> {
    const meta = await this.meta();
    const rows = await this.select(
      where,
      deletedMode(filter),
      meta,
      'count',
      (q) => q,
      [],
      (q) => q.select(sql<string>`count(*)`.as('count')),
    );
    return Number(rows[0]?.['count'] ?? 0);
  }

  /**
   * Whether any row matches `where`.
   * @throws ValidationError when `where` names something that is not a column.
   */
  async exists(where: Where<DB, TB>, filter?: DeletedFilter): Promise<boolean> {
    const meta = await this.meta();
    const rows = await this.select(
      where,
      deletedMode(filter),
      meta,
      'exists',
      (q) => q.limit(1),
      [],
      (q) => q.select(sql<number>`1`.as('one')),
    );
    return rows.length > 0;
  }

  /**
   * Inserts one row and returns it as stored.
   * @throws ValidationError for a key that is not a writable column; the mapped constraint errors.
   */
  async create(values: NewRowOf<DB, TB>): Promise<RowOf<DB, TB>> {
    const meta = await this.meta();
    const [columns, args] = this.writable(values, meta, 'values');
    const shape = this.shape(`create|${columns.join(',')}`, args.length, (q) =>
      q
        .insertInto(this.tableName)
        .values(Object.fromEntries(columns.map((c, i) => [c, arg(i)])))
        .returningAll(),
    );
    const rows = await this.run(shape, args);
    return rows[0] as RowOf<DB, TB>;
  }

  /**
   * Inserts any number of rows, all or nothing (one transaction), in as few statements as
   * PostgreSQL's limits allow; returns the rows as stored unless `returning` is false.
   * @throws ValidationError for a row that is not an object or names a non-writable column; the
   * mapped constraint errors (and then no row of the call is kept).
   */
  async createMany(rows: readonly NewRowOf<DB, TB>[], options: CreateManyOptions = {}): Promise<RowOf<DB, TB>[]> {
    if (!Array.isArray(rows)) throw new ValidationError('rows', 'type', 'rows must be an array of objects');
    if (rows.length === 0) return [];
    const meta = await this.meta();
    const returning = options.returning ?? true;
    // rows with the same columns insert together; the rest of the table's columns take their defaults
    const groups = new Map<string, { columns: string[]; rows: unknown[][] }>();
    rows.forEach((row, index) => {
      const [columns, args] = this.writable(row, meta, `rows[${index}]`);
      const key = columns.join(',');
      let group = groups.get(key);
      if (!group) {
        group = { columns, rows: [] };
        groups.set(key, group);
      }
      group.rows.push(args);
    });
    const statements: (() => Promise<Row[]>)[] = [];
    for (const { columns, rows: groupRows } of groups.values()) {
      if (columns.length === 0) {
        for (let i = 0; i < groupRows.length; i++) statements.push(() => this.insertDefaults(returning));
        continue;
      }
      const json = this.jsonPathAllowed(columns, meta, groupRows);
      const chunk = json ? JSON_CHUNK_ROWS : Math.floor(MAX_PARAMETERS / columns.length);
      for (let start = 0; start < groupRows.length; start += chunk) {
        const slice = groupRows.slice(start, start + chunk);
        statements.push(() =>
          json ? this.insertJson(columns, slice, meta, returning) : this.insertValues(columns, slice, returning),
        );
      }
    }
    const runAll = async (): Promise<Row[]> => {
      const inserted: Row[] = [];
      for (const statement of statements) inserted.push(...(await statement()));
      return inserted;
    };
    const inserted =
      statements.length === 1 || this.executor() !== this.db ? await runAll() : await this.inTransaction(runAll);
    return (returning ? inserted : []) as RowOf<DB, TB>[];
  }

  /**
   * Changes one row and returns it, or undefined when there is none (or it is soft-deleted).
   * Bumps the updated-at column. With a version column, `patch` must carry the version that was
   * read: the row is changed only if it still has it, and the version is incremented.
   * @throws OptimisticLockError when the row's version changed since it was read; ValidationError
   * for a bad id, a non-writable column, or a missing version; the mapped constraint errors.
   */
  async update(id: Id, patch: PatchOf<DB, TB>): Promise<RowOf<DB, TB> | undefined> {
    const key = checkId(id);
    const meta = await this.meta();
    const version = this.options.version;
    const [columns, args] = this.writable(patch, meta, 'patch', version);
    let expected: unknown;
    if (version !== undefined) {
      expected = (patch as Row)[version];
      if (expected === undefined || expected === null) {
        throw new ValidationError(version, 'required', `${version} (the version that was read) is required to update`);
      }
    }
    if (columns.length === 0 && version === undefined) return this.findById(key);
    const updatedAt = this.updatedAtColumn(meta, columns);
    const shape = this.shape(
      `update|${columns.join(',')}|${updatedAt ?? ''}`,
      args.length + 1 + (version ? 1 : 0),
      (q) => {
        const set: Record<string, unknown> = Object.fromEntries(columns.map((c, i) => [c, arg(i)]));
        if (updatedAt) set[updatedAt] = sql`now()`;
        if (version) set[version] = sql`${sql.ref(version)} + 1`;
        let built = q.updateTable(this.tableName).set(set).where(this.primaryKey, '=', arg(columns.length));
        if (version) built = built.where(version, '=', arg(columns.length + 1));
        return this.deletedFilter(built, 'live', meta).returningAll();
      },
    );
    const rows = await this.run(shape, version ? [...args, key, expected] : [...args, key]);
    if (rows[0] !== undefined || version === undefined) return rows[0] as RowOf<DB, TB> | undefined;
    if ((await this.findById(key)) === undefined) return undefined;
    throw new OptimisticLockError(`${this.table} ${String(key)} was changed by someone else since it was read`, {
      table: this.table,
    });
  }

  /**
   * Changes every live row matching `where`; returns how many changed.
   * @throws ValidationError as update; the mapped constraint errors.
   */
  async updateMany(where: Where<DB, TB>, patch: PatchOf<DB, TB>): Promise<number> {
    const meta = await this.meta();
    const [columns, args] = this.writable(patch, meta, 'patch');
    if (columns.length === 0) return 0;
    const updatedAt = this.updatedAtColumn(meta, columns);
    const set = (): Record<string, unknown> => {
      const values: Record<string, unknown> = Object.fromEntries(columns.map((c, i) => [c, arg(i)]));
      if (updatedAt) values[updatedAt] = sql`now()`;
      return values;
    };
    if (typeof where === 'function') {
      const compiled = this.deletedFilter(
        this.loose(this.db)
          .updateTable(this.tableName)
          .set(set())
          .where(where as WhereFn),
        'live',
        meta,
      ).compile();
      const result = await this.executor().executeQuery(bindCompiled(compiled, args));
      return Number(result.numAffectedRows ?? 0n);
    }
    const plan = this.wherePlan(where, meta);
    const shape = this.shape(`updateMany|${columns.join(',')}|${plan.key}`, args.length + plan.values.length, (q) =>
      this.deletedFilter(this.applyWhere(q.updateTable(this.tableName).set(set()), plan, args.length), 'live', meta),
    );
    const result = await this.executor().executeQuery(bindShape(shape, [...args, ...plan.values]));
    return Number(result.numAffectedRows ?? 0n);
  }

  /**
   * Inserts the row, or on a conflict over `conflictColumns` updates the existing row with the
   * other given values; returns the row as stored.
   * @throws ValidationError when a conflict column is not given or not a column; the mapped
   * constraint errors.
   */
  async upsert(values: NewRowOf<DB, TB>, conflictColumns: readonly ColumnOf<DB, TB>[]): Promise<RowOf<DB, TB>> {
    const meta = await this.meta();
    const [columns, args] = this.writable(values, meta, 'values');
    const conflict: readonly string[] = Array.isArray(conflictColumns) ? conflictColumns : [];
    if (conflict.length === 0) {
      throw new ValidationError('conflictColumns', 'required', 'name at least one conflict column');
    }
    for (const column of conflict) {
      if (!columns.includes(column)) {
        throw new ValidationError(column, 'required', `conflict column ${column} must be among the values`);
      }
    }
    const updatedAt = this.updatedAtColumn(meta, columns);
    const others = columns.filter((c) => !conflict.includes(c));
    const shape = this.shape(`upsert|${columns.join(',')}|${conflict.join(',')}`, args.length, (q) =>
      q
        .insertInto(this.tableName)
        .values(Object.fromEntries(columns.map((c, i) => [c, arg(i)])))
        .onConflict((oc) =>
          oc.columns([...conflict]).doUpdateSet((eb) => {
            const set: Record<string, unknown> = {};
            // with nothing else to change, touch a conflict column so RETURNING still yields the row
            for (const c of others.length > 0 ? others : [conflict[0]!]) set[c] = eb.ref(`excluded.${c}`);
            if (updatedAt) set[updatedAt] = sql`now()`;
            return set;
          }),
        )
        .returningAll(),
    );
    const rows = await this.run(shape, args);
    return rows[0] as RowOf<DB, TB>;
  }

  /**
   * Deletes a row: soft (marks it) when the repository has softDelete, else for real. True when a
   * row changed; false when there was none (or it was already deleted).
   * @throws ValidationError for a bad id; the mapped constraint errors (a foreign key, say).
   */
  async delete(id: Id): Promise<boolean> {
    const key = checkId(id);
    const meta = await this.meta();
    const soft = this.options.softDelete;
    const shape = soft
      ? this.shape('softDelete', 1, (q) =>
          this.deletedFilter(
            q.updateTable(this.tableName).set(this.softDeleteSet(meta, 'delete')).where(this.primaryKey, '=', arg(0)),
            'live',
            meta,
          ),
        )
      : this.shape('delete', 1, (q) => q.deleteFrom(this.tableName).where(this.primaryKey, '=', arg(0)));
    const result = await this.executor().executeQuery(bindShape(shape, [key]));
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  /**
   * Undoes a soft delete. True when a row changed; false when there was no deleted row.
   * @throws DatabaseError when the repository has no softDelete; ValidationError for a bad id.
   */
  async restore(id: Id): Promise<boolean> {
    const key = checkId(id);
    if (!this.options.softDelete) throw new DatabaseError(`restore() needs softDelete on the ${this.table} repository`);
    const meta = await this.meta();
    const shape = this.shape('restore', 1, (q) =>
      this.deletedFilter(
        q.updateTable(this.tableName).set(this.softDeleteSet(meta, 'restore')).where(this.primaryKey, '=', arg(0)),
        'deleted',
        meta,
      ),
    );
    const result = await this.executor().executeQuery(bindShape(shape, [key]));
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  /**
   * Adds `by` (default 1) to a numeric column, atomically in SQL; returns the row, or undefined.
   * @throws ValidationError for a bad id, a column that is not a column, or `by` not a finite number.
   */
  async increment(id: Id, column: NumericColumnOf<DB, TB>, by: number = 1): Promise<RowOf<DB, TB> | undefined> {
    const key = checkId(id);
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new ValidationError('by', 'type', 'by must be a finite number');
    }
    const meta = await this.meta();
    this.checkColumn(column, meta, 'column');
    const updatedAt = this.updatedAtColumn(meta, [column]);
    const shape = this.shape(`increment|${column}|${updatedAt ?? ''}`, 2, (q) => {
      const set: Record<string, unknown> = { [column]: sql`${sql.ref(column)} + ${arg(0)}` };
      if (updatedAt) set[updatedAt] = sql`now()`;
      return this.deletedFilter(
        q.updateTable(this.tableName).set(set).where(this.primaryKey, '=', arg(1)),
        'live',
        meta,
      ).returningAll();
    });
    const rows = await this.run(shape, [by, key]);
    return rows[0] as RowOf<DB, TB> | undefined;
  }

  /**
   * Subtracts `by` (default 1) from a numeric column, atomically in SQL; returns the row, or undefined.
   * @throws ValidationError as increment.
   */
  async decrement(id: Id, column: NumericColumnOf<DB, TB>, by: number = 1): Promise<RowOf<DB, TB> | undefined> {
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new ValidationError('by', 'type', 'by must be a finite number');
    }
    return this.increment(id, column, -by);
  }

  // ---- internals -------------------------------------------------------------------------

  /** Where calls run: the bound transaction, else the ambient one of withTransaction, else the pool. */
  protected executor(): Kysely<DB> {
    return this.bound ?? currentTransaction(this.db) ?? this.db;
  }

  /** Runs `fn` in a transaction (joining the ambient one when there is one). */
  private async inTransaction<T>(fn: () => Promise<T>): Promise<T> {
    return withTransaction(this.db, () => fn(), { propagation: 'required' });
  }

  /** The table as the loose builders take it. */
  private get tableName(): string {
    return this.table;
  }

  private loose(db: Kysely<DB>): AnyKysely {
    return db as unknown as AnyKysely;
  }

  /** The table's columns and key, read once per Database. */
  protected async meta(): Promise<TableMeta> {
    const known = this.state.meta;
    if (known) return known;
    const meta = await tableMetadata(this.executor() as Kysely<unknown>, this.db, this.table, this.naming);
    if (!meta.columns.has(this.primaryKey)) {
      throw new DatabaseError(`${this.table} has no column ${this.primaryKey}; set the primaryKey option`);
    }
    this.state.meta = meta;
    return meta;
  }

  /** The compiled shape for `key`, built on the Database's Kysely the first time. */
  private shape(key: string, arity: number, build: (q: AnyKysely) => Compilable): QueryShape {
    return shapes.get(this.db, `${this.table}|${key}`, () =>
      compileShape(() => build(this.loose(this.db)), arity, this.prepare),
    );
  }

  private async run(shape: QueryShape, args: readonly unknown[]): Promise<Row[]> {
    const result = await this.executor().executeQuery(bindShape<Row>(shape, args));
    return result.rows;
  }

  /**
   * A select over the table with `where`, the soft-delete filter and `extend` (order, limit…),
   * cached as a shape unless `where` is a callback. `extra` are the arguments `extend` uses,
   * placed after the where values (`base` is where they start).
   */
  private async select(
    where: Where<DB, TB> | undefined,
    mode: DeletedMode,
    meta: TableMeta,
    key: string,
    extend: (q: SelectBuilder, base: number) => SelectBuilder,
    extra: readonly unknown[],
    columns: (q: FromBuilder) => SelectBuilder = (q) => q.selectAll(),
  ): Promise<Row[]> {
    if (typeof where === 'function') {
      const compiled = extend(
        this.deletedFilter(
          columns(this.loose(this.executor()).selectFrom(this.tableName)).where(where as WhereFn),
          mode,
          meta,
        ),
        0,
      ).compile();
      const result = await this.executor().executeQuery(bindCompiled(compiled, extra));
      return result.rows;
    }
    const plan = this.wherePlan(where, meta);
    const shape = this.shape(`${key}|${mode}|${plan.key}`, plan.values.length + extra.length, (q) =>
      extend(
        this.deletedFilter(this.applyWhere(columns(q.selectFrom(this.tableName)), plan, 0), mode, meta),
        plan.values.length,
      ),
    );
    return this.run(shape, [...plan.values, ...extra]);
  }

  private checkColumn(column: unknown, meta: TableMeta, field: string): string {
    if (typeof column !== 'string' || !meta.columns.has(column)) {
      const name = typeof column === 'string' ? column : String(column);
      throw new ValidationError(
        field === 'column' ? name : field,
        'column',
        `${name} is not a column of ${this.table}`,
      );
    }
    return column;
  }

  /** Splits a where object into a shape key and values, checking every key is a column. */
  private wherePlan(where: Where<DB, TB> | undefined, meta: TableMeta): WherePlan {
    if (where === undefined) return { key: '', entries: [], values: [] };
    if (!isPlainObject(where)) throw new ValidationError('where', 'type', 'where must be an object or a function');
    const entries: [string, 'eq' | 'null' | 'any'][] = [];
    const values: unknown[] = [];
    const object: Row = where;
    for (const column of Object.keys(object).sort()) {
      const value = object[column];
      if (value === undefined) continue;
      this.checkColumn(column, meta, column);
      if (value === null) entries.push([column, 'null']);
      else if (Array.isArray(value)) {
        entries.push([column, 'any']);
        values.push(value);
      } else {
        entries.push([column, 'eq']);
        values.push(value);
      }
    }
    return { key: entries.map(([c, k]) => `${c}:${k}`).join(','), entries, values };
  }

  private applyWhere<Q extends Filterable>(q: Q, plan: WherePlan, base: number): Q {
    let built: Filterable = q;
    let index = base;
    for (const [column, kind] of plan.entries) {
      if (kind === 'null') built = built.where(column, 'is', null);
      else if (kind === 'any') built = built.where(column, '=', sql<unknown>`any(${arg(index++)})`);
      else built = built.where(column, '=', arg(index++));
    }
    return built as Q;
  }

  private deletedFilter<Q extends Filterable>(q: Q, mode: DeletedMode, meta: TableMeta): Q {
    const soft = this.options.softDelete;
    if (!soft || mode === 'all') return q;
    this.checkColumn(soft.column, meta, 'softDelete.column');
    const filtered: Filterable =
      soft.kind === 'boolean'
        ? q.where(soft.column, '=', sql.lit(mode === 'live'))
        : q.where(soft.column, mode === 'live' ? 'is' : 'is not', null);
    return filtered as Q;
  }

  private softDeleteSet(meta: TableMeta, action: 'delete' | 'restore'): Record<string, unknown> {
    const soft = this.options.softDelete!;
    const set: Record<string, unknown> =
      soft.kind === 'boolean'
        ? { [soft.column]: sql.lit(action === 'restore') }
        : { [soft.column]: action === 'delete' ? sql`now()` : null };
    const updatedAt = this.updatedAtColumn(meta, [soft.column]);
    if (updatedAt) set[updatedAt] = sql`now()`;
    return set;
  }

  private updatedAtColumn(meta: TableMeta, changed: readonly string[]): string | undefined {
    const option = this.options.updatedAt;
    if (option === false) return undefined;
    const column = option ?? 'updatedAt';
    if (!meta.columns.has(column)) {
      if (option !== undefined) this.checkColumn(option, meta, 'updatedAt');
      return undefined;
    }
    return changed.includes(column) ? undefined : column;
  }

  /** The columns and values of an insert or update object, checked against the table. */
  private writable(values: unknown, meta: TableMeta, field: string, versionColumn?: string): [string[], unknown[]] {
    if (!isPlainObject(values)) throw new ValidationError(field, 'type', `${field} must be a plain object`);
    const columns: string[] = [];
    const args: unknown[] = [];
    for (const column of Object.keys(values).sort()) {
      const value = values[column];
      if (value === undefined || column === versionColumn) continue;
      const meta_ = meta.columns.get(column);
      if (!meta_) this.checkColumn(column, meta, column);
      else if (meta_.generatedAlways) {
        throw new ValidationError(column, 'generated', `${column} is generated by the database and cannot be written`);
      }
      columns.push(column);
      args.push(value);
    }
    return [columns, args];
  }

  /** The sort columns (validated) plus the primary key as the tie-breaker, and their shape key. */
  private orderColumns(
    orderBy: OrderBy<DB, TB> | undefined,
    meta: TableMeta,
  ): { columns: [string, Direction][]; key: string } {
    const columns: [string, Direction][] = [];
    if (orderBy !== undefined) {
      const list: readonly (readonly [unknown, unknown])[] =
        typeof orderBy === 'string' ? [[orderBy, 'asc']] : Array.isArray(orderBy) ? orderBy : [[orderBy, 'asc']];
      for (const item of list) {
        if (!Array.isArray(item) || item.length !== 2) {
          throw new ValidationError('orderBy', 'type', 'orderBy must be a column or [column, direction] pairs');
        }
        const [column, direction] = item;
        this.checkColumn(column, meta, 'orderBy');
        if (direction !== 'asc' && direction !== 'desc') {
          throw new ValidationError('orderBy', 'direction', "an order direction must be 'asc' or 'desc'");
        }
        if (!columns.some(([c]) => c === column)) columns.push([column as string, direction]);
      }
    }
    if (!columns.some(([c]) => c === this.primaryKey)) {
      columns.push([this.primaryKey, columns[columns.length - 1]?.[1] ?? 'asc']);
    }
    return { columns, key: columns.map(([c, d]) => `${c}:${d}`).join(',') };
  }

  private applyOrder(q: SelectBuilder, columns: readonly [string, Direction][]): SelectBuilder {
    let built = q;
    for (const [column, direction] of columns) built = built.orderBy(column, direction);
    return built;
  }

  /**
   * Rows after the cursor: a row comparison when all directions agree (index friendly), else
   * the expanded OR of prefixes.
   */
  private keysetCondition(columns: readonly [string, Direction][], base: number): Expression<SqlBool> {
    const direction = columns[0]![1];
    if (columns.every(([, d]) => d === direction)) {
      const op = direction === 'asc' ? sql`>` : sql`<`;
      const left = sql.join(columns.map(([c]) => sql.ref(c)));
      const right = sql.join(columns.map((_, i) => sql`${arg(base + i)}`));
      return sql<SqlBool>`(${left}) ${op} (${right})`;
    }
    const branches = columns.map(([column, dir], i) => {
      const equal = columns.slice(0, i).map(([c], j) => sql`${sql.ref(c)} = ${arg(base + j)}`);
      const after = sql`${sql.ref(column)} ${dir === 'asc' ? sql`>` : sql`<`} ${arg(base + i)}`;
      return sql`(${sql.join([...equal, after], sql` and `)})`;
    });
    return sql<SqlBool>`(${sql.join(branches, sql` or `)})`;
  }

  private jsonPathAllowed(columns: readonly string[], meta: TableMeta, rows: readonly unknown[][]): boolean {
    if (rows.length < 2) return false;
    for (const column of columns) if (meta.columns.get(column)?.type === 'bytea') return false;
    return rows.every((row) => row.every((v) => !(v instanceof Uint8Array)));
  }

  /** INSERT … SELECT FROM json_populate_recordset($1): one parameter however many rows. */
  private async insertJson(columns: string[], rows: unknown[][], meta: TableMeta, returning: boolean): Promise<Row[]> {
    const dbColumns = columns.map((c) => meta.columns.get(c)!.dbName);
    const json = JSON.stringify(
      rows.map((row) => Object.fromEntries(row.map((value, i): [string, unknown] => [dbColumns[i]!, value]))),
      jsonReplacer,
    );
    const shape = this.shape(`createManyJson|${columns.join(',')}|${returning}`, 1, (q) => {
      const source = sql`json_populate_recordset(null::${sql.table(this.naming.toDb(this.table))}, ${arg(0)}::json)`;
      const insert = q
        .insertInto(this.tableName)
        .columns(columns)
        .expression(q.selectFrom(source.as('r')).select(columns.map((c) => `r.${c}`)));
      return returning ? insert.returningAll() : insert;
    });
    return this.run(shape, [json]);
  }

  /** A multi-row INSERT … VALUES, for small batches and values JSON cannot carry. */
  private async insertValues(columns: string[], rows: unknown[][], returning: boolean): Promise<Row[]> {
    const insert = this.loose(this.executor())
      .insertInto(this.tableName)
      .values(rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]]))));
    const result = await this.executor().executeQuery((returning ? insert.returningAll() : insert).compile());
    return result.rows;
  }

  private async insertDefaults(returning: boolean): Promise<Row[]> {
    const insert = this.loose(this.executor()).insertInto(this.tableName).defaultValues();
    const result = await this.executor().executeQuery((returning ? insert.returningAll() : insert).compile());
    return result.rows;
  }
}

/** A placeholder for a numeric argument (limit, offset), as a bound parameter. */
function numberArg(index: number): Expression<number> {
  return sql<number>`${arg(index)}`;
}

type FromBuilder = SelectQueryBuilder<AnyDB, string, object>;
type SelectBuilder = SelectQueryBuilder<AnyDB, string, Row>;
type Filterable = WhereInterface<AnyDB, string>;
