/**
 * Table maintenance: what a table looks like and how it is doing (getTableInfo), and VACUUM
 * ANALYZE (vacuumAnalyze). Table names arrive as data: they are looked up in the catalog as
 * values, and only the catalog's own names, quoted by Kysely, ever reach SQL text.
 */
import { CamelCasePlugin, sql, type Kysely } from 'kysely';
import { DatabaseError, NotFoundError, ValidationError } from './errors.js';
import { readOptions, requireKysely } from './arguments.js';
import { CAMEL_CASE_NAMING } from './repository/table-metadata.js';
import { checkServedSchema } from './system-schemas.js';
import { currentTransaction } from './transaction/current-transaction.js';

/** One column, in table order. */
export interface ColumnInfo {
  /** As SQL names it (snake_case), not as the CamelCasePlugin shows it. */
  readonly name: string;
  /** The type with its modifiers, as `format_type` prints it (`character varying(255)`, `bigint`). */
  readonly type: string;
  readonly nullable: boolean;
  /** The default expression (`now()`, `true`); null when there is none, and for identity and generated columns. */
  readonly default: string | null;
  /** `always` or `by default` for an identity column, else null. */
  readonly identity: 'always' | 'by default' | null;
  /** The expression of a generated column, else null. */
  readonly generated: string | null;
}

/** One index. */
export interface IndexInfo {
  readonly name: string;
  /** Key columns in order (SQL names); an expression key appears as its expression. */
  readonly columns: readonly string[];
  /** `CREATE [UNIQUE] INDEX …` as PostgreSQL prints it. */
  readonly definition: string;
  readonly unique: boolean;
  /** Backs the primary key. */
  readonly primary: boolean;
  readonly sizeBytes: number;
}

/** What a foreign key does when the referenced row is deleted or its key updated. */
export type ForeignKeyAction = 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';

/** One foreign key of the table (the table is the referencing side). */
export interface ForeignKeyInfo {
  /** The constraint's name. */
  readonly name: string;
  /** Referencing columns, in key order (SQL names). */
  readonly columns: readonly string[];
  readonly referencedSchema: string;
  readonly referencedTable: string;
  /** Referenced columns, in the same order as `columns`. */
  readonly referencedColumns: readonly string[];
  readonly onDelete: ForeignKeyAction;
  readonly onUpdate: ForeignKeyAction;
}

/** Options of getTableInfo and vacuumAnalyze. */
export interface MaintenanceOptions {
  /**
   * The schemas a table may be in. (Default: any but the system ones — pg_catalog,
   * information_schema and pg_toast are never served)
   */
  readonly schemas?: readonly string[];
}

/**
 * What getTableInfo reports. Names are SQL names (snake_case); sizes are bytes. Statistics come
 * from PostgreSQL's cumulative statistics (pg_stat_all_tables), which other sessions report
 * with a delay of up to a few seconds; they are null where PostgreSQL has none for the table.
 */
export interface TableInfo {
  readonly schema: string;
  readonly name: string;
  /** `table`, `partitioned table` or `materialized view`. */
  readonly kind: 'table' | 'partitioned table' | 'materialized view';
  readonly columns: readonly ColumnInfo[];
  /** Primary key columns, in key order; empty when the table has none. */
  readonly primaryKey: readonly string[];
  /** Every index, by name. */
  readonly indexes: readonly IndexInfo[];
  /** Every foreign key of this table, by name. */
  readonly foreignKeys: readonly ForeignKeyInfo[];
  /** Exact, from `count(*)` (a full scan: mind very large tables). */
  readonly rowCount: number;
  /** The planner's estimate (`pg_class.reltuples`); null before the table was first vacuumed or analyzed. */
  readonly estimatedRows: number | null;
  /** The table's own storage, TOAST included, indexes excluded (`pg_table_size`). */
  readonly sizeBytes: number;
  /** All its indexes (`pg_indexes_size`). */
  readonly indexSizeBytes: number;
  /** Table plus indexes (`pg_total_relation_size`). */
  readonly totalSizeBytes: number;
  /** Live rows as the statistics estimate them. */
  readonly liveTuples: number | null;
  /** Dead rows (deleted or updated away, not yet vacuumed) as the statistics estimate them. */
  readonly deadTuples: number | null;
  /** Last manual VACUUM. */
  readonly lastVacuum: Date | null;
  /** Last VACUUM by the autovacuum daemon (always null on the embedded engine, which has none). */
  readonly lastAutovacuum: Date | null;
  /** Last manual ANALYZE (VACUUM ANALYZE included). */
  readonly lastAnalyze: Date | null;
  /** Last ANALYZE by the autovacuum daemon (always null on the embedded engine). */
  readonly lastAutoanalyze: Date | null;
}

