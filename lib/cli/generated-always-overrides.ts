/**
 * Column overrides for kysely-codegen: `GeneratedAlways<T>` for identity-always and stored
 * generated columns, so neither an insert nor an update that sets them compiles. kysely-codegen
 * itself only knows `Generated<T>` (insert optional, update allowed).
 */
import { sql, type Kysely } from 'kysely';

/**
 * TypeScript for a column's PostgreSQL type, as the generated file maps it (the type mapping of
 * generateTypes and kysely-codegen's defaults). Columns of other types keep kysely-codegen's type.
 */
const TS_TYPE_OF: Readonly<Record<string, string>> = {
  int2: 'number',
  int4: 'number',
  int8: 'string',
  float4: 'number',
  float8: 'number',
  numeric: 'string',
  text: 'string',
  varchar: 'string',
  bool: 'boolean',
  uuid: 'string',
  timestamptz: 'Date',
};

/**
 * `{ 'table.column': 'GeneratedAlways<T>' }` for every identity-always and stored generated column
 * of the `public` schema whose type TS_TYPE_OF knows.
 *
 * @example
 * const overrides = await generatedAlwaysOverrides(db.withoutPlugins()); // { 'users.id': 'GeneratedAlways<string>' }
 * @throws what the catalog query throws (pg's error).
 */
export async function generatedAlwaysOverrides(db: Kysely<unknown>): Promise<Record<string, string>> {
  const { rows } = await sql<{ table: string; column: string; type: string; nullable: boolean }>`
    select c.relname as table, a.attname as column, t.typname as type, not a.attnotnull as nullable
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
    join pg_type t on t.oid = a.atttypid
    where n.nspname = 'public' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
      and (a.attidentity = 'a' or a.attgenerated = 's')
    order by c.relname, a.attname
  `.execute(db);
  const overrides: Record<string, string> = {};
  for (const row of rows) {
    const type = TS_TYPE_OF[row.type];
    if (type) overrides[`${row.table}.${row.column}`] = `GeneratedAlways<${type}${row.nullable ? ' | null' : ''}>`;
  }
  return overrides;
}
