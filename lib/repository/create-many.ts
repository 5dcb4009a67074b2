/**
 * Repository.createMany: any number of rows, all or nothing, in as few statements as PostgreSQL's
 * limits allow — COPY for many rows of plain values when nothing is returned (where the engine has
 * it), one JSON parameter for rows of scalar columns, multi-row VALUES for the rest.
 */
import { sql, type CompiledQuery, type QueryResult } from 'kysely';
import { isPlainObject, readOptions } from '../arguments.js';
import { ValidationError } from '../errors.js';
import { markSecretParameters } from '../secret-parameters.js';
import { withTransaction } from '../transaction/with-transaction.js';
import { checkColumnValue } from './column-values.js';
import { arg } from './query-shape.js';
import type { CreateManyOptions } from './repository-types.js';
import { NO_SECRETS } from './secret-columns.js';
import { returnRows, type Row, type StatementNames } from './sql-names.js';
import type { TableAccess } from './table-access.js';
import type { ColumnMeta, TableMeta } from './table-metadata.js';
import { writableColumns } from './write-values.js';

/** PostgreSQL's limit on bind parameters in one statement. */
const MAX_PARAMETERS = 65_535;
/** createMany uses COPY (when no rows are to be returned) from this many rows of one shape. */
const COPY_MIN_ROWS = 1_000;
/** Rows per statement of createMany's JSON path. */
const JSON_CHUNK_ROWS = 20_000;

/**
 * A value as createMany's JSON carries it: the text the driver would send for it as a parameter
 * where JSON would write something else (a Date, ±Infinity, NaN, a bigint), so every path stores
 * the same value.
 */
