/**
 * A caller's where: an object of columns split into a cached shape (columns and how each is
 * compared) and its values, checked against the table; or a callback, built with its errors named.
 */
import { sql } from 'kysely';
import { DatabaseError, ValidationError } from '../errors.js';
import { allRows } from './all-rows.js';
import { checkColumn, checkColumnValue, readObject } from './column-values.js';
import { arg } from './query-shape.js';
import { NO_SECRETS, secretValues } from './secret-columns.js';
import type { Filterable, StatementNames } from './sql-names.js';
import type { TableMeta } from './table-metadata.js';

/** A where object, split into its shape (columns and kinds) and its values. */
export interface WherePlan {
  readonly key: string;
  readonly entries: readonly (readonly [column: string, kind: 'eq' | 'null' | 'any' | 'true' | 'false'])[];
  readonly values: readonly unknown[];
  /** The values bound to secret columns. */
  readonly secrets: readonly string[];
}

/**
 * Splits a where object into a shape key and values, checking every key is a column and every
 * value is given. `undefined` (an optional where left out) and allRows mean no condition.
 */
export function planWhere(
  table: string,
  where: unknown,
  meta: TableMeta,
  secretColumns: ReadonlySet<string>,
): WherePlan {
  if (where === undefined || where === allRows) return { key: '', entries: [], values: [], secrets: NO_SECRETS };
  const object = readObject(where, 'where', 'refuse');
  if (object.length === 0) {
    throw new ValidationError('where', 'empty', 'where names no column: to mean every row, pass allRows');
  }
  const entries: [string, 'eq' | 'null' | 'any' | 'true' | 'false'][] = [];
  const values: unknown[] = [];
  for (const [column, value] of object) {
    const info = checkColumn(table, column, meta, column);
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
    secretColumns.size === 0
      ? NO_SECRETS
      : secretValues(
          secretColumns,
          object.map(([column]) => column),
          object.map(([, value]) => value),
        );
  return { key: entries.map(([c, k]) => `${c}:${k}`).join(','), entries, values, secrets };
}

/** `q` with the plan's conditions, its values the arguments from `base` on. */
export function applyWhere<Q extends Filterable>(names: StatementNames, q: Q, plan: WherePlan, base: number): Q {
  let built: Filterable = q;
  let index = base;
  for (const [column, kind] of plan.entries) {
    const name = names.col(column);
    if (kind === 'null') built = built.where(name, 'is', null);
    else if (kind === 'true' || kind === 'false') built = built.where(name, '=', sql.lit(kind === 'true'));
    else if (kind === 'any') built = built.where(name, '=', sql<unknown>`any(${arg(index++)})`);
    else built = built.where(name, '=', arg(index++));
  }
  return built as Q;
}

/**
 * A statement built with a where callback of the caller's.
 * @throws ValidationError (field `where`) when building it throws: the callback did not return
 * an expression, or threw (its error is the cause).
 */
export function fromCallback<T>(build: () => T): T {
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
 * A where a method cannot do without (findOne, exists, updateMany): left out, it would match every row.
 * @throws ValidationError (field `where`) when it is undefined or null.
 */
export function requireWhere(where: unknown): void {
  if (where === undefined || where === null) {
    throw new ValidationError(
      'where',
      'required',
      'where is required: a where object naming a column, a callback, or allRows for every row',
    );
  }
}
