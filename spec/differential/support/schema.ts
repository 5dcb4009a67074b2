/**
 * Generated table schemas for the differential test: a primary key of one column, a composite
 * one (2–3 columns of mixed types), or none; some data columns of the types Repository is meant
 * to handle, optionally a soft-delete column and a version column. The package's table and the
 * reference table are made from the same TableSpec.
 */
import fc from 'fast-check';

/** Types of data columns. */
export const DATA_TYPES = [
  'text',
  'integer',
  'bigint',
  'numeric',
  'double precision',
  'boolean',
  'timestamptz',
  'timestamp',
  'date',
  'jsonb',
] as const;
export type DataType = (typeof DATA_TYPES)[number];

/** Types a primary key column can have. */
export type KeyType = 'bigint' | 'integer' | 'uuid' | 'text' | 'date';
export type ColumnType = DataType | 'uuid';

/**
 * How a primary key column gets its value: an identity (`always` refuses explicit values,
 * `by default` takes them), a uuid with `default gen_random_uuid()`, or a value of the column's
 * type the caller gives (text, and the columns of composite keys: integer, bigint, date too).
 * The uuid default is never relied on: the two tables would draw different uuids, so every
 * uuid is given explicitly.
 */
export type KeyKind = 'identity always' | 'identity by default' | 'uuid' | 'text' | 'integer' | 'bigint' | 'date';

/** Key kinds whose values callers give (every kind but the identities). */
const GIVEN_KEY_KINDS: readonly KeyKind[] = ['uuid', 'text', 'integer', 'bigint', 'date'];

export interface ColumnSpec {
  /** As SQL names it (snake_case). */
  readonly sql: string;
  /** As TypeScript names it (camelCase, what the CamelCasePlugin maps it to). */
  readonly ts: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
  readonly unique: boolean;
  /** A constant DEFAULT expression, or undefined. Never now() or random(): both tables must agree. */
  readonly defaultSql: string | undefined;
}

/** A primary key column. Its `unique` is true: its values are drawn to collide (see collidingValue). */
export interface KeySpec extends ColumnSpec {
  readonly kind: KeyKind;
}

/**
 * How the Repository is told its key: not at all (read from the catalog), the key columns in
 * their declared order, or (composite keys) in reverse order: the option's order is the key's
 * order then (the tie-breakers of every sort follow it).
 */
export type KeyOption = 'catalog' | 'declared' | 'reversed';

export interface TableSpec {
  /**
   * The primary key columns, in the order the table declares them: one, several (a composite
   * key, whose ids are objects of its columns), or none (a table without a primary key: the
   * methods that take an id, and keyset pages, are a ValidationError).
   */
  readonly key: readonly KeySpec[];
  readonly keyOption: KeyOption;
  readonly columns: readonly ColumnSpec[];
  readonly softDelete: { readonly column: ColumnSpec; readonly kind: 'timestamp' | 'boolean' } | undefined;
  readonly version: ColumnSpec | undefined;
}

/** The key columns in the Repository's order (the option's, else the declared one); empty without a key. */
export function keyColumns(spec: TableSpec): readonly KeySpec[] {
  return spec.keyOption === 'reversed' ? [...spec.key].reverse() : spec.key;
}

/** Whether callers give the key column's values (not an identity). */
export function isGivenKey(key: KeySpec): boolean {
  return GIVEN_KEY_KINDS.includes(key.kind);
}

/** Every column in table order: key, data, soft delete, version. */
export function allColumns(spec: TableSpec): ColumnSpec[] {
  return [
    ...spec.key,
    ...spec.columns,
    ...(spec.softDelete ? [spec.softDelete.column] : []),
    ...(spec.version ? [spec.version] : []),
  ];
}

/** Columns a create or update may write (not a generated-always key). */
export function writableColumns(spec: TableSpec): ColumnSpec[] {
  return allColumns(spec).filter((c) => !('kind' in c && c.kind === 'identity always'));
}

/**
 * Whether a column's values differ between the two tables by design: the soft-delete timestamp
 * (now() when each side deleted). It is compared as set / not set, and filtered only by IS NULL.
 */
export function isVolatile(spec: TableSpec, column: ColumnSpec): boolean {
  return spec.softDelete?.kind === 'timestamp' && column === spec.softDelete.column;
}

/** Whether a column's type can be sorted (and so used in orderBy). */
export function isSortable(column: ColumnSpec): boolean {
  return column.type !== 'jsonb';
}

