/**
 * The order of a listing: the caller's sort columns, checked, plus the key's columns as
 * tie-breakers so the order is total (and a keyset page exact).
 */
import { ValidationError } from '../errors.js';
import { checkColumn } from './column-values.js';
import type { SelectBuilder, StatementNames } from './sql-names.js';
import type { Loaded } from './table-access.js';

/** A sort direction. */
export type Direction = 'asc' | 'desc';

/**
 * A sort column, its direction, how its cursor value travels (as PostgreSQL's text in a form no
 * session setting changes, for dates and times: a JS Date loses microseconds and DateStyle
 * changes the text), and whether it can be NULL.
 */
export type SortColumn = readonly [
  column: string,
  direction: Direction,
  temporal: TemporalKind | undefined,
  nullable: boolean,
];

/** The date and time types whose cursor values travel as text. */
export type TemporalKind = 'timestamptz' | 'timestamp' | 'date' | 'time';

/**
 * The sort columns (validated) plus the key's columns as tie-breakers, and their shape key.
 * @throws ValidationError (field `orderBy`) for something that is not a column, a direction other
 * than 'asc' or 'desc', or an orderBy that cannot be read.
 */
export function orderColumns(
  table: string,
  orderBy: unknown,
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
      checkColumn(table, column, meta, 'orderBy');
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

/** `q` ordered by `columns`. */
export function applyOrder(names: StatementNames, q: SelectBuilder, columns: readonly SortColumn[]): SelectBuilder {
  let built = q;
  for (const [column, direction] of columns) built = built.orderBy(names.col(column), direction);
  return built;
}

/** The date and time kinds whose cursor values travel as text, by catalog type. */
export function temporalKind(type: string): TemporalKind | undefined {
  if (type === 'timestamp with time zone') return 'timestamptz';
  if (type === 'timestamp without time zone') return 'timestamp';
  if (type === 'date') return 'date';
  if (type.startsWith('time')) return 'time';
  return undefined;
}
