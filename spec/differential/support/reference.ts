/**
 * The oracle: each Repository operation's documented semantics written with stock Kysely
 * builders on the reference table (a plain Kysely over a plain pg.Pool, no package code).
 * Transactions run on one connection with BEGIN / SAVEPOINT / COMMIT; retries of serialization
 * failures are a plain loop. Only the refusals the package documents are written out here (limit,
 * offset, a generated column, upsert's conflict columns, a missing version, `by`, a key method
 * on a table without a key), as ReferenceValidationError.
 *
 * Keys: the key columns are the Repository's primaryKey option (in its order), else the table's
 * primary key (in its declared order). A key method finds its row with `k1 = $1 and k2 = $2 …`;
 * every sort ends with the key columns not already sorted by, in the last sort column's direction
 * (ascending when there is none). A table without a key has no tie-breaker: its reads are a
 * LoosePage (see there).
 */
import { sql, type Kysely, type SelectQueryBuilder, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { allColumns, isKeyColumn, keyColumns, type TableSpec } from './schema.js';
import type { Filter, OrderSpec } from './ops.js';
import { ReferenceDatabaseError, ReferenceOptimisticLockError, ReferenceValidationError } from './outcome.js';
import {
  whereCallback,
  type DynDB,
  type DynRow,
  type Id,
  type KeyValue,
  type RQuery,
  type RSimple,
  type RWhere,
  type Values,
} from './resolved.js';
import type { Value } from './values.js';

type Mode = 'live' | 'all' | 'deleted';
type Select = SelectQueryBuilder<DynDB, string, DynRow>;
type Update = UpdateQueryBuilder<DynDB, string, string, UpdateResult>;

/** A page as both sides report it. */
export interface PageSummary {
  readonly items: number;
  readonly hasMore: boolean;
  readonly hasCursor: boolean;
  readonly total?: number;
}

/** What a keyset walk (first page, then nextCursor to the end) yields. */
export interface KeysetWalk {
  readonly pages: PageSummary[];
  readonly rows: DynRow[];
  /** Set when the walk went past maxPages (the package kept handing out cursors). */
  readonly runaway?: true;
}

/**
 * Rows read from a table without a key: its order (by the sort columns alone, or none) leaves
 * ties unordered, so the rows at the page's positions are not determined; any rows of the right
 * tie groups are. `all` is every matching row in order, `groups` its tie group (dense_rank over
 * the sort columns, as PostgreSQL compares them), `rows` = all.slice(start, start + limit).
 */
export class LoosePage {
  constructor(
    readonly rows: DynRow[],
    readonly all: DynRow[],
    readonly groups: number[],
    readonly start: number,
  ) {}
}

/** The tie group, selected alongside the rows of a LoosePage. */
const TIE_GROUP = 'diffTieGroup';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function modeOf(filter: Filter): Mode {
  if (filter.onlyDeleted) return 'deleted';
  return filter.withDeleted ? 'all' : 'live';
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ReferenceValidationError(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return limit;
}

function checkOffset(offset: number | undefined): number {
  if (offset === undefined) return 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ReferenceValidationError('offset must be >= 0');
  return offset;
}

/** An invalid Date is a value of the wrong kind: the package refuses it before any SQL. */
function checkValue(column: string, value: unknown): void {
  if (value instanceof Date && Number.isNaN(value.getTime())) {
    throw new ReferenceValidationError(`${column} does not fit its column (an invalid Date)`);
  }
}

function isRetryable(error: unknown): boolean {
  const reason: unknown = error instanceof ReferenceDatabaseError ? (error.cause ?? error) : error;
  const code = typeof reason === 'object' && reason !== null && 'code' in reason ? reason.code : undefined;
  return code === '40001' || code === '40P01';
}

export class ReferenceSide {
  /** Where statements run: the pool, or the connection of the transaction in progress. */
  #q: Kysely<DynDB>;
  #doomed: { cause: unknown } | undefined;
  #savepoints = 0;

  constructor(
    readonly db: Kysely<DynDB>,
    /** The table, as TypeScript names it (the CamelCasePlugin maps it). */
    readonly table: string,
    readonly spec: TableSpec,
  ) {
    this.#q = db;
  }

  /** The key columns (in the Repository's order) and the values `id` gives them. */
  #keyValues(id: Id): [string, KeyValue][] {
    const key = keyColumns(this.spec);
    if (key.length === 0) {
      throw new ReferenceValidationError(`${this.table} has no primary key`, { field: 'primaryKey', rule: 'required' });
    }
    const pairs: [string, KeyValue][] = typeof id !== 'object' ? [[key[0]!.ts, id]] : key.map((k) => [k.ts, id[k.ts]!]);
    for (const [column, value] of pairs) {
      // documented: every key column must be given (a value read back as null cannot name a row)
      if (value === undefined || value === null) throw new ReferenceValidationError(`${column} is required`);
      // documented: a key value is a safe integer, a bigint, a string, a valid Date, or ±Infinity (a
      // date or timestamp read back as infinity goes back as it came); not an invalid Date (a date
      // beyond JS's range, read back)
      const valid =
        typeof value === 'string' ||
        typeof value === 'bigint' ||
        (typeof value === 'number' && (Number.isSafeInteger(value) || Math.abs(value) === Infinity)) ||
        (value instanceof Date && !Number.isNaN(value.getTime()));
      if (!valid) throw new ReferenceValidationError(`${column} must be an integer, a bigint, a string or a Date`);
    }
    return pairs;
  }

  /** `query` where every key column equals its value. */
  #byKey<Q extends Select>(query: Q, key: readonly (readonly [string, KeyValue])[]): Q;
  #byKey<Q extends Update>(query: Q, key: readonly (readonly [string, KeyValue])[]): Q;
  #byKey(query: Select | Update, key: readonly (readonly [string, KeyValue])[]): Select | Update {
    let q = query as Select;
    for (const [column, value] of key) q = q.where(column, '=', value);
    return q;
  }

  // ---- transactions ----------------------------------------------------------------------

  /** BEGIN, fn, COMMIT (or ROLLBACK and rethrow); serialization failures run again, `retries` times. */
  async transaction<T>(
    options: { readonly isolation?: string; readonly retries?: number },
    fn: (attempt: number) => Promise<T>,
  ): Promise<T> {
    const retries = options.retries ?? (options.isolation === 'serializable' ? 3 : 0);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.connection().execute(async (connection) => {
          await sql.raw(`begin${options.isolation ? ` isolation level ${options.isolation}` : ''}`).execute(connection);
          const outer = this.#q;
          this.#q = connection;
          this.#doomed = undefined;
          this.#savepoints = 0;
          try {
            const value = await fn(attempt);
            // set by nested() while fn ran
            const doomed = this.#doomed as { cause: unknown } | undefined;
            if (doomed) {
              throw new ReferenceDatabaseError("a propagation 'required' call failed: the transaction rolled back", {
                cause: doomed.cause,
              });
            }
            await sql`commit`.execute(connection);
            return value;
          } catch (error) {
            await sql`rollback`.execute(connection);
            throw error;
          } finally {
            this.#q = outer;
          }
        });
      } catch (error) {
        if (attempt <= retries && isRetryable(error)) continue;
        throw error;
      }
    }
  }

  /** A savepoint (`nested`), or the enclosing transaction itself (`required`, whose failure dooms it). */
  async nested<T>(propagation: 'nested' | 'required', fn: () => Promise<T>): Promise<T> {
    if (propagation === 'required') {
      try {
        return await fn();
      } catch (error) {
        this.#doomed ??= { cause: error };
        throw error;
      }
    }
    const name = `sp_${++this.#savepoints}`;
    await sql.raw(`savepoint ${name}`).execute(this.#q);
    try {
      const value = await fn();
      await sql.raw(`release savepoint ${name}`).execute(this.#q);
      return value;
    } catch (error) {
      await sql.raw(`rollback to savepoint ${name}`).execute(this.#q);
      throw error;
    }
  }

  // ---- operations ------------------------------------------------------------------------

  /** Runs one operation; returns what the Repository method would. */
  async run(op: RSimple): Promise<unknown> {
    switch (op.op) {
      case 'create':
        return this.create(op.values);
      case 'createMany':
        return this.createMany(op.rows, op.returning);
      case 'update':
        return this.update(op.id, op.readVersion ? await this.withVersion(op.id, op.patch) : op.patch);
      case 'updateMany':
        return this.updateMany(op.where, op.patch);
      case 'upsert':
        return this.upsert(op.values, op.conflict);
      case 'delete':
        return this.delete(op.id);
      case 'restore':
        return this.restore(op.id);
      case 'findById':
        return this.findById(op.id, modeOf(op.filter), op.forUpdate);
      case 'findOne': {
        const rows = await this.findMany({ where: op.where, limit: 1, filter: op.filter });
        return rows instanceof LoosePage ? rows : rows[0];
      }
      case 'findMany':
        return this.findMany(op.query);
      case 'count':
        return this.count(op.where, modeOf(op.filter));
      case 'exists':
        return this.exists(op.where, modeOf(op.filter));
      case 'findAndCount':
        return this.findAndCount(op.query);
      case 'paginateOffset':
        return this.paginateOffset(op.query, op.withTotal);
      case 'paginateKeyset':
        return this.paginateKeyset(op.query, op.withTotal);
      case 'increment':
        return this.increment(op.id, op.column, op.decrement ? -op.by : op.by, op.by);
    }
  }

  async #versionOf(id: Id): Promise<unknown> {
    const version = this.spec.version!.ts;
    const row = await this.#byKey(
      this.#q.selectFrom(this.table).select(version) as Select,
      this.#keyValues(id),
    ).executeTakeFirst();
    return row?.[version];
  }

  /** The patch with the row's version as read now (none when there is no row). */
  async withVersion(id: Id, patch: Values): Promise<Values> {
    if (!this.spec.version) return patch;
    const version = await this.#versionOf(id);
    return version === undefined ? patch : { ...patch, [this.spec.version.ts]: version as Value };
  }

  #deleted<Q extends Select>(query: Q, mode: Mode): Q;
  #deleted<Q extends Update>(query: Q, mode: Mode): Q;
  #deleted(query: Select | Update, mode: Mode): Select | Update {
    const soft = this.spec.softDelete;
    if (!soft || mode === 'all') return query;
    const column = soft.column.ts;
    if (soft.kind === 'boolean') {
      return (query as Select).where(column, '=', mode === 'live');
    }
    return (query as Select).where(column, mode === 'live' ? 'is' : 'is not', null);
  }

  #where<Q extends Select>(query: Q, where: RWhere | undefined): Q;
  #where<Q extends Update>(query: Q, where: RWhere | undefined): Q;
  #where(query: Select | Update, where: RWhere | undefined): Select | Update {
    if (where === undefined) return query;
    let q = query as Select;
    if (where.kind === 'callback') return q.where(whereCallback(where.expr));
    // documented: a where object never matches every row by accident; an empty one, or an
    // undefined value (stock Kysely would compare with NULL), is refused
    if (Object.keys(where.object).length === 0) throw new ReferenceValidationError('where names no column');
    for (const column of Object.keys(where.object)) {
      const value = where.object[column];
      if (value === undefined) throw new ReferenceValidationError(`${column} is undefined in where`);
      for (const item of Array.isArray(value) ? value : [value]) checkValue(column, item);
      if (value === null) q = q.where(column, 'is', null);
      else if (Array.isArray(value))
        q = value.length === 0 ? q.where(sql<boolean>`false`) : q.where(column, 'in', value);
      else q = q.where(column, '=', value);
    }
    return q;
  }

  /** The sort columns without repeats, plus the key as the tie-breaker (in the last column's direction). */
  orderColumns(orderBy: OrderSpec | undefined): [string, 'asc' | 'desc'][] {
    const list: (readonly [string, 'asc' | 'desc'])[] =
      orderBy === undefined ? [] : typeof orderBy === 'string' ? [[orderBy, 'asc']] : [...orderBy];
    const columns: [string, 'asc' | 'desc'][] = [];
    for (const [column, direction] of list) {
      if (!columns.some(([c]) => c === column)) columns.push([column, direction]);
    }
    const direction = columns[columns.length - 1]?.[1] ?? 'asc';
    for (const { ts } of keyColumns(this.spec)) if (!columns.some(([c]) => c === ts)) columns.push([ts, direction]);
    return columns;
  }

  #select(where: RWhere | undefined, mode: Mode): Select {
    return this.#deleted(this.#where(this.#q.selectFrom(this.table).selectAll() as Select, where), mode);
  }

  #ordered(query: Select, orderBy: OrderSpec | undefined): Select {
    let q = query;
    for (const [column, direction] of this.orderColumns(orderBy)) q = q.orderBy(column, direction);
    return q;
  }

  async findById(id: Id, mode: Mode, forUpdate: boolean): Promise<DynRow | undefined> {
    const key = this.#keyValues(id);
    let q = this.#deleted(this.#byKey(this.#q.selectFrom(this.table).selectAll() as Select, key), mode);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }

  async findMany(query: RQuery): Promise<DynRow[] | LoosePage> {
    const limit = checkLimit(query.limit);
    const offset = checkOffset(query.offset);
    const select = this.#select(query.where, modeOf(query.filter));
    if (this.spec.key.length === 0) return this.#loose(select, query.orderBy, offset, limit);
    let q = this.#ordered(select, query.orderBy).limit(limit);
    if (offset > 0) q = q.offset(offset);
    return q.execute();
  }

  /** Every row of `query` (a table without a key) in order, with its tie group, and the page of them. */
  async #loose(query: Select, orderBy: OrderSpec | undefined, offset: number, limit: number): Promise<LoosePage> {
    const order = this.orderColumns(orderBy);
    const over =
      order.length === 0
        ? sql<string>`dense_rank() over ()`
        : sql<string>`dense_rank() over (order by ${sql.join(order.map(([c, d]) => sql`${sql.ref(c)} ${sql.raw(d)}`))})`;
    const rows = await this.#ordered(query.select(over.as(TIE_GROUP)), orderBy).execute();
    const groups = rows.map((row) => Number(row[TIE_GROUP]));
    const all = rows.map((row) => Object.fromEntries(Object.entries(row).filter(([c]) => c !== TIE_GROUP)));
    return new LoosePage(all.slice(offset, offset + limit), all, groups, offset);
  }

  async count(where: RWhere | undefined, mode: Mode): Promise<number> {
    const q = this.#deleted(
      this.#where(this.#q.selectFrom(this.table).select((eb) => eb.fn.countAll().as('n')) as Select, where),
      mode,
    );
    const row = await q.executeTakeFirstOrThrow();
    return Number(row['n']);
  }

  async exists(where: RWhere, mode: Mode): Promise<boolean> {
    const q = this.#deleted(
      this.#where(this.#q.selectFrom(this.table).select(sql<number>`1`.as('one')) as Select, where),
      mode,
    );
    return (await q.limit(1).execute()).length > 0;
  }

  async findAndCount(query: RQuery): Promise<{ items: DynRow[] | LoosePage; total: number }> {
    const items = await this.findMany(query);
    return { items, total: await this.count(query.where, modeOf(query.filter)) };
  }

  async paginateOffset(
    query: RQuery,
    withTotal: boolean,
  ): Promise<{ items: DynRow[] | LoosePage; nextCursor: null; hasMore: boolean; total?: number }> {
    const limit = checkLimit(query.limit);
    const offset = checkOffset(query.offset);
    const select = this.#select(query.where, modeOf(query.filter));
    let page: { items: DynRow[] | LoosePage; nextCursor: null; hasMore: boolean };
    if (this.spec.key.length === 0) {
      const loose = await this.#loose(select, query.orderBy, offset, limit);
      page = { items: loose, nextCursor: null, hasMore: loose.all.length > offset + limit };
    } else {
      const rows = await this.#ordered(select, query.orderBy)
        .limit(limit + 1)
        .offset(offset)
        .execute();
      page = { items: rows.slice(0, limit), nextCursor: null, hasMore: rows.length > limit };
    }
    return withTotal ? { ...page, total: await this.count(query.where, modeOf(query.filter)) } : page;
  }

  /**
   * Keyset pages, computed from the full ordered list (sort columns, then the key; PostgreSQL's
   * NULLS LAST for asc and NULLS FIRST for desc): the rows strictly after the previous page's last
   * row, so a page that repeats or skips a row cannot match.
   */
  async paginateKeyset(query: RQuery, withTotal: boolean): Promise<KeysetWalk> {
    const limit = checkLimit(query.limit);
    // documented: without a key, ties would let a keyset page skip or repeat rows
    if (this.spec.key.length === 0) {
      throw new ReferenceValidationError(`${this.table} has no primary key: keyset pages need one`, {
        field: 'primaryKey',
        rule: 'required',
      });
    }
    const all = await this.#ordered(this.#select(query.where, modeOf(query.filter)), query.orderBy).execute();
    const total = withTotal ? await this.count(query.where, modeOf(query.filter)) : undefined;
    const pages: PageSummary[] = [];
    for (let start = 0; start === 0 || start < all.length; start += limit) {
      const items = Math.min(limit, Math.max(0, all.length - start));
      const last = start + limit >= all.length;
      pages.push({ items, hasMore: !last, hasCursor: !last, ...(total === undefined ? {} : { total }) });
    }
    return { pages, rows: all };
  }

  /**
   * The write rules the package documents: generated-always columns are refused, and so is a
   * value of the wrong kind, which here can only be an invalid Date (pg reads dates beyond the
   * range of JS Dates as one).
   */
  #checkWritable(values: Values): Values {
    const out: Values = {};
    for (const [column, value] of Object.entries(values)) {
      if (value === undefined) continue;
      checkValue(column, value);
      if (this.spec.key.some((k) => k.ts === column && isKeyColumn(k) && k.kind === 'identity always')) {
        throw new ReferenceValidationError(`${column} is generated by the database and cannot be written`);
      }
      out[column] = value;
    }
    return out;
  }

  async create(values: Values): Promise<DynRow> {
    const row = this.#checkWritable(values);
    const insert = this.#q.insertInto(this.table);
    const q = Object.keys(row).length === 0 ? insert.defaultValues() : insert.values(row);
    return q.returningAll().executeTakeFirstOrThrow();
  }

  /** The rows as stored, or (returning false) how many were written, as createMany resolves. */
  async createMany(rows: readonly Values[], returning: boolean): Promise<DynRow[] | number> {
    const checked = rows.map((r) => this.#checkWritable(r));
    if (checked.length === 0) return returning ? [] : 0;
    const run = async (q: Kysely<DynDB>): Promise<DynRow[] | number> => {
      if (checked.every((r) => Object.keys(r).length === 0)) {
        const out: DynRow[] = [];
        for (let i = 0; i < checked.length; i++) {
          out.push(await q.insertInto(this.table).defaultValues().returningAll().executeTakeFirstOrThrow());
        }
        return returning ? out : out.length;
      }
      const insert = q.insertInto(this.table).values(checked);
      if (!returning) {
        const [result] = await insert.execute();
        return Number(result?.numInsertedOrUpdatedRows ?? 0n);
      }
      return insert.returningAll().execute();
    };
    // one statement is one transaction already; several need one
    const several = checked.every((r) => Object.keys(r).length === 0) && checked.length > 1;
    if (several && this.#q === this.db) return this.db.transaction().execute((trx) => run(trx));
    return run(this.#q);
  }

  async update(id: Id, patch: Values): Promise<DynRow | undefined> {
    const key = this.#keyValues(id);
    const version = this.spec.version?.ts;
    const values = this.#checkWritable(Object.fromEntries(Object.entries(patch).filter(([c]) => c !== version)));
    const expected = version === undefined ? undefined : patch[version];
    if (version !== undefined && (expected === undefined || expected === null)) {
      throw new ReferenceValidationError(`${version} (the version that was read) is required to update`);
    }
    if (Object.keys(values).length === 0 && version === undefined) return this.findById(id, 'live', false);
    let q: Update = this.#byKey(
      this.#q
        .updateTable(this.table)
        .set((eb) => (version === undefined ? values : { ...values, [version]: eb(eb.ref(version), '+', 1) })),
      key,
    );
    if (version !== undefined) q = q.where(version, '=', expected);
    const row = await this.#deleted(q, 'live').returningAll().executeTakeFirst();
    if (row !== undefined || version === undefined) return row;
    if ((await this.findById(id, 'live', false)) === undefined) return undefined;
    throw new ReferenceOptimisticLockError(
      `${this.table} (${key.map(([c, v]) => `${c}=${String(v)}`).join(', ')}) was changed by someone else`,
    );
  }

  async updateMany(where: RWhere, patch: Values): Promise<number> {
    const values = this.#checkWritable(patch);
    if (Object.keys(values).length === 0) return 0;
    const version = this.spec.version?.ts;
    if (version !== undefined && version in values) throw new ReferenceValidationError(`${version} is managed`);
    const set = this.#bump(values);
    const q = this.#deleted(this.#where(this.#q.updateTable(this.table).set(set), where), 'live');
    const result = await q.executeTakeFirstOrThrow();
    return Number(result.numUpdatedRows);
  }

  async upsert(values: Values, conflict: readonly string[]): Promise<DynRow> {
    const row = this.#checkWritable(values);
    const columns = Object.keys(row);
    if (conflict.length === 0) throw new ReferenceValidationError('name at least one conflict column');
    for (const column of conflict) {
      if (!columns.includes(column)) throw new ReferenceValidationError(`conflict column ${column} must be given`);
    }
    const version = this.spec.version?.ts;
    const others = columns.filter((c) => !conflict.includes(c) && c !== version);
    const set = others.length > 0 ? others : [conflict[0]!];
    return this.#q
      .insertInto(this.table)
      .values(row)
      .onConflict((oc) =>
        oc
          .columns([...conflict])
          .doUpdateSet((eb) =>
            this.#bump(Object.fromEntries(set.map((c) => [c, eb.ref(`excluded.${c}`)])), `${this.table}.`),
          ),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** `set` with the version column incremented, when the table has one (every change bumps it). */
  #bump<T extends Record<string, unknown>>(set: T, qualifier = ''): T {
    const version = this.spec.version?.ts;
    if (version === undefined) return set;
    return { ...set, [version]: sql`${sql.ref(`${qualifier}${version}`)} + 1` };
  }

  async delete(id: Id): Promise<boolean> {
    const key = this.#keyValues(id);
    const soft = this.spec.softDelete;
    if (!soft) {
      let q = this.#q.deleteFrom(this.table);
      for (const [column, value] of key) q = q.where(column, '=', value);
      const result = await q.executeTakeFirst();
      return result.numDeletedRows > 0n;
    }
    const set = this.#bump(soft.kind === 'boolean' ? { [soft.column.ts]: false } : { [soft.column.ts]: sql`now()` });
    const q = this.#deleted(this.#byKey(this.#q.updateTable(this.table).set(set), key), 'live');
    return (await q.executeTakeFirstOrThrow()).numUpdatedRows > 0n;
  }

  async restore(id: Id): Promise<boolean> {
    const soft = this.spec.softDelete;
    if (!soft) throw new ReferenceDatabaseError(`restore() needs softDelete on the ${this.table} repository`);
    const key = this.#keyValues(id);
    const set = this.#bump({ [soft.column.ts]: soft.kind === 'boolean' ? true : null });
    const q = this.#deleted(this.#byKey(this.#q.updateTable(this.table).set(set), key), 'deleted');
    return (await q.executeTakeFirstOrThrow()).numUpdatedRows > 0n;
  }

  async increment(id: Id, column: string, delta: number, by: number): Promise<DynRow | undefined> {
    if (!Number.isFinite(by)) throw new ReferenceValidationError('by must be a finite number');
    const key = this.#keyValues(id);
    // documented: the version column is the repository's to bump; integers take whole steps only
    if (column === this.spec.version?.ts) throw new ReferenceValidationError(`${column} is managed`);
    const type = allColumns(this.spec).find((c) => c.ts === column)?.type;
    if ((type === 'integer' || type === 'bigint') && !Number.isSafeInteger(by)) {
      throw new ReferenceValidationError(`by must be an integer for ${column}`);
    }
    const q = this.#byKey(
      this.#q.updateTable(this.table).set((eb) => this.#bump({ [column]: eb(eb.ref(column), '+', delta) })),
      key,
    );
    return this.#deleted(q, 'live').returningAll().executeTakeFirst();
  }
}