/** Whether a column can be a keyset sort column: sortable and its values fit a cursor. */
export function isKeysetSortable(column: ColumnSpec): boolean {
  return isSortable(column);
}

export function isTemporal(type: ColumnType): boolean {
  return type === 'timestamptz' || type === 'timestamp' || type === 'date';
}

export function isNumeric(type: ColumnType): boolean {
  return type === 'integer' || type === 'bigint' || type === 'numeric' || type === 'double precision';
}

const SHORT: Readonly<Record<ColumnType, string>> = {
  text: 'txt',
  integer: 'int',
  bigint: 'big',
  numeric: 'num',
  'double precision': 'dbl',
  boolean: 'bool',
  timestamptz: 'tstz',
  timestamp: 'ts',
  date: 'day',
  jsonb: 'doc',
  uuid: 'uuid',
};

/** snake_case to camelCase as the CamelCasePlugin does it (lower-case letters and digits here). */
export function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** A constant default for a NOT NULL column of `type`. */
function defaultFor(type: DataType): string {
  switch (type) {
    case 'text':
      return `''`;
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'double precision':
      return '0';
    case 'boolean':
      return 'false';
    case 'timestamptz':
      return `'2000-01-01 00:00:00+00'`;
    case 'timestamp':
      return `'2000-01-01 00:00:00'`;
    case 'date':
      return `'2000-01-01'`;
    case 'jsonb':
      return `'{}'::jsonb`;
  }
}

/** How many columns a composite primary key has. */
const KEY_ARITY = { min: 2, max: 3 };

/** Kinds of composite key columns: all given by callers. */
const COMPOSITE_KEY_KINDS: readonly KeyKind[] = ['bigint', 'integer', 'text', 'uuid', 'date'];

interface DataColumnDraft {
  readonly type: DataType;
  readonly nullable: boolean;
  readonly withDefault: boolean;
}

/** A data column, before it gets its name. */
const dataColumnDraft: fc.Arbitrary<DataColumnDraft> = fc.record({
  type: fc.constantFrom(...DATA_TYPES),
  nullable: fc.boolean(),
  withDefault: fc.boolean(),
});

const keyKind: fc.Arbitrary<KeyKind> = fc.constantFrom('identity always', 'identity by default', 'uuid', 'text');

/** Types a unique data column may have (values the generators can make distinct). */
const UNIQUE_TYPES: readonly DataType[] = ['text', 'integer', 'bigint'];

function keyTypeOf(kind: KeyKind): KeyType {
  return kind === 'identity always' || kind === 'identity by default' ? 'bigint' : kind;
}

function keySpec(kind: KeyKind, name: string): KeySpec {
  const type = keyTypeOf(kind);
  return {
    sql: name,
    ts: camel(name),
    type,
    nullable: false,
    unique: true,
    defaultSql: kind === 'uuid' ? 'gen_random_uuid()' : undefined,
    kind,
  };
}

/**
 * The primary key: one column (65%; the option given or read from the catalog), a composite key
 * (25%; its columns named `<name><i>_<type>`), or none (10%).
 */
