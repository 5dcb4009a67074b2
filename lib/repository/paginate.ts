/**
 * Repository.paginate: keyset pages on the sort columns plus the key (the cursor carries the last
 * row's sort values, dates and times as text in a fixed form), or offset pages; optionally with
 * the total, counted beside the page.
 */
import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import { readOptions } from '../arguments.js';
import { DatabaseError, ValidationError } from '../errors.js';
import { checkColumnValue } from './column-values.js';
import { decodeCursor, encodeCursor, type CursorValue } from './cursor.js';
import { TemporalTexts } from '../temporal-texts.js';
import { deletedMode } from './deleted-filter.js';
import { arg } from './query-shape.js';
import { checkLimit, checkOffset, numberArg } from './query-limits.js';
import type { Page } from './repository-types.js';
import type { LooseQuery, SelfCalls } from './read-rows.js';
import { applyOrder, orderColumns, type SortColumn, type TemporalKind } from './sort-order.js';
import { selectRows, type Row, type StatementNames } from './sql-names.js';
import type { TableAccess } from './table-access.js';
import type { TableMeta } from './table-metadata.js';
import { withoutColumns } from './without-columns.js';

/** A page request as the runtime reads it. */
export interface LoosePageRequest extends LooseQuery {
  readonly cursor?: string | null;
  readonly withTotal?: boolean;
}

/** The alias of a sort column's text form in a keyset page. */
function cursorAlias(column: string): string {
  return `krCursor${column.charAt(0).toUpperCase()}${column.slice(1)}`;
}

/** Repository.paginate: a keyset or offset page of rows. */
export async function paginate(
  access: TableAccess,
  repository: SelfCalls,
  given: LoosePageRequest | undefined,
): Promise<Page<Row>> {
  const request = readOptions(given, 'request');
  const limit = checkLimit(request.limit);
  return access.guarded(async (loaded) => {
    const { meta } = loaded;
    const order = orderColumns(access.table, request.orderBy, loaded);
    const mode = deletedMode(request);
    const offset = request.offset === undefined ? undefined : checkOffset(request.offset);
    // without a key, ties in the order would let a keyset page skip or repeat rows
    if (offset === undefined) access.requireKey(loaded, 'paginate (keyset; give an offset to page without a key)');
    if (offset !== undefined && request.cursor !== undefined && request.cursor !== null) {
      throw new ValidationError('cursor', 'exclusive', 'give either cursor or offset, not both');
    }
    const scope = `${access.table}|${order.key}`;
    const after =
      offset !== undefined || request.cursor === undefined || request.cursor === null
        ? undefined
        : checkCursor(
            decodeCursor(scope, request.cursor, order.columns.length, access.cursorSecret()),
            order.columns,
            meta,
          );
    const totalPromise = request.withTotal ? repository.count(request.where, request) : undefined;
    // awaited below; when the page's own query fails first, its failure is the one reported
    totalPromise?.catch(() => undefined);

    let rows: Row[];
    // the cursor row's timestamps, as the text they arrived as, when the server did not print them
    let read: Map<string, string> | undefined;
    let printed = true;
    try {
      if (offset !== undefined) {
        rows = await access.select(request.where, mode, `pageOffset|${order.key}`, {
          extend: (names, q, base) =>
            applyOrder(names, q, order.columns)
              .limit(numberArg(base))
              .offset(numberArg(base + 1)),
          args: [limit + 1, offset],
        });
      } else {
        // the cursor's NULLs change the condition's form; its other values are the arguments
        const nulls = after?.map((value) => (value === null ? 'n' : 'v')).join('') ?? 'first';
        const values = after?.filter((value) => value !== null) ?? [];
        const keyset = (texts: TemporalTexts | undefined): Promise<Row[]> =>
          access.select(request.where, mode, `pageKeyset|${order.key}|${nulls}|${texts ? 'read' : 'printed'}`, {
            // dates and times go into the cursor as PostgreSQL's text in a fixed form: a JS Date
            // loses microseconds, and the session's DateStyle changes the text the row carries.
            // Timestamps are read from the text they arrived as, when the engine keeps it
            columns: (names, q) => {
              let selected = selectRows(names, q);
              for (const [column, , kind] of order.columns) {
                if (kind && !(texts && isTimestamp(kind))) {
                  selected = selected.select(cursorText(names.col(column), kind).as(cursorAlias(column)));
                }
              }
              return selected;
            },
            extend: (names, q, base) => {
              const from = after ? q.where(keysetCondition(names, order.columns, after, base)) : q;
              return applyOrder(names, from, order.columns).limit(numberArg(base + values.length));
            },
            args: [...values, limit + 1],
            ...(texts ? { texts } : {}),
          });
        const texts =
          order.columns.some(([, , kind]) => isTimestamp(kind)) && !printsTimestamps.has(access.db)
            ? new TemporalTexts()
            : undefined;
        rows = await keyset(texts);
        printed = texts === undefined;
        if (texts && rows.length > limit) {
          read = readTimestamps(rows[limit - 1]!, order.columns, texts);
          if (!read) {
            printed = true;
            // another DateStyle, another engine or a parser of the application's: from now on
            // this Database's pages have the server print their timestamps, starting with this one
            printsTimestamps.add(access.db);
            rows = await keyset(undefined);
          }
        }
      }
    } catch (error) {
      throw await firstFailure(error, totalPromise);
    }
    const hasMore = rows.length > limit;
    let page = hasMore ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    const nextCursor =
      offset === undefined && hasMore && last
        ? encodeCursor(
            scope,
            order.columns.map(([c, , kind]) =>
              !printed && isTimestamp(kind) ? (read?.get(c) ?? null) : kind ? last[cursorAlias(c)] : last[c],
            ),
            access.cursorSecret(),
          )
        : null;
    if (offset === undefined) {
      const aliases = order.columns
        .filter(([, , kind]) => kind && (printed || !isTimestamp(kind)))
        .map(([column]) => cursorAlias(column));
      if (aliases.length > 0) page = withoutColumns(page, aliases);
    }
    return { items: page, nextCursor, hasMore, ...(totalPromise ? { total: await totalPromise } : {}) };
  });
}