/** A table found in the catalog: its oid and its names as the catalog spells them. */
interface ResolvedTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly kind: TableInfo['kind'];
  readonly serverVersion: number;
  readonly hasStats: boolean;
}

const KINDS: Readonly<Record<string, TableInfo['kind']>> = {
  r: 'table',
  p: 'partitioned table',
  m: 'materialized view',
};

const FK_ACTIONS: Readonly<Record<string, ForeignKeyAction>> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};

/** PostgreSQL 15 added pg_stat_force_next_flush(). */
const FORCE_FLUSH_SINCE = 150_000;

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

function dateOrNull(value: unknown): Date | null {
  if (value instanceof Date) return value;
  return typeof value === 'string' || typeof value === 'number' ? new Date(value) : null;
}

function notFound(table: string, alsoTried?: string): NotFoundError {
  const also = alsoTried === undefined ? '' : ` (nor ${JSON.stringify(alsoTried)})`;
  return new NotFoundError(table, table, `table ${JSON.stringify(table)} does not exist${also}`);
}

/** Whether `db` has the CamelCasePlugin: then TypeScript names a table `orderItems` and SQL `order_items`. */
function usesCamelCase(db: Kysely<unknown>): boolean {
  try {
    return db.getExecutor().plugins.some((plugin) => plugin instanceof CamelCasePlugin);
  } catch {
    return false;
  }
}

/** A camelCase identifier, as a TypeScript schema names a table: `orderItems` (not `USERS` or `Users`). */
const CAMEL_CASE_NAME = /^[a-z_][A-Za-z0-9_]*$/;

/**
 * The SQL name of `table` as a Repository on `db` names it: each camelCase part (schema, table)
 * through the CamelCasePlugin's snake_case rule when `db` has that plugin; undefined when that
 * changes nothing. Names that are not camelCase are left alone (no case folding of `USERS`).
 */
function sqlNameOf(db: Kysely<unknown>, table: string): string | undefined {
  if (!usesCamelCase(db)) return undefined;
  const mapped = table
    .split('.')
    .map((part) => (CAMEL_CASE_NAME.test(part) ? CAMEL_CASE_NAMING.toDb(part) : part))
    .join('.');
  return mapped === table ? undefined : mapped;
}

/** `schema.table` split at the first dot, or nulls for a name without one. */
function splitQualified(table: string): [string | null, string | null] {
  const dot = table.indexOf('.');
  return dot > 0 ? [table.slice(0, dot), table.slice(dot + 1)] : [null, null];
}

/** The Kysely to read with: the caller's transaction when there is one, without plugins (exact SQL names). */
function executorFor<DB>(db: Kysely<DB>): Kysely<unknown> {
  const executor = (currentTransaction(db) ?? db) as Kysely<unknown>;
  return executor.withoutPlugins();
}

/**
 * Finds `table` in the catalog, by value: an exact relation name visible on the search path, or
 * `schema.table` (split at the first dot); failing both, the same for `sqlName` (the name the
 * CamelCasePlugin maps it to). No quoting, no case folding.
 * @throws ValidationError when `table` is not a string, or is in a system schema or one outside
 * `schemas`; NotFoundError when there is no such table.
 */
