/**
 * Runs the differential property for one configuration: fast-check generates a schema and a list
 * of operations; each run makes the two tables, runs every operation on the package and then on
 * the reference, compares what each returned (or threw), and compares the tables' contents (read
 * with raw pg, every column as text, DateStyle ISO and TimeZone UTC) after every write.
 */
import fc from 'fast-check';
import { CamelCasePlugin, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import {
  createDatabase,
  loadConfig,
  Repository,
  silentLogger,
  withTransaction,
  type Database,
} from '../../../lib/index.js';
import type { RepositoryOptionsOf } from '../../../lib/repository/repository-types.js';
import { configurationId, type Configuration } from './matrix.js';
import {
  describeOp,
  describeOps,
  OPS_LEGEND,
  opsArbitrary,
  type Expr,
  type IdSpec,
  type Op,
  type QuerySpec,
  type RowSpec,
  type SimpleOp,
  type TxItem,
  type ValueSource,
  type WhereSpec,
} from './ops.js';
import {
  explainDifference,
  failure,
  nested,
  normalRow,
  normalRows,
  normalValue,
  RollBack,
  sameOutcome,
  showOutcome,
  success,
  type Normal,
  type Outcome,
} from './outcome.js';
import { PackageSide } from './package-side.js';
import { LoosePage, ReferenceSide, type KeysetWalk } from './reference.js';
import type { DynDB, DynRow, Id, KeyValue, RExpr, ROp, RQuery, RSimple, RSub, RWhere, Values } from './resolved.js';
import {
  allColumns,
  camel,
  createTableSql,
  describeSpec,
  isGivenKey,
  keyColumns,
  repositoryOptions,
  tableSpecArbitrary,
  type ColumnSpec,
  type KeySpec,
  type TableSpec,
} from './schema.js';
import type { Features, Value } from './values.js';

/** How much to run, and how to replay. */
export interface Budget {
  /** Property runs (each: a fresh schema and its operations). */
  readonly runs: number;
  /** Operations per run, at most. */
  readonly maxOps: number;
  readonly seed: number;
  /** fast-check's path of a counterexample, to replay exactly it. */
  readonly path?: string;
  /** After the first failure, how long shrinking may go on before the smallest case so far is reported. */
  readonly shrinkMs: number;
  readonly features: Features;
  /** Shown in the replay hint. */
  readonly replayCommand: string;
}

export interface ConfigurationReport {
  readonly configuration: Configuration;
  readonly id: string;
  readonly failed: boolean;
  /** The whole failure report (configuration, seed, path, schema, shrunk operations, difference). */
  readonly message: string;
  readonly seed: number;
  readonly runs: number;
  /** Operations run, shrinking included. */
  readonly operations: number;
  readonly elapsedMs: number;
  readonly stats: RunStats;
}

/** A difference between the two sides (the property's failure). */
export class DifferenceError extends Error {
  override name = 'DifferenceError';
  constructor(
    message: string,
    /** How many operations ran (the last one showed the difference); those after it never ran. */
    readonly ran: number,
    /**
     * What kind of difference it is (the operation, and how each side ended): shrinking keeps to
     * one kind, so that it does not wander off to another difference on the way.
     */
    readonly signature: string,
  ) {
    super(message);
  }
}

const OP_DEADLINE_MS = 60_000;
/** Keyset walks: the limit is raised so that a walk takes at most this many pages. */
const MAX_KEYSET_PAGES = 12;

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${OP_DEADLINE_MS} ms (hung)`)),
      OP_DEADLINE_MS,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** What both sides can run. */
interface Side {
  run(op: RSimple): Promise<unknown>;
  transaction<T>(
    options: { readonly isolation?: 'read committed' | 'repeatable read' | 'serializable'; readonly retries?: 0 },
    fn: (attempt: number) => Promise<T>,
  ): Promise<T>;
  nested<T>(propagation: 'nested' | 'required', fn: () => Promise<T>): Promise<T>;
}

/** What a configuration ran: operations by kind, faults, and where the time went (ms). */
export class RunStats {
  readonly operations = new Map<string, number>();
  readonly time = new Map<string, number>();
  kills = 0;
  /** ConnectionErrors right after a kill, tolerated and re-synced. */
  connectionErrorsAfterKill = 0;
  /** createMany calls by the path the package takes: COPY (≥ 1000 rows, not returning), JSON (2+ rows). */
  copyPath = 0;
  jsonPath = 0;
  keysetPages = 0;
  /** Runs by the table's key: one column, composite, none. */
  readonly keys = new Map<string, number>();
  /** Reads of a table without a key whose rows were settled (LoosePage): the package's rows were a right answer, or not. */
  looseAccepted = 0;
  looseRejected = 0;

  count(kind: string): void {
    this.operations.set(kind, (this.operations.get(kind) ?? 0) + 1);
  }

  async timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.time.set(phase, (this.time.get(phase) ?? 0) + performance.now() - started);
    }
  }

  summary(): string {
    const ops = [...this.operations.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    const time = [...this.time.entries()].map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`);
    return (
      `operations: ${ops.join(', ')}\n` +
      `createMany via COPY ${this.copyPath}, via JSON ${this.jsonPath}; keyset pages ${this.keysetPages}; ` +
      `backends terminated ${this.kills} times, ConnectionError right after ${this.connectionErrorsAfterKill}\n` +
      `runs by key: ${[...this.keys.entries()].map(([k, n]) => `${k} ${n}`).join(', ')}; ` +
      `reads without a key settled ${this.looseAccepted} times, not ${this.looseRejected}\n` +
      `time: ${time.join(', ')}`
    );
  }
}

/** Shared by every run of one configuration. */
interface ConfigurationContext {
  readonly configuration: Configuration;
  readonly index: number;
  readonly url: string;
  readonly admin: pg.Client;
  /**
   * The package on the embedded engine (one Database for every run of the configuration), its
   * table there; undefined when the package runs on the server beside the reference.
   */
  readonly embedded: Database<DynDB> | undefined;
  readonly reference: Kysely<DynDB>;
  /** Promise rejections nobody handled, since the last look. */
  readonly rejections: unknown[];
  readonly stats: RunStats;
  operations: number;
}

let tableCounter = 0;

