/**
 * Generated table schemas for the differential test: a primary key, some data columns of the
 * types Repository is meant to handle, optionally a soft-delete column and a version column.
 * The package's table and the reference table are made from the same TableSpec.
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
export type KeyType = 'bigint' | 'uuid' | 'text';
export type ColumnType = DataType | 'uuid';

/**
 * How a primary key column gets its value: an identity (`always` refuses explicit values,
 * `by default` takes them), a uuid with `default gen_random_uuid()`, or text the caller gives.
 * The uuid default is never relied on: the two tables would draw different uuids, so every
 * uuid is given explicitly.
 */
export type KeyKind = 'identity always' | 'identity by default' | 'uuid' | 'text';

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

export interface KeySpec extends ColumnSpec {
  readonly kind: KeyKind;
}

export interface TableSpec {
  /**
   * The primary key columns. Always exactly one today: Repository does not support composite
   * primary keys yet (its `primaryKey` option names one column). To extend, raise KEY_ARITY's
   * maximum below, teach the op generators to build ids for several columns, and give the
   * reference and the package side a composite id; everything else already iterates over `key`.
   */
  readonly key: readonly KeySpec[];
  readonly columns: readonly ColumnSpec[];
  readonly softDelete: { readonly column: ColumnSpec; readonly kind: 'timestamp' | 'boolean' } | undefined;
  readonly version: ColumnSpec | undefined;
}

/** The single primary key column (see TableSpec.key). */
export function keyColumn(spec: TableSpec): KeySpec {
  const key = spec.key[0];
  if (key === undefined || spec.key.length !== 1) throw new Error('composite primary keys are not supported yet');
  return key;
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

/** One-column primary keys today; see TableSpec.key. */
const KEY_ARITY = { min: 1, max: 1 };

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

function keySpec(kind: KeyKind, name: string): KeySpec {
  const type: KeyType = kind === 'uuid' ? 'uuid' : kind === 'text' ? 'text' : 'bigint';
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

/** Table schemas. */
export const tableSpecArbitrary: fc.Arbitrary<TableSpec> = fc
  .record({
    keyKinds: fc.array(keyKind, { minLength: KEY_ARITY.min, maxLength: KEY_ARITY.max }),
    keyName: fc.constantFrom('id', 'pk_id'),
    drafts: fc.array(dataColumnDraft, { minLength: 1, maxLength: 6 }),
    uniqueIndex: fc.option(fc.nat(), { nil: undefined, freq: 3 }),
    softDelete: fc.constantFrom<'timestamp' | 'boolean' | undefined>(undefined, 'timestamp', 'boolean'),
    version: fc.boolean(),
  })
  .map(({ keyKinds, keyName, drafts, uniqueIndex, softDelete, version }): TableSpec => {
    const key = keyKinds.map((kind, i) => keySpec(kind, i === 0 ? keyName : `${keyName}_${i}`));
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

function isKeyColumn(column: ColumnSpec): column is KeySpec {
  return 'kind' in column;
}

/** CREATE TABLE for `spec` under the SQL name `table`. */
export function createTableSql(spec: TableSpec, table: string): string {
  const lines = allColumns(spec).map(columnDdl);
  lines.push(`primary key (${spec.key.map((k) => quote(k.sql)).join(', ')})`);
  return `create table ${quote(table)} (\n  ${lines.join(',\n  ')}\n)`;
}

/** Repository options for the table, as the package takes them. */
export function repositoryOptions(spec: TableSpec): {
  primaryKey: string;
  softDelete?: { column: string; kind: 'timestamp' | 'boolean' };
  version?: string;
} {
  return {
    primaryKey: keyColumn(spec).ts,
    ...(spec.softDelete ? { softDelete: { column: spec.softDelete.column.ts, kind: spec.softDelete.kind } } : {}),
    ...(spec.version ? { version: spec.version.ts } : {}),
  };
}

/** The schema in one line per column, for failure messages. */
export function describeSpec(spec: TableSpec): string {
  const opts = repositoryOptions(spec);
  return `${createTableSql(spec, 't')}\nRepository options: ${JSON.stringify(opts)}`;
}