function jsonValue(value: unknown, dateText: (date: Date) => string): unknown {
  if (value instanceof Date) return dateText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

/** Column types json_populate_recordset reads from a JSON scalar as a parameter's text would be read. */
const JSON_PATH_TYPES = new Set([
  'smallint',
  'integer',
  'bigint',
  'numeric',
  'real',
  'double precision',
  'text',
  'character varying',
  'uuid',
  'boolean',
  'date',
  'timestamp with time zone',
  'timestamp without time zone',
]);

/** Repository.createMany: the rows as stored, or with `returning: false` how many were written. */
export async function createMany(
  access: TableAccess,
  rows: readonly unknown[],
  given: CreateManyOptions | undefined,
): Promise<Row[] | number> {
  const options = readOptions(given, 'options');
  if (options.returning !== undefined && typeof options.returning !== 'boolean') {
    throw new ValidationError('returning', 'type', 'returning must be true or false');
  }
  const returning = options.returning ?? true;
  if (!Array.isArray(rows)) throw new ValidationError('rows', 'type', 'rows must be an array of objects');
  if (rows.length === 0) return returning ? [] : 0;
  return access.guarded(async ({ meta, sqlNames: names }) => {
    // consecutive rows with the same columns insert together (so rows are written, and returned,
    // in the order given); the table's other columns take their defaults
    const groups: { key: string; columns: string[]; rows: unknown[][] }[] = [];
    // rows usually share their keys: checked once per layout, then only the values are
    let layout: { keys: string[]; columns: string[]; infos: ColumnMeta[]; group: unknown[][] } | undefined;
    rows.forEach((row, index) => {
      let keys: string[] | undefined;
      try {
        keys = isPlainObject(row) ? Object.keys(row) : undefined;
      } catch (cause) {
        throw new ValidationError(`rows[${index}]`, 'type', `rows[${index}] could not be read`, { cause });
      }
      if (layout && keys && sameKeys(keys, layout.keys)) {
        const { columns, infos } = layout;
        const args = new Array<unknown>(columns.length);
        let complete = true;
        for (let i = 0; i < columns.length && complete; i++) {
          const value = readKey(row as Row, columns[i]!, index);
          if (value === undefined) complete = false;
          else checkColumnValue(infos[i]!, value, columns[i]);
          args[i] = value;
        }
        if (complete && columns.length === keys.length) {
          layout.group.push(args);
          return;
        }
      }
      const [columns, args] = writableColumns(access.table, row, meta, `rows[${index}]`);
      const key = columns.join(',');
      let group = groups[groups.length - 1];
      if (group?.key !== key) {
        group = { key, columns, rows: [] };
        groups.push(group);
      }
      group.rows.push(args);
      if (keys) layout = { keys, columns, infos: columns.map((c) => meta.columns.get(c)!), group: group.rows };
    });
    const statements: (() => Promise<Inserted>)[] = [];
    const secrets =
      access.secretColumns.size === 0
        ? NO_SECRETS
        : groups.flatMap((g) => g.rows.flatMap((r) => access.secretsIn(g.columns, r)));
    if (groups.length > 1 && groups.some((group) => group.columns.length > 0)) {
      // rows naming different columns: one multi-row INSERT, DEFAULT where a row names no value,
      // so the rows are written in order and the statement fails or succeeds whole, as one
      // INSERT of them all would
      const mixed = groups.flatMap(({ columns, rows: groupRows }) => groupRows.map((values) => ({ columns, values })));
      const chunk = Math.floor(MAX_PARAMETERS / new Set(groups.flatMap((group) => group.columns)).size);
      for (let start = 0; start < mixed.length; start += chunk) {
        const slice = mixed.slice(start, start + chunk);
        statements.push(() => insertValues(access, names, slice, returning, secrets));
      }
    } else {
      for (const { columns, rows: groupRows } of groups) {
        if (columns.length === 0) {
          for (const _row of groupRows) statements.push(() => insertDefaults(access, names, returning));
          continue;
        }
        const copy = access.context?.copy;
        if (copy && !returning && groupRows.length >= COPY_MIN_ROWS && copy.accepts(groupRows)) {
          // COPY: the fastest way in, one statement however many rows
          const statement =
            sql`copy ${sql.table(names.table)} (${sql.join(columns.map((c) => sql.id(names.col(c))))}) from stdin`.compile(
              names.kysely,
            ).sql;
          statements.push(async () => {
            return { rows: [], count: await copy.into(statement, groupRows, access.transaction()) };
          });
          continue;
        }
        const json = jsonPathAllowed(columns, meta, groupRows);
        const chunk = json ? JSON_CHUNK_ROWS : Math.floor(MAX_PARAMETERS / columns.length);
        for (let start = 0; start < groupRows.length; start += chunk) {
          const slice = groupRows.slice(start, start + chunk);
          statements.push(() =>
            json
              ? insertJson(access, names, columns, slice, returning, secrets)
              : insertValues(
                  access,
                  names,
                  slice.map((values) => ({ columns, values })),
                  returning,
                  secrets,
                ),
          );
        }
      }
    }
    const runAll = async (): Promise<Inserted> => {
      const inserted: Row[] = [];
      let count = 0;
      for (const statement of statements) {
        const done = await statement();
        inserted.push(...done.rows);
        count += done.count;
      }
      return { rows: inserted, count };
    };
    const inserted =
      statements.length === 1
        ? await runAll()
        : await withTransaction(access.executor(), runAll, { propagation: 'required' });
    return returning ? inserted.rows : inserted.count;
  });
}

/** INSERT … SELECT FROM json_populate_recordset($1): one parameter however many rows. */
async function insertJson(
  access: TableAccess,
  names: StatementNames,
  columns: readonly string[],
  rows: readonly unknown[][],
  returning: boolean,
  secrets: readonly string[],
): Promise<Inserted> {
  const sqlColumns = columns.map((c) => names.col(c));
  const dateText = access.context?.dateText ?? ((date: Date) => date.toISOString());
  // written key by key (half the time of objects made for JSON.stringify); a missing value is
  // null, as a key left out would be; the values are scalars (see jsonPathAllowed)
  const keys = sqlColumns.map((column, i) => `${i === 0 ? '{' : ','}${JSON.stringify(column)}:`);
  let json = '[';
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    if (r > 0) json += ',';
    for (let i = 0; i < keys.length; i++) json += keys[i]! + JSON.stringify(jsonValue(row[i], dateText) ?? null);
    json += '}';
  }
  json += ']';
  const shape = access.shape(`createManyJson|${columns.join(',')}|${returning}`, 1, () => {
    const source = sql`json_populate_recordset(null::${sql.table(names.table)}, ${arg(0)}::json)`;
    const insert = names.kysely
      .insertInto(names.table)
      .columns(sqlColumns)
      .expression(names.kysely.selectFrom(source.as('r')).select(sqlColumns.map((c) => `r.${c}`)));
    return returning ? returnRows(names, insert) : insert;
  });
  return inserted(await access.runShape(shape, [json], 'write', secrets));
}

