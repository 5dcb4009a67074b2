/**
 * The reads of Repository: one row by key, listings, counts and existence. Each runs a cached
 * query shape through the table's access (see Repository for what each method promises).
 */
import { sql } from 'kysely';
import { readOptions } from '../arguments.js';
import { deletedFilter, deletedMode } from './deleted-filter.js';
import { checkLimit, checkOffset, numberArg } from './query-limits.js';
import type { DeletedFilter, FindByIdOptions } from './repository-types.js';
import { applyOrder, orderColumns } from './sort-order.js';
import { selectRows, whereKey, type Row } from './sql-names.js';
import type { TableAccess } from './table-access.js';
import { keyArguments } from './table-key.js';
import { requireWhere } from './where-plan.js';
import { withoutColumns } from './without-columns.js';

/** A listing query as the runtime reads it (each part is checked where it is used). */
export interface LooseQuery extends DeletedFilter {
  readonly where?: unknown;
  readonly orderBy?: unknown;
  readonly limit?: unknown;
  readonly offset?: unknown;
}

/** The repository's own methods that others call, through it, so stubs on the instance apply. */
export interface SelfCalls {
  count(where: unknown, filter: unknown): Promise<number>;
  findById(id: unknown): Promise<Row | undefined>;
}

/** The alias of findAndCount's window count (camelCase, so every plugin leaves it alone). */
const TOTAL = 'krTotalCount';

/** Repository.findById: the row with this key, or undefined. */
export async function findById(
  access: TableAccess,
  id: unknown,
  given: FindByIdOptions | undefined,
): Promise<Row | undefined> {
  const options = readOptions(given, 'options');
  return access.guarded(async (loaded) => {
    const { sqlNames: names } = loaded;
    const key = access.requireKey(loaded, 'findById');
    const args = keyArguments(id, key);
    const mode = deletedMode(options);
    const forUpdate = options?.forUpdate === true;
    const shape = access.shape(`findById|${mode}|${forUpdate}`, key.length, () => {
      const query = deletedFilter(
        access.options.softDelete,
        names,
        whereKey(names, selectRows(names, names.kysely.selectFrom(names.table)), key, 0),
        mode,
      );
      return forUpdate ? query.forUpdate() : query;
    });
    const rows = (await access.runShape(shape, args, forUpdate ? 'write' : 'read')).rows;
    return rows[0];
  });
}

/** Repository.findMany: rows matching the query, ordered and limited. */
export async function findMany(access: TableAccess, given: LooseQuery | undefined): Promise<Row[]> {
  const query = readOptions(given, 'query');
  const limit = checkLimit(query.limit);
  const offset = checkOffset(query.offset);
  return access.guarded(async (loaded) => {
    const order = orderColumns(access.table, query.orderBy, loaded);
    const rows = await access.select(query.where, deletedMode(query), `findMany|${order.key}|${offset > 0}`, {
      extend: (names, q, base) => {
        const ordered = applyOrder(names, q, order.columns).limit(numberArg(base));
        return offset > 0 ? ordered.offset(numberArg(base + 1)) : ordered;
      },
      args: offset > 0 ? [limit, offset] : [limit],
    });
    return rows;
  });
}

/** Repository.findAndCount: a page of rows and the number of all rows matching its where. */
export async function findAndCount(
  access: TableAccess,
  repository: SelfCalls,
  given: LooseQuery | undefined,
): Promise<{ items: Row[]; total: number }> {
  const query = readOptions(given, 'query');
  const limit = checkLimit(query.limit);
  const offset = checkOffset(query.offset);
  return access.guarded(async (loaded) => {
    const order = orderColumns(access.table, query.orderBy, loaded);
    const rows = await access.select(query.where, deletedMode(query), `findAndCount|${order.key}`, {
      columns: (names, q) => selectRows(names, q).select(sql<string>`count(*) over ()`.as(TOTAL)),
      extend: (names, q, base) =>
        applyOrder(names, q, order.columns)
          .limit(numberArg(base))
          .offset(numberArg(base + 1)),
      args: [limit, offset],
    });
    if (rows.length === 0) return { items: [], total: offset === 0 ? 0 : await repository.count(query.where, query) };
    const total = Number(rows[0]![TOTAL]);
    return { items: withoutColumns(rows, [TOTAL]), total };
  });
}

/** Repository.count: the number of rows matching `where`. */
export async function count(access: TableAccess, where: unknown, filter: DeletedFilter | undefined): Promise<number> {
  const mode = deletedMode(readOptions(filter, 'filter'));
  return access.guarded(async () => {
    const rows = await access.select(where, mode, 'count', {
      columns: (_names, q) => q.select(sql<string>`count(*)`.as('count')),
    });
    return Number(rows[0]?.['count'] ?? 0);
  });
}

/** Repository.exists: whether any row matches `where`. */
export async function exists(access: TableAccess, where: unknown, filter: DeletedFilter | undefined): Promise<boolean> {
  requireWhere(where);
  const mode = deletedMode(readOptions(filter, 'filter'));
  return access.guarded(async () => {
    const rows = await access.select(where, mode, 'exists', {
      columns: (_names, q) => q.select(sql<number>`1`.as('one')),
      extend: (_names, q) => q.limit(1),
    });
    return rows.length > 0;
  });
}