async function resolveTable(
  executor: Kysely<unknown>,
  table: unknown,
  schemas: readonly string[] | undefined,
  sqlName: (table: string) => string | undefined = () => undefined,
): Promise<ResolvedTable> {
  if (typeof table !== 'string') throw new ValidationError('table', 'type', 'table must be a string');
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.every((s) => typeof s === 'string'))) {
    throw new ValidationError('schemas', 'option', 'schemas must be a list of schema names');
  }
  // The name is compared as text (a cast to `name` would cut it to 63 bytes). PostgreSQL text
  // cannot hold NUL, so no relation has one in its name (and the driver would refuse to send it).
  if (table === '' || table.includes('\u0000')) throw notFound(table);
  const [schemaPart, namePart] = splitQualified(table);
  const mapped = sqlName(table) ?? null;
  const [mappedSchema, mappedName] = mapped === null ? [null, null] : splitQualified(mapped);
  const { rows } = await sql<{
    oid: number | string;
    schema: string;
    name: string;
    relkind: string;
    server_version: number | string;
    has_stats: boolean;
  }>`
    select c.oid::int8 as oid, n.nspname::text as schema, c.relname::text as name, c.relkind::text as relkind,
           current_setting('server_version_num')::int as server_version,
           to_regclass('pg_catalog.pg_stat_all_tables') is not null as has_stats
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'm')
      and ((c.relname = ${table}::text and pg_catalog.pg_table_is_visible(c.oid))
        or (n.nspname = ${schemaPart}::text and c.relname = ${namePart}::text)
        or (c.relname = ${mapped}::text and pg_catalog.pg_table_is_visible(c.oid))
        or (n.nspname = ${mappedSchema}::text and c.relname = ${mappedName}::text))
    order by (c.relname = ${table}::text) desc,
             (n.nspname = ${schemaPart}::text and c.relname = ${namePart}::text) is true desc,
             (c.relname = ${mapped}::text) is true desc
    limit 1
  `.execute(executor);
  const row = rows[0];
  const kind = row && KINDS[row.relkind];
  if (!row || !kind) throw notFound(table, mapped ?? undefined);
  checkServedSchema(table, row.schema, schemas);
  return {
    oid: num(row.oid),
    schema: row.schema,
    name: row.name,
    kind,
    serverVersion: num(row.server_version),
    hasStats: row.has_stats,
  };
}

async function columnsOf(executor: Kysely<unknown>, oid: number): Promise<ColumnInfo[]> {
  const { rows } = await sql<{
    name: string;
    type: string;
    nullable: boolean;
    default: string | null;
    identity: string;
    generated: string;
  }>`
    select a.attname::text as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
           not a.attnotnull as nullable, pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default,
           a.attidentity::text as identity, a.attgenerated::text as generated
    from pg_catalog.pg_attribute a
    left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = ${oid}::oid and a.attnum > 0 and not a.attisdropped
    order by a.attnum
  `.execute(executor);
  return rows.map((row) => {
    const generated = row.generated !== '' ? row.default : null;
    return {
      name: row.name,
      type: row.type,
      nullable: row.nullable,
      default: generated === null ? row.default : null,
      identity: row.identity === 'a' ? 'always' : row.identity === 'd' ? 'by default' : null,
      generated,
    };
  });
}

async function indexesOf(executor: Kysely<unknown>, oid: number): Promise<IndexInfo[]> {
  const { rows } = await sql<{
    name: string;
    columns: string[];
    definition: string;
    unique: boolean;
    primary: boolean;
    size_bytes: number | string;
  }>`
    select ic.relname::text as name,
           array(
             select coalesce(a.attname::text, pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true))
             from unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
             left join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum and k.attnum > 0
             where k.ord <= i.indnkeyatts
             order by k.ord
           )::text[] as columns,
           pg_catalog.pg_get_indexdef(i.indexrelid) as definition,
           i.indisunique as unique, i.indisprimary as primary,
           pg_catalog.pg_relation_size(i.indexrelid)::int8 as size_bytes
    from pg_catalog.pg_index i
    join pg_catalog.pg_class ic on ic.oid = i.indexrelid
    where i.indrelid = ${oid}::oid
    order by ic.relname
  `.execute(executor);
  return rows.map((row) => ({
    name: row.name,
    columns: row.columns,
    definition: row.definition,
    unique: row.unique,
    primary: row.primary,
    sizeBytes: num(row.size_bytes),
  }));
}

async function foreignKeysOf(executor: Kysely<unknown>, oid: number): Promise<ForeignKeyInfo[]> {
  const { rows } = await sql<{
    name: string;
    columns: string[];
    referenced_schema: string;
    referenced_table: string;
    referenced_columns: string[];
    on_delete: string;
    on_update: string;
  }>`
    select con.conname::text as name,
           array(
             select a.attname::text from unnest(con.conkey) with ordinality as k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
             order by k.ord
           )::text[] as columns,
           fn.nspname::text as referenced_schema, fc.relname::text as referenced_table,
           array(
             select a.attname::text from unnest(con.confkey) with ordinality as k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum
             order by k.ord
           )::text[] as referenced_columns,
           con.confdeltype::text as on_delete, con.confupdtype::text as on_update
    from pg_catalog.pg_constraint con
    join pg_catalog.pg_class fc on fc.oid = con.confrelid
    join pg_catalog.pg_namespace fn on fn.oid = fc.relnamespace
    where con.conrelid = ${oid}::oid and con.contype = 'f'
    order by con.conname
  `.execute(executor);
  return rows.map((row) => ({
    name: row.name,
    columns: row.columns,
    referencedSchema: row.referenced_schema,
    referencedTable: row.referenced_table,
    referencedColumns: row.referenced_columns,
    onDelete: FK_ACTIONS[row.on_delete] ?? 'no action',
    onUpdate: FK_ACTIONS[row.on_update] ?? 'no action',
  }));
}

