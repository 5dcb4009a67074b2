/**
 * The types of Repository's methods, derived from the table's Kysely types.
 */
import type { Expression, ExpressionBuilder, Insertable, Selectable, SqlBool, Updateable } from 'kysely';
import type { AllRows } from './all-rows.js';

/** A primary key value as callers pass it: int8 ids arrive from pg as strings. */
export type Id = string | number | bigint;

/** A row as read (Selectable). */
export type RowOf<DB, TB extends keyof DB> = Selectable<DB[TB]>;
/** A row as inserted (Insertable: generated columns optional or absent). */
export type NewRowOf<DB, TB extends keyof DB> = Insertable<DB[TB]>;
/** A change to a row (Updateable: generated-always columns absent). */
export type PatchOf<DB, TB extends keyof DB> = Updateable<DB[TB]>;
/** A column of the table, as TypeScript names it. */
export type ColumnOf<DB, TB extends keyof DB> = keyof RowOf<DB, TB> & string;

/**
 * Columns that hold numbers: read as a number or as int8/numeric text, and written as a number
 * (so text and json columns are not among them). The ones increment() and `version` accept.
 */
export type NumericColumnOf<DB, TB extends keyof DB> = {
  [K in keyof PatchOf<DB, TB> & ColumnOf<DB, TB>]-?: [NonNullable<RowOf<DB, TB>[K]>] extends [number | bigint | string]
    ? number extends NonNullable<PatchOf<DB, TB>[K]>
      ? K
      : never
    : never;
}[keyof PatchOf<DB, TB> & ColumnOf<DB, TB>];

/**
 * The columns that identify a row: one column, or several (a composite key). Omitted, the
 * repository reads the table's primary key from the catalog.
 */
export type KeyColumns<C extends string = string> = C | readonly C[];

/** One part of a key as callers pass it: scalar keys accept any Id (int8 reads back as text). */
export type KeyPart<T> = [NonNullable<T>] extends [number | bigint | string] ? Id : NonNullable<T>;

/**
 * The key of one row, as findById, update, delete, restore and increment take it. For a key of
 * one column, its value (or `{ column: value }`); for a composite key, an object with every key
 * column (`{ orderId, lineNo }`). When the repository was not told its key (read from the catalog
 * at run time), a value or an object of key columns; the call checks it against the real key.
 */
export type KeyOf<DB, TB extends keyof DB, PK> = [PK] extends [readonly (infer C)[]]
  ? { readonly [K in C & ColumnOf<DB, TB>]: KeyPart<RowOf<DB, TB>[K]> }
  : [ColumnOf<DB, TB>] extends [PK]
    ? Id | { readonly [K in ColumnOf<DB, TB>]?: KeyPart<RowOf<DB, TB>[K]> }
    : Id | { readonly [K in PK & ColumnOf<DB, TB>]: KeyPart<RowOf<DB, TB>[K]> };

/**
 * Equality filter: each given column must equal its value; an array means IN; null means IS NULL.
 * Every key must name a column and every value must be given: `undefined` is a ValidationError
 * naming the column, never "no condition". Or a Kysely expression callback for anything more, or
 * {@link allRows} for every row.
 */
export type Where<DB, TB extends keyof DB & string> =
  | { readonly [K in ColumnOf<DB, TB>]?: RowOf<DB, TB>[K] | readonly NonNullable<RowOf<DB, TB>[K]>[] | null }
  | ((eb: ExpressionBuilder<DB, TB>) => Expression<SqlBool>)
  | AllRows;

/** Sort order: one column (ascending), or columns with directions. */
export type OrderBy<DB, TB extends keyof DB & string> =
  ColumnOf<DB, TB> | readonly (readonly [ColumnOf<DB, TB>, 'asc' | 'desc'])[];

/** Which rows count when the table has soft delete. */
export interface DeletedFilter {
  /** Include soft-deleted rows. (Default: false) */
  readonly withDeleted?: boolean;
  /** Only soft-deleted rows. (Default: false) */
  readonly onlyDeleted?: boolean;
}

/** findById's options. */
export interface FindByIdOptions extends DeletedFilter {
  /** Lock the row (SELECT … FOR UPDATE) until the transaction ends. (Default: false) */
  readonly forUpdate?: boolean;
}