/** One run: a schema, its two tables, its operations. */
class Run {
  readonly #ctx: ConfigurationContext;
  readonly #spec: TableSpec;
  readonly #ops: readonly Op[];
  readonly #pkgTable: string;
  readonly #refTable: string;
  readonly #applicationName: string;
  readonly #volatile: string[];
  /**
   * The reference table's keys in key order, each as its columns' text (declared order); without
   * a key, one empty tuple per row (rows are then referred to by position in the order of their text).
   */
  #keys: string[][] = [];
  readonly #rows = new Map<string, DynRow | undefined>();
  /** What the package returned for each operation (normalised): a LoosePage settles against it. */
  readonly #packageResults = new WeakMap<RSimple, Normal>();
  /**
   * Set by a kill; cleared by the first operation that reached the server afterwards: that one may
   * fail with ConnectionError (its connection may have been one of those terminated).
   */
  #killed = false;
  /** Set by a kill that did not wait for the sessions to end. */
  #sessionsMayLinger = false;
  /** The backends the last kill terminated. */
  #terminated: number[] = [];
  #pkg!: PackageSide;
  #ref!: ReferenceSide;

  constructor(ctx: ConfigurationContext, spec: TableSpec, ops: readonly Op[], bound: number) {
    this.#ctx = ctx;
    this.#spec = spec;
    this.#ops = ops.slice(0, bound);
    const n = ++tableCounter;
    this.#pkgTable = `dt${n}_pkg`;
    this.#refTable = `dt${n}_ref`;
    this.#applicationName = `kr-diff-${ctx.index}-${n}`;
    this.#volatile = spec.softDelete?.kind === 'timestamp' ? [spec.softDelete.column.ts] : [];
  }