/** One row of defaults (INSERT … DEFAULT VALUES). */
async function insertDefaults(access: TableAccess, names: StatementNames, returning: boolean): Promise<Inserted> {
  const shape = access.shape(`createDefaults|${returning}`, 0, () => {
    const insert = names.kysely.insertInto(names.table).defaultValues();
    return returning ? returnRows(names, insert) : insert;
  });
  return inserted(await access.runShape(shape, []));
}

/**
 * A multi-row INSERT … VALUES, for values JSON cannot carry (bytea, arrays, jsonb) and for rows
 * naming different columns (DEFAULT where a row has none).
 */
async function insertValues(
  access: TableAccess,
  names: StatementNames,
  rows: readonly { readonly columns: readonly string[]; readonly values: readonly unknown[] }[],
  returning: boolean,
  secrets: readonly string[],
): Promise<Inserted> {
  if (rows.every(({ columns }) => columns.length === 0)) {
    // a slice of rows that name nothing: VALUES needs a column
    const all: Inserted = { rows: [], count: 0 };
    for (const _row of rows) {
      const one = await insertDefaults(access, names, returning);
      all.rows.push(...one.rows);
      all.count += one.count;
    }
    return all;
  }
  const insert = names.kysely
    .insertInto(names.table)
    .values(rows.map(({ columns, values }) => Object.fromEntries(columns.map((c, i) => [names.col(c), values[i]]))));
  const compiled = (returning ? returnRows(names, insert) : insert).compile() as CompiledQuery<Row>;
  markSecretParameters(compiled.parameters, secrets);
  return inserted(await access.runCompiled(compiled));
}

/** What an insert statement of createMany wrote: its rows (when returned) and how many. */
interface Inserted {
  readonly rows: Row[];
  count: number;
}

/** An insert statement's result as createMany counts it. */
function inserted(result: QueryResult<Row>): Inserted {
  return { rows: result.rows, count: Number(result.numAffectedRows ?? BigInt(result.rows.length)) };
}

/** One value of createMany's row `index`. @throws ValidationError when reading it throws. */
function readKey(row: Row, key: string, index: number): unknown {
  try {
    return row[key];
  } catch (cause) {
    throw new ValidationError(`rows[${index}]`, 'type', `rows[${index}] could not be read`, { cause });
  }
}

/**
 * Whether rows may go through JSON: several, into scalar columns JSON carries as text the column
 * reads as it would read the parameter (no arrays, jsonb, bytea or domains), holding no objects.
 */
function jsonPathAllowed(columns: readonly string[], meta: TableMeta, rows: readonly unknown[][]): boolean {
  if (rows.length < 2) return false;
  for (const column of columns) if (!JSON_PATH_TYPES.has(meta.columns.get(column)?.type ?? '')) return false;
  return rows.every((row) => row.every((v) => v === null || typeof v !== 'object' || v instanceof Date));
}

/** Whether two key lists are the same, in the same order. */
function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