/** findMany's query. */
export interface FindManyQuery<DB, TB extends keyof DB & string> extends DeletedFilter {
  readonly where?: Where<DB, TB>;
  /** (Default: the primary key, ascending) */
  readonly orderBy?: OrderBy<DB, TB>;
  /** 1..1000. (Default: 100) */
  readonly limit?: number;
  /** (Default: 0) */
  readonly offset?: number;
}

/** paginate's request: keyset (by `cursor`) unless `offset` is given. */
export interface PageRequest<DB, TB extends keyof DB & string> extends DeletedFilter {
  readonly where?: Where<DB, TB>;
  /** Sort columns; the primary key is always added as the tie-breaker. (Default: the primary key) */
  readonly orderBy?: OrderBy<DB, TB>;
  /** 1..1000. (Default: 100) */
  readonly limit?: number;
  /** The previous page's nextCursor; omit or null for the first page. */
  readonly cursor?: string | null;
  /** Offset pagination instead of keyset. */
  readonly offset?: number;
  /** Also count every matching row (one more query). (Default: false) */
  readonly withTotal?: boolean;
}

/** A page of rows. `total` is present only when asked for. */
export interface Page<T> {
  readonly items: T[];
  /** Pass it back as `cursor` for the next page; null on the last page (and in offset mode). */
  readonly nextCursor: string | null;
  readonly hasMore: boolean;
  readonly total?: number;
}

/** How a table marks a row deleted without removing it. */
export interface SoftDeleteOptions<C extends string = string> {
  /** The column, as TypeScript names it (for example `deletedAt` or `isActive`). */
  readonly column: C;
  /** `timestamp`: set to now() on delete, null while live. `boolean`: true while live, false once deleted. */
  readonly kind: 'timestamp' | 'boolean';
}

/**
 * Options of Repository. `C` is the table's columns and `N` its numeric ones (Repository fills
 * both from the table's types, so a misspelt column does not compile); `PK` the key columns.
 */
export interface RepositoryOptions<C extends string = string, N extends string = C, PK extends KeyColumns<C> = C> {
  /**
   * The columns that identify a row: the table's primary key, or a unique set of NOT NULL columns.
   * (Default: the table's primary key, read from the catalog; a table without one can use every
   * method that takes no key)
   */
  readonly primaryKey?: PK;
  readonly softDelete?: SoftDeleteOptions<C>;
  /** An integer column for optimistic locking: update() then needs the version that was read. */
  readonly version?: N;
  /** Run as named prepared statements. (Default: the Database's DB_PREPARED_STATEMENTS) */
  readonly prepare?: boolean;
  /** The column bumped to now() by update(). (Default: `updatedAt` when the table has it; false: none) */
  readonly updatedAt?: C | false;
  /**
   * Whether the Kysely instance maps snake_case SQL names to camelCase TypeScript names.
   * (Default: as createDatabase made it; false for a Kysely made elsewhere)
   */
  readonly camelCase?: boolean;
  /**
   * Columns whose values are secret (the password hash column, tokens): their values are masked
   * in log lines and in the errors of statements that bind them, and in a failing row's detail.
   */
  readonly secretColumns?: readonly C[];
  /**
   * The schemas this repository may serve. (Default: any schema but the system ones —
   * pg_catalog, information_schema and pg_toast are never served)
   */
  readonly schemas?: readonly string[];
  /**
   * The key cursors are signed with (HMAC-SHA-256), at least 32 characters; every instance that
   * reads a cursor needs the same key. (Default: the Database's DB_CURSOR_SECRET; without one,
   * cursors carry an unkeyed checksum that detects damage, not forgery)
   */
  readonly cursorSecret?: string;
}

/** The options of a Repository over table `TB`, typed by its columns. */
export type RepositoryOptionsOf<
  DB,
  TB extends keyof DB,
  PK extends KeyColumns<ColumnOf<DB, TB>> = ColumnOf<DB, TB>,
> = RepositoryOptions<ColumnOf<DB, TB>, NumericColumnOf<DB, TB>, PK>;

/** createMany's options. */
export interface CreateManyOptions {
  /** Return the inserted rows; false: resolve to the number of rows written. (Default: true) */
  readonly returning?: boolean;
}