const keyArbitrary: fc.Arbitrary<{ kinds: readonly KeyKind[]; composite: boolean; option: KeyOption }> = fc.oneof(
  {
    weight: 65,
    arbitrary: fc.record({
      kinds: keyKind.map((k) => [k]),
      composite: fc.constant(false),
      option: fc.constantFrom<KeyOption>('declared', 'catalog'),
    }),
  },
  {
    weight: 25,
    arbitrary: fc.record({
      kinds: fc.array(fc.constantFrom(...COMPOSITE_KEY_KINDS), { minLength: KEY_ARITY.min, maxLength: KEY_ARITY.max }),
      composite: fc.constant(true),
      option: fc.constantFrom<KeyOption>('catalog', 'catalog', 'declared', 'reversed'),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.constant({ kinds: [], composite: false, option: 'catalog' as const }),
  },
);

/** Table schemas. */
export const tableSpecArbitrary: fc.Arbitrary<TableSpec> = fc
  .record({
    keyShape: keyArbitrary,
    keyName: fc.constantFrom('id', 'pk_id'),
    drafts: fc.array(dataColumnDraft, { minLength: 1, maxLength: 6 }),
    uniqueIndex: fc.option(fc.nat(), { nil: undefined, freq: 3 }),
    softDelete: fc.constantFrom<'timestamp' | 'boolean' | undefined>(undefined, 'timestamp', 'boolean'),
    version: fc.boolean(),
  })
  .map(({ keyShape, keyName, drafts, uniqueIndex, softDelete, version }): TableSpec => {
    // `<name><i>_<type>`: the CamelCasePlugin maps `id0_big` to `id0Big` and back (`id_1` would come back as `id1`)
    const key = keyShape.kinds.map((kind, i) =>
      keySpec(kind, keyShape.composite ? `${keyName}${i}_${SHORT[keyTypeOf(kind)]}` : keyName),
    );
    // the unique column (when there is one): the first draft of a type that can be unique, from uniqueIndex on
    const uniqueCandidates = drafts.map((d, i) => (UNIQUE_TYPES.includes(d.type) ? i : -1)).filter((i) => i >= 0);
    const uniqueAt =
      uniqueIndex === undefined || uniqueCandidates.length === 0
        ? -1
        : uniqueCandidates[uniqueIndex % uniqueCandidates.length]!;
    const columns = drafts.map((d, i): ColumnSpec => {
      const name = `c${i}_${SHORT[d.type]}`;
      return {
        sql: name,
        ts: camel(name),
        type: d.type,
        nullable: d.nullable,
        unique: i === uniqueAt,
        defaultSql: !d.nullable && d.withDefault && i !== uniqueAt ? defaultFor(d.type) : undefined,
      };
    });
    return {
      key,
      keyOption: keyShape.option,
      columns,
      softDelete:
        softDelete === undefined
          ? undefined
          : {
              kind: softDelete,
              column:
                softDelete === 'timestamp'
                  ? {
                      sql: 'deleted_at',
                      ts: 'deletedAt',
                      type: 'timestamptz',
                      nullable: true,
                      unique: false,
                      defaultSql: undefined,
                    }
                  : {
                      sql: 'is_active',
                      ts: 'isActive',
                      type: 'boolean',
                      nullable: false,
                      unique: false,
                      defaultSql: 'true',
                    },
            },
      version: version
        ? { sql: 'version', ts: 'version', type: 'integer', nullable: false, unique: false, defaultSql: '1' }
        : undefined,
    };
  });

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function columnDdl(column: ColumnSpec): string {
  const parts = [quote(column.sql), column.type];
  if ('kind' in column) {
    const kind = (column as KeySpec).kind;
    if (kind === 'identity always') parts.push('generated always as identity');
    if (kind === 'identity by default') parts.push('generated by default as identity');
  }
  if (column.defaultSql !== undefined) parts.push(`default ${column.defaultSql}`);
  if (!column.nullable) parts.push('not null');
  if (column.unique && !isKeyColumn(column)) parts.push('unique');
  return parts.join(' ');
}

export function isKeyColumn(column: ColumnSpec): column is KeySpec {
  return 'kind' in column;
}

/** CREATE TABLE for `spec` under the SQL name `table`. */
export function createTableSql(spec: TableSpec, table: string): string {
  const lines = allColumns(spec).map(columnDdl);
  if (spec.key.length > 0) lines.push(`primary key (${spec.key.map((k) => quote(k.sql)).join(', ')})`);
  return `create table ${quote(table)} (\n  ${lines.join(',\n  ')}\n)`;
}

/** Repository options for the table, as the package takes them (no primaryKey: read from the catalog). */
export function repositoryOptions(spec: TableSpec): {
  primaryKey?: string | string[];
  softDelete?: { column: string; kind: 'timestamp' | 'boolean' };
  version?: string;
} {
  const key = keyColumns(spec).map((k) => k.ts);
  return {
    ...(spec.keyOption === 'catalog' || key.length === 0 ? {} : { primaryKey: key.length === 1 ? key[0]! : key }),
    ...(spec.softDelete ? { softDelete: { column: spec.softDelete.column.ts, kind: spec.softDelete.kind } } : {}),
    ...(spec.version ? { version: spec.version.ts } : {}),
  };
}

/** The schema in one line per column, for failure messages. */
export function describeSpec(spec: TableSpec): string {
  const opts = repositoryOptions(spec);
  const key =
    spec.key.length === 0
      ? ' (no primary key)'
      : opts.primaryKey === undefined
        ? ' (no primaryKey: read from the catalog)'
        : '';
  return `${createTableSql(spec, 't')}\nRepository options: ${JSON.stringify(opts)}${key}`;
}
