/**
 * What every repository method needs for its table: the table as read from the catalog (read
 * again when it changed), the compiled query shapes, and where statements run — the bound or
 * ambient transaction, else the Database's fast path, else Kysely. The engine is reached only
 * through the Database's context (database-context.ts), never imported.
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { databaseContext, type DatabaseContext } from '../database-context.js';
import { DatabaseError, ValidationError } from '../errors.js';
import { markSecretParameters } from '../secret-parameters.js';
import type { StatementIntent } from '../statement-engine.js';
import { withTemporalTexts, type TemporalTexts } from '../temporal-texts.js';
import { checkServedSchema } from '../system-schemas.js';
import { currentTransaction } from '../transaction/current-transaction.js';
import { deletedFilter, type DeletedMode } from './deleted-filter.js';
import { bindCompiled, bindShape, compileShape, ShapeCache, type QueryShape } from './query-shape.js';
import { preparedWhenRecurring } from './recurring-statements.js';
import { checkOptionColumns, type LooseOptions } from './repository-options.js';
import { maskSecretColumns, NO_SECRETS, secretValues, type SecretColumns } from './secret-columns.js';
import {
  selectRows,
  sqlNamesFor,
  sqlTableName,
  typeScriptNamesFor,
  type AnyKysely,
  type FromBuilder,
  type Row,
  type SelectBuilder,
  type StatementNames,
  type WhereFn,
} from './sql-names.js';
import { keyOption, resolveKey } from './table-key.js';
import {
  CAMEL_CASE_NAMING,
  IDENTITY_NAMING,
  invalidateTableMetadata,
  tableMetadata,
  type ColumnMeta,
  type Naming,
  type TableMeta,
} from './table-metadata.js';
import { applyWhere, fromCallback, planWhere } from './where-plan.js';

/**
 * Compiled shapes of every repository, per description of a table and options. Input can make
 * new shapes at will (a where key, a sort column), so both caches are bounded: the shared one keeps
 * the 5,000 most recently used per table, a repository's own map (a faster first look) 500.
 */
const shapes = new ShapeCache(5_000);
const REPOSITORY_SHAPES = 500;

/** A repository reads a table's catalog again after a ValidationError at most this often. */
const REFRESH_INTERVAL_MS = 1_000;

/** What a repository reads from the catalog once: the table's columns, and its SQL names. */
export interface Loaded {
  readonly meta: TableMeta;
  readonly sqlNames: StatementNames;
  /** The key columns, in the key's order; undefined when the table has none (and none was named). */
  readonly key: readonly ColumnMeta[] | undefined;
  /** The table's columns and the secret ones among them, when there are secret ones. */
  readonly secret: SecretColumns | undefined;
}

/** The parts of a select that callers vary (see {@link TableAccess.select}). */
export interface SelectParts {
  readonly columns?: (names: StatementNames, q: FromBuilder) => SelectBuilder;
  readonly extend?: (names: StatementNames, q: SelectBuilder, base: number) => SelectBuilder;
  readonly args?: readonly unknown[];
  /** Carried by the statement, for an engine that parses its timestamp fields through it. */
  readonly texts?: TemporalTexts;
}

/** One repository's access to its table; a copy bound to a transaction shares everything but `bound`. */
export class TableAccess {
  /** The Kysely the repository was built on (the Database's, usually). */
  readonly db: Kysely<unknown>;
  readonly table: string;
  readonly options: LooseOptions;
  /** A transaction bound by withTransaction(trx); otherwise the ambient one, or the pool. */
  readonly bound: Kysely<unknown> | undefined;
  /** The Database behind `db`, when createDatabase made it. */
  readonly context: DatabaseContext | undefined;
  readonly naming: Naming;
  /** The table as SQL names it (`order_lines` for `orderLines` under the CamelCasePlugin). */
  readonly sqlTable: string;
  private readonly prepare: boolean;
  /** The key columns the options name (TypeScript names); undefined: the table's primary key. */
  private readonly keyOption: readonly string[] | undefined;
  /** Columns whose values are secret (TypeScript names). */
  readonly secretColumns: ReadonlySet<string>;
  /** The key of this repository's compiled shapes: table and options. */
  private readonly scope: string;
  /** Filled on first use and shared by copies bound to a transaction. */
  private readonly state: {
    loaded: Loaded | undefined;
    shapes: Map<string, QueryShape>;
    /** SQL names of columns (and aliases) as TypeScript names them, for rows of where callbacks. */
    tsNames: Map<string, string>;
  };

