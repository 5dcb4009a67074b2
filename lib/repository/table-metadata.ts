/**
 * What a repository must know about its table at run time — column names and types, the primary
 * key — read once from the catalog and cached per Database, so column names that arrive as data
 * (a `where` object from a request) are checked against the table, never trusted.
 */
import { CamelCasePlugin, sql, type Kysely } from 'kysely';
import { NotFoundError } from '../errors.js';

/** One column. */
export interface ColumnMeta {
  /** As TypeScript names it. */
  readonly name: string;
  /** As SQL names it. */
  readonly dbName: string;
  /** The type without modifiers (`character varying`, `bigint`, `timestamp with time zone`). */
  readonly type: string;
  readonly nullable: boolean;
  /** Has a default or is an identity / generated column. */
  readonly hasDefault: boolean;
  /** `generated always` (identity or stored): never written. */
  readonly generatedAlways: boolean;
}

/** One table, as the catalog described it when it was read. */
export interface TableMeta {
  /** The schema the name resolved to. */
  readonly schema: string;
  /** Columns by their TypeScript name. */
  readonly columns: ReadonlyMap<string, ColumnMeta>;
  /** Primary key columns, as TypeScript names them, in the key's order (empty: the table has none). */
  readonly primaryKey: readonly string[];
  /**
   * Column sets that identify a row: the primary key and every unique index over NOT NULL columns
   * with no predicate or expression, as TypeScript names them.
   */
  readonly uniqueKeys: readonly (readonly string[])[];
  /**
   * Whether the catalog can declare the relation's keys: true for tables; false for views and
   * foreign tables, whose keys only their owner knows.
   */
  readonly keysDeclared: boolean;
  /** When it was read (performance.now()). */
  readonly readAt: number;
  /** Read again because the table seemed to have changed (not a first read). */
  refreshed: boolean;
  /** Set once the table is known to have changed since: the next call reads it again. */
  stale: boolean;
}

/** How TypeScript names relate to SQL names. */
export interface Naming {
  toTs(dbName: string): string;
  toDb(tsName: string): string;
}

/** The CamelCasePlugin's own conversions (default options), as a Naming. */
class CamelCaseNaming extends CamelCasePlugin implements Naming {
  toTs(name: string): string {
    return this.camelCase(name);
  }
  toDb(name: string): string {
    return this.snakeCase(name);
  }
}

/** snake_case in SQL, camelCase in TypeScript (the CamelCasePlugin's default rules). */
export const CAMEL_CASE_NAMING: Naming = new CamelCaseNaming();
/** The same names on both sides. */
export const IDENTITY_NAMING: Naming = { toTs: (name) => name, toDb: (name) => name };

interface ColumnRow {
  schema: string;
  relkind: string;
  keys: KeyRow[];
  name: string;
  type: string;
  nullable: boolean;
  hasDefault: boolean;
  generatedAlways: boolean;
}

interface KeyRow {
  primary: boolean;
  columns: string[];
}

const cache = new WeakMap<object, Map<string, Promise<TableMeta>>>();

/**
 * Reads (once per `owner`, usually the Database's Kysely) the columns and primary key of `table`.
 * Runs on `executor`, so inside a transaction it sees that transaction's schema.
 * @throws NotFoundError when the table does not exist.
 */
export async function tableMetadata(
  executor: Kysely<unknown>,
  owner: object,
  table: string,
  naming: Naming,
): Promise<TableMeta> {
  let tables = cache.get(owner);
  if (!tables) {
    tables = new Map();
    cache.set(owner, tables);
  }
  let pending = tables.get(table);
  if (!pending) {
    pending = readTable(executor, table, naming);
    tables.set(table, pending);
    pending.catch(() => tables.delete(table));
  }
  return pending;
}

/**
 * Forgets what was read of `table` for `owner`: the description in use is marked stale, so every
 * repository on it reads the catalog again on its next call. Never throws.
 */
export function invalidateTableMetadata(owner: object, table: string, meta: TableMeta): void {
  if (meta.stale) return; // someone already did: the map may hold a newer read
  meta.stale = true;
  cache.get(owner)?.delete(table);
}

async function readTable(executor: Kysely<unknown>, table: string, naming: Naming): Promise<TableMeta> {
  const qualified = table.split('.').map((part) => naming.toDb(part));
  // quote_ident keeps the name a name: to_regclass never parses it as anything else
  const regclass =
    qualified.length === 2
      ? sql`to_regclass(quote_ident(${qualified[0]}) || '.' || quote_ident(${qualified[1]}))`
      : sql`to_regclass(quote_ident(${qualified[0]}))`;
  // one round trip: the columns, each row also carrying the primary key and the unique indexes
  // (their columns in the index's order)
  const { rows } = await sql<ColumnRow>`
    select (select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = a.attrelid) as "schema",
           (select c.relkind::text from pg_class c where c.oid = a.attrelid) as "relkind",
           a.attname as "name",
           format_type(a.atttypid, null) as "type",
           not a.attnotnull as "nullable",
           (a.atthasdef or a.attidentity <> '' or a.attgenerated <> '') as "hasDefault",
           (a.attidentity = 'a' or a.attgenerated <> '') as "generatedAlways",
           (select coalesce(json_agg(json_build_object(
                       'primary', i.indisprimary,
                       'columns', array(select k.attname::text
                                          from unnest(i.indkey) with ordinality u(attnum, n)
                                          join pg_attribute k on k.attrelid = i.indrelid and k.attnum = u.attnum
                                         order by u.n))
                     order by not i.indisprimary, i.indexrelid), '[]'::json)
                from pg_index i
               where i.indrelid = a.attrelid and i.indisunique and i.indisvalid
                 and i.indpred is null and i.indexprs is null) as "keys"
      from pg_attribute a
     where a.attrelid = ${regclass} and a.attnum > 0 and not a.attisdropped
     order by a.attnum`.execute(executor);
  if (rows.length === 0) throw new NotFoundError(table, table, `table ${table} does not exist`);
  const keys = { rows: rows[0]!.keys };
  const columns = new Map<string, ColumnMeta>();
  for (const row of rows) {
    const name = naming.toTs(row.name);
    columns.set(name, {
      name,
      dbName: row.name,
      type: row.type,
      nullable: row.nullable,
      hasDefault: row.hasDefault,
      generatedAlways: row.generatedAlways,
    });
  }
  const tsName = (dbName: string): string => naming.toTs(dbName);
  const primaryKey = keys.rows.find((key) => key.primary)?.columns.map(tsName) ?? [];
  const uniqueKeys = keys.rows
    .map((key) => key.columns.map(tsName))
    .filter((key) => key.length > 0 && key.every((name) => columns.get(name)?.nullable === false));
  return {
    schema: rows[0]!.schema,
    columns,
    primaryKey,
    uniqueKeys,
    // ordinary, partitioned and materialized: the relations an index (and so a key) can be on
    keysDeclared: ['r', 'p', 'm'].includes(rows[0]!.relkind),
    readAt: performance.now(),
    refreshed: false,
    stale: false,
  };
}