/** Databases whose keyset pages have the server print their timestamps (see readTimestamps). */
const printsTimestamps = new WeakSet<object>();

/** A timestamp sort column's ISO text as PostgreSQL prints it (DateStyle ISO, any order), ±infinity. */
const ISO_TIMESTAMP = /^(?:\d{4,}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?: BC)?|-?infinity)$/;
const ISO_TIMESTAMPTZ =
  /^(?:\d{4,}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?[+-]\d{2}(?::\d{2}){0,2}(?: BC)?|-?infinity)$/;

/** Whether the cursor reads this kind of sort column from the text it arrived as. */
function isTimestamp(kind: TemporalKind | undefined): boolean {
  return kind === 'timestamp' || kind === 'timestamptz';
}

/**
 * The texts `row`'s timestamp sort values arrived as, by column, when every one of them is
 * known and in ISO form (which PostgreSQL reads back the same in every DateStyle, and for
 * timestamptz in every time zone: it carries the offset); else undefined.
 */
function readTimestamps(
  row: Row,
  columns: readonly SortColumn[],
  texts: TemporalTexts,
): Map<string, string> | undefined {
  const read = new Map<string, string>();
  for (const [column, , kind] of columns) {
    if (!isTimestamp(kind)) continue;
    const value = row[column];
    if (value === null || value === undefined) {
      // NULL in SQL needs no text, unless a parser made null of a text too
      if (texts.lost) return undefined;
      continue;
    }
    const text = texts.textOf(value);
    if (text === undefined || !(kind === 'timestamptz' ? ISO_TIMESTAMPTZ : ISO_TIMESTAMP).test(text)) return undefined;
    read.set(column, text);
  }
  return read;
}

/** A decoded cursor whose every value fits its sort column; else a ValidationError (field `cursor`). */
function checkCursor(values: CursorValue[], columns: readonly SortColumn[], meta: TableMeta): CursorValue[] {
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
 * Rows after the cursor `after` in the order of `columns` (PostgreSQL's: NULLs last ascending,
 * first descending): a row comparison when all directions agree and no column can be NULL (index
 * friendly), else the expanded OR of prefixes, NULL-aware. The cursor's non-NULL values are the
 * arguments from `base` on, in order.
 */
function keysetCondition(
  names: StatementNames,
  columns: readonly SortColumn[],
  after: readonly CursorValue[],
  base: number,
): Expression<SqlBool> {
  const direction = columns[0]![1];
  if (columns.every(([, d, , nullable]) => d === direction && !nullable) && after.every((v) => v !== null)) {
    const op = direction === 'asc' ? sql`>` : sql`<`;
    const left = sql.join(columns.map(([c]) => sql.ref(names.col(c))));
    const right = sql.join(columns.map((_, i) => sql`${arg(base + i)}`));
    return sql<SqlBool>`(${left}) ${op} (${right})`;
  }
  const argIndex: (number | undefined)[] = [];
  let next = base;
  for (const value of after) argIndex.push(value === null ? undefined : next++);
  const equal = (i: number) => {
    const ref = sql.ref(names.col(columns[i]![0]));
    const index = argIndex[i];
    return index === undefined ? sql`${ref} is null` : sql`${ref} = ${arg(index)}`;
  };
  const branches: RawBuilder<unknown>[] = [];
  columns.forEach(([column, dir, , nullable], i) => {
    const ref = sql.ref(names.col(column));
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