  /** Access to `table` with `options` (already checked by checkOptions). */
  constructor(db: Kysely<unknown>, table: string, options: LooseOptions) {
    this.db = db;
    this.table = table;
    this.options = options;
    this.bound = undefined;
    this.context = databaseContext(db);
    this.naming = (options.camelCase ?? this.context?.camelCase ?? false) ? CAMEL_CASE_NAMING : IDENTITY_NAMING;
    this.sqlTable = sqlTableName(table, this.naming);
    this.prepare = options.prepare ?? this.context?.config.preparedStatements ?? true;
    this.keyOption = keyOption(options.primaryKey);
    this.secretColumns = new Set(options.secretColumns ?? []);
    this.state = { loaded: undefined, shapes: new Map(), tsNames: new Map() };
    // compiled shapes depend on the options as much as on the table
    this.scope = JSON.stringify([
      table,
      this.keyOption ?? null,
      options.softDelete ?? null,
      options.version ?? null,
      options.updatedAt ?? null,
      this.prepare,
      this.naming === CAMEL_CASE_NAMING,
    ]);
  }

  /**
   * Runs the repository method `method` in an OpenTelemetry span (`Repository.findById orders`)
   * when the Database reports to one; else just runs it. Returns what `fn` returns.
   * @throws what `fn` throws.
   */
  traced<T>(method: string, fn: () => Promise<T>): Promise<T> {
    const telemetry = this.context?.telemetry;
    return telemetry === undefined ? fn() : telemetry.call('Repository', method, this.sqlTable, fn);
  }

  /** A copy that runs every statement in `trx`, sharing what was read and compiled. */
  boundTo(trx: Kysely<unknown>): TableAccess {
    const copy = Object.create(TableAccess.prototype, Object.getOwnPropertyDescriptors(this)) as TableAccess;
    Object.defineProperty(copy, 'bound', { value: trx, enumerable: true, writable: false, configurable: true });
    return copy;
  }

  /** The key cursors are signed with: the option's, else the Database's DB_CURSOR_SECRET, else none. */
  cursorSecret(): string | undefined {
    return this.options.cursorSecret ?? this.context?.config.cursorSecret;
  }

  /**
   * The key columns, for a method that needs them.
   * @throws ValidationError (field `primaryKey`) when the table has no primary key and the
   * options name none.
   */
  requireKey(loaded: Loaded, method: string): readonly ColumnMeta[] {
    if (loaded.key) return loaded.key;
    throw new ValidationError(
      'primaryKey',
      'required',
      `${this.table} has no primary key, so ${method} cannot name a row: set the primaryKey option to a unique set of NOT NULL columns, or use the methods that take a where`,
    );
  }

  /** The bound or ambient transaction, if any. */
  transaction(): Kysely<unknown> | undefined {
    return this.bound ?? currentTransaction(this.db);
  }

  /** Where calls run: the bound transaction, else the ambient one of withTransaction, else the pool. */
  executor(): Kysely<unknown> {
    return this.transaction() ?? this.db;
  }

  /** The table's columns and SQL names, read from the catalog once per Database. */
  async load(): Promise<Loaded> {
    const meta = await tableMetadata(this.executor(), this.db, this.table, this.naming);
    checkServedSchema(this.table, meta.schema, this.options.schemas);
    const key = resolveKey(this.table, this.keyOption, meta);
    checkOptionColumns(this.table, this.options, meta);
    if (this.state.loaded?.meta !== meta) this.state.shapes.clear();
    const sqlNames = sqlNamesFor(this.db.withoutPlugins() as unknown as AnyKysely, this.table, meta, this.naming);
    const secret =
      this.secretColumns.size === 0
        ? undefined
        : {
            columns: [...meta.columns.values()].map((c) => c.dbName),
            secret: new Set([...this.secretColumns].map((c) => meta.columns.get(c)!.dbName)),
          };
    this.state.loaded = { meta, sqlNames, key, secret };
    return this.state.loaded;
  }

