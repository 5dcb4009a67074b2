/**
 * Values checked against the column they are meant for, before they reach SQL: a value of the
 * wrong kind (an object where text belongs, a fraction where an integer belongs) or text
 * PostgreSQL cannot store as given (a NUL byte, a lone UTF-16 surrogate that it would silently
 * replace) is a ValidationError naming the field, never a server error or a silently changed value.
 * Also the reading of a caller's objects (read once, Symbol keys refused where they would be lost).
 */
import { readEntries } from '../arguments.js';
import { ValidationError } from '../errors.js';
import type { ColumnMeta, TableMeta } from './table-metadata.js';

/** NUL, or a UTF-16 surrogate that is not half of a pair. */
const UNSTORABLE = /[\0\p{Cs}]/u;

/** Whether PostgreSQL stores `text` exactly as given: no NUL byte, no lone UTF-16 surrogate. */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);
const NUMBER_TYPES = new Set(['numeric', 'real', 'double precision', 'money']);
const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name', 'inet', 'cidr']);
/**
 * A uuid as PostgreSQL's uuid input reads it: 32 hex digits, a hyphen allowed after any group of
 * four (but the last), the whole optionally in braces; nothing else, not even spaces.
 */
const UUID_TEXT = /^(?:[0-9a-f]{4}(?:-?[0-9a-f]{4}){7}|\{[0-9a-f]{4}(?:-?[0-9a-f]{4}){7}\})$/i;
/** Whether a column of this (catalog) type holds whole numbers (smallint, integer, bigint). */
export function isIntegerType(type: string): boolean {
  return INTEGER_TYPES.has(type);
}

/** Whether a column of this (catalog) type holds numbers: the integers, numeric, real, double precision, money. */
export function isNumericType(type: string): boolean {
  return INTEGER_TYPES.has(type) || NUMBER_TYPES.has(type);
}

const INTEGER_TEXT = /^-?\d{1,19}$/;
const NUMBER_TEXT = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^-?Infinity$|^NaN$/;
/**
 * A date, a time or a timestamp as PostgreSQL prints and reads it (ISO style, with an optional era),
 * ±infinity, or a Julian day number (`J2451545`, how a cursor carries a date).
 */
const TIME_TEXT =
  /^(?:\d{4,}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?|\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?:\s?(?:Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?))?(?: (?:AD|BC))?$|^-?infinity$|^J\d{1,10}$/i;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

/** What kind of value a column takes; undefined: not checked. */
type ValueKind = 'integer' | 'number' | 'text' | 'uuid' | 'boolean' | 'time' | 'bytea' | 'array' | undefined;

/** Kinds by catalog type, worked out once per type (a value is checked for every row written). */
const kinds = new Map<string, ValueKind>();

/** What kind of value a column of this (catalog) type takes. */
function kindOf(type: string): ValueKind {
  let kind = kinds.get(type);
  if (kind === undefined && !kinds.has(type)) {
    kind = kindOfType(type);
    kinds.set(type, kind);
  }
  return kind;
}

/** kindOf, worked out. */
function kindOfType(type: string): ValueKind {
  if (type.endsWith('[]')) return 'array';
  if (type === 'uuid') return 'uuid';
  if (INTEGER_TYPES.has(type)) return 'integer';
  if (NUMBER_TYPES.has(type)) return 'number';
  if (TEXT_TYPES.has(type)) return 'text';
  if (type === 'boolean') return 'boolean';
  if (type === 'bytea') return 'bytea';
  if (type === 'date' || type.startsWith('time')) return 'time';
  return undefined;
}

function fits(kind: ValueKind, value: unknown): boolean {
  switch (kind) {
    case 'integer':
      if (typeof value === 'number') return Number.isSafeInteger(value);
      if (typeof value === 'bigint') return value >= INT8_MIN && value <= INT8_MAX;
      return (
        typeof value === 'string' && INTEGER_TEXT.test(value) && BigInt(value) >= INT8_MIN && BigInt(value) <= INT8_MAX
      );
    case 'number':
      return (
        // NaN and ±Infinity too: numeric, real and double precision hold them (pg sends their text)
        typeof value === 'number' || typeof value === 'bigint' || (typeof value === 'string' && NUMBER_TEXT.test(value))
      );
    case 'text':
      return typeof value === 'string';
    case 'uuid':
      return typeof value === 'string' && UUID_TEXT.test(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'time':
      return (
        (value instanceof Date && !Number.isNaN(value.getTime())) ||
        // pg reads ±infinity timestamps and dates as ±Infinity: they go back as they came
        value === Infinity ||
        value === -Infinity ||
        (typeof value === 'string' && TIME_TEXT.test(value))
      );
    case 'bytea':
      return value instanceof Uint8Array;
    case 'array':
      return Array.isArray(value);
    default:
      return true;
  }
}

/** Strings anywhere in a value (arrays and plain objects are walked). */
function* strings(value: unknown, depth = 0): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (depth < 16 && Array.isArray(value)) for (const item of value) yield* strings(item, depth + 1);
  else if (
    depth < 16 &&
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Date) &&
    !(value instanceof Uint8Array)
  ) {
    for (const [key, item] of Object.entries(value)) {
      yield key;
      yield* strings(item, depth + 1);
    }
  }
}

/**
 * Checks `value` (null allowed: the column's NOT NULL constraint decides) for `column`, naming
 * `field` in the error.
 * @throws ValidationError (rule `type`) for a value of the wrong kind, (rule `format`) for text
 * PostgreSQL cannot store as given.
 */
export function checkColumnValue(column: ColumnMeta, value: unknown, field: string = column.name): void {
  if (value === null || value === undefined) return;
  const kind = kindOf(column.type);
  if (!fits(kind, value)) {
    throw new ValidationError(field, 'type', `${field} does not fit column ${column.name} (${column.type})`);
  }
  if (typeof value === 'string' ? isStorableText(value) : typeof value !== 'object' || value instanceof Date) return;
  for (const text of strings(value)) {
    if (!isStorableText(text)) {
      throw new ValidationError(field, 'format', `${field} contains a NUL byte or a lone UTF-16 surrogate`);
    }
  }
}

/**
 * The column `column` names.
 * @throws ValidationError (naming `field`, or the column when `field` is 'column') when it is not a column of the table.
 */
export function checkColumn(table: string, column: unknown, meta: TableMeta, field: string): ColumnMeta {
  const info = typeof column === 'string' ? meta.columns.get(column) : undefined;
  if (!info) {
    const name = typeof column === 'string' ? column : `a ${typeof column}`;
    throw new ValidationError(field === 'column' ? name : field, 'column', `${name} is not a column of ${table}`);
  }
  return info;
}

/**
 * The own string keys of a plain object and their values, read once (a getter or a Proxy is asked
 * once, so what is checked is what is written), sorted by key.
 * @throws ValidationError (naming `field`) for something other than a plain object, a Symbol key
 * when `symbols` is 'refuse' (a where: a condition that is not a column), or an object that throws
 * while it is read.
 */
export function readObject(value: unknown, field: string, symbols: 'refuse' | 'ignore'): [string, unknown][] {
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
