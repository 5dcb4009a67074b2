/**
 * How a repository statement names the table and its columns (StatementNames), and the clauses
 * every statement builds from them: the select list, RETURNING, and the key condition.
 */
import {
  sql,
  type Compilable,
  type ExpressionBuilder,
  type Expression,
  type Kysely,
  type SelectQueryBuilder,
  type SqlBool,
  type WhereInterface,
} from 'kysely';
import { arg } from './query-shape.js';
import type { ColumnMeta, Naming, TableMeta } from './table-metadata.js';

/** The loose view of a schema the builders use; the public methods carry the real types. */
export type AnyDB = Record<string, Record<string, unknown>>;
export type AnyKysely = Kysely<AnyDB>;
export type Row = Record<string, unknown>;
/** A caller's where callback, as the builders call it. */
export type WhereFn = (eb: ExpressionBuilder<AnyDB, string>) => Expression<SqlBool>;

/** TypeScript names through the Kysely instance's plugins (for statements with a where callback). */
export function typeScriptNamesFor(kysely: AnyKysely, table: string): StatementNames {
  return { kysely, table, col: (name) => name, selection: undefined };
}

/**
 * How a statement names things: SQL names with camelCase aliases, compiled without plugins
 * (cached shapes, whose rows need no mapping), or TypeScript names through the Kysely instance's
 * plugins (statements with a where callback, which speaks TypeScript names).
 */
export interface StatementNames {
  /** The Kysely statements are built on: without plugins for SQL names, with them for TypeScript names. */
  readonly kysely: AnyKysely;
  readonly table: string;
  /** A column (TypeScript name) as these names write it. */
  col(name: string): string;
  /** The select list; undefined selects every column as the plugins name it. */
  readonly selection: readonly AliasedSelection[] | undefined;
}

export type AliasedSelection = string | ReturnType<ReturnType<typeof sql.ref>['as']>;
export type FromBuilder = SelectQueryBuilder<AnyDB, string, object>;
export type SelectBuilder = SelectQueryBuilder<AnyDB, string, Row>;
export type Filterable = WhereInterface<AnyDB, string>;
interface Returning {
  returning(selection: readonly AliasedSelection[]): Compilable;
  returningAll(): Compilable;
}

/** The table as SQL names it: each part of `schema.table` through `naming` (`order_lines` for `orderLines`). */
export function sqlTableName(table: string, naming: Naming): string {
  return table
    .split('.')
    .map((part) => naming.toDb(part))
    .join('.');
}

/** SQL names for a table: its columns as the catalog has them, aliased to their TypeScript names. */
export function sqlNamesFor(kysely: AnyKysely, table: string, meta: TableMeta, naming: Naming): StatementNames {
  const selection = [...meta.columns.values()].map((c) =>
    c.dbName === c.name ? c.dbName : sql.ref(c.dbName).as(c.name),
  );
  return {
    kysely,
    table: sqlTableName(table, naming),
    col: (name) => meta.columns.get(name)?.dbName ?? name,
    selection,
  };
}

/** `q` selecting every column of the row, under its TypeScript name. */
export function selectRows(names: StatementNames, q: FromBuilder): SelectBuilder {
  return names.selection ? q.select(names.selection) : q.selectAll();
}

/** `q` (an insert, update or delete) returning every column of the row, under its TypeScript name. */
export function returnRows(names: StatementNames, q: unknown): Compilable {
  const builder = q as Returning;
  return names.selection ? builder.returning(names.selection) : builder.returningAll();
}

/** `q` where every key column equals its argument, the arguments from `base` on. */
export function whereKey<Q extends Filterable>(
  names: StatementNames,
  q: Q,
  key: readonly ColumnMeta[],
  base: number,
): Q {
  let built: Filterable = q;
  key.forEach((column, i) => {
    built = built.where(names.col(column.name), '=', arg(base + i));
  });
  return built as Q;
}