  /** What was read of the table, unless it is known to have changed since. */
  current(): Loaded | undefined {
    const loaded = this.state.loaded;
    return loaded !== undefined && !loaded.meta.stale ? loaded : undefined;
  }

  /**
   * Runs a call with what is known of the table. When the call fails because the table changed
   * under it — a column it does not know or a value that does not fit a column's known type
   * (ValidationError, at most once a second per table), a column the server no longer has
   * (42703) or a row type that changed (0A000) — reads the catalog again and, when the table did
   * change and nothing can have been half-done (the call had not run, or ran outside a
   * transaction and failed whole), runs the call once more.
   * @throws what the call throws.
   */
  async guarded<T>(call: (loaded: Loaded) => Promise<T>): Promise<T> {
    const loaded = this.current() ?? (await this.load());
    try {
      return await call(loaded);
    } catch (error) {
      if (loaded.secret) maskSecretColumns(error, loaded.secret);
      if (!(await this.reloadedAfter(error, loaded))) throw error;
      const again = this.current() ?? (await this.load());
      try {
        return await call(again);
      } catch (retryError) {
        if (again.secret) maskSecretColumns(retryError, again.secret);
        throw retryError;
      }
    }
  }

  /** The values of `args` bound to secret columns (`columns[i]` holds `args[i]`). */
  secretsIn(columns: readonly string[], args: readonly unknown[]): readonly string[] {
    return this.secretColumns.size === 0 ? NO_SECRETS : secretValues(this.secretColumns, columns, args);
  }

  /** Whether `error` showed the table changed, and it was read again, so the call may run once more. */
  private async reloadedAfter(error: unknown, loaded: Loaded): Promise<boolean> {
    const meta = loaded.meta;
    if (error instanceof ValidationError) {
      if (error.rule !== 'column' && error.rule !== 'type') return false;
      // input can name unknown columns at will: a refresh follows a refresh only a second later
      if (meta.refreshed && performance.now() - meta.readAt < REFRESH_INTERVAL_MS) return false;
    } else if (!(error instanceof DatabaseError) || (error.code !== '42703' && error.code !== '0A000')) {
      return false;
    }
    invalidateTableMetadata(this.db, this.table, meta);
    if (!(error instanceof ValidationError) && this.transaction()) return false;
    const fresh = await this.load();
    fresh.meta.refreshed = true;
    return columnsSignature(fresh.meta) !== columnsSignature(meta);
  }

  /** Names with TypeScript names, through the Kysely instance's plugins (for where callbacks). */
  typeScriptNames(): StatementNames {
    return typeScriptNamesFor(this.db as unknown as AnyKysely, this.table);
  }

  /** The compiled shape for `key`, built the first time. */
  shape(key: string, arity: number, build: () => Compilable): QueryShape {
    // this repository's own map first (short keys, no string building on the hot path), then
    // the Database's, so repositories made per request share compiled shapes
    let shape = this.state.shapes.get(key);
    if (!shape) {
      // per description of the table: a table read again after a change gets shapes of its own
      shape = shapes.get(this.state.loaded!.meta, `${this.scope}|${key}`, () =>
        compileShape(build, arity, this.prepare),
      );
      if (this.state.shapes.size >= REPOSITORY_SHAPES) this.state.shapes.clear();
      this.state.shapes.set(key, shape);
    }
    return shape;
  }

  /**
   * Runs a shape: in the bound or ambient transaction when there is one, else straight on the
   * pool (the Database's fast path), else through Kysely.
   */
  runShape(
    shape: QueryShape,
    args: readonly unknown[],
    intent: StatementIntent = 'write',
    secrets: readonly string[] = NO_SECRETS,
  ): Promise<QueryResult<Row>> {
    const compiled = bindShape<Row>(shape, args);
    markSecretParameters(compiled.parameters, secrets);
    return this.runCompiled(compiled, intent);
  }

