/**
 * The columns that identify a row, and keys as callers give them: a value for a one-column key,
 * an object of its columns for a composite one, checked against the key columns before any SQL.
 */
import { isPlainObject } from '../arguments.js';
import { ValidationError } from '../errors.js';
import { checkColumnValue, readObject } from './column-values.js';
import type { KeyColumns } from './repository-types.js';
import type { ColumnMeta, TableMeta } from './table-metadata.js';

/** The primaryKey option as a list of columns (its form is checked by checkOptions). */
export function keyOption(option: KeyColumns | undefined): readonly string[] | undefined {
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
export function resolveKey(
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
 * A key as SQL arguments, one per key column, in the key's order: for a key of one column its
 * value (a safe integer, a bigint or a string) or `{ column: value }`; for a composite key an
 * object naming every key column and nothing else. Each value must fit its column.
 * @throws ValidationError naming `id` or the key column at fault.
 */
export function keyArguments(id: unknown, key: readonly ColumnMeta[]): unknown[] {
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
export function describeKey(key: readonly ColumnMeta[], args: readonly unknown[]): string {
  if (key.length === 1) return String(args[0]);
  return `(${key.map((column, i) => `${column.name}=${String(args[i])}`).join(', ')})`;
}
