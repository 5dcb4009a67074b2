/**
 * A repository's options: their form when the repository is made, and their columns against the
 * table once it is read.
 */
import { MIN_CURSOR_SECRET_LENGTH } from '../config.js';
import { ValidationError } from '../errors.js';
import { isIntegerType } from './column-values.js';
import type { KeyColumns, RepositoryOptions } from './repository-types.js';
import type { ColumnMeta, TableMeta } from './table-metadata.js';

/** The options as the runtime reads them: any column names (checked against the table on load). */
export type LooseOptions = RepositoryOptions<string, string, KeyColumns>;

/**
 * The options' form, before anything is read.
 * @throws ValidationError naming the option.
 */
export function checkOptions(table: unknown, options: LooseOptions): void {
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
export function checkOptionColumns(table: string, options: LooseOptions, meta: TableMeta): void {
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