  /** Runs a statement written with SQL names, as runShape does. */
  runCompiled(compiled: CompiledQuery<Row>, intent: StatementIntent = 'write'): Promise<QueryResult<Row>> {
    const trx = this.transaction();
    if (trx) {
      const executeIn = this.context?.executeIn;
      // never through the plugins' result transforms: the CamelCasePlugin would rename the keys
      // inside json values too
      return executeIn ? executeIn<Row>(trx, compiled) : trx.withoutPlugins().executeQuery(compiled);
    }
    const execute = this.context?.execute;
    return execute ? execute<Row>(compiled, intent) : this.db.withoutPlugins().executeQuery(compiled);
  }

  /**
   * Runs a statement compiled through the Kysely instance's plugins (a where callback speaks
   * TypeScript names), as runCompiled does, as a named prepared statement once its text recurs; renames the columns of its rows to TypeScript names,
   * at the top level only, as the CamelCasePlugin would without touching json values.
   */
  async runTyped(compiled: CompiledQuery<Row>, intent: StatementIntent): Promise<QueryResult<Row>> {
    const query = this.prepare ? preparedWhenRecurring(this.db, compiled) : compiled;
    const result = await this.runCompiled(query, intent);
    if (this.naming === IDENTITY_NAMING || result.rows.length === 0) return result;
    const names = this.state.tsNames;
    const rows = result.rows.map((row) => {
      const renamed: Row = {};
      for (const key of Object.keys(row)) {
        let name = names.get(key);
        if (name === undefined) {
          name = this.naming.toTs(key);
          names.set(key, name);
        }
        renamed[name] = row[key];
      }
      return renamed;
    });
    return { ...result, rows };
  }

  /**
   * A select with `where`, the soft-delete filter, `columns` (default: every column) and `extend`
   * (order, limit…): a cached shape, unless `where` is a callback (then written with TypeScript
   * names through the plugins). `args` are the arguments `extend` uses after the where values.
   */
  async select(where: unknown, mode: DeletedMode, key: string, parts: SelectParts): Promise<Row[]> {
    const { meta, sqlNames } = this.current() ?? (await this.load());
    const columns = parts.columns ?? selectRows;
    const extend = parts.extend ?? ((_names: StatementNames, q: SelectBuilder) => q);
    const args = parts.args ?? [];
    const soft = this.options.softDelete;
    if (typeof where === 'function') {
      const names = this.typeScriptNames();
      const compiled = fromCallback(() =>
        extend(
          names,
          deletedFilter(
            soft,
            names,
            columns(names, names.kysely.selectFrom(names.table)).where(where as WhereFn),
            mode,
          ),
          0,
        ).compile(),
      );
      const bound = bindCompiled(compiled, args);
      return (await this.runTyped(parts.texts ? withTemporalTexts(bound, parts.texts) : bound, 'read')).rows;
    }
    const plan = planWhere(this.table, where, meta, this.secretColumns);
    const arity = plan.values.length + args.length;
    const shape = this.shape(`${key}|${mode}|${plan.key}`, arity, () => {
      const query = deletedFilter(
        soft,
        sqlNames,
        applyWhere(sqlNames, columns(sqlNames, sqlNames.kysely.selectFrom(sqlNames.table)), plan, 0),
        mode,
      );
      return extend(sqlNames, query, plan.values.length);
    });
    const bound = bindShape<Row>(shape, [...plan.values, ...args]);
    markSecretParameters(bound.parameters, plan.secrets);
    return (await this.runCompiled(parts.texts ? withTemporalTexts(bound, parts.texts) : bound, 'read')).rows;
  }
}

/** The table's columns and their types, to tell whether it changed. */
function columnsSignature(meta: TableMeta): string {
  return [...meta.columns.values()].map((c) => `${c.dbName}:${c.type}:${c.nullable}:${c.generatedAlways}`).join(',');
}
