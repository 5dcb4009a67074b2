/**
 * Operations with their row references resolved: concrete ids and values, handed identically to
 * both sides. Also the dynamic schema type and the where-callback builder both sides share.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { CmpOp, Filter, OrderSpec } from './ops.js';
import type { Value } from './values.js';

/** The schema as Kysely sees it here: tables made at run time, columns of any type. */
export type DynRow = Record<string, unknown>;
export type DynDB = Record<string, DynRow>;

/** One key column's value as callers pass it (int8 arrives from pg as a string; a date as a Date). */
export type KeyValue = string | number | bigint | Date;
/** A key: a value (a one-column key), or an object of the key columns (always for a composite key). */
export type Id = string | number | bigint | Readonly<Record<string, KeyValue>>;
export type Values = Record<string, Value>;

export type RExpr =
  | { readonly kind: 'cmp'; readonly column: string; readonly op: CmpOp; readonly value: Value }
  | { readonly kind: 'isNull'; readonly column: string; readonly not: boolean }
  | { readonly kind: 'in'; readonly column: string; readonly values: readonly Value[] }
  | { readonly kind: 'like'; readonly column: string; readonly pattern: string }
  | { readonly kind: 'and' | 'or'; readonly items: readonly RExpr[] }
  | { readonly kind: 'not'; readonly item: RExpr };

/** A where object (values, null, arrays, undefined) or a callback. */
export type RWhere =
  | { readonly kind: 'object'; readonly object: Readonly<Record<string, Value | readonly Value[] | undefined>> }
  | { readonly kind: 'callback'; readonly expr: RExpr };

export interface RQuery {
  readonly where?: RWhere;
  readonly orderBy?: OrderSpec;
  readonly limit?: number;
  readonly offset?: number;
  readonly filter: Filter;
}

export type RSimple =
  | { readonly op: 'create'; readonly values: Values }
  | { readonly op: 'createMany'; readonly rows: readonly Values[]; readonly returning: boolean }
  | {
      readonly op: 'update';
      readonly id: Id;
      readonly patch: Values;
      /** Read the row's version (in the same transaction) and add it to the patch. */
      readonly readVersion?: true;
    }
  | { readonly op: 'updateMany'; readonly where: RWhere; readonly patch: Values }
  | { readonly op: 'upsert'; readonly values: Values; readonly conflict: readonly string[] }
  | { readonly op: 'delete'; readonly id: Id }
  | { readonly op: 'restore'; readonly id: Id }
  | { readonly op: 'findById'; readonly id: Id; readonly filter: Filter; readonly forUpdate: boolean }
  | { readonly op: 'findOne'; readonly where: RWhere; readonly filter: Filter }
  | { readonly op: 'findMany'; readonly query: RQuery }
  | { readonly op: 'count'; readonly where: RWhere | undefined; readonly filter: Filter }
  | { readonly op: 'exists'; readonly where: RWhere; readonly filter: Filter }
  | { readonly op: 'findAndCount'; readonly query: RQuery }
  | { readonly op: 'paginateOffset'; readonly query: RQuery; readonly withTotal: boolean }
  | { readonly op: 'paginateKeyset'; readonly query: RQuery; readonly withTotal: boolean; readonly maxPages: number }
  | {
      readonly op: 'increment';
      readonly id: Id;
      readonly column: string;
      readonly by: number;
      readonly decrement: boolean;
    };

export interface RSub {
  readonly op: 'sub';
  readonly propagation: 'nested' | 'required';
  readonly items: readonly RSimple[];
  readonly throwAtEnd: boolean;
}

export type ROp =
  | RSimple
  | {
      readonly op: 'transaction';
      readonly isolation: 'read committed' | 'repeatable read' | undefined;
      readonly items: readonly (RSimple | RSub)[];
      readonly throwAtEnd: boolean;
    }
  | {
      readonly op: 'serializable';
      readonly id: Id;
      readonly patch: Values;
      readonly after: readonly RSimple[];
      readonly retries: 0 | undefined;
    }
  | { readonly op: 'parallel'; readonly reads: readonly RSimple[] };

type Builder = ExpressionBuilder<DynDB, string>;

function build(eb: Builder, expr: RExpr): Expression<SqlBool> {
  switch (expr.kind) {
    case 'cmp':
      return eb(expr.column, expr.op, expr.value);
    case 'isNull':
      return eb(expr.column, expr.not ? 'is not' : 'is', null);
    case 'in':
      return eb(expr.column, 'in', [...expr.values]);
    case 'like':
      return eb(expr.column, 'like', expr.pattern);
    case 'and':
      return eb.and(expr.items.map((item) => build(eb, item)));
    case 'or':
      return eb.or(expr.items.map((item) => build(eb, item)));
    case 'not':
      return eb.not(build(eb, expr.item));
  }
}

/** The where callback for `expr`, as a caller would write it: `(eb) => eb(...)`. */
export function whereCallback(expr: RExpr): (eb: Builder) => Expression<SqlBool> {
  return (eb) => build(eb, expr);
}