  async execute(): Promise<void> {
    const { admin, configuration, stats } = this.#ctx;
    const shape = this.#spec.key.length === 0 ? 'none' : this.#spec.key.length === 1 ? 'one column' : 'composite';
    stats.keys.set(shape, (stats.keys.get(shape) ?? 0) + 1);
    await stats.timed('set up', async () => {
      await this.#packageQuery(createTableSql(this.#spec, this.#pkgTable));
      await admin.query(createTableSql(this.#spec, this.#refTable));
    });
    const database =
      this.#ctx.embedded ??
      createDatabase<DynDB>({
        config: loadConfig(
          {
            DATABASE_URL: this.#ctx.url,
            DB_PIPELINING: String(configuration.pipelining),
            DB_PREPARED_STATEMENTS: String(configuration.prepared),
            DB_POOL_SIZE: String(configuration.poolSize),
            DB_APPLICATION_NAME: this.#applicationName,
            DB_POOL_TIMEOUT: '20000',
          },
          { envFile: '/dev/null' },
        ),
        logger: silentLogger,
      });
    try {
      // a generated schema: its columns are only known at run time, so the options are loosely typed
      const options = repositoryOptions(this.#spec) as RepositoryOptionsOf<DynDB, string>;
      const repo = new Repository<DynDB, string>(database.db, camel(this.#pkgTable), options);
      this.#pkg = new PackageSide(database, repo, this.#spec);
      this.#ref = new ReferenceSide(this.#ctx.reference, camel(this.#refTable), this.#spec);
      for (const [index, op] of this.#ops.entries()) {
        this.#ctx.operations++;
        // a rejection that surfaced late belongs to the operation before
        if (index > 0) await this.#noUnhandledRejection(index - 1, this.#ops[index - 1]!);
        await this.#step(index, op);
      }
      if (this.#ops.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await this.#noUnhandledRejection(this.#ops.length - 1, this.#ops[this.#ops.length - 1]!);
      }
      await this.#compareContents(this.#ops.length, 'at the end');
    } finally {
      await stats.timed('tear down', async () => {
        if (this.#ctx.embedded === undefined) await database.close();
        await this.#packageQuery(`drop table if exists ${quote(this.#pkgTable)}`);
        await admin.query(`drop table if exists ${quote(this.#refTable)}`);
      });
    }
  }

  /**
   * Runs an administrative statement on the package's table where it lives: on the server (the
   * admin session), or on the embedded engine, in a transaction with the admin session's settings.
   */
  async #packageQuery<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    const embedded = this.#ctx.embedded;
    if (embedded === undefined) return (await this.#ctx.admin.query<R & pg.QueryResultRow>(text, values)).rows;
    return withTransaction(embedded.db, async () => {
      await embedded.query(
        "select set_config('DateStyle', 'ISO, YMD', true), set_config('TimeZone', 'UTC', true), " +
          "set_config('extra_float_digits', '1', true)",
      );
      return embedded.query<R>(text, values);
    });
  }

  #fail(index: number, op: Op | undefined, detail: string, signature: string): never {
    const where = op === undefined ? `at the end` : `at operation ${index + 1}: ${describeOp(op, '  ')}`;
    throw new DifferenceError(
      `${where}\n${detail}`,
      Math.min(index + 1, this.#ops.length),
      `${op?.op ?? 'end'}: ${signature}`,
    );
  }

  async #step(index: number, op: Op): Promise<void> {
    const stats = this.#ctx.stats;
    stats.count(op.op);
    if (op.op === 'kill') {
      stats.kills++;
      await stats.timed('faults', () => this.#kill(op.wait));
      this.#killed = true;
      this.#sessionsMayLinger = !op.wait;
      return;
    }
    const afterKill = this.#killed;
    if (op.op === 'unstorable') {
      const outcome = await stats.timed('package', () => this.#onPackage(this.#unstorable(op)));
      if (outcome.ok || outcome.error.kind !== 'validation') {
        this.#killed = false;
        if (afterKill && isConnectionFailure(outcome)) return this.#resync(index, op, undefined);
        this.#fail(
          index,
          op,
          `  the package should refuse NUL and lone surrogates with ValidationError, but it ${showOutcome(outcome)}`,
          `not refused: ${outcomeSignature(outcome)}`,
        );
      }
      await stats.timed('compare tables', () => this.#compareContents(index, op));
      return;
    }
    const resolved = await stats.timed('resolve', () => this.#resolve(op));
    this.#countPaths(resolved);
    const pkg = await stats.timed('package', () => this.#onPackage(resolved));
    await this.#noUnhandledRejection(index, op);
    // a refusal before any SQL (ValidationError) did not use a connection: the kill's turn stays armed
    if (!refusedBeforeSql(pkg)) {
      this.#killed = false;
      // the operation right after the kill raced with it; the ones after must not
      if (this.#sessionsMayLinger) await stats.timed('faults', () => this.#waitUntilGone());
      this.#sessionsMayLinger = false;
    }
    if (afterKill && isConnectionFailure(pkg)) {
      stats.connectionErrorsAfterKill++;
      return this.#resync(index, op, resolved);
    }
    const ref = await stats.timed('reference', () =>
      within(this.#execute(this.#ref, resolved, 'reference'), 'the reference'),
    );
    if (!sameOutcome(pkg, ref)) {
      this.#fail(index, op, explainDifference(pkg, ref), `${outcomeSignature(pkg)} / ${outcomeSignature(ref)}`);
    }
    if (pkg.ok && resolved.op === 'paginateKeyset') {
      const pages = (pkg.value as { pages?: unknown[] }).pages;
      stats.keysetPages += Array.isArray(pages) ? pages.length : 0;
    }
    if (writes(op)) await stats.timed('compare tables', () => this.#compareContents(index, op));
  }

  /** Counts createMany calls by the path the package takes for them. */
  #countPaths(op: ROp): void {
    const all: (RSimple | RSub)[] =
      op.op === 'transaction'
        ? [...op.items]
        : op.op === 'serializable'
          ? [...op.after]
          : op.op === 'parallel'
            ? []
            : [op];
    for (const item of all.flatMap((i) => (i.op === 'sub' ? i.items : [i]))) {
      if (item.op !== 'createMany') continue;
      if (!item.returning && item.rows.length >= 1000) this.#ctx.stats.copyPath++;
      else if (item.rows.length >= 2) this.#ctx.stats.jsonPath++;
    }
  }

  /** A promise the package rejected and nobody awaited would crash a Node process with default settings. */
  async #noUnhandledRejection(index: number, op: Op): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const rejections = this.#ctx.rejections.splice(0);
    if (rejections.length === 0) return;
    const reasons = rejections.map((r) => `    ${r instanceof Error ? `${r.name}: ${r.message}` : String(r)}`);
    this.#fail(
      index,
      op,
      `  the package left ${rejections.length} rejected promise(s) unhandled (with Node's default ` +
        `--unhandled-rejections=throw the process would crash):\n${reasons.join('\n')}`,
      'unhandled rejection',
    );
  }

  #onPackage(op: ROp): Promise<Outcome> {
    return within(this.#execute(this.#pkg, op, 'package'), 'the package');
  }

  /**
   * After a ConnectionError right after the backends were terminated: the operation did not run
   * on the package (or did: then the reference runs it too), and the tables must agree again.
   */
  async #resync(index: number, op: Op, resolved: ROp | undefined): Promise<void> {
    if (!(await this.#contentsEqual()) && resolved !== undefined) {
      await this.#execute(this.#ref, resolved, 'reference');
    }
    await this.#syncSequence();
    await this.#compareContents(index, op);
  }

  // ---- running -----------------------------------------------------------------------------

  async #execute(side: Side, op: ROp, which: 'package' | 'reference'): Promise<Outcome> {
    switch (op.op) {
      case 'transaction':
        return this.#transaction(side, op);
      case 'serializable':
        return this.#serializable(side, op, which);
      case 'parallel': {
        const outcomes =
          which === 'package'
            ? await Promise.all(op.reads.map((read) => this.#simple(side, read)))
            : await sequential(op.reads.map((read) => () => this.#simple(side, read)));
        return success(outcomes.map(nested));
      }
      default:
        return this.#simple(side, op);
    }
  }

  async #simple(side: Side, op: RSimple): Promise<Outcome> {
    try {
      return success(this.#result(side, op, await side.run(op)));
    } catch (error) {
      return failure(error);
    }
  }

  /** Runs `op` inside a transaction: records its outcome, and rethrows its error (the transaction fails). */
  async #record(side: Side, op: RSimple, into: Normal[]): Promise<void> {
    try {
      into.push(nested(success(this.#result(side, op, await side.run(op)))));
    } catch (error) {
      into.push(nested(failure(error)));
      throw error;
    }
  }

  async #transaction(side: Side, op: Extract<ROp, { op: 'transaction' }>): Promise<Outcome> {
    let steps: Normal[] = [];
    try {
      await side.transaction(op.isolation ? { isolation: op.isolation } : {}, async () => {
        steps = [];
        for (const item of op.items) {
          if (item.op === 'sub') steps.push(await this.#sub(side, item));
          else await this.#record(side, item, steps);
        }
        if (op.throwAtEnd) throw new RollBack();
      });
      return success({ steps, end: 'committed' });
    } catch (error) {
      return success({ steps, end: nested(failure(error)) });
    }
  }

  /** A nested withTransaction (savepoint) or a 'required' one, whose failure the caller catches. */
  async #sub(side: Side, sub: RSub): Promise<Normal> {
    const steps: Normal[] = [];
    try {
      await side.nested(sub.propagation, async () => {
        for (const item of sub.items) await this.#record(side, item, steps);
        if (sub.throwAtEnd) throw new RollBack();
      });
      return { sub: steps, end: 'done' };
    } catch (error) {
      return { sub: steps, end: nested(failure(error)) };
    }
  }

  async #serializable(
    side: Side,
    op: Extract<ROp, { op: 'serializable' }>,
    which: 'package' | 'reference',
  ): Promise<Outcome> {
    let steps: Normal[] = [];
    let attempts = 0;
    const table = which === 'package' ? this.#pkgTable : this.#refTable;
    try {
      await side.transaction(
        { isolation: 'serializable', ...(op.retries === 0 ? { retries: 0 } : {}) },
        async (attempt) => {
          attempts = attempt;
          steps = [];
          await this.#record(side, { op: 'findById', id: op.id, filter: {}, forUpdate: false }, steps);
          if (attempt === 1) await this.#outsideUpdate(table, op.id);
          await this.#record(side, { op: 'update', id: op.id, patch: op.patch, readVersion: true }, steps);
          for (const item of op.after) await this.#record(side, item, steps);
        },
      );
      return success({ steps, attempts, end: 'committed' });
    } catch (error) {
      return success({ steps, attempts, end: nested(failure(error)) });
    }
  }

  /** Another session changes the row and commits (a concurrent update the transaction must not miss). */
  async #outsideUpdate(table: string, id: Id): Promise<void> {
    const key = this.#spec.key;
    if (key.length === 0) return; // never reached: findById refused the id before
    const target = this.#spec.version ?? this.#spec.columns[0]!;
    const set =
      target === this.#spec.version
        ? `${quote(target.sql)} = ${quote(target.sql)} + 1`
        : `${quote(target.sql)} = ${quote(target.sql)}`;
    // a Date (a date column's value as read) goes as pg sends it: its local date and time, which date input takes the date of
    const values = key.map((k) => {
      const value = typeof id === 'object' && !(id instanceof Date) ? id[k.ts] : id;
      return value instanceof Date ? value : String(value);
    });
    const where = key.map((k, i) => `${quote(k.sql)} = $${i + 1}`).join(' and ');
    if (table === this.#pkgTable) await this.#packageQuery(`update ${quote(table)} set ${set} where ${where}`, values);
    else await this.#ctx.admin.query(`update ${quote(table)} set ${set} where ${where}`, values);
  }

  /** A result as compared; the package's is kept for the reference's LoosePages to settle against. */
  #result(side: Side, op: RSimple, value: unknown): Normal {
    if (side === this.#pkg) {
      const normal = this.#normal(op, value, undefined);
      this.#packageResults.set(op, normal);
      return normal;
    }
    return this.#normal(op, value, this.#packageResults.get(op));
  }

  /**
   * Rows as compared. A LoosePage (a table without a key) becomes the package's rows when those
   * are a right answer (see settle), else its own rows.
   */
  #listOf(value: unknown, packageRows: Normal | undefined): Normal {
    if (!(value instanceof LoosePage)) return normalRows(value, this.#volatile);
    return this.#settle(value, packageRows);
  }

  #settle(page: LoosePage, packageRows: Normal | undefined): Normal {
    const rows = settle(page, packageRows, this.#volatile);
    if (rows === packageRows) this.#ctx.stats.looseAccepted++;
    else this.#ctx.stats.looseRejected++;
    return rows;
  }

  /** A result as compared; `pkg`: the package's result for the same operation (for LoosePages). */
  #normal(op: RSimple, value: unknown, pkg: Normal | undefined): Normal {
    const v = this.#volatile;
    const field = (name: string): Normal | undefined =>
      pkg !== null && typeof pkg === 'object' && !Array.isArray(pkg) ? pkg[name] : undefined;
    switch (op.op) {
      case 'findOne': {
        if (!(value instanceof LoosePage)) return normalRow(value, v);
        const rows = this.#settle(value, pkg === undefined ? undefined : pkg === '<no row>' ? [] : [pkg]);
        return Array.isArray(rows) && rows.length > 0 ? rows[0]! : '<no row>';
      }
      case 'create':
      case 'update':
      case 'findById':
      case 'upsert':
      case 'increment':
        return normalRow(value, v);
      case 'createMany':
        // returning: false resolves to the count of rows written
        return typeof value === 'number' ? normalValue(value) : normalRows(value, v);
      case 'findMany':
        return this.#listOf(value, pkg);
      case 'count':
      case 'updateMany':
      case 'exists':
      case 'delete':
      case 'restore':
        return normalValue(value);
      case 'findAndCount': {
        const r = value as { items?: unknown; total?: unknown };
        return { items: this.#listOf(r.items, field('items')), total: normalValue(r.total) };
      }
      case 'paginateOffset': {
        const r = value as { items?: unknown; total?: unknown; hasMore?: unknown; nextCursor?: unknown };
        return {
          items: this.#listOf(r.items, field('items')),
          hasMore: normalValue(r.hasMore),
          nextCursor: r.nextCursor === null ? null : '<a cursor>',
          total: normalValue(r.total),
        };
      }
      case 'paginateKeyset': {
        const walk = value as KeysetWalk;
        return {
          pages: walk.pages.map((p) => normalValue(p)),
          rows: normalRows(walk.rows, v),
          ...(walk.runaway ? { runaway: 'still handing out cursors after as many pages as there should be' } : {}),
        };
      }
    }
  }

  // ---- resolving ---------------------------------------------------------------------------

  /**
   * The key `spec` names: an existing row's, one no row has (missingId), or (a composite key) an
   * existing row's with its last column (in the Repository's order) changed to missingId's.
   */
  async #id(spec: IdSpec): Promise<Id> {
    const ref = spec.ref;
    if (spec.form !== 'row' || spec.as !== 'object' || !('row' in ref) || this.#keys.length === 0) {
      return this.#keyOf(spec);
    }
    const row = await this.#rowAt(ref.row);
    const changed = 'partial' in ref ? keyColumns(this.#spec).at(-1) : undefined;
    return Object.fromEntries(
      this.#spec.key.map((k) => [k.ts, k === changed ? missingKey(k) : (row?.[k.ts] as KeyValue)]),
    );
  }

  /** As #id, from the keys as text (so without reading a row). */
  #keyOf(spec: IdSpec): Id {
    if (spec.as === 'none') return 1; // refused for the missing key before it is looked at
    const key = this.#spec.key;
    const ref = spec.ref;
    const missing = 'missing' in ref || this.#keys.length === 0;
    const texts =
      'missing' in ref || this.#keys.length === 0 ? key.map(missingKey) : this.#keys[ref.row % this.#keys.length]!;
    const changed = !missing && 'partial' in ref ? keyColumns(this.#spec).at(-1) : undefined;
    const values = key.map((k, i) => keyValue(k, k === changed ? missingKey(k) : texts[i]!, spec.form));
    if (spec.as === 'value') return values[0]!;
    return Object.fromEntries(key.map((k, i) => [k.ts, values[i]!]));
  }

  async #rowAt(index: number): Promise<DynRow | undefined> {
    if (this.#keys.length === 0) return undefined;
    const at = index % this.#keys.length;
    const texts = this.#keys[at]!;
    const keyless = this.#spec.key.length === 0;
    const cached = keyless ? `#${at}` : JSON.stringify(texts);
    if (!this.#rows.has(cached)) {
      let q = this.#ctx.reference.selectFrom(camel(this.#refTable)).selectAll();
      if (keyless) q = q.orderBy(sql.raw(this.#rowText())).limit(1).offset(at);
      else this.#spec.key.forEach((k, i) => (q = q.where(k.ts, '=', texts[i]!)));
      this.#rows.set(cached, await q.executeTakeFirst());
    }
    return this.#rows.get(cached);
  }

  async #value(source: ValueSource, column: string): Promise<Value> {
    if ('lit' in source) return source.lit;
    const row = await this.#rowAt(source.fromRow);
    return (row?.[column] ?? null) as Value;
  }

  async #row(spec: RowSpec): Promise<Values> {
    const values: Values = {};
    for (const [column, source] of spec.entries) values[column] = await this.#value(source, column);
    if (spec.dupOf !== undefined && this.#keys.length > 0) {
      const row = await this.#rowAt(spec.dupOf);
      const copied: ColumnSpec[] = [
        ...this.#spec.key.filter(isGivenKey),
        ...this.#spec.columns.filter((c) => c.unique),
      ];
      for (const column of copied) if (row) values[column.ts] = (row[column.ts] ?? null) as Value;
    }
    return values;
  }

  async #where(spec: WhereSpec): Promise<RWhere> {
    if (spec.kind === 'callback') return { kind: 'callback', expr: await this.#expr(spec.expr) };
    const object: Record<string, Value | Value[] | undefined> = {};
    for (const [column, value] of spec.entries) {
      switch (value.kind) {
        case 'eq': {
          const v = await this.#value(value.value, column);
          // an array in a where object means IN, so a jsonb array value cannot be compared this
          // way (with either side): NULL instead
          object[column] = Array.isArray(v) ? null : v;
          break;
        }
        case 'null':
          object[column] = null;
          break;
        case 'undefined':
          object[column] = undefined;
          break;
        case 'in': {
          const list: Value[] = [];
          for (const source of value.values) {
            const v = await this.#value(source, column);
            if (!Array.isArray(v)) list.push(v);
          }
          // the package's where type takes arrays of non-null values
          object[column] = list.filter((v) => v !== null);
          break;
        }
      }
    }
    return { kind: 'object', object };
  }

  async #expr(expr: Expr): Promise<RExpr> {
    switch (expr.kind) {
      case 'cmp':
        return { ...expr, value: await this.#value(expr.value, expr.column) };
      case 'in': {
        const values: Value[] = [];
        for (const source of expr.values) values.push(await this.#value(source, expr.column));
        return { kind: 'in', column: expr.column, values };
      }
      case 'isNull':
      case 'like':
        return expr;
      case 'and':
      case 'or': {
        const items: RExpr[] = [];
        for (const item of expr.items) items.push(await this.#expr(item));
        return { kind: expr.kind, items };
      }
      case 'not':
        return { kind: 'not', item: await this.#expr(expr.item) };
    }
  }

  async #query(spec: QuerySpec): Promise<RQuery> {
    return {
      ...(spec.where ? { where: await this.#where(spec.where) } : {}),
      ...(spec.orderBy !== undefined ? { orderBy: spec.orderBy } : {}),
      ...(spec.limit !== undefined ? { limit: spec.limit } : {}),
      ...(spec.offset !== undefined ? { offset: spec.offset } : {}),
      filter: spec.filter,
    };
  }

  /** createBulk's rows: the templates over and over, their key and unique values made distinct. */
  #bulkRows(templates: readonly Values[], count: number, salt: number): Values[] {
    const unique = this.#spec.columns.find((c) => c.unique);
    const rows: Values[] = [];
    for (let i = 0; i < count; i++) {
      const row: Values = { ...templates[i % templates.length]! };
      const distinct = (column: ColumnSpec): void => {
        if (!(column.ts in row)) return;
        if (column.type === 'text') {
          const base = row[column.ts];
          row[column.ts] = `${typeof base === 'string' ? base : 'k'}#${salt}.${i}`;
        } else if (column.type === 'uuid') {
          row[column.ts] = `${salt.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
        } else if (column.type === 'integer' || column.type === 'bigint') {
          row[column.ts] = 1_000_000 + salt * 2_000 + i;
        } else if (column.type === 'date') {
          // from 3000-01-01 on, within four-digit years
          const day = new Date(Date.UTC(3000, 0, 1) + ((salt % 1000) * 1_200 + i) * 86_400_000);
          row[column.ts] = day.toISOString().slice(0, 10);
        }
      };
      for (const key of this.#spec.key) if (isGivenKey(key)) distinct(key);
      if (unique) distinct(unique);
      rows.push(row);
    }
    return rows;
  }

  async #simpleOp(op: SimpleOp, inTransaction = false): Promise<RSimple> {
    switch (op.op) {
      case 'create':
        return { op: 'create', values: await this.#row(op.values) };
      case 'createMany': {
        const rows: Values[] = [];
        for (const row of op.rows) rows.push(await this.#row(row));
        return { op: 'createMany', rows, returning: op.returning };
      }
      case 'createBulk': {
        const templates: Values[] = [];
        for (const row of op.templates) templates.push(await this.#row(row));
        return { op: 'createMany', rows: this.#bulkRows(templates, op.count, op.salt), returning: op.returning };
      }
      case 'update': {
        const id = await this.#id(op.id);
        const patch = await this.#row(op.patch);
        const version = this.#spec.version;
        // (without a key, update is refused before the version is looked at)
        if (version && op.version !== 'omitted' && this.#spec.key.length > 0) {
          // an id the reference refuses (a key column read back as null) has no row and no version
          const current = (await this.#ref.findById(id, 'all', false).catch(() => undefined))?.[version.ts];
          const known = typeof current === 'number' ? current : 1;
          patch[version.ts] = op.version === 'current' ? known : known + 1000;
        }
        return { op: 'update', id, patch };
      }
      case 'updateMany':
        return { op: 'updateMany', where: await this.#where(op.where), patch: await this.#row(op.patch) };
      case 'upsert':
        return { op: 'upsert', values: await this.#row(op.values), conflict: op.conflict };
      case 'delete':
      case 'restore':
        return { op: op.op, id: await this.#id(op.id) };
      case 'findById':
        return { op: 'findById', id: await this.#id(op.id), filter: op.filter, forUpdate: op.forUpdate };
      case 'findOne':
      case 'exists':
        return { op: op.op, where: await this.#where(op.where), filter: op.filter };
      case 'count':
        return { op: 'count', where: op.where ? await this.#where(op.where) : undefined, filter: op.filter };
      case 'findMany':
      case 'findAndCount':
        return { op: op.op, query: await this.#query(op.query) };
      case 'paginateOffset':
        return { op: 'paginateOffset', query: await this.#query(op.query), withTotal: op.withTotal };
      case 'paginateKeyset': {
        const query = await this.#query(op.query);
        const filter = query.filter;
        const mode = filter.onlyDeleted ? 'deleted' : filter.withDeleted ? 'all' : 'live';
        let matching = 0;
        try {
          matching = await this.#ref.count(query.where, mode);
        } catch {
          // a where the server refuses: both sides will say so
        }
        // in a transaction, the statements before it may add rows (a bulk createMany: 1,100 at most)
        const added = inTransaction ? 2_500 : 0;
        const limit = Math.min(1000, Math.max(query.limit ?? 100, Math.ceil((matching + added) / MAX_KEYSET_PAGES)));
        return {
          op: 'paginateKeyset',
          query: { ...query, limit },
          withTotal: op.withTotal,
          maxPages: Math.ceil((matching + (inTransaction ? 10_000 : 0)) / limit) + 3,
        };
      }
      case 'increment':
        return { op: 'increment', id: await this.#id(op.id), column: op.column, by: op.by, decrement: op.decrement };
    }
  }

  async #txItem(item: TxItem): Promise<RSimple | RSub> {
    if (item.op !== 'sub') return this.#simpleOp(item, true);
    const items: RSimple[] = [];
    for (const inner of item.items) items.push(await this.#simpleOp(inner, true));
    return { op: 'sub', propagation: item.propagation, items, throwAtEnd: item.throwAtEnd };
  }

  async #resolve(op: Exclude<Op, { op: 'kill' | 'unstorable' }>): Promise<ROp> {
    switch (op.op) {
      case 'transaction': {
        const items: (RSimple | RSub)[] = [];
        for (const item of op.items) items.push(await this.#txItem(item));
        return { op: 'transaction', isolation: op.isolation, items, throwAtEnd: op.throwAtEnd };
      }
      case 'serializable': {
        const after: RSimple[] = [];
        for (const item of op.after) after.push(await this.#simpleOp(item, true));
        return {
          op: 'serializable',
          id: await this.#id(op.id),
          patch: await this.#row(op.patch),
          after,
          retries: op.retries,
        };
      }
      case 'parallel': {
        const reads: RSimple[] = [];
        for (const read of op.reads) reads.push(await this.#simpleOp(read));
        return { op: 'parallel', reads };
      }
      default:
        return this.#simpleOp(op);
    }
  }

  /** The calls that must be refused: text with NUL or a lone surrogate, in a value or a where. */
  #unstorable(op: Extract<Op, { op: 'unstorable' }>): ROp {
    const column = allColumns(this.#spec).find((c) => c.ts === op.column)!;
    const value: Value = column.type === 'jsonb' ? { a: op.text, [op.text]: 1 } : op.text;
    const id = this.#keyOf({
      ref: { row: 0 },
      form: 'string',
      as: this.#spec.key.length === 1 ? 'value' : 'object',
      columns: [],
    });
    switch (op.via) {
      case 'create':
        return { op: 'create', values: { [op.column]: value } };
      case 'createMany':
        return {
          op: 'createMany',
          rows: [{ [op.column]: column.type === 'jsonb' ? {} : 'ok' }, { [op.column]: value }],
          returning: true,
        };
      case 'update':
        return {
          op: 'update',
          id,
          patch: { [op.column]: value, ...(this.#spec.version ? { [this.#spec.version.ts]: 1 } : {}) },
        };
      case 'where':
        return { op: 'findMany', query: { where: { kind: 'object', object: { [op.column]: value } }, filter: {} } };
    }
  }

  // ---- state -------------------------------------------------------------------------------

  /** The keys of the reference table, in order: what row references resolve against. */
  #setKeys(keys: string[][]): void {
    this.#keys = keys;
    this.#rows.clear();
  }

  /** Each row as one text: every column cast to text (the soft-delete timestamp as set or not). */
  #rowText(): string {
    const columns = allColumns(this.#spec).map((c) =>
      this.#volatile.includes(c.ts) ? `(${quote(c.sql)} is not null)` : `${quote(c.sql)}::text`,
    );
    return `(row(${columns.join(', ')}))::text`;
  }

  /** The order rows are digested and referred to in: the key's columns (declared order), else the rows as text. */
  #rowOrder(): string {
    return this.#spec.key.length > 0 ? this.#spec.key.map((k) => quote(k.sql)).join(', ') : this.#rowText();
  }

  /** A digest of each table's rows as text (one statement), and the reference table's keys. */
  async #digests(): Promise<{ pkg: string; ref: string; keys: string[][] }> {
    const order = this.#rowOrder();
    const digest = (table: string): string =>
      `(select count(*)::text || ':' || md5(coalesce(string_agg(${this.#rowText()}, E'\\n' order by ${order}), '')) ` +
      `from ${quote(table)})`;
    const tuple = `json_build_array(${this.#spec.key.map((k) => `${quote(k.sql)}::text`).join(', ')})`;
    const keys = `(select coalesce(json_agg(${tuple} order by ${order}), '[]') from ${quote(this.#refTable)})`;
    if (this.#ctx.embedded === undefined) {
      const { rows } = await this.#ctx.admin.query<{ pkg: string; ref: string; keys: string[][] }>(
        `select ${digest(this.#pkgTable)} as pkg, ${digest(this.#refTable)} as ref, ${keys} as keys`,
      );
      return rows[0]!;
    }
    const [pkg] = await this.#packageQuery<{ pkg: string }>(`select ${digest(this.#pkgTable)} as pkg`);
    const { rows } = await this.#ctx.admin.query<{ ref: string; keys: string[][] }>(
      `select ${digest(this.#refTable)} as ref, ${keys} as keys`,
    );
    return { pkg: pkg!.pkg, ...rows[0]! };
  }

  async #contentsEqual(): Promise<boolean> {
    const { pkg, ref, keys } = await this.#digests();
    this.#setKeys(keys);
    return pkg === ref;
  }

  /** Each row as text by its key as text (without a key: by its text and which copy of it it is). */
  async #rowsOf(table: string): Promise<Map<string, string>> {
    const keyless = this.#spec.key.length === 0;
    const key = keyless
      ? this.#rowText()
      : this.#spec.key.length === 1
        ? `${quote(this.#spec.key[0]!.sql)}::text`
        : `json_build_array(${this.#spec.key.map((k) => `${quote(k.sql)}::text`).join(', ')})::text`;
    const statement = `select ${key} as k, ${this.#rowText()} as r from ${quote(table)} order by ${this.#rowOrder()}`;
    const rows =
      table === this.#pkgTable
        ? await this.#packageQuery<{ k: string; r: string }>(statement)
        : (await this.#ctx.admin.query<{ k: string; r: string }>(statement)).rows;
    const copies = new Map<string, number>();
    return new Map(
      rows.map((r) => {
        if (!keyless) return [r.k, r.r];
        const copy = (copies.get(r.k) ?? 0) + 1;
        copies.set(r.k, copy);
        return [`${r.k} (copy ${copy})`, r.r];
      }),
    );
  }

  async #compareContents(index: number, op: Op | string): Promise<void> {
    if (await this.#contentsEqual()) return;
    const pkg = await this.#rowsOf(this.#pkgTable);
    const ref = await this.#rowsOf(this.#refTable);
    const lines: string[] = [
      `  the tables differ (package ${pkg.size} rows, reference ${ref.size} rows); first differences:`,
    ];
    const columns = allColumns(this.#spec)
      .map((c) => c.sql)
      .join(', ');
    lines.push(`  (rows as text: (${columns}); DateStyle ISO, TimeZone UTC)`);
    let shown = 0;
    for (const key of [...new Set([...pkg.keys(), ...ref.keys()])]) {
      if (pkg.get(key) === ref.get(key)) continue;
      lines.push(`    key ${key}:`);
      lines.push(`      package:   ${pkg.get(key) ?? '<no row>'}`);
      lines.push(`      reference: ${ref.get(key) ?? '<no row>'}`);
      if (++shown >= 5) break;
    }
    this.#fail(index, typeof op === 'string' ? undefined : op, lines.join('\n'), 'the tables differ');
  }

  async #syncSequence(): Promise<void> {
    const key = this.#spec.key.find((k) => k.kind === 'identity always' || k.kind === 'identity by default');
    if (key === undefined) return;
    const sequenceOf = 'select pg_get_serial_sequence($1, $2) as s';
    const [from] = await this.#packageQuery<{ s: string }>(sequenceOf, [quote(this.#pkgTable), key.sql]);
    const to = (await this.#ctx.admin.query<{ s: string }>(sequenceOf, [quote(this.#refTable), key.sql])).rows[0]!.s;
    const [state] = await this.#packageQuery<{ last: string; called: boolean }>(
      `select last_value::text as last, is_called as called from ${from!.s}`,
    );
    await this.#ctx.admin.query('select setval($1, $2::bigint, $3)', [to, state!.last, state!.called]);
  }

  /**
   * Terminates every session of the package's pool; with `wait`, until they are gone (else the
   * next operation may still meet a session on its way out).
   */
  async #kill(wait: boolean): Promise<void> {
    const { rows } = await this.#ctx.admin.query<{ pid: number }>(
      'select pid, pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = current_database()',
      [this.#applicationName],
    );
    this.#terminated = rows.map((r) => r.pid);
    if (wait) await this.#waitUntilGone();
  }

  /** Until the sessions the last kill terminated are gone (or 5 s went by). */
  async #waitUntilGone(): Promise<void> {
    for (let i = 0; i < 1000 && this.#terminated.length > 0; i++) {
      const { rows } = await this.#ctx.admin.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where pid = any($1)',
        [this.#terminated],
      );
      if (rows[0]!.n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    this.#terminated = [];
  }
}

/** missingId's value for a key column: one no row has (as text). */
function missingKey(key: KeySpec): string {
  switch (key.type) {
    case 'uuid':
      return '00000000-0000-4000-8000-00000000dead';
    case 'text':
      return 'no such key \u{1F47B}';
    case 'integer':
      return '2147483001';
    case 'date':
      return '1234-05-06';
    default:
      return '9007199254740991';
  }
}

/** A key column's value (read as text) as `form` passes it: integers as numbers (when safe) or bigints. */
function keyValue(key: KeySpec, text: string, form: IdSpec['form']): string | number | bigint {
  if ((key.type !== 'bigint' && key.type !== 'integer') || form === 'string' || form === 'row') return text;
  if (form === 'bigint') return BigInt(text);
  return Number.isSafeInteger(Number(text)) ? Number(text) : text;
}

/**
 * The rows a LoosePage compares as: the package's rows when they are a right answer — as many
 * as the page has, each a row of the query (no row used twice) in the tie group of the page's
 * row at its position, so ordered by the sort columns as PostgreSQL orders them — else the
 * reference's own rows (and the difference shows).
 */
function settle(page: LoosePage, packageRows: Normal | undefined, volatile: readonly string[]): Normal {
  const own = normalRows(page.rows, volatile);
  if (!Array.isArray(packageRows) || packageRows.length !== page.rows.length) return own;
  const available = new Map<string, { group: number; left: number }>();
  page.all.forEach((row, i) => {
    const text = JSON.stringify(normalRow(row, volatile));
    const entry = available.get(text);
    if (entry) entry.left++;
    else available.set(text, { group: page.groups[i]!, left: 1 });
  });
  for (const [i, row] of packageRows.entries()) {
    const entry = available.get(JSON.stringify(row));
    if (entry === undefined || entry.left === 0 || entry.group !== page.groups[page.start + i]) return own;
    entry.left--;
  }
  return packageRows;
}

/** How an operation ended, coarsely: ok, or the error's kind and SQLSTATE class (nested ones too). */
function outcomeSignature(outcome: Outcome): string {
  if (!outcome.ok) return `${outcome.error.kind}${outcome.error.code ? ` ${outcome.error.code.slice(0, 2)}` : ''}`;
  const end = (outcome.value as { end?: unknown } | null)?.end;
  if (end !== undefined && end !== null && typeof end === 'object' && 'error' in end) {
    const error = (end as { error: { kind: string; code?: string } }).error;
    return `ok, ended with ${error.kind}${error.code ? ` ${error.code.slice(0, 2)}` : ''}`;
  }
  return 'ok';
}

/** Whether the operation was refused before it sent anything (so it cannot have met a dead connection). */
function refusedBeforeSql(outcome: Outcome): boolean {
  return !outcome.ok && (outcome.error.kind === 'validation' || outcome.error.kind === 'database-error');
}

function isConnectionFailure(outcome: Outcome): boolean {
  if (!outcome.ok) return outcome.error.kind === 'connection';
  return JSON.stringify(outcome.value).includes('"kind":"connection"');
}

async function sequential<T>(tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const task of tasks) out.push(await task());
  return out;
}

/** Whether an operation may change the tables. */
function writes(op: Op): boolean {
  switch (op.op) {
    case 'findById':
    case 'findOne':
    case 'findMany':
    case 'count':
    case 'exists':
    case 'findAndCount':
    case 'paginateOffset':
    case 'paginateKeyset':
    case 'parallel':
      return false;
    default:
      return true;
  }
}

interface Case {
  readonly spec: TableSpec;
  readonly ops: Op[];
}

function caseArbitrary(features: Features, faults: boolean, maxOps: number): fc.Arbitrary<Case> {
  // the schema is not shrunk: each smaller schema would mean a new list of operations to run in full
  return fc
    .noShrink(tableSpecArbitrary)
    .chain((spec) => opsArbitrary(spec, features, { faults, maxOps }).map((ops) => ({ spec, ops })));
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/**
 * Runs the property for one configuration on the scratch database at `url`: sets the process
 * time zone and the database's DateStyle first (restored after), new pools for both sides. With
 * engine `pglite` the package runs on a fresh embedded engine instead (its session given the
 * configuration's DateStyle), against the same reference on the server; pipelining, prepared
 * statements, pool size and faults do not apply there.
 */
export async function runConfiguration(
  configuration: Configuration,
  index: number,
  budget: Budget,
  url: string,
  engine: 'postgres' | 'pglite' = 'postgres',
): Promise<ConfigurationReport> {
  const started = Date.now();
  const id = (engine === 'pglite' ? 'pglite ' : '') + configurationId(configuration);
  const previousTz = process.env['TZ'];
  const admin = new pg.Client({
    connectionString: url,
    application_name: 'kr-diff-admin',
    options: '-c DateStyle=ISO,YMD -c TimeZone=UTC -c extra_float_digits=1',
  });
  admin.on('error', () => undefined);
  await admin.connect();
  let reference: Kysely<DynDB> | undefined;
  let embedded: Database<DynDB> | undefined;
  // unhandled rejections are differences (see Run): collected here instead of crashing the process
  // (or failing whichever mocha test runs when they surface)
  const rejections: unknown[] = [];
  const previousListeners = process.listeners('unhandledRejection');
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', onRejection);
  try {
    await admin.query(`alter database ${quote(databaseName(url))} set datestyle = '${configuration.dateStyle}'`);
    process.env['TZ'] = configuration.tz;
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => undefined); // an idle connection ended (the scratch database dropped on Ctrl-C)
    reference = new Kysely<DynDB>({
      dialect: new PostgresDialect({ pool }),
      // maintainNestedObjectKeys: stock Kysely would otherwise rewrite the keys inside jsonb values
      plugins: [new CamelCasePlugin({ maintainNestedObjectKeys: true })],
    });
    if (engine === 'pglite') {
      embedded = createDatabase<DynDB>({
        config: loadConfig({ DATABASE_URL: 'pglite://', DB_POOL_TIMEOUT: '20000' }, { envFile: '/dev/null' }),
        logger: silentLogger,
      });
      // one of FACTORS.dateStyle, never input
      await embedded.query(`set datestyle = '${configuration.dateStyle}'`);
    }
    const stats = new RunStats();
    const ctx: ConfigurationContext = {
      configuration,
      index,
      url,
      admin,
      embedded,
      reference,
      rejections,
      stats,
      operations: 0,
    };
    let firstFailureAt: number | undefined;
    let shrinkStopped = false;
    // once a run failed at its n-th operation, smaller candidates need run no further than that:
    // one that has not failed by then is not a smaller counterexample (and shrinking stays cheap)
    let bound = Number.POSITIVE_INFINITY;
    // and they must fail the same way (see DifferenceError.signature)
    let signature: string | undefined;
    const property = fc.asyncProperty(
      caseArbitrary(budget.features, configuration.faults, budget.maxOps),
      async (c) => {
        if (firstFailureAt !== undefined && Date.now() - firstFailureAt > budget.shrinkMs) {
          shrinkStopped = true;
          return; // shrinking has had its time: the smallest failing case so far is reported
        }
        try {
          await new Run(ctx, c.spec, c.ops, bound).execute();
        } catch (error) {
          if (error instanceof DifferenceError) {
            if (signature !== undefined && error.signature !== signature) return; // another difference
            signature = error.signature;
            bound = Math.min(bound, error.ran);
          }
          firstFailureAt ??= Date.now();
          throw error;
        }
      },
    );
    const details = await fc.check(property, {
      seed: budget.seed,
      numRuns: budget.runs,
      ...(budget.path !== undefined ? { path: budget.path, endOnFailure: true } : {}),
    });
    const elapsedMs = Date.now() - started;
    if (!details.failed) {
      return {
        configuration,
        id,
        failed: false,
        message: `${id}: ${details.numRuns} runs, ${ctx.operations} operations, no difference`,
        seed: budget.seed,
        runs: details.numRuns,
        operations: ctx.operations,
        elapsedMs,
        stats,
      };
    }
    const counterexample = details.counterexample?.[0];
    const error = details.errorInstance;
    const replay =
      `FUZZ_CONFIG='${id}' FUZZ_SEED=${details.seed}` +
      (details.counterexamplePath ? ` FUZZ_PATH='${details.counterexamplePath}'` : '') +
      ` ${budget.replayCommand}`;
    const disabled = budget.features.disabled;
    const message = [
      `DIFFERENCE under ${id}`,
      `  seed ${details.seed}, path ${details.counterexamplePath ?? '(none)'}, ${details.numShrinks} shrinks` +
        (shrinkStopped ? ` (shrinking stopped after ${budget.shrinkMs} ms)` : ''),
      `  replay: ${replay}`,
      ...(disabled.length > 0 ? [`  features off: ${disabled.join(', ')}`] : []),
      ``,
      `Schema:`,
      counterexample ? describeSpec(counterexample.spec).replace(/^/gm, '  ') : '  (none)',
      ``,
      error instanceof DifferenceError && counterexample && error.ran < counterexample.ops.length
        ? `Operations (shrunk; the ${counterexample.ops.length - error.ran} after the last one shown never ran):`
        : `Operations (shrunk):`,
      counterexample
        ? describeOps(error instanceof DifferenceError ? counterexample.ops.slice(0, error.ran) : counterexample.ops)
        : '  (none)',
      `  (${OPS_LEGEND})`,
      ``,
      error instanceof DifferenceError
        ? `Difference ${error.message}`
        : `The run failed outside a comparison (a harness error?):\n  ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    ].join('\n');
    return {
      configuration,
      id,
      failed: true,
      message,
      seed: details.seed,
      runs: details.numRuns,
      operations: ctx.operations,
      elapsedMs,
      stats,
    };
  } finally {
    process.removeListener('unhandledRejection', onRejection);
    for (const listener of previousListeners) process.on('unhandledRejection', listener);
    if (previousTz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = previousTz;
    await reference?.destroy();
    await embedded?.close();
    await admin.query(`alter database ${quote(databaseName(url))} reset datestyle`).catch(() => undefined);
    await admin.end();
  }
}
