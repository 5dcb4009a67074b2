/**
 * Repository<DB, Table>: CRUD, pagination, batch writes, upsert, soft delete and optimistic
 * locking for one table, typed from its Kysely types. Each query shape is compiled once and run
 * as a named prepared statement; calls join the ambient transaction of withTransaction().
 */
import {
  sql,
  type Compilable,
  type CompiledQuery,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type RawBuilder,
  type QueryResult,
  type SelectQueryBuilder,
  type SqlBool,
  type Transaction,
  type WhereInterface,
} from 'kysely';
import { databaseContext, type DatabaseContext } from '../database-context.js';
import type { StatementIntent } from '../statement-engine.js';
import { DatabaseError, NotFoundError, OptimisticLockError, ValidationError } from '../errors.js';
import { booleanOption, isPlainObject, readEntries, readOptions, requireKysely } from '../arguments.js';
import { MIN_CURSOR_SECRET_LENGTH } from '../config.js';
import { checkServedSchema } from '../system-schemas.js';
import { currentTransaction } from '../transaction/current-transaction.js';
import { withTransaction } from '../transaction/with-transaction.js';
import { allRows } from './all-rows.js';
import { checkColumnValue, isIntegerType, isNumericType } from './column-values.js';
import { decodeCursor, encodeCursor, type CursorValue } from './cursor.js';
import { maskSecretColumns, type SecretColumns } from './secret-columns.js';
import { markSecretParameters } from '../secret-parameters.js';
import { arg, bindCompiled, bindShape, compileShape, ShapeCache, type QueryShape } from './query-shape.js';
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
  OrderBy,
  Page,
  PageRequest,
  PatchOf,
  RepositoryOptions,
  RepositoryOptionsOf,
  RowOf,
  SoftDeleteOptions,
  Where,
} from './repository-types.js';
import {
  CAMEL_CASE_NAMING,
  IDENTITY_NAMING,
  invalidateTableMetadata,
  tableMetadata,
  type ColumnMeta,
  type Naming,
  type TableMeta,
} from './table-metadata.js';

/** The options as the runtime reads them: any column names (checked against the table on load). */
type LooseOptions = RepositoryOptions<string, string, KeyColumns>;

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
/** createMany uses COPY (when no rows are to be returned) from this many rows of one shape. */
const COPY_MIN_ROWS = 1_000;
/** Rows per statement of createMany's JSON path. */
const JSON_CHUNK_ROWS = 20_000;

const shapes = new ShapeCache();

/** A repository reads a table's catalog again after a ValidationError at most this often. */
const REFRESH_INTERVAL_MS = 1_000;

/** A where object, split into its shape (columns and kinds) and its values. */
interface WherePlan {
  readonly key: string;
  readonly entries: readonly (readonly [column: string, kind: 'eq' | 'null' | 'any' | 'true' | 'false'])[];
  readonly values: readonly unknown[];
  /** The values bound to secret columns. */
  readonly secrets: readonly string[];
}

const NO_SECRETS: readonly string[] = [];

type DeletedMode = 'live' | 'all' | 'deleted';
type Direction = 'asc' | 'desc';
/**
 * A sort column, its direction, how its cursor value travels (as PostgreSQL's text in a form no
 * session setting changes, for dates and times: a JS Date loses microseconds and DateStyle
 * changes the text), and whether it can be NULL.
 */
type SortColumn = readonly [
  column: string,
  direction: Direction,
  temporal: TemporalKind | undefined,
  nullable: boolean,
];

/** The date and time types whose cursor values travel as text. */
type TemporalKind = 'timestamptz' | 'timestamp' | 'date' | 'time';

/** The alias of a sort column's text form in a keyset page. */
function cursorAlias(column: string): string {
  return `krCursor${column.charAt(0).toUpperCase()}${column.slice(1)}`;
}