async function primaryKeyOf(executor: Kysely<unknown>, oid: number): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select a.attname::text as name
    from pg_catalog.pg_constraint con
    cross join lateral unnest(con.conkey) with ordinality as k(attnum, ord)
    join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
    where con.conrelid = ${oid}::oid and con.contype = 'p'
    order by k.ord
  `.execute(executor);
  return rows.map((row) => row.name);
}

interface StatsRow {
  reltuples: number | string;
  size_bytes: number | string;
  index_size_bytes: number | string;
  total_size_bytes: number | string;
  live_tuples: number | string | null;
  dead_tuples: number | string | null;
  last_vacuum: Date | string | null;
  last_autovacuum: Date | string | null;
  last_analyze: Date | string | null;
  last_autoanalyze: Date | string | null;
}

async function statsOf(executor: Kysely<unknown>, resolved: ResolvedTable): Promise<StatsRow> {
  const { oid } = resolved;
  const sizes = sql`
    c.reltuples::float8 as reltuples,
    pg_catalog.pg_table_size(c.oid)::int8 as size_bytes,
    pg_catalog.pg_indexes_size(c.oid)::int8 as index_size_bytes,
    pg_catalog.pg_total_relation_size(c.oid)::int8 as total_size_bytes`;
  const query = resolved.hasStats
    ? sql<StatsRow>`
        select ${sizes},
               s.n_live_tup::int8 as live_tuples, s.n_dead_tup::int8 as dead_tuples,
               s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze
        from pg_catalog.pg_class c
        left join pg_catalog.pg_stat_all_tables s on s.relid = c.oid
        where c.oid = ${oid}::oid`
    : sql<StatsRow>`
        select ${sizes},
               null::int8 as live_tuples, null::int8 as dead_tuples,
               null::timestamptz as last_vacuum, null::timestamptz as last_autovacuum,
               null::timestamptz as last_analyze, null::timestamptz as last_autoanalyze
        from pg_catalog.pg_class c
        where c.oid = ${oid}::oid`;
  const { rows } = await query.execute(executor);
  const row = rows[0];
  if (!row) throw notFound(`${resolved.schema}.${resolved.name}`);
  return row;
}

/**
 * Everything about one table in one call: its columns in order (name, type, nullable, default,
 * identity, generated), primary key, indexes (with sizes), foreign keys (with their actions), the
 * exact row count and the planner's estimate, table / index / total sizes in bytes, live and
 * dead tuples, and the last manual and automatic VACUUM and ANALYZE.
 *
 * `table` is the table's SQL name exactly as the catalog stores it (`order_items`; unquoted SQL
 * identifiers are stored lower-case), or `schema.table`; or, when `db` has the CamelCasePlugin
 * (createDatabase's default), the name as a Repository on `db` takes it (`orderItems`,
 * `public.orderItems`), mapped to snake_case the plugin's way — the exact name wins when both
 * exist. It is matched as a value — no quotes, no case folding — and only the catalog's own
 * names, quoted, reach the count query, so input
 * like `users; drop table users` is simply a table that does not exist. Tables, partitioned
 * tables and materialized views are found; views, sequences and indexes are not. Every name in
 * the result is the SQL name (snake_case), whatever plugins `db` has.
 *
 * Inside withTransaction (or given a Transaction) it reads through that transaction, so it sees
 * the transaction's own changes. Statistics are PostgreSQL's cumulative ones: this session's are
 * flushed first (PostgreSQL 15 and later, and the embedded engine, so its numbers are current),
 * other sessions' arrive within seconds. On the embedded engine (PGlite) there is no autovacuum,
 * so `lastAutovacuum` and `lastAutoanalyze` are always null; any statistic the engine lacks is
 * reported as null rather than failing.
 *
 * @example
 * const info = await getTableInfo(database.db, 'users');
 * console.log(info.rowCount, info.deadTuples, info.indexes.map((index) => index.name));
 * @throws NotFoundError naming `table` when there is no such table (`table` and `id` hold the
 * name asked for); ValidationError when `db` is not a Kysely, `table` is not a string or is in a system schema
 * (pg_catalog, information_schema, pg_toast) or one outside `options.schemas`; the mapped
 * DatabaseError of a failing query.
 */
export async function getTableInfo<DB>(
  db: Kysely<DB>,
  table: string,
  options?: MaintenanceOptions,
): Promise<TableInfo> {
  requireKysely(db, 'db');
  const { schemas } = readOptions(options, 'options');
  const executor = executorFor(db);
  const resolved = await resolveTable(executor, table, schemas, (name) => sqlNameOf(db as Kysely<unknown>, name));
  const { oid } = resolved;
  if (resolved.serverVersion >= FORCE_FLUSH_SINCE && resolved.hasStats) {
    await sql`select pg_catalog.pg_stat_force_next_flush()`.execute(executor);
  }
  const columns = await columnsOf(executor, oid);
  const primaryKey = await primaryKeyOf(executor, oid);
  const indexes = await indexesOf(executor, oid);
  const foreignKeys = await foreignKeysOf(executor, oid);
  const counted = await sql<{ n: number | string }>`
    select count(*)::int8 as n from ${sql.id(resolved.schema, resolved.name)}
  `.execute(executor);
  const stats = await statsOf(executor, resolved);
  const reltuples = num(stats.reltuples);
  return {
    schema: resolved.schema,
    name: resolved.name,
    kind: resolved.kind,
    columns,
    primaryKey,
    indexes,
    foreignKeys,
    rowCount: num(counted.rows[0]?.n ?? 0),
    estimatedRows: reltuples < 0 ? null : reltuples,
    sizeBytes: num(stats.size_bytes),
    indexSizeBytes: num(stats.index_size_bytes),
    totalSizeBytes: num(stats.total_size_bytes),
    liveTuples: numOrNull(stats.live_tuples),
    deadTuples: numOrNull(stats.dead_tuples),
    lastVacuum: dateOrNull(stats.last_vacuum),
    lastAutovacuum: dateOrNull(stats.last_autovacuum),
    lastAnalyze: dateOrNull(stats.last_analyze),
    lastAutoanalyze: dateOrNull(stats.last_autoanalyze),
  };
}

/**
 * VACUUM ANALYZE of one table, or of the whole database when `table` is omitted: reclaims the
 * space of dead rows and refreshes the planner's statistics. `table` is found in the catalog
 * exactly as getTableInfo finds it (a SQL name or `schema.table`, matched as a value, or the
 * camelCase name a Repository takes when `db` has the CamelCasePlugin), and only
 * the catalog's own names, quoted, reach the statement.
 *
 * VACUUM cannot run inside a transaction block, so this runs on a connection of its own, outside
 * any transaction; called inside withTransaction (or given a Transaction) it refuses at once.
 * The whole-database form vacuums the tables the current role may vacuum (PostgreSQL warns about
 * the others and skips them). DB_STATEMENT_TIMEOUT applies: a large table may need a longer one.
 * Works the same on the embedded engine.
 *
 * @example
 * await vacuumAnalyze(database.db, 'users');
 * await vacuumAnalyze(database.db); // every table
 * @throws DatabaseError when called inside a transaction; NotFoundError naming `table` when there
 * is no such table; ValidationError when `db` is not a Kysely, `table` is not a string, or is in a system schema or
 * one outside `options.schemas`; the mapped DatabaseError of VACUUM itself (for example when the role does not own the table).
 */
export async function vacuumAnalyze<DB>(db: Kysely<DB>, table?: string, options?: MaintenanceOptions): Promise<void> {
  requireKysely(db, 'db');
  const { schemas } = readOptions(options, 'options');
  const kysely = db as Kysely<unknown>;
  if (kysely.isTransaction || currentTransaction(kysely) !== undefined) {
    throw new DatabaseError(
      'vacuumAnalyze() cannot run inside a transaction (VACUUM is not allowed in a transaction block); ' +
        "call it outside withTransaction(), with the Database's Kysely",
    );
  }
  const executor = kysely.withoutPlugins();
  if (table === undefined) {
    await sql`vacuum analyze`.execute(executor);
    return;
  }
  const resolved = await resolveTable(executor, table, schemas, (name) => sqlNameOf(kysely, name));
  await sql`vacuum analyze ${sql.id(resolved.schema, resolved.name)}`.execute(executor);
}