/** Which rows a filter asks for; its flags must be booleans (the text 'false' is refused). */
function deletedMode(filter: DeletedFilter | undefined): DeletedMode {
  const only = booleanOption(filter?.onlyDeleted, 'onlyDeleted');
  const all = booleanOption(filter?.withDeleted, 'withDeleted');
  if (only) return 'deleted';
  return all ? 'all' : 'live';
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

/**
 * A key as SQL arguments, one per key column, in the key's order: for a key of one column its
 * value (a safe integer, a bigint or a string) or `{ column: value }`; for a composite key an
 * object naming every key column and nothing else. Each value must fit its column.
 * @throws ValidationError naming `id` or the key column at fault.
 */
function keyArguments(id: unknown, key: readonly ColumnMeta[]): unknown[] {
  let object: boolean;
  try {
    object = isPlainObject(id);
  } catch (cause) {
    // a Proxy whose traps throw
    throw new ValidationError('id', 'type', 'id could not be read', { cause });
  }
  if (key.length === 1 && !object) return [scalarKey(id, key[0]!, 'id')];
  const names = key.map((column) => column.name).join(', ');
  if (!object) {
    throw new ValidationError('id', 'type', `id must be an object with the key columns (${names})`);
  }
  const given = new Map(readObject(id, 'id', 'refuse'));
  for (const name of given.keys()) {
    if (!key.some((column) => column.name === name)) {
      throw new ValidationError(name, 'column', `${name} is not a key column: the key is (${names})`);
    }
  }
  return key.map((column) => {
    const value = given.get(column.name);
    if (value === undefined || value === null) {
      throw new ValidationError(column.name, 'required', `${column.name} is required: the key is (${names})`);
    }
    return scalarKey(value, column, column.name);
  });
}

/**
 * One key value that fits the column: a safe integer, a bigint or a string (any text key is
 * reachable), a boolean, a valid Date, or ±Infinity (a date or timestamp key read back as
 * infinity goes back as it came; the column check refuses it elsewhere).
 */
function scalarKey(value: unknown, column: ColumnMeta, field: string): unknown {
  if ((value instanceof Date && !Number.isNaN(value.getTime())) || value === Infinity || value === -Infinity) {
    checkColumnValue(column, value, field);
    return value;
  }
  const valid =
    typeof value === 'bigint' ||
    (typeof value === 'number' && Number.isSafeInteger(value)) ||
    typeof value === 'string' ||
    typeof value === 'boolean';
  if (!valid) throw new ValidationError(field, 'type', `${field} must be an integer, a bigint or a string`);
  checkColumnValue(column, value, field);
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A key for messages: the value of a one-column key, `(a=1, b=2)` for a composite one. */
function describeKey(key: readonly ColumnMeta[], args: readonly unknown[]): string {
  if (key.length === 1) return String(args[0]);
  return `(${key.map((column, i) => `${column.name}=${String(args[i])}`).join(', ')})`;
}

/**
 * The own string keys of a plain object and their values, read once (a getter or a Proxy is asked
 * once, so what is checked is what is written), sorted by key.
 * @throws ValidationError (naming `field`) for something other than a plain object, a Symbol key
 * when `symbols` is 'refuse' (a where: a condition that is not a column), or an object that throws
 * while it is read.
 */
function readObject(value: unknown, field: string, symbols: 'refuse' | 'ignore'): [string, unknown][] {
  const entries = readEntries(value, field);
  if (symbols === 'refuse' && hasSymbolKey(value as object, field)) {
    throw new ValidationError(field, 'column', `${field} has a Symbol key: keys must be column names`);
  }
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether `value` has a Symbol key. @throws ValidationError naming `field` when asking throws. */
function hasSymbolKey(value: object, field: string): boolean {
  try {
    return Object.getOwnPropertySymbols(value).length > 0;
  } catch (cause) {
    throw new ValidationError(field, 'type', `${field} could not be read`, { cause });
  }
}

/**
 * A value as createMany's JSON carries it: the text the driver would send for it as a parameter
 * where JSON would write something else (a Date, ±Infinity, NaN, a bigint), so every path stores
 * the same value.
 */
function jsonValue(value: unknown, dateText: (date: Date) => string): unknown {
  if (value instanceof Date) return dateText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

/** Column types json_populate_recordset reads from a JSON scalar as a parameter's text would be read. */
const JSON_PATH_TYPES = new Set([
  'smallint',
  'integer',
  'bigint',
  'numeric',
  'real',
  'double precision',
  'text',
  'character varying',
  'uuid',
  'boolean',
  'date',
  'timestamp with time zone',
  'timestamp without time zone',
]);

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
  private readonly context: DatabaseContext | undefined;
  private readonly naming: Naming;
  private readonly prepare: boolean;
  /** The key columns the options name (TypeScript names); undefined: the table's primary key. */
  private readonly keyOption: readonly string[] | undefined;
  /** Columns whose values are secret (TypeScript names). */
  private readonly secretColumns: ReadonlySet<string>;
  /** The key of this repository's compiled shapes: table and options. */
  private readonly scope: string;
  /** Filled on first use and shared by copies from withTransaction(). */
  private readonly state: {
    loaded: Loaded | undefined;
    shapes: Map<string, QueryShape>;
    /** SQL names of columns (and aliases) as TypeScript names them, for rows of where callbacks. */
    tsNames: Map<string, string>;
  };

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
    this.context = databaseContext(db as Kysely<unknown>);
    this.naming = (options.camelCase ?? this.context?.camelCase ?? false) ? CAMEL_CASE_NAMING : IDENTITY_NAMING;
    this.prepare = options.prepare ?? this.context?.config.preparedStatements ?? true;
    this.keyOption = keyOption(options.primaryKey);
    this.secretColumns = new Set(options.secretColumns ?? []);
    this.state = { loaded: undefined, shapes: new Map(), tsNames: new Map() };
    // compiled shapes depend on the options as much as on the table
    this.scope = JSON.stringify([
      table,
      this.keyOption ?? null,
      options.softDelete ?? null,
      options.version ?? null,
      options.updatedAt ?? null,
      this.prepare,
      this.naming === CAMEL_CASE_NAMING,
    ]);
  }

  /**
   * A copy of this repository that runs every call in `trx` (a transaction of the same Database).
   * Stubs installed on this instance carry over.
   */
  withTransaction(trx: Kysely<DB>): this {
    requireKysely(trx, 'trx');
    const copy = Object.create(Object.getPrototypeOf(this) as object, Object.getOwnPropertyDescriptors(this)) as this;
    Object.defineProperty(copy, 'bound', { value: trx, enumerable: true, writable: false, configurable: true });
    return copy;
  }

  /**
   * The row with this primary key, or undefined (soft-deleted rows count as absent). With
   * `forUpdate`, the row stays locked until the transaction ends (use it inside withTransaction).
   * A composite key is an object of its columns: `findById({ orderId, lineNo })`.
   * @throws ValidationError for a key that does not fit the key columns, a table without a key,
   * or bad options.
   */
  async findById(id: KeyOf<DB, TB, PK>, given?: FindByIdOptions): Promise<RowOf<DB, TB> | undefined> {
    const options = readOptions(given, 'options');
    return this.guarded(async (loaded) => {
      const { sqlNames: w } = loaded;
      const key = this.keyOf(loaded, 'findById');
      const args = keyArguments(id, key);
      const mode = deletedMode(options);
      const forUpdate = options?.forUpdate === true;
      const shape = this.shape(`findById|${mode}|${forUpdate}`, key.length, () => {
        const query = this.deletedFilter(w, whereKey(w, selectRows(w, w.q.selectFrom(w.table)), key, 0), mode);
        return forUpdate ? query.forUpdate() : query;
      });
      const rows = (await this.runShape(shape, args, forUpdate ? 'write' : 'read')).rows;
      return rows[0] as RowOf<DB, TB> | undefined;
    });
  }

  /**
   * The row with this primary key.
   * @throws NotFoundError naming table and key when there is none; ValidationError as findById.
   */
  async getById(id: KeyOf<DB, TB, PK>, options?: FindByIdOptions): Promise<RowOf<DB, TB>> {
    const row = await this.findById(id, options);
    if (row === undefined) {
      // findById checked the key against the key columns it loaded
      const key = this.current()?.key;
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
  async findMany(given?: FindManyQuery<DB, TB>): Promise<RowOf<DB, TB>[]> {
    const query = readOptions(given, 'query');
    const limit = checkLimit(query.limit);
    const offset = checkOffset(query.offset);
    return this.guarded(async (loaded) => {
      const order = this.orderColumns(query.orderBy, loaded);
      const rows = await this.select(query.where, deletedMode(query), `findMany|${order.key}|${offset > 0}`, {
        extend: (w, q, base) => {
          const ordered = applyOrder(w, q, order.columns).limit(numberArg(base));
          return offset > 0 ? ordered.offset(numberArg(base + 1)) : ordered;
        },
        args: offset > 0 ? [limit, offset] : [limit],
      });
      return rows as RowOf<DB, TB>[];
    });
  }

  /**
   * A page of rows: keyset pagination on the sort columns plus the primary key (pass the
   * previous page's nextCursor), or offset pagination when `offset` is given.
   * @throws ValidationError for a bad limit, offset, order, or a cursor this repository did not
   * issue for the same table and order.
   */
  async paginate(given?: PageRequest<DB, TB>): Promise<Page<RowOf<DB, TB>>> {
    const request = readOptions(given, 'request');
    const limit = checkLimit(request.limit);
    return this.guarded(async (loaded) => {
      const { meta } = loaded;
      const order = this.orderColumns(request.orderBy, loaded);
      const mode = deletedMode(request);
      const offset = request.offset === undefined ? undefined : checkOffset(request.offset);
      // without a key, ties in the order would let a keyset page skip or repeat rows
      if (offset === undefined) this.keyOf(loaded, 'paginate (keyset; give an offset to page without a key)');
      if (offset !== undefined && request.cursor !== undefined && request.cursor !== null) {
        throw new ValidationError('cursor', 'exclusive', 'give either cursor or offset, not both');
      }
      const scope = `${this.table}|${order.key}`;
      const after =
        offset !== undefined || request.cursor === undefined || request.cursor === null
          ? undefined
          : this.checkCursor(
              decodeCursor(scope, request.cursor, order.columns.length, this.cursorSecret()),
              order.columns,
              meta,
            );
      const totalPromise = request.withTotal ? this.count(request.where, request) : undefined;
      // awaited below; when the page's own query fails first, its failure is the one reported
      totalPromise?.catch(() => undefined);

      let rows: Row[];
      try {
        if (offset !== undefined) {
          rows = await this.select(request.where, mode, `pageOffset|${order.key}`, {
            extend: (w, q, base) =>
              applyOrder(w, q, order.columns)
                .limit(numberArg(base))
                .offset(numberArg(base + 1)),
            args: [limit + 1, offset],
          });
        } else {
          // the cursor's NULLs change the condition's form; its other values are the arguments
          const nulls = after?.map((value) => (value === null ? 'n' : 'v')).join('') ?? 'first';
          const values = after?.filter((value) => value !== null) ?? [];
          rows = await this.select(request.where, mode, `pageKeyset|${order.key}|${nulls}`, {
            // dates and times go into the cursor as PostgreSQL's text in a fixed form: a JS Date
            // loses microseconds, and the session's DateStyle changes the text the row carries
            columns: (w, q) => {
              let selected = selectRows(w, q);
              for (const [column, , kind] of order.columns) {
                if (kind) selected = selected.select(cursorText(w.col(column), kind).as(cursorAlias(column)));
              }
              return selected;
            },
            extend: (w, q, base) => {
              const from = after ? q.where(keysetCondition(w, order.columns, after, base)) : q;
              return applyOrder(w, from, order.columns).limit(numberArg(base + values.length));
            },
            args: [...values, limit + 1],
          });
        }
      } catch (error) {
        throw await firstFailure(error, totalPromise);
      }
      const hasMore = rows.length > limit;
      const page = hasMore ? rows.slice(0, limit) : rows;
      const last = page[page.length - 1];
      const nextCursor =
        offset === undefined && hasMore && last
          ? encodeCursor(
              scope,
              order.columns.map(([c, , kind]) => (kind ? last[cursorAlias(c)] : last[c])),
              this.cursorSecret(),
            )
          : null;
      if (offset === undefined) {
        for (const [column, , kind] of order.columns) if (kind) for (const row of page) delete row[cursorAlias(column)];
      }
      const items = page as RowOf<DB, TB>[];
      return { items, nextCursor, hasMore, ...(totalPromise ? { total: await totalPromise } : {}) };
    });
  }

  /**
   * Rows of the query and the number of all rows matching its `where`, in one statement when
   * the page is not past the end.
   * @throws ValidationError as findMany.
   */
  async findAndCount(given?: FindManyQuery<DB, TB>): Promise<{ items: RowOf<DB, TB>[]; total: number }> {
    const query = readOptions(given, 'query');
    const limit = checkLimit(query.limit);
    const offset = checkOffset(query.offset);
    return this.guarded(async (loaded) => {
      const order = this.orderColumns(query.orderBy, loaded);
      const rows = await this.select(query.where, deletedMode(query), `findAndCount|${order.key}`, {
        columns: (w, q) => selectRows(w, q).select(sql<string>`count(*) over ()`.as(TOTAL)),
        extend: (w, q, base) =>
          applyOrder(w, q, order.columns)
            .limit(numberArg(base))
            .offset(numberArg(base + 1)),
        args: [limit, offset],
      });
      if (rows.length === 0) return { items: [], total: offset === 0 ? 0 : await this.count(query.where, query) };
      const total = Number(rows[0]![TOTAL]);
      for (const row of rows) delete row[TOTAL];
      return { items: rows as RowOf<DB, TB>[], total };
    });
  }

  /**
   * The number of rows matching `where` (all live rows when omitted).
   * @throws ValidationError when `where` names no column or something that is not a column, or
   * has an `undefined` value.
   */
  async count(where?: Where<DB, TB>, filter?: DeletedFilter): Promise<number> {
    const mode = deletedMode(readOptions(filter, 'filter'));
    return this.guarded(async () => {
      const rows = await this.select(where, mode, 'count', {
        columns: (_w, q) => q.select(sql<string>`count(*)`.as('count')),
      });
      return Number(rows[0]?.['count'] ?? 0);
    });
  }

  /**
   * Whether any row matches `where`.
   * @throws ValidationError when `where` is missing, names no column or something that is not a
   * column, or has an `undefined` value.
   */
  async exists(where: Where<DB, TB>, filter?: DeletedFilter): Promise<boolean> {
    requireWhere(where);
    const mode = deletedMode(readOptions(filter, 'filter'));
    return this.guarded(async () => {
      const rows = await this.select(where, mode, 'exists', {
        columns: (_w, q) => q.select(sql<number>`1`.as('one')),
        extend: (_w, q) => q.limit(1),
      });
      return rows.length > 0;
    });
  }

  /**
   * Inserts one row and returns it as stored.
   * @throws ValidationError for a key that is not a writable column; the mapped constraint errors.
   */
  async create(values: NewRowOf<DB, TB>): Promise<RowOf<DB, TB>> {
    return this.guarded(async ({ meta, sqlNames: w }) => {
      const [columns, args] = this.writable(values, meta, 'values');
      const shape = this.shape(`create|${columns.join(',')}`, args.length, () => {
        const insert = w.q.insertInto(w.table);
        // no column given: every column takes its default (or its NOT NULL constraint refuses)
        if (columns.length === 0) return returnRows(w, insert.defaultValues());
        return returnRows(w, insert.values(Object.fromEntries(columns.map((c, i) => [w.col(c), arg(i)]))));
      });
      const rows = (await this.runShape(shape, args, 'write', this.secretsIn(columns, args))).rows;
      return rows[0] as RowOf<DB, TB>;
    });
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
  async createMany(rows: readonly NewRowOf<DB, TB>[], given?: CreateManyOptions): Promise<RowOf<DB, TB>[] | number> {
    const options = readOptions(given, 'options');
    if (options.returning !== undefined && typeof options.returning !== 'boolean') {
      throw new ValidationError('returning', 'type', 'returning must be true or false');
    }
    const returning = options.returning ?? true;
    if (!Array.isArray(rows)) throw new ValidationError('rows', 'type', 'rows must be an array of objects');
    if (rows.length === 0) return returning ? [] : 0;
    return this.guarded(async ({ meta, sqlNames: w }) => {
      // consecutive rows with the same columns insert together (so rows are written, and returned,
      // in the order given); the table's other columns take their defaults
      const groups: { key: string; columns: string[]; rows: unknown[][] }[] = [];
      // rows usually share their keys: checked once per layout, then only the values are
      let layout: { keys: string[]; columns: string[]; infos: ColumnMeta[]; group: unknown[][] } | undefined;
      rows.forEach((row, index) => {
        let keys: string[] | undefined;
        try {
          keys = isPlainObject(row) ? Object.keys(row) : undefined;
        } catch (cause) {
          throw new ValidationError(`rows[${index}]`, 'type', `rows[${index}] could not be read`, { cause });
        }
        if (layout && keys && sameKeys(keys, layout.keys)) {
          const { columns, infos } = layout;
          const args = new Array<unknown>(columns.length);
          let complete = true;
          for (let i = 0; i < columns.length && complete; i++) {
            const value = readKey(row as Row, columns[i]!, index);
            if (value === undefined) complete = false;
            else checkColumnValue(infos[i]!, value, columns[i]);
            args[i] = value;
          }
          if (complete && columns.length === keys.length) {
            layout.group.push(args);
            return;
          }
        }
        const [columns, args] = this.writable(row, meta, `rows[${index}]`);
        const key = columns.join(',');
        let group = groups[groups.length - 1];
        if (group?.key !== key) {
          group = { key, columns, rows: [] };
          groups.push(group);
        }
        group.rows.push(args);
        if (keys) layout = { keys, columns, infos: columns.map((c) => meta.columns.get(c)!), group: group.rows };
      });
      const statements: (() => Promise<Inserted>)[] = [];
      const secrets =
        this.secretColumns.size === 0
          ? NO_SECRETS
          : groups.flatMap((g) => g.rows.flatMap((r) => this.secretsIn(g.columns, r)));
      if (groups.length > 1 && groups.some((group) => group.columns.length > 0)) {
        // rows naming different columns: one multi-row INSERT, DEFAULT where a row names no value,
        // so the rows are written in order and the statement fails or succeeds whole, as one
        // INSERT of them all would
        const mixed = groups.flatMap(({ columns, rows: groupRows }) =>
          groupRows.map((values) => ({ columns, values })),
        );
        const chunk = Math.floor(MAX_PARAMETERS / new Set(groups.flatMap((group) => group.columns)).size);
        for (let start = 0; start < mixed.length; start += chunk) {
          const slice = mixed.slice(start, start + chunk);
          statements.push(() => this.insertValues(w, slice, returning, secrets));
        }
      } else {
        for (const { columns, rows: groupRows } of groups) {
          if (columns.length === 0) {
            for (const _row of groupRows) statements.push(() => this.insertDefaults(w, returning));
            continue;
          }
          const copy = this.context?.copy;
          if (copy && !returning && groupRows.length >= COPY_MIN_ROWS && copy.accepts(groupRows)) {
            // COPY: the fastest way in, one statement however many rows
            const statement =
              sql`copy ${sql.table(w.table)} (${sql.join(columns.map((c) => sql.id(w.col(c))))}) from stdin`.compile(
                w.q,
              ).sql;
            statements.push(async () => {
              const trx = (this.bound ?? currentTransaction(this.db)) as Kysely<unknown> | undefined;
              return { rows: [], count: await copy.into(statement, groupRows, trx) };
            });
            continue;
          }
          const json = jsonPathAllowed(columns, meta, groupRows);
          const chunk = json ? JSON_CHUNK_ROWS : Math.floor(MAX_PARAMETERS / columns.length);
          for (let start = 0; start < groupRows.length; start += chunk) {
            const slice = groupRows.slice(start, start + chunk);
            statements.push(() =>
              json
                ? this.insertJson(w, columns, slice, returning, secrets)
                : this.insertValues(
                    w,
                    slice.map((values) => ({ columns, values })),
                    returning,
                    secrets,
                  ),
            );
          }
        }
      }
      const runAll = async (): Promise<Inserted> => {
        const inserted: Row[] = [];
        let count = 0;
        for (const statement of statements) {
          const done = await statement();
          inserted.push(...done.rows);
          count += done.count;
        }
        return { rows: inserted, count };
      };
      const inserted =
        statements.length === 1
          ? await runAll()
          : await withTransaction(this.executor(), runAll, { propagation: 'required' });
      return returning ? (inserted.rows as RowOf<DB, TB>[]) : inserted.count;
    });
  }

  /**
   * Changes one row and returns it, or undefined when there is none (or it is soft-deleted).
   * Bumps the updated-at column. With a version column, `patch` must carry the version that was
   * read: the row is changed only if it still has it, and the version is incremented.
   * @throws OptimisticLockError when the row's version changed since it was read; ValidationError
   * for a bad id, a non-writable column, or a missing version; the mapped constraint errors.
   */
  async update(id: KeyOf<DB, TB, PK>, patch: PatchOf<DB, TB>): Promise<RowOf<DB, TB> | undefined> {
    return this.guarded(async (loaded) => {
      const { meta, sqlNames: w } = loaded;
      const key = this.keyOf(loaded, 'update');
      const keyArgs = keyArguments(id, key);
      const version = this.options.version;
      const [columns, args] = this.writable(patch, meta, 'patch', version);
      let expected: unknown;
      if (version !== undefined) {
        expected = readObject(patch, 'patch', 'ignore').find(([column]) => column === version)?.[1];
        if (expected === undefined || expected === null) {
          throw new ValidationError(
            version,
            'required',
            `${version} (the version that was read) is required to update`,
          );
        }
        // an integer as it was read (a number, a bigint or int8 text): nothing else reaches SQL
        checkColumnValue(meta.columns.get(version)!, expected, version);
      }
      if (columns.length === 0 && version === undefined) return this.findById(id);
      const updatedAt = this.updatedAtColumn(meta, columns);
      const arity = args.length + key.length + (version ? 1 : 0);
      const shape = this.shape(`update|${columns.join(',')}|${updatedAt ?? ''}`, arity, () => {
        const set = setObject(w, columns, updatedAt);
        if (version) set[w.col(version)] = sql`${sql.ref(w.col(version))} + 1`;
        let query = whereKey(w, w.q.updateTable(w.table).set(set), key, columns.length);
        if (version) query = query.where(w.col(version), '=', arg(columns.length + key.length));
        return returnRows(w, this.deletedFilter(w, query, 'live'));
      });
      const bound = version ? [...args, ...keyArgs, expected] : [...args, ...keyArgs];
      const rows = (await this.runShape(shape, bound, 'write', this.secretsIn(columns, args))).rows;
      if (rows[0] !== undefined || version === undefined) return rows[0] as RowOf<DB, TB> | undefined;
      if ((await this.findById(id)) === undefined) return undefined;
      throw new OptimisticLockError(
        `${this.table} ${describeKey(key, keyArgs)} was changed by someone else since it was read`,
        { table: this.table },
      );
    });
  }

  /**
   * Changes every live row matching `where` (pass {@link allRows} to change every live row);
   * returns how many changed. Bumps the version column, when the repository has one.
   * @throws ValidationError when `where` is missing, names no column or something that is not a
   * column, or has an `undefined` value; as update for the patch; the mapped constraint errors.
   */
  async updateMany(where: Where<DB, TB>, patch: PatchOf<DB, TB>): Promise<number> {
    requireWhere(where);
    return this.guarded(async ({ meta, sqlNames }) => {
      const [columns, args] = this.writable(patch, meta, 'patch');
      if (columns.length === 0) return 0;
      const version = this.options.version;
      if (version !== undefined && columns.includes(version)) {
        throw new ValidationError(version, 'managed', `${version} is the version column: the repository bumps it`);
      }
      const updatedAt = this.updatedAtColumn(meta, columns);
      if (typeof where === 'function') {
        const w = this.tsNames();
        const compiled = bindCompiled(
          fromCallback(() =>
            this.deletedFilter(
              w,
              w.q
                .updateTable(w.table)
                .set(this.bumpVersion(w, setObject(w, columns, updatedAt)))
                .where(where as WhereFn),
              'live',
            ).compile(),
          ),
          args,
        );
        markSecretParameters(compiled.parameters, this.secretsIn(columns, args));
        const result = await this.runTyped(compiled, 'write');
        return Number(result.numAffectedRows ?? 0n);
      }
      const plan = this.wherePlan(where, meta);
      const shape = this.shape(`updateMany|${columns.join(',')}|${plan.key}`, args.length + plan.values.length, () => {
        const w = sqlNames;
        const query = w.q.updateTable(w.table).set(this.bumpVersion(w, setObject(w, columns, updatedAt)));
        return this.deletedFilter(w, applyWhere(w, query, plan, args.length), 'live');
      });
      const secrets = [...this.secretsIn(columns, args), ...plan.secrets];
      const result = await this.runShape(shape, [...args, ...plan.values], 'write', secrets);
      return Number(result.numAffectedRows ?? 0n);
    });
  }

  /**
   * Inserts the row, or on a conflict over `conflictColumns` updates the existing row with the
   * other given values; returns the row as stored.
   * @throws ValidationError when a conflict column is not given or not a column; the mapped
   * constraint errors.
   */
  async upsert(values: NewRowOf<DB, TB>, conflictColumns: readonly ColumnOf<DB, TB>[]): Promise<RowOf<DB, TB>> {
    return this.guarded(async ({ meta, sqlNames: w }) => {
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
      const version = this.options.version;
      // the version is the repository's to bump on the update branch, never taken from the values
      const others = columns.filter((c) => !conflict.includes(c) && c !== version);
      const shape = this.shape(`upsert|${columns.join(',')}|${conflict.join(',')}`, args.length, () =>
        returnRows(
          w,
          w.q
            .insertInto(w.table)
            .values(Object.fromEntries(columns.map((c, i) => [w.col(c), arg(i)])))
            .onConflict((oc) =>
              oc.columns(conflict.map((c) => w.col(c))).doUpdateSet((eb) => {
                const set: Record<string, unknown> = {};
                // with nothing else to change, touch a conflict column so RETURNING still yields the row
                for (const c of others.length > 0 ? others : [conflict[0]!])
                  set[w.col(c)] = eb.ref(`excluded.${w.col(c)}`);
                if (updatedAt) set[w.col(updatedAt)] = sql`now()`;
                // the row's own version, qualified: `excluded` has the column too
                return this.bumpVersion(w, set, `${w.table}.`);
              }),
            ),
        ),
      );
      const rows = (await this.runShape(shape, args, 'write', this.secretsIn(columns, args))).rows;
      return rows[0] as RowOf<DB, TB>;
    });
  }

  /**
   * Deletes a row: soft (marks it) when the repository has softDelete, else for real. True when a
   * row changed; false when there was none (or it was already deleted).
   * @throws ValidationError for a bad id; the mapped constraint errors (a foreign key, say).
   */
  async delete(id: KeyOf<DB, TB, PK>): Promise<boolean> {
    return this.guarded(async (loaded) => {
      const { meta, sqlNames: w } = loaded;
      const key = this.keyOf(loaded, 'delete');
      const args = keyArguments(id, key);
      const shape = this.options.softDelete
        ? this.shape('softDelete', key.length, () =>
            this.deletedFilter(
              w,
              whereKey(w, w.q.updateTable(w.table).set(this.softDeleteSet(w, meta, 'delete')), key, 0),
              'live',
            ),
          )
        : this.shape('delete', key.length, () => whereKey(w, w.q.deleteFrom(w.table), key, 0));
      const result = await this.runShape(shape, args);
      return (result.numAffectedRows ?? 0n) > 0n;
    });
  }

  /**
   * Undoes a soft delete. True when a row changed; false when there was no deleted row.
   * @throws DatabaseError when the repository has no softDelete; ValidationError for a bad id.
   */
  async restore(id: KeyOf<DB, TB, PK>): Promise<boolean> {
    if (!this.options.softDelete) throw new DatabaseError(`restore() needs softDelete on the ${this.table} repository`);
    return this.guarded(async (loaded) => {
      const { meta, sqlNames: w } = loaded;
      const key = this.keyOf(loaded, 'restore');
      const args = keyArguments(id, key);
      const shape = this.shape('restore', key.length, () =>
        this.deletedFilter(
          w,
          whereKey(w, w.q.updateTable(w.table).set(this.softDeleteSet(w, meta, 'restore')), key, 0),
          'deleted',
        ),
      );
      const result = await this.runShape(shape, args);
      return (result.numAffectedRows ?? 0n) > 0n;
    });
  }

  /**
   * Adds `by` (default 1) to a numeric column, atomically in SQL; returns the row, or undefined.
   * @throws ValidationError for a bad id, a column that is not a column, or `by` not a finite number.
   */
  async increment(
    id: KeyOf<DB, TB, PK>,
    column: NumericColumnOf<DB, TB>,
    by: number = 1,
  ): Promise<RowOf<DB, TB> | undefined> {
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new ValidationError('by', 'type', 'by must be a finite number');
    }
    return this.guarded(async (loaded) => {
      const { meta, sqlNames: w } = loaded;
      const key = this.keyOf(loaded, 'increment');
      const args = keyArguments(id, key);
      const info = checkColumn(this.table, column, meta, 'column');
      if (info.generatedAlways) {
        throw new ValidationError(column, 'generated', `${column} is generated by the database and cannot be written`);
      }
      if (!isNumericType(info.type)) {
        throw new ValidationError(column, 'type', `${column} is not a numeric column (it is ${info.type})`);
      }
      if (isIntegerType(info.type) && !Number.isSafeInteger(by)) {
        throw new ValidationError('by', 'type', `by must be an integer for ${column} (${info.type})`);
      }
      if (column === this.options.version) {
        throw new ValidationError(column, 'managed', `${column} is the version column: the repository bumps it`);
      }
      const updatedAt = this.updatedAtColumn(meta, [column]);
      const shape = this.shape(`increment|${column}|${updatedAt ?? ''}`, 1 + key.length, () => {
        const set: Record<string, unknown> = { [w.col(column)]: sql`${sql.ref(w.col(column))} + ${arg(0)}` };
        if (updatedAt) set[w.col(updatedAt)] = sql`now()`;
        const query = whereKey(w, w.q.updateTable(w.table).set(this.bumpVersion(w, set)), key, 1);
        return returnRows(w, this.deletedFilter(w, query, 'live'));
      });
      const rows = (await this.runShape(shape, [by, ...args])).rows;
      return rows[0] as RowOf<DB, TB> | undefined;
    });
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

  // ---- internals -------------------------------------------------------------------------

  /** The key cursors are signed with: the option's, else the Database's DB_CURSOR_SECRET, else none. */
  private cursorSecret(): string | undefined {
    return this.options.cursorSecret ?? this.context?.config.cursorSecret;
  }

  /**
   * The key columns, for a method that needs them.
   * @throws ValidationError (field `primaryKey`) when the table has no primary key and the
   * options name none.
   */
  private keyOf(loaded: Loaded, method: string): readonly ColumnMeta[] {
    if (loaded.key) return loaded.key;
    throw new ValidationError(
      'primaryKey',
      'required',
      `${this.table} has no primary key, so ${method} cannot name a row: set the primaryKey option to a unique set of NOT NULL columns, or use the methods that take a where`,
    );
  }

  /** Where calls run: the bound transaction, else the ambient one of withTransaction, else the pool. */
  protected executor(): Kysely<DB> {
    return this.bound ?? currentTransaction(this.db) ?? this.db;
  }

  /** The table's columns and the SQL-names writer, read from the catalog once per Database. */
  private async load(): Promise<Loaded> {
    const meta = await tableMetadata(this.executor() as Kysely<unknown>, this.db, this.table, this.naming);
    checkServedSchema(this.table, meta.schema, this.options.schemas);
    const key = resolveKey(this.table, this.keyOption, meta);
    checkOptionColumns(this.table, this.options, meta);
    if (this.state.loaded?.meta !== meta) this.state.shapes.clear();
    const sqlNames = sqlNamesWriter(this.db.withoutPlugins() as unknown as AnyKysely, this.table, meta, this.naming);
    const secret =
      this.secretColumns.size === 0
        ? undefined
        : {
            columns: [...meta.columns.values()].map((c) => c.dbName),
            secret: new Set([...this.secretColumns].map((c) => meta.columns.get(c)!.dbName)),
          };
    this.state.loaded = { meta, sqlNames, key, secret };
    return this.state.loaded;
  }

  /** What was read of the table, unless it is known to have changed since. */
  private current(): Loaded | undefined {
    const loaded = this.state.loaded;
    return loaded !== undefined && !loaded.meta.stale ? loaded : undefined;
  }

  /**
   * Runs a call with what is known of the table. When the call fails because the table changed
   * under it — a column it does not know or a value that does not fit a column's known type
   * (ValidationError, at most once a second per table), a column the server no longer has
   * (42703) or a row type that changed (0A000) — reads the catalog again and, when the table did
   * change and nothing can have been half-done (the call had not run, or ran outside a
   * transaction and failed whole), runs the call once more.
   * @throws what the call throws.
   */
  private async guarded<T>(call: (loaded: Loaded) => Promise<T>): Promise<T> {
    const loaded = this.current() ?? (await this.load());
    try {
      return await call(loaded);
    } catch (error) {
      if (loaded.secret) maskSecretColumns(error, loaded.secret);
      if (!(await this.reloadedAfter(error, loaded))) throw error;
      const again = this.current() ?? (await this.load());
      try {
        return await call(again);
      } catch (retryError) {
        if (again.secret) maskSecretColumns(retryError, again.secret);
        throw retryError;
      }
    }
  }

  /** The values of `args` bound to secret columns (`columns[i]` holds `args[i]`). */
  private secretsIn(columns: readonly string[], args: readonly unknown[]): readonly string[] {
    if (this.secretColumns.size === 0) return NO_SECRETS;
    const found: string[] = [];
    columns.forEach((column, i) => {
      if (!this.secretColumns.has(column)) return;
      const value = args[i];
      if (typeof value === 'string') found.push(value);
      else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') found.push(item);
    });
    return found;
  }

  /** Whether `error` showed the table changed, and it was read again, so the call may run once more. */
  private async reloadedAfter(error: unknown, loaded: Loaded): Promise<boolean> {
    const meta = loaded.meta;
    if (error instanceof ValidationError) {
      if (error.rule !== 'column' && error.rule !== 'type') return false;
      // input can name unknown columns at will: a refresh follows a refresh only a second later
      if (meta.refreshed && performance.now() - meta.readAt < REFRESH_INTERVAL_MS) return false;
    } else if (!(error instanceof DatabaseError) || (error.code !== '42703' && error.code !== '0A000')) {
      return false;
    }
    invalidateTableMetadata(this.db, this.table, meta);
    if (!(error instanceof ValidationError) && (this.bound ?? currentTransaction(this.db))) return false;
    const fresh = await this.load();
    fresh.meta.refreshed = true;
    return columnsSignature(fresh.meta) !== columnsSignature(meta);
  }

  /** A writer with TypeScript names, through the Kysely instance's plugins (for where callbacks). */
  private tsNames(): Writer {
    return { q: this.db as unknown as AnyKysely, table: this.table, col: (name) => name, selection: undefined };
  }

  /** The compiled shape for `key`, built the first time. */
  private shape(key: string, arity: number, build: () => Compilable): QueryShape {
    // this repository's own map first (short keys, no string building on the hot path), then
    // the Database's, so repositories made per request share compiled shapes
    let shape = this.state.shapes.get(key);
    if (!shape) {
      // per description of the table: a table read again after a change gets shapes of its own
      shape = shapes.get(this.state.loaded!.meta, `${this.scope}|${key}`, () =>
        compileShape(build, arity, this.prepare),
      );
      this.state.shapes.set(key, shape);
    }
    return shape;
  }

  /**
   * Runs a shape: in the bound or ambient transaction when there is one, else straight on the
   * pool (the Database's fast path), else through Kysely.
   */
  private runShape(
    shape: QueryShape,
    args: readonly unknown[],
    intent: StatementIntent = 'write',
    secrets: readonly string[] = NO_SECRETS,
  ): Promise<QueryResult<Row>> {
    const compiled = bindShape<Row>(shape, args);
    markSecretParameters(compiled.parameters, secrets);
    return this.runCompiled(compiled, intent);
  }

  /** Runs a statement written with SQL names, as runShape does. */
  private runCompiled(compiled: CompiledQuery<Row>, intent: StatementIntent = 'write'): Promise<QueryResult<Row>> {
    const trx = this.bound ?? currentTransaction(this.db);
    if (trx) {
      const executeIn = this.context?.executeIn;
      // never through the plugins' result transforms: the CamelCasePlugin would rename the keys
      // inside json values too
      return executeIn ? executeIn<Row>(trx as Kysely<unknown>, compiled) : trx.withoutPlugins().executeQuery(compiled);
    }
    const execute = this.context?.execute;
    return execute ? execute<Row>(compiled, intent) : this.db.withoutPlugins().executeQuery(compiled);
  }

  /**
   * Runs a statement compiled through the Kysely instance's plugins (a where callback speaks
   * TypeScript names), as runCompiled does; renames the columns of its rows to TypeScript names,
   * at the top level only, as the CamelCasePlugin would without touching json values.
   */
  private async runTyped(compiled: CompiledQuery<Row>, intent: StatementIntent): Promise<QueryResult<Row>> {
    const result = await this.runCompiled(compiled, intent);
    if (this.naming === IDENTITY_NAMING || result.rows.length === 0) return result;
    const names = this.state.tsNames;
    const rows = result.rows.map((row) => {
      const renamed: Row = {};
      for (const key of Object.keys(row)) {
        let name = names.get(key);
        if (name === undefined) {
          name = this.naming.toTs(key);
          names.set(key, name);
        }
        renamed[name] = row[key];
      }
      return renamed;
    });
    return { ...result, rows };
  }

  /**
   * A select with `where`, the soft-delete filter, `columns` (default: every column) and `extend`
   * (order, limit…): a cached shape, unless `where` is a callback (then written with TypeScript
   * names through the plugins). `args` are the arguments `extend` uses after the where values.
   */
  private async select(
    where: Where<DB, TB> | undefined,
    mode: DeletedMode,
    key: string,
    parts: {
      columns?: (w: Writer, q: FromBuilder) => SelectBuilder;
      extend?: (w: Writer, q: SelectBuilder, base: number) => SelectBuilder;
      args?: readonly unknown[];
    },
  ): Promise<Row[]> {
    const { meta, sqlNames } = this.current() ?? (await this.load());
    const columns = parts.columns ?? selectRows;
    const extend = parts.extend ?? ((_w: Writer, q: SelectBuilder) => q);
    const args = parts.args ?? [];
    if (typeof where === 'function') {
      const w = this.tsNames();
      const compiled = fromCallback(() =>
        extend(
          w,
          this.deletedFilter(w, columns(w, w.q.selectFrom(w.table)).where(where as WhereFn), mode),
          0,
        ).compile(),
      );
      const bound = bindCompiled(compiled, args);
      return (await this.runTyped(bound, 'read')).rows;
    }
    const plan = this.wherePlan(where, meta);
    const arity = plan.values.length + args.length;
    const shape = this.shape(`${key}|${mode}|${plan.key}`, arity, () => {
      const w = sqlNames;
      const query = this.deletedFilter(w, applyWhere(w, columns(w, w.q.selectFrom(w.table)), plan, 0), mode);
      return extend(w, query, plan.values.length);
    });
    const bound = bindShape<Row>(shape, [...plan.values, ...args]);
    markSecretParameters(bound.parameters, plan.secrets);
    return (await this.runCompiled(bound, 'read')).rows;
  }

  /** A decoded cursor whose every value fits its sort column; else a ValidationError (field `cursor`). */
  private checkCursor(values: CursorValue[], columns: readonly SortColumn[], meta: TableMeta): CursorValue[] {
    values.forEach((value, i) => {
      const column = meta.columns.get(columns[i]![0])!;
      try {
        checkColumnValue(column, value, 'cursor');
      } catch (cause) {
        throw new ValidationError('cursor', 'format', 'Invalid cursor: its values do not fit the sort columns', {
          cause,
        });
      }
    });
    return values;
  }

  /**
   * Splits a where object into a shape key and values, checking every key is a column and every
   * value is given. `undefined` (an optional where left out) and allRows mean no condition.
   */
  private wherePlan(where: Where<DB, TB> | undefined, meta: TableMeta): WherePlan {
    if (where === undefined || where === allRows) return { key: '', entries: [], values: [], secrets: NO_SECRETS };
    const object = readObject(where, 'where', 'refuse');
    if (object.length === 0) {
      throw new ValidationError('where', 'empty', 'where names no column: to mean every row, pass allRows');
    }
    const entries: [string, 'eq' | 'null' | 'any' | 'true' | 'false'][] = [];
    const values: unknown[] = [];
    for (const [column, value] of object) {
      const info = checkColumn(this.table, column, meta, column);
      if (value === undefined) {
        throw new ValidationError(
          column,
          'required',
          `${column} is undefined in where: give a value (null for IS NULL) or leave the key out`,
        );
      }
      if (value === null) entries.push([column, 'null']);
      else if (Array.isArray(value)) {
        for (const item of value as unknown[]) checkColumnValue(info, item, column);
        entries.push([column, 'any']);
        values.push(value);
      } else if (typeof value === 'boolean' && info.type === 'boolean') {
        // a literal, not a parameter: a prepared statement's generic plan can then use partial
        // indexes such as `where is_active` (two shapes at most)
        entries.push([column, value ? 'true' : 'false']);
      } else {
        checkColumnValue(info, value, column);
        entries.push([column, 'eq']);
        values.push(value);
      }
    }
    const secrets =
      this.secretColumns.size === 0
        ? NO_SECRETS
        : this.secretsIn(
            object.map(([column]) => column),
            object.map(([, value]) => value),
          );
    return { key: entries.map(([c, k]) => `${c}:${k}`).join(','), entries, values, secrets };
  }

  private deletedFilter<Q extends Filterable>(w: Writer, q: Q, mode: DeletedMode): Q {
    const soft = this.options.softDelete;
    if (!soft || mode === 'all') return q;
    const column = w.col(soft.column);
    const filtered: Filterable =
      soft.kind === 'boolean'
        ? q.where(column, '=', sql.lit(mode === 'live'))
        : q.where(column, mode === 'live' ? 'is' : 'is not', null);
    return filtered as Q;
  }

  private softDeleteSet(w: Writer, meta: TableMeta, action: 'delete' | 'restore'): Record<string, unknown> {
    const soft = this.options.softDelete!;
    const set: Record<string, unknown> =
      soft.kind === 'boolean'
        ? { [w.col(soft.column)]: sql.lit(action === 'restore') }
        : { [w.col(soft.column)]: action === 'delete' ? sql`now()` : null };
    const updatedAt = this.updatedAtColumn(meta, [soft.column]);
    if (updatedAt) set[w.col(updatedAt)] = sql`now()`;
    return this.bumpVersion(w, set);
  }

  /** `set` with the version column incremented, when the repository has one: every change bumps it. */
  private bumpVersion(w: Writer, set: Record<string, unknown>, qualifier = ''): Record<string, unknown> {
    const version = this.options.version;
    if (version !== undefined) set[w.col(version)] = sql`${sql.ref(`${qualifier}${w.col(version)}`)} + 1`;
    return set;
  }

  private updatedAtColumn(meta: TableMeta, changed: readonly string[]): string | undefined {
    const option = this.options.updatedAt;
    if (option === false) return undefined;
    const column = option ?? 'updatedAt';
    if (!meta.columns.has(column)) {
      if (option !== undefined) checkColumn(this.table, option, meta, 'updatedAt');
      return undefined;
    }
    return changed.includes(column) ? undefined : column;
  }

  /** The columns and values of an insert or update object, checked against the table. */
  private writable(values: unknown, meta: TableMeta, field: string, versionColumn?: string): [string[], unknown[]] {
    const columns: string[] = [];
    const args: unknown[] = [];
    for (const [column, value] of readObject(values, field, 'ignore')) {
      if (value === undefined || column === versionColumn) continue;
      const info = checkColumn(this.table, column, meta, column);
      if (info.generatedAlways) {
        throw new ValidationError(column, 'generated', `${column} is generated by the database and cannot be written`);
      }
      checkColumnValue(info, value, column);
      columns.push(column);
      args.push(value);
    }
    return [columns, args];
  }

  /** The sort columns (validated) plus the key's columns as tie-breakers, and their shape key. */
  private orderColumns(
    orderBy: OrderBy<DB, TB> | undefined,
    { meta, key }: Loaded,
  ): { columns: SortColumn[]; key: string } {
    const columns: SortColumn[] = [];
    const sortColumn = (column: string, direction: Direction): SortColumn => {
      const info = meta.columns.get(column)!;
      return [column, direction, temporalKind(info.type), info.nullable];
    };
    if (orderBy !== undefined) {
      const list = readOrder(orderBy);
      for (const item of list) {
        if (!Array.isArray(item) || item.length !== 2) {
          throw new ValidationError('orderBy', 'type', 'orderBy must be a column or [column, direction] pairs');
        }
        const [column, direction] = item as [unknown, unknown];
        checkColumn(this.table, column, meta, 'orderBy');
        if (direction !== 'asc' && direction !== 'desc') {
          throw new ValidationError('orderBy', 'direction', "an order direction must be 'asc' or 'desc'");
        }
        if (!columns.some(([c]) => c === column)) columns.push(sortColumn(column as string, direction));
      }
    }
    // the key's columns break ties, so the order is total and a keyset page is exact
    const direction = columns[columns.length - 1]?.[1] ?? 'asc';
    for (const { name } of key ?? []) {
      if (!columns.some(([c]) => c === name)) columns.push(sortColumn(name, direction));
    }
    return { columns, key: columns.map(([c, d]) => `${c}:${d}`).join(',') };
  }

  /** INSERT … SELECT FROM json_populate_recordset($1): one parameter however many rows. */
  private async insertJson(
    w: Writer,
    columns: readonly string[],
    rows: readonly unknown[][],
    returning: boolean,
    secrets: readonly string[],
  ): Promise<Inserted> {
    const names = columns.map((c) => w.col(c));
    const dateText = this.context?.dateText ?? ((date: Date) => date.toISOString());
    const json = JSON.stringify(
      rows.map((row) =>
        Object.fromEntries(row.map((value, i): [string, unknown] => [names[i]!, jsonValue(value, dateText)])),
      ),
    );
    const shape = this.shape(`createManyJson|${columns.join(',')}|${returning}`, 1, () => {
      const source = sql`json_populate_recordset(null::${sql.table(w.table)}, ${arg(0)}::json)`;
      const insert = w.q
        .insertInto(w.table)
        .columns(names)
        .expression(w.q.selectFrom(source.as('r')).select(names.map((c) => `r.${c}`)));
      return returning ? returnRows(w, insert) : insert;
    });
    return inserted(await this.runShape(shape, [json], 'write', secrets));
  }

  /** One row of defaults (INSERT … DEFAULT VALUES). */
  private async insertDefaults(w: Writer, returning: boolean): Promise<Inserted> {
    const shape = this.shape(`createDefaults|${returning}`, 0, () => {
      const insert = w.q.insertInto(w.table).defaultValues();
      return returning ? returnRows(w, insert) : insert;
    });
    return inserted(await this.runShape(shape, []));
  }

  /**
   * A multi-row INSERT … VALUES, for values JSON cannot carry (bytea, arrays, jsonb) and for rows
   * naming different columns (DEFAULT where a row has none).
   */
  private async insertValues(
    w: Writer,
    rows: readonly { readonly columns: readonly string[]; readonly values: readonly unknown[] }[],
    returning: boolean,
    secrets: readonly string[],
  ): Promise<Inserted> {
    if (rows.every(({ columns }) => columns.length === 0)) {
      // a slice of rows that name nothing: VALUES needs a column
      const all: Inserted = { rows: [], count: 0 };
      for (const _row of rows) {
        const one = await this.insertDefaults(w, returning);
        all.rows.push(...one.rows);
        all.count += one.count;
      }
      return all;
    }
    const insert = w.q
      .insertInto(w.table)
      .values(rows.map(({ columns, values }) => Object.fromEntries(columns.map((c, i) => [w.col(c), values[i]]))));
    const compiled = (returning ? returnRows(w, insert) : insert).compile() as CompiledQuery<Row>;
    markSecretParameters(compiled.parameters, secrets);
    return inserted(await this.runCompiled(compiled));
  }
}

/** What an insert statement of createMany wrote: its rows (when returned) and how many. */
interface Inserted {
  readonly rows: Row[];
  count: number;
}

/** An insert statement's result as createMany counts it. */
function inserted(result: QueryResult<Row>): Inserted {
  return { rows: result.rows, count: Number(result.numAffectedRows ?? BigInt(result.rows.length)) };
}

/** What a repository reads from the catalog once: the table's columns, and the SQL-names writer. */
interface Loaded {
  readonly meta: TableMeta;
  readonly sqlNames: Writer;
  /** The key columns, in the key's order; undefined when the table has none (and none was named). */
  readonly key: readonly ColumnMeta[] | undefined;
  /** The table's columns and the secret ones among them, when there are secret ones. */
  readonly secret: SecretColumns | undefined;
}

/** The table's columns and their types, to tell whether it changed. */
function columnsSignature(meta: TableMeta): string {
  return [...meta.columns.values()].map((c) => `${c.dbName}:${c.type}:${c.nullable}:${c.generatedAlways}`).join(',');
}

/**
 * The error to report when a page's query failed while its count ran beside it: in a transaction
 * both share one connection, so when the count (sent first) failed, the page only saw the
 * transaction aborted (25P02); the count's own failure is then the one that says why.
 */
async function firstFailure(pageError: unknown, total: Promise<number> | undefined): Promise<unknown> {
  if (total === undefined || !(pageError instanceof DatabaseError) || pageError.code !== '25P02') return pageError;
  try {
    await total;
    return pageError;
  } catch (countError) {
    return countError;
  }
}

/** The alias of findAndCount's window count (camelCase, so every plugin leaves it alone). */
const TOTAL = 'krTotalCount';

/**
 * How a statement names things: SQL names with camelCase aliases, compiled without plugins
 * (cached shapes, whose rows need no mapping), or TypeScript names through the Kysely instance's
 * plugins (statements with a where callback, which speaks TypeScript names).
 */
interface Writer {
  readonly q: AnyKysely;
  readonly table: string;
  /** A column (TypeScript name) as this writer names it. */
  col(name: string): string;
  /** The select list; undefined selects every column as the plugins name it. */
  readonly selection: readonly AliasedSelection[] | undefined;
}

type AliasedSelection = string | ReturnType<ReturnType<typeof sql.ref>['as']>;
type FromBuilder = SelectQueryBuilder<AnyDB, string, object>;
type SelectBuilder = SelectQueryBuilder<AnyDB, string, Row>;
type Filterable = WhereInterface<AnyDB, string>;
interface Returning {
  returning(selection: readonly AliasedSelection[]): Compilable;
  returningAll(): Compilable;
}

/** The SQL-names writer for a table. */
function sqlNamesWriter(q: AnyKysely, table: string, meta: TableMeta, naming: Naming): Writer {
  const selection = [...meta.columns.values()].map((c) =>
    c.dbName === c.name ? c.dbName : sql.ref(c.dbName).as(c.name),
  );
  return {
    q,
    table: table
      .split('.')
      .map((part) => naming.toDb(part))
      .join('.'),
    col: (name) => meta.columns.get(name)?.dbName ?? name,
    selection,
  };
}

function selectRows(w: Writer, q: FromBuilder): SelectBuilder {
  return w.selection ? q.select(w.selection) : q.selectAll();
}

function returnRows(w: Writer, q: unknown): Compilable {
  const builder = q as Returning;
  return w.selection ? builder.returning(w.selection) : builder.returningAll();
}

function setObject(w: Writer, columns: readonly string[], updatedAt: string | undefined): Record<string, unknown> {
  const set: Record<string, unknown> = Object.fromEntries(columns.map((c, i) => [w.col(c), arg(i)]));
  if (updatedAt) set[w.col(updatedAt)] = sql`now()`;
  return set;
}

function applyWhere<Q extends Filterable>(w: Writer, q: Q, plan: WherePlan, base: number): Q {
  let built: Filterable = q;
  let index = base;
  for (const [column, kind] of plan.entries) {
    const name = w.col(column);
    if (kind === 'null') built = built.where(name, 'is', null);
    else if (kind === 'true' || kind === 'false') built = built.where(name, '=', sql.lit(kind === 'true'));
    else if (kind === 'any') built = built.where(name, '=', sql<unknown>`any(${arg(index++)})`);
    else built = built.where(name, '=', arg(index++));
  }
  return built as Q;
}

/** `q` where every key column equals its argument, the arguments from `base` on. */
function whereKey<Q extends Filterable>(w: Writer, q: Q, key: readonly ColumnMeta[], base: number): Q {
  let built: Filterable = q;
  key.forEach((column, i) => {
    built = built.where(w.col(column.name), '=', arg(base + i));
  });
  return built as Q;
}

function applyOrder(w: Writer, q: SelectBuilder, columns: readonly SortColumn[]): SelectBuilder {
  let built = q;
  for (const [column, direction] of columns) built = built.orderBy(w.col(column), direction);
  return built;
}

/**
 * Rows after the cursor `after` in the order of `columns` (PostgreSQL's: NULLs last ascending,
 * first descending): a row comparison when all directions agree and no column can be NULL (index
 * friendly), else the expanded OR of prefixes, NULL-aware. The cursor's non-NULL values are the
 * arguments from `base` on, in order.
 */
function keysetCondition(
  w: Writer,
  columns: readonly SortColumn[],
  after: readonly CursorValue[],
  base: number,
): Expression<SqlBool> {
  const direction = columns[0]![1];
  if (columns.every(([, d, , nullable]) => d === direction && !nullable) && after.every((v) => v !== null)) {
    const op = direction === 'asc' ? sql`>` : sql`<`;
    const left = sql.join(columns.map(([c]) => sql.ref(w.col(c))));
    const right = sql.join(columns.map((_, i) => sql`${arg(base + i)}`));
    return sql<SqlBool>`(${left}) ${op} (${right})`;
  }
  const argIndex: (number | undefined)[] = [];
  let next = base;
  for (const value of after) argIndex.push(value === null ? undefined : next++);
  const equal = (i: number) => {
    const ref = sql.ref(w.col(columns[i]![0]));
    const index = argIndex[i];
    return index === undefined ? sql`${ref} is null` : sql`${ref} = ${arg(index)}`;
  };
  const branches: RawBuilder<unknown>[] = [];
  columns.forEach(([column, dir, , nullable], i) => {
    const ref = sql.ref(w.col(column));
    const index = argIndex[i];
    let later: RawBuilder<unknown> | undefined;
    if (index === undefined) {
      // after a NULL: nothing ascending (NULLs come last), every non-NULL descending (NULLs come first)
      later = dir === 'desc' ? sql`${ref} is not null` : undefined;
    } else if (dir === 'asc') {
      later = nullable ? sql`(${ref} > ${arg(index)} or ${ref} is null)` : sql`${ref} > ${arg(index)}`;
    } else {
      later = sql`${ref} < ${arg(index)}`;
    }
    if (later) branches.push(sql`(${sql.join([...columns.slice(0, i).map((_, j) => equal(j)), later], sql` and `)})`);
  });
  return branches.length === 0 ? sql<SqlBool>`false` : sql<SqlBool>`(${sql.join(branches, sql` or `)})`;
}

/** The date and time kinds whose cursor values travel as text, by catalog type. */
function temporalKind(type: string): TemporalKind | undefined {
  if (type === 'timestamp with time zone') return 'timestamptz';
  if (type === 'timestamp without time zone') return 'timestamp';
  if (type === 'date') return 'date';
  if (type.startsWith('time')) return 'time';
  return undefined;
}

/**
 * A date or time column as text in one fixed form, whatever the session's DateStyle and TimeZone:
 * timestamps in ISO order with microseconds and the era, timestamptz in UTC; dates as Julian day
 * numbers; infinity as PostgreSQL prints it (the same in every style). `time` prints the same in
 * every style.
 */
function cursorText(column: string, kind: TemporalKind): RawBuilder<string> {
  const ref = sql.ref(column);
  if (kind === 'time') return sql<string>`${ref}::text`;
  // a date as its Julian day number (PostgreSQL reads `J2451545` back as 2000-01-01): to_char would
  // cast it to a timestamp, whose range ends 5.5 million years before the date's
  const format =
    kind === 'timestamptz'
      ? sql`to_char(${ref} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00" BC')`
      : kind === 'timestamp'
        ? sql`to_char(${ref}, 'YYYY-MM-DD HH24:MI:SS.US BC')`
        : sql`'J' || (${ref} - date '2000-01-01' + 2451545)::text`;
  return sql<string>`case when isfinite(${ref}) then ${format} else ${ref}::text end`;
}

/** The primaryKey option as a list of columns (its form is checked by checkOptions). */
function keyOption(option: KeyColumns | undefined): readonly string[] | undefined {
  if (option === undefined) return undefined;
  return typeof option === 'string' ? [option] : [...option];
}

/**
 * The columns that identify a row: the ones the options name, which must be the table's primary
 * key or a unique set of NOT NULL columns (any order; on a view or a foreign table, which cannot
 * declare keys, any columns), else the table's primary key; undefined when the table has none
 * and none was named.
 * @throws ValidationError (field `primaryKey`) naming the table when the option is no such set.
 */
function resolveKey(
  table: string,
  option: readonly string[] | undefined,
  meta: TableMeta,
): readonly ColumnMeta[] | undefined {
  if (option === undefined) {
    return meta.primaryKey.length === 0 ? undefined : meta.primaryKey.map((name) => meta.columns.get(name)!);
  }
  for (const name of option) {
    if (!meta.columns.has(name)) {
      throw new ValidationError('primaryKey', 'column', `primaryKey: ${name} is not a column of ${table}`);
    }
  }
  const same = (key: readonly string[]): boolean =>
    key.length === option.length && key.every((name) => option.includes(name));
  // a view or a foreign table cannot declare a key: the option is taken at its word there
  if (meta.keysDeclared && !meta.uniqueKeys.some(same)) {
    const actual =
      meta.primaryKey.length > 0 ? `its primary key is (${meta.primaryKey.join(', ')})` : 'it has no primary key';
    throw new ValidationError(
      'primaryKey',
      'key',
      `primaryKey (${option.join(', ')}) does not identify a row of ${table}: ${actual}; name it, or the NOT NULL columns of a unique index`,
    );
  }
  return option.map((name) => meta.columns.get(name)!);
}

/**
 * The options' form, before anything is read.
 * @throws ValidationError naming the option.
 */
function checkOptions(table: unknown, options: LooseOptions): void {
  const bad = (field: string, allowed: string): never => {
    throw new ValidationError(field, 'option', `${field} must be ${allowed}`);
  };
  if (typeof table !== 'string' || table === '') bad('table', 'a table name');
  if (typeof options !== 'object' || options === null) bad('options', 'an object');
  const name = (value: unknown): boolean => typeof value === 'string' && value !== '';
  const names = (value: unknown): boolean => Array.isArray(value) && value.every(name);
  const key: unknown = options.primaryKey;
  if (
    key !== undefined &&
    !name(key) &&
    !(
      names(key) &&
      (key as readonly string[]).length > 0 &&
      new Set(key as readonly string[]).size === (key as readonly string[]).length
    )
  ) {
    bad('primaryKey', 'a column name or a list of distinct column names');
  }
  if (options.version !== undefined && !name(options.version)) bad('version', 'a column name');
  if (options.updatedAt !== undefined && options.updatedAt !== false && !name(options.updatedAt)) {
    bad('updatedAt', 'a column name or false');
  }
  const soft = options.softDelete;
  if (soft !== undefined) {
    if (typeof soft !== 'object' || soft === null) bad('softDelete', 'an object { column, kind }');
    if (!name(soft.column)) bad('softDelete.column', 'a column name');
    if (soft.kind !== 'timestamp' && soft.kind !== 'boolean') bad('softDelete.kind', "'timestamp' or 'boolean'");
  }
  if (options.secretColumns !== undefined && !names(options.secretColumns))
    bad('secretColumns', 'a list of column names');
  if (options.schemas !== undefined && !names(options.schemas)) bad('schemas', 'a list of schema names');
  if (
    options.cursorSecret !== undefined &&
    (typeof options.cursorSecret !== 'string' || options.cursorSecret.length < MIN_CURSOR_SECRET_LENGTH)
  ) {
    bad('cursorSecret', `a string of at least ${MIN_CURSOR_SECRET_LENGTH} characters`);
  }
  for (const flagName of ['prepare', 'camelCase'] as const) {
    if (options[flagName] !== undefined && typeof options[flagName] !== 'boolean') bad(flagName, 'true or false');
  }
}

/**
 * The options' columns against the table: the soft-delete column of its kind's type, an integer
 * version column, secret columns that exist.
 * @throws ValidationError naming the option.
 */
function checkOptionColumns(table: string, options: LooseOptions, meta: TableMeta): void {
  const column = (field: string, name: string): ColumnMeta => {
    const info = meta.columns.get(name);
    if (!info) throw new ValidationError(field, 'column', `${field}: ${name} is not a column of ${table}`);
    return info;
  };
  const soft = options.softDelete;
  if (soft) {
    const { type } = column('softDelete.column', soft.column);
    const fits = soft.kind === 'boolean' ? type === 'boolean' : type === 'date' || type.startsWith('timestamp');
    if (!fits) {
      throw new ValidationError(
        'softDelete.kind',
        'type',
        `softDelete kind '${soft.kind}' needs a ${soft.kind === 'boolean' ? 'boolean' : 'timestamp'} column; ${soft.column} is ${type}`,
      );
    }
  }
  if (options.version !== undefined) {
    const { type } = column('version', options.version);
    if (!isIntegerType(type)) {
      throw new ValidationError(
        'version',
        'type',
        `the version column ${options.version} must be an integer column; it is ${type}`,
      );
    }
  }
  for (const name of options.secretColumns ?? []) column('secretColumns', name);
}

/**
 * A statement built with a where callback of the caller's.
 * @throws ValidationError (field `where`) when building it throws: the callback did not return
 * an expression, or threw (its error is the cause).
 */
function fromCallback<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof DatabaseError) throw error;
    throw new ValidationError('where', 'callback', 'the where callback must return a Kysely expression', {
      cause: error,
    });
  }
}

/**
 * An orderBy as a list, read once: each pair copied (a Proxy or a throwing getter is refused).
 * @throws ValidationError (field `orderBy`) when it cannot be read.
 */
function readOrder(orderBy: unknown): readonly unknown[] {
  try {
    if (!Array.isArray(orderBy)) return [[orderBy, 'asc']];
    return Array.from(orderBy as unknown[], (item) => (Array.isArray(item) ? Array.from(item as unknown[]) : item));
  } catch (cause) {
    throw new ValidationError('orderBy', 'type', 'orderBy could not be read', { cause });
  }
}

/** One value of createMany's row `index`. @throws ValidationError when reading it throws. */
function readKey(row: Row, key: string, index: number): unknown {
  try {
    return row[key];
  } catch (cause) {
    throw new ValidationError(`rows[${index}]`, 'type', `rows[${index}] could not be read`, { cause });
  }
}

/**
 * A where a method cannot do without (findOne, exists, updateMany): left out, it would match every row.
 * @throws ValidationError (field `where`) when it is undefined or null.
 */
function requireWhere(where: unknown): void {
  if (where === undefined || where === null) {
    throw new ValidationError(
      'where',
      'required',
      'where is required: a where object naming a column, a callback, or allRows for every row',
    );
  }
}

function checkColumn(table: string, column: unknown, meta: TableMeta, field: string): ColumnMeta {
  const info = typeof column === 'string' ? meta.columns.get(column) : undefined;
  if (!info) {
    const name = typeof column === 'string' ? column : `a ${typeof column}`;
    throw new ValidationError(field === 'column' ? name : field, 'column', `${name} is not a column of ${table}`);
  }
  return info;
}

/**
 * Whether rows may go through JSON: several, into scalar columns JSON carries as text the column
 * reads as it would read the parameter (no arrays, jsonb, bytea or domains), holding no objects.
 */
function jsonPathAllowed(columns: readonly string[], meta: TableMeta, rows: readonly unknown[][]): boolean {
  if (rows.length < 2) return false;
  for (const column of columns) if (!JSON_PATH_TYPES.has(meta.columns.get(column)?.type ?? '')) return false;
  return rows.every((row) => row.every((v) => v === null || typeof v !== 'object' || v instanceof Date));
}

/** Whether two key lists are the same, in the same order. */
function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A placeholder for a numeric argument (limit, offset), as a bound parameter. */
function numberArg(index: number): Expression<number> {
  return sql<number>`${arg(index)}`;
}
