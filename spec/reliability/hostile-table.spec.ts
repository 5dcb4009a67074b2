/**
 * The standing hostile-input table: every public function and every public method of every
 * class the package exports, against the whole catalogue of hostile inputs (undefined, null,
 * Symbol keys, Proxies, throwing getters, prototype keys, wrong types, NUL, lone surrogates,
 * 10 MB strings, forged and tampered cursors, catalog table names, a logger that throws). Each
 * input goes into every argument slot of every method; for each, the answer must be a typed
 * error (the package's DatabaseError hierarchy — never a raw pg error, a TypeError, a hang or a
 * crash) or the correct result; no row may change unless the call was a valid write (checked);
 * and no secret may appear in any log line (DB_ECHO_SQL logs every statement) or in the error's
 * message, detail, JSON or util.inspect form (cause included).
 *
 * The spec lists the package's public surface itself and fails when a public method has no row,
 * so a new method cannot escape the table. It prints one line of counts: inputs × methods,
 * calls, handled, violations.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import bcrypt from 'bcrypt';
import { expect } from 'chai';
import { Kysely, sql, type Generated, type GeneratedAlways } from 'kysely';
import pg from 'pg';
import ts from 'typescript';
import * as api from '../../lib/index.js';
import {
  BcryptPasswordHasher,
  CONFIG_VARIABLES,
  ConfigError,
  DEFAULT_USER_POLICY,
  DatabaseError,
  NotFoundError,
  Repository,
  UserRepository,
  ValidationError,
  afterCommit,
  afterRollback,
  createDatabase,
  createDialect,
  createLogger,
  currentTransaction,
  getTableInfo,
  loadConfig,
  mapError,
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationStatus,
  redactingLogger,
  resolveUserPolicy,
  sealConfig,
  vacuumAnalyze,
  validateEmail,
  validatePassword,
  validateUserChanges,
  validateUsername,
  withReadYourWrites,
  withTransaction,
  type Database,
  type DatabaseConfig,
  type DB,
  type LogMeta,
  type Logger,
} from '../../lib/index.js';
import { createScratchDatabase } from '../support/test-server.js';
import { show, untyped } from './support/hostile.js';
import {
  hostileCatalogue,
  HostileTrap,
  type CursorSource,
  type HostileInput,
  type SlotKind,
} from './support/hostile-catalogue.js';
import { tablesChecksum } from './support/pg-probe.js';
import { watchProcess, type ProcessWatch } from './support/process-watch.js';
import { printFigures } from './support/summary.js';

interface ReliabilityCounters {
  id: GeneratedAlways<string>;
  name: string;
  code: string | null;
  hits: Generated<number>;
  note: string | null;
  version: Generated<number>;
  deletedAt: Date | null;
}
interface HostileDB extends DB {
  reliabilityCounters: ReliabilityCounters;
}

type Table = 'users' | 'reliability_counters';
const TABLES: readonly Table[] = ['users', 'reliability_counters'];
/** Checks a result for the hostile value that produced it; throws (an assertion) when it is not correct. */
type Check = (result: unknown, value: unknown, input: HostileInput) => unknown;

/** One argument of a method, and how to call the method with a hostile value there. */
interface Slot {
  readonly name: string;
  readonly kind: SlotKind;
  readonly call: (value: unknown) => Promise<unknown>;
  /** When a result is correct; absent: only a typed error is. */
  readonly ok?: Check;
  /** The table a correct result may have written (the write is what `ok` checks). */
  readonly writes?: Table;
  /** Kind `where`: the argument is required, so undefined is refused too. */
  readonly whereRequired?: boolean;
  readonly cursor?: CursorSource;
}

/** The instances a valid call runs on: the spec's own, or ones whose logger throws. */
interface Env {
  readonly db: Kysely<HostileDB>;
  readonly items: Repository<HostileDB, 'reliabilityCounters'>;
  readonly users: UserRepository;
  readonly config: DatabaseConfig;
  readonly logger: Logger;
}

/** One public method: its slots, and a valid call (run as is, and on instances whose logger throws). */
interface Row {
  readonly method: string;
  readonly slots: readonly Slot[];
  readonly valid: (env: Env) => Promise<unknown>;
  readonly validOk: Check;
  readonly validWrites?: Table;
}

/** What one call of the table found wrong. */
interface Violation {
  readonly method: string;
  readonly input: string;
  readonly slot: string;
  readonly what: string;
}

const DEADLINE_MS = 20_000;
/** An answer slower than this blocked the caller (usually the event loop) too long for any input. */
const SLOW_MS = 5_000;
/** Stands for the input of a row's valid call. */
const VALID_CALL: HostileInput = { name: 'a valid call', value: () => undefined };
const NAMES_NO_COLUMN = new Set(['undefined', 'an empty object', 'an object with only Symbol keys']);
const CURSOR_SECRET = 'hostile-cursor-secret-5b1f0c9e2d';
const URL_PASSWORD = 'hostile-url-password-8c2e4a';
const PASSWORDS = { alice: 'alice-password-3f9d', bob: 'bob-password-7a1c', carol: 'carol-password-2e6b' };

/** Every file under `dir` ending in .ts. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Members of exported classes the source declares private, protected or #private, by class name. */
function nonPublicMembers(): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const file of sourceFiles(fileURLToPath(new URL('../../lib', import.meta.url)))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    for (const statement of source.statements) {
      if (!ts.isClassDeclaration(statement) || !statement.name) continue;
      const hidden = found.get(statement.name.text) ?? new Set<string>();
      for (const member of statement.members) {
        if (!member.name || ts.isPrivateIdentifier(member.name)) continue;
        const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
        const isHidden = modifiers.some(
          (m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword,
        );
        if (isHidden) hidden.add(member.name.getText(source));
      }
      found.set(statement.name.text, hidden);
    }
  }
  return found;
}

function isClass(value: unknown): value is abstract new (...args: never[]) => unknown {
  return typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value));
}

/** The package's public callables: functions, class constructors (`new X`) and public prototype methods (`X.m`). */
function publicSurface(): { callables: string[]; errorClasses: string[] } {
  const hidden = nonPublicMembers();
  const callables: string[] = [];
  const errorClasses: string[] = [];
  for (const [name, value] of Object.entries(api)) {
    if (typeof value !== 'function') continue;
    if (!isClass(value)) {
      callables.push(name);
      continue;
    }
    if (value.prototype instanceof Error) {
      errorClasses.push(name);
      continue;
    }
    callables.push(`new ${name}`);
    const prototype = value.prototype as object;
    for (const member of Object.getOwnPropertyNames(prototype)) {
      if (member === 'constructor' || hidden.get(name)?.has(member)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(prototype, member);
      if (typeof descriptor?.value === 'function') callables.push(`${name}.${member}`);
    }
  }
  return { callables, errorClasses };
}

/** Public methods that take no input, with why they have no row. */
const NO_INPUT: Readonly<Record<string, string>> = {
  'UserRepository.getUserStats': 'takes no argument',
};

function sync<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

function render(message: unknown, meta: unknown): string {
  let fields = '';
  if (meta !== undefined) {
    try {
      fields = JSON.stringify(meta, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value));
    } catch {
      fields = inspect(meta, { depth: 8, maxStringLength: Infinity });
    }
  }
  return `${String(message)} ${fields}`;
}

/**
 * The forms of an error a log line or a response could carry: message, detail, JSON and
 * util.inspect (which shows the cause); a form that cannot be made is a problem of its own.
 */
function errorForms(error: unknown): { forms: { form: string; text: string }[]; problems: string[] } {
  const forms: { form: string; text: string }[] = [];
  const problems: string[] = [];
  const add = (form: string, make: () => unknown) => {
    try {
      const text = make();
      if (typeof text === 'string') forms.push({ form, text });
    } catch (cause) {
      problems.push(`${form} throws: ${messageOf(cause)}`);
    }
  };
  add('message', () => (error as { message?: unknown }).message);
  add('detail', () => (error as { detail?: unknown }).detail);
  add('JSON.stringify(err)', () => JSON.stringify(error));
  add('util.inspect(err)', () => inspect(error, { depth: 10, maxStringLength: Infinity }));
  return { forms, problems };
}

/**
 * Violations grouped by method, slot and kind of answer, each group with its inputs and the
 * first message in full: one line per thing to fix, not one per input.
 */
function grouped(found: readonly Violation[]): string[] {
  const groups = new Map<string, { inputs: string[]; example: string }>();
  for (const v of found) {
    const kind =
      /^(untyped \w+|wrong result|expected .+?, got (?:a result|\w+)|took|no answer|changed the .+ table)/.exec(
        v.what,
      )?.[1] ?? v.what.split(':')[0]!;
    const key = `${v.method} [${v.slot}]: ${kind}`;
    const group = groups.get(key) ?? { inputs: [], example: v.what };
    group.inputs.push(v.input);
    groups.set(key, group);
  }
  return [...groups].map(
    ([key, { inputs, example }]) => `${key} ← ${inputs.join('; ')} (e.g. ${example.slice(0, 160)})`,
  );
}

function errorName(error: unknown): string {
  if (error instanceof DatabaseError)
    return `${error.name}${error instanceof ValidationError ? ` (${error.field})` : ''}`;
  if (error instanceof Error) return `untyped ${error.constructor.name}`;
  return `untyped ${typeof error}`;
}

/** An error's message, short, with control characters and lone surrogates escaped (it may echo the input). */
function messageOf(error: unknown): string {
  let text: string;
  try {
    text = error instanceof Error ? error.message : String(error);
  } catch {
    return '(no message)';
  }
  return JSON.stringify(text.slice(0, 140)).slice(1, -1);
}

/** Rejects after `ms` with a marker, and clears its timer once `promise` settles. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new HungMarker()), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
class HungMarker extends Error {}

// ---- correct results ------------------------------------------------------------------------

type Rec = Record<string, unknown>;
const rec = (value: unknown): Rec => value as Rec;

function isRowList(result: unknown): result is Rec[] {
  return Array.isArray(result) && result.every((row) => typeof rec(row)['id'] === 'string');
}

const rowsCheck: Check = (result) => expect(isRowList(result), 'an array of rows').to.equal(true);
const absent: Check = (result) => expect(result === undefined || result === false, 'no row').to.equal(true);
const emptyList: Check = (result) => expect(result).to.deep.equal([]);
const isFalse: Check = (result) => expect(result).to.equal(false);
const isZero: Check = (result) => expect(result).to.equal(0);
const emptyPage: Check = (result) => {
  expect(rec(result)['items']).to.deep.equal([]);
  expect(rec(result)['hasMore']).to.equal(false);
};
const pageCheck: Check = (result) => {
  expect(isRowList(rec(result)['items']), 'a page of rows').to.equal(true);
  expect(typeof rec(result)['hasMore']).to.equal('boolean');
};
/** Correct only for `undefined` (the argument is optional), then as `check` says. */
function whenUndefined(check: Check): Check {
  return (result, value, input) => {
    expect(value, 'a result for an argument that is not undefined').to.equal(undefined);
    return check(result, value, input);
  };
}
/** Correct only for a number that is a valid limit / offset (or undefined), then as `check` says. */
function whenCount(min: number, max: number, check: Check): Check {
  return (result, value, input) => {
    const valid =
      value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max);
    expect(valid, 'a result for an invalid count').to.equal(true);
    return check(result, value, input);
  };
}
/** Correct only for a function (a callback slot), then as `check` says. */
function whenFunction(check: Check): Check {
  return (result, value, input) => {
    expect(typeof value, 'a result for a callback that is not a function').to.equal('function');
    return check(result, value, input);
  };
}

describe('reliability: the hostile-input table (every public method × every hostile input)', function () {
  let target: { url: string; drop(): Promise<void> };
  let admin: pg.Client;
  let watch: ProcessWatch;
  let env: Env;
  let throwing: Env;
  let database: Database<HostileDB>;
  let throwingDatabase: Database<HostileDB>;
  let catalogue: HostileInput[];
  let rows: Row[];
  let ids: { first: string; second: string; gone: string; alice: string; bob: string; carol: string };
  let baseline: { json: Record<Table, string>; sums: Record<string, string> };
  let secrets: { kind: string; value: string }[] = [];
  let signedCursors = false;
  /** DATABASE_URL with its password: the secret a ConfigError or a config's rendering must never show. */
  let secretUrl = '';
  let slowQueryNote = '';
  const logLeaks: string[] = [];
  let logLines = 0;
  const started = performance.now();
  const tally = { cells: 0, calls: 0, handled: 0, contract: 0, errorsByClass: {} as Record<string, number> };
  const violations: Violation[] = [];

  /** A logger that renders every line and looks for each secret in it. */
  function capturingLogger(): Logger {
    const write = (level: string) => (message: string, meta?: LogMeta) => {
      logLines++;
      const text = render(message, meta);
      for (const secret of secrets) {
        if (text.includes(secret.value)) logLeaks.push(`${secret.kind} in a ${level} log line: ${text.slice(0, 120)}`);
      }
    };
    const logger: Logger = {
      error: write('error'),
      warn: write('warn'),
      info: write('info'),
      debug: write('debug'),
      child: () => logger,
    };
    return logger;
  }

  const throwingLogger: Logger = {
    error: () => {
      throw new HostileTrap('the logger throws');
    },
    warn: () => {
      throw new HostileTrap('the logger throws');
    },
    info: () => {
      throw new HostileTrap('the logger throws');
    },
    debug: () => {
      throw new HostileTrap('the logger throws');
    },
  };

  async function snapshot(): Promise<Record<Table, string>> {
    const out = {} as Record<Table, string>;
    for (const table of TABLES) {
      const { rows: r } = await admin.query<{ j: unknown }>(
        `select coalesce(json_agg(t order by t.id), '[]') as j from ${admin.escapeIdentifier(table)} t`,
      );
      out[table] = JSON.stringify(r[0]?.j ?? []);
    }
    return out;
  }

  /** Puts both tables back as they were before the table ran. */
  async function restoreBaseline(): Promise<void> {
    await admin.query('begin');
    try {
      for (const table of TABLES) {
        const id = admin.escapeIdentifier(table);
        await admin.query(`delete from ${id}`);
        await admin.query(
          `insert into ${id} overriding system value select * from json_populate_recordset(null::${id}, $1::json)`,
          [baseline.json[table]],
        );
      }
      await admin.query('commit');
    } catch (error) {
      await admin.query('rollback');
      throw error;
    }
  }

  async function storedCounter(id: string): Promise<Rec | undefined> {
    const { rows: r } = await admin.query<Rec>('select * from reliability_counters where id = $1', [id]);
    return r[0];
  }

  async function storedUser(id: string): Promise<Rec | undefined> {
    const { rows: r } = await admin.query<Rec>('select * from users where id = $1', [id]);
    return r[0];
  }

  /** The counter returned holds `column` exactly as given, and so does the table. */
  function counterStored(column: 'name' | 'note', sqlColumn: string, unchangedId?: () => string): Check {
    return async (result, value) => {
      const row = rec(result);
      if (value === undefined && unchangedId) {
        expect(row['id']).to.equal(unchangedId());
        return;
      }
      expect(row[column] === value, `the returned ${column} is the value given`).to.equal(true);
      const stored = await storedCounter(String(row['id']));
      expect(stored?.[sqlColumn] === value, `the stored ${column} is the value given`).to.equal(true);
    };
  }

  before(async function () {
    this.timeout(120_000);
    watch = watchProcess();
    target = await createScratchDatabase('kr_rel_table');
    admin = new pg.Client({ connectionString: target.url });
    await admin.connect();
    const url = new URL(target.url);
    if (!url.password) url.password = URL_PASSWORD;
    secretUrl = url.toString();
    const logger = capturingLogger();
    const baseEnv = {
      DATABASE_URL: url.toString(),
      DB_ECHO_SQL: 'true',
      DB_CURSOR_SECRET: CURSOR_SECRET,
      DB_POOL_SIZE: '4',
    };
    let config: DatabaseConfig;
    try {
      config = loadConfig({ ...baseEnv, DB_SLOW_QUERY_MS: '0' }, { envFile: '/dev/null', logger });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      config = loadConfig({ ...baseEnv, DB_SLOW_QUERY_MS: '1' }, { envFile: '/dev/null', logger });
      slowQueryNote = 'DB_SLOW_QUERY_MS=0 refused, 1 used';
    }
    signedCursors = Object.hasOwn(CONFIG_VARIABLES, 'DB_CURSOR_SECRET');
    database = createDatabase<HostileDB>({ config, logger });
    throwingDatabase = createDatabase<HostileDB>({ config, logger: throwingLogger });
    await migrateToLatest(database.db);
    await sql`
      create table reliability_counters (
        id bigint generated always as identity primary key,
        name text not null,
        code text unique,
        hits integer not null default 0,
        note text,
        version integer not null default 1,
        deleted_at timestamptz
      )`.execute(database.db);
    const policy = { bcryptCost: 4 };
    const makeEnv = (db: Kysely<HostileDB>, log: Logger): Env => ({
      db,
      items: new Repository(db, 'reliabilityCounters', { softDelete: { column: 'deletedAt', kind: 'timestamp' } }),
      users: new UserRepository(db, { policy, logger: log }),
      config,
      logger: log,
    });
    env = makeEnv(database.db, logger);
    throwing = makeEnv(throwingDatabase.db, throwingLogger);

    const alice = await env.users.createUser({
      username: 'alice',
      email: 'alice@example.com',
      password: PASSWORDS.alice,
    });
    const bob = await env.users.createUser({ username: 'bob', email: 'bob@example.com', password: PASSWORDS.bob });
    const carol = await env.users.createUser({
      username: 'carol',
      email: 'carol@example.com',
      password: PASSWORDS.carol,
    });
    await env.users.deleteUser(bob.id);
    const first = await env.items.create({ name: 'first', code: 'c1' });
    const second = await env.items.create({ name: 'second', code: 'c2', note: 'kept' });
    const gone = await env.items.create({ name: 'gone', code: 'c3' });
    await env.items.delete(gone.id);
    ids = { first: first.id, second: second.id, gone: gone.id, alice: alice.id, bob: bob.id, carol: carol.id };

    const { rows: hashes } = await admin.query<{ username: string; password_hash: string }>(
      'select username, password_hash from users',
    );
    secrets = [
      ...hashes.map((row) => ({ kind: `the password hash of ${row.username}`, value: row.password_hash })),
      ...Object.entries(PASSWORDS).map(([user, value]) => ({ kind: `the password of ${user}`, value })),
      { kind: 'the DATABASE_URL password', value: decodeURIComponent(url.password) },
      { kind: 'DB_CURSOR_SECRET', value: CURSOR_SECRET },
    ];
    const { rows: toast } = await admin.query<{ name: string }>(
      "select reltoastrelid::regclass::text as name from pg_class where relname = 'pg_statistic'",
    );
    catalogue = hostileCatalogue(toast[0]?.name ?? 'pg_toast.pg_toast_2619');
    const itemsCursor = (await env.items.paginate({ limit: 1 })).nextCursor ?? '';
    const usersCursor = (await env.users.listUsersPage({ limit: 1 })).nextCursor ?? '';
    expect(itemsCursor).to.not.equal('');
    expect(usersCursor).to.not.equal('');
    rows = tableRows(
      { scope: 'reliabilityCounters|id:asc', issued: itemsCursor },
      { scope: 'users|createdAt:desc,id:desc', issued: usersCursor },
    );
    baseline = { json: await snapshot(), sums: await tablesChecksum(admin, TABLES) };
  });

  after(async function () {
    this.timeout(60_000);
    printFigures({
      spec: 'hostile-input table',
      operations: tally.calls,
      errorsByClass: tally.errorsByClass,
      acknowledgedWrites: 0,
      lostWrites: 0,
      hostileInputs: tally.cells,
      seconds: (performance.now() - started) / 1000,
      notes: [
        `inputs × methods ${(catalogue?.length ?? 0) + 1} × ${rows?.length ?? 0} = ${tally.cells}`,
        `handled ${tally.handled}`,
        `violations ${violations.length} (in ${tally.cells - tally.handled} cells)`,
        `contract cases ${tally.contract}`,
        `log lines ${logLines}`,
        ...(slowQueryNote ? [slowQueryNote] : []),
        `cursors ${signedCursors ? 'signed' : 'unsigned'}`,
      ],
    });
    await admin?.end();
    await database?.close();
    await throwingDatabase?.close();
    await target?.drop();
    watch?.stop();
  });

  /** The rows of the table: every public method, its argument slots, and a valid call. */
  function tableRows(itemsCursor: CursorSource, usersCursor: CursorSource): Row[] {
    const { db, items, users, config } = env;
    const userDb = db as unknown as Kysely<DB>;
    const live = () => env.items.findMany();
    const sameAsDefault =
      (make: () => Promise<unknown>): Check =>
      async (result) =>
        expect(JSON.stringify(result)).to.equal(JSON.stringify(await make()));
    const firstRow: Check = (result) => expect(rec(result)['id']).to.equal(ids.first);
    const firstOrNone: Check = (result) =>
      expect(result === undefined || rec(result)['id'] === ids.first).to.equal(true);
    const aliceUnchanged: Check = async (result) => {
      expect(rec(result)['id']).to.equal(ids.alice);
      expect(rec(result)).to.not.have.property('passwordHash');
      expect((await storedUser(ids.alice))?.['email']).to.equal('alice@example.com');
    };
    const counted =
      (by: (value: unknown) => number): Check =>
      async (result, value) => {
        expect(rec(result)['id']).to.equal(ids.first);
        const hits = rec(result)['hits'];
        expect(hits).to.equal(by(value));
        expect((await storedCounter(ids.first))?.['hits']).to.equal(hits);
      };
    const userCreated =
      (field: 'username' | 'email' | 'password'): Check =>
      async (result, value) => {
        const user = rec(result);
        expect(user).to.not.have.property('passwordHash');
        const stored = await storedUser(String(user['id']));
        if (field === 'username') expect(stored?.['username'] === value).to.equal(true);
        if (field === 'email') expect(stored?.['email']).to.equal(String(value).trim().toLowerCase());
        if (field === 'password') {
          expect(await bcrypt.compare(String(value), String(stored?.['password_hash']))).to.equal(true);
        }
      };
    const pagedCursor: Check = (result, value, input) => {
      expect(value === undefined || value === null || (input.forged === true && !signedCursors)).to.equal(true);
      pageCheck(result, value, input);
    };
    const openDatabase = async (options: unknown): Promise<string> => {
      const opened = createDatabase<HostileDB>(untyped(options));
      try {
        await sql`select 1`.execute(opened.db);
      } finally {
        await opened.close();
      }
      return 'ok';
    };
    const isOk: Check = (result) => expect(result).to.equal('ok');
    const isDone: Check = (result) => expect(result).to.equal('done');
    const isConfig: Check = (result) => expect(rec(result)['engine']).to.be.oneOf(['postgres', 'pglite']);
    const hasher = new BcryptPasswordHasher({ cost: 4 });
    const otherHash = '$2b$04$' + 'abcdefghijklmnopqrstuv'.repeat(3).slice(0, 53);
    const goodEnv = { DATABASE_URL: 'postgres://app@db.example.com:5432/app' };

    const id = (name: string, call: (v: unknown) => Promise<unknown>, ok: Check = absent): Slot => ({
      name,
      kind: 'id',
      call,
      ok,
    });
    const where = (call: (v: unknown) => Promise<unknown>, required: boolean, ok?: Check): Slot => ({
      name: 'where',
      kind: 'where',
      call,
      whereRequired: required,
      ...(ok ? { ok } : {}),
    });
    const whereName = (call: (v: unknown) => Promise<unknown>, ok: Check): Slot => ({
      name: 'where.name',
      kind: 'whereValue',
      call,
      ok,
    });

    return [
      // ---- Repository ----------------------------------------------------------------------
      {
        method: 'new Repository',
        slots: [
          {
            name: 'db',
            kind: 'db',
            call: (v) => new Repository(untyped<Kysely<HostileDB>>(v), 'reliabilityCounters').findMany(),
          },
          {
            name: 'table',
            kind: 'table',
            call: (v) => new Repository(db, untyped<'reliabilityCounters'>(v)).findMany({ limit: 5 }),
          },
          {
            name: 'options',
            kind: 'object',
            call: (v) => new Repository(db, 'reliabilityCounters', untyped(v)).findMany({ limit: 5 }),
            ok: rowsCheck,
          },
        ],
        valid: (e) => new Repository(e.db, 'reliabilityCounters').findMany({ limit: 5 }),
        validOk: (r) => expect(isRowList(r) && r.length === 3).to.equal(true),
      },
      {
        method: 'Repository.withTransaction',
        slots: [
          {
            name: 'trx',
            kind: 'db',
            call: (v) => items.withTransaction(untyped(v)).findMany(),
            ok: whenUndefined(rowsCheck),
          },
        ],
        valid: (e) => withTransaction(e.db, (trx) => e.items.withTransaction(trx).findMany()),
        validOk: (r) => expect(isRowList(r) && r.length === 2).to.equal(true),
      },
      {
        method: 'Repository.findById',
        slots: [
          id('id', (v) => items.findById(untyped(v))),
          { name: 'options', kind: 'object', call: (v) => items.findById(ids.first, untyped(v)), ok: firstOrNone },
        ],
        valid: (e) => e.items.findById(ids.first),
        validOk: (r) => expect(rec(r)['name']).to.equal('first'),
      },
      {
        method: 'Repository.getById',
        slots: [
          id(
            'id',
            (v) => items.getById(untyped(v)),
            (r, v) => expect(rec(r)['id']).to.equal(String(v)),
          ),
          { name: 'options', kind: 'object', call: (v) => items.getById(ids.first, untyped(v)), ok: firstRow },
        ],
        valid: (e) => e.items.getById(ids.first),
        validOk: (r) => expect(rec(r)['name']).to.equal('first'),
      },
      {
        method: 'Repository.findOne',
        slots: [
          where((v) => items.findOne(untyped(v)), true),
          whereName((v) => items.findOne({ name: untyped(v) }), absent),
          {
            name: 'filter',
            kind: 'object',
            call: (v) => items.findOne({ name: 'first' }, untyped(v)),
            ok: firstOrNone,
          },
        ],
        valid: (e) => e.items.findOne({ name: 'first' }),
        validOk: (r) => expect(rec(r)['id']).to.equal(ids.first),
      },
      {
        method: 'Repository.findMany',
        slots: [
          { name: 'query', kind: 'object', call: (v) => items.findMany(untyped(v)), ok: sameAsDefault(live) },
          where((v) => items.findMany({ where: untyped(v) }), false, whenUndefined(sameAsDefault(live))),
          whereName((v) => items.findMany({ where: { name: untyped(v) } }), emptyList),
          {
            name: 'orderBy',
            kind: 'column',
            call: (v) => items.findMany({ orderBy: untyped(v) }),
            ok: whenUndefined(sameAsDefault(live)),
          },
          {
            name: 'limit',
            kind: 'number',
            call: (v) => items.findMany({ limit: untyped(v) }),
            ok: whenCount(1, 1000, rowsCheck),
          },
          {
            name: 'offset',
            kind: 'number',
            call: (v) => items.findMany({ offset: untyped(v) }),
            ok: whenCount(0, Number.MAX_SAFE_INTEGER, rowsCheck),
          },
        ],
        valid: (e) => e.items.findMany({ where: { name: 'first' } }),
        validOk: (r) => expect(isRowList(r) && r.length === 1).to.equal(true),
      },
      {
        method: 'Repository.paginate',
        slots: [
          { name: 'request', kind: 'object', call: (v) => items.paginate(untyped(v)), ok: pageCheck },
          where((v) => items.paginate({ where: untyped(v) }), false, whenUndefined(pageCheck)),
          whereName((v) => items.paginate({ where: { name: untyped(v) } }), emptyPage),
          {
            name: 'cursor',
            kind: 'cursor',
            cursor: itemsCursor,
            call: (v) => items.paginate({ cursor: untyped(v) }),
            ok: pagedCursor,
          },
          {
            name: 'limit',
            kind: 'number',
            call: (v) => items.paginate({ limit: untyped(v) }),
            ok: whenCount(1, 1000, pageCheck),
          },
        ],
        valid: (e) => e.items.paginate({ limit: 1 }),
        validOk: (r) => expect(rec(r)['hasMore']).to.equal(true),
      },
      {
        method: 'Repository.count',
        slots: [
          where(
            (v) => items.count(untyped(v)),
            false,
            whenUndefined((r) => expect(r).to.equal(2)),
          ),
          whereName((v) => items.count({ name: untyped(v) }), isZero),
          {
            name: 'filter',
            kind: 'object',
            call: (v) => items.count({ name: 'first' }, untyped(v)),
            ok: (r) => expect(r).to.be.oneOf([0, 1]),
          },
        ],
        valid: (e) => e.items.count({ name: 'first' }),
        validOk: (r) => expect(r).to.equal(1),
      },
      {
        method: 'Repository.exists',
        slots: [
          where((v) => items.exists(untyped(v)), true),
          whereName((v) => items.exists({ name: untyped(v) }), isFalse),
          {
            name: 'filter',
            kind: 'object',
            call: (v) => items.exists({ name: 'first' }, untyped(v)),
            ok: (r) => expect(typeof r).to.equal('boolean'),
          },
        ],
        valid: (e) => e.items.exists({ name: 'first' }),
        validOk: (r) => expect(r).to.equal(true),
      },
      {
        method: 'Repository.findAndCount',
        slots: [
          {
            name: 'query',
            kind: 'object',
            call: (v) => items.findAndCount(untyped(v)),
            ok: sameAsDefault(() => env.items.findAndCount()),
          },
          where(
            (v) => items.findAndCount({ where: untyped(v) }),
            false,
            whenUndefined(sameAsDefault(() => env.items.findAndCount())),
          ),
          whereName(
            (v) => items.findAndCount({ where: { name: untyped(v) } }),
            (r) => expect(r).to.deep.equal({ items: [], total: 0 }),
          ),
        ],
        valid: (e) => e.items.findAndCount({ where: { name: 'first' } }),
        validOk: (r) => expect(rec(r)['total']).to.equal(1),
      },
      {
        method: 'Repository.create',
        slots: [
          { name: 'values', kind: 'object', call: (v) => items.create(untyped(v)) },
          {
            name: 'values.name',
            kind: 'writeValue',
            call: (v) => items.create({ name: untyped(v) }),
            ok: counterStored('name', 'name'),
            writes: 'reliability_counters',
          },
        ],
        valid: (e) => e.items.create({ name: 'valid create' }),
        validOk: (r) => expect(rec(r)['name']).to.equal('valid create'),
        validWrites: 'reliability_counters',
      },
      {
        method: 'Repository.createMany',
        slots: [
          { name: 'rows', kind: 'object', call: (v) => items.createMany(untyped(v)) },
          { name: 'rows[0]', kind: 'object', call: (v) => items.createMany([untyped(v)]) },
          {
            name: 'rows[0].name',
            kind: 'writeValue',
            call: async (v) => (await items.createMany([{ name: untyped(v) }, { name: 'other' }]))[0],
            ok: counterStored('name', 'name'),
            writes: 'reliability_counters',
          },
          {
            name: 'options',
            kind: 'object',
            call: (v) => items.createMany([{ name: 'm1' }, { name: 'm2' }], untyped(v)),
            ok: (r) =>
              expect(
                typeof r === 'number' || (Array.isArray(r) && (r.length === 0 || r.length === 2)),
                'the rows, or how many',
              ).to.equal(true),
            writes: 'reliability_counters',
          },
        ],
        valid: (e) => e.items.createMany([{ name: 'valid many 1' }, { name: 'valid many 2' }]),
        validOk: (r) => expect(isRowList(r) && r.length === 2).to.equal(true),
        validWrites: 'reliability_counters',
      },
      {
        method: 'Repository.update',
        slots: [
          id('id', (v) => items.update(untyped(v), { note: 'x' })),
          { name: 'patch', kind: 'object', call: (v) => items.update(ids.first, untyped(v)), ok: firstRow },
          {
            name: 'patch.note',
            kind: 'writeValue',
            call: (v) => items.update(ids.first, { note: untyped(v) }),
            ok: counterStored('note', 'note', () => ids.first),
            writes: 'reliability_counters',
          },
        ],
        valid: (e) => e.items.update(ids.first, { note: 'valid update' }),
        validOk: (r) => expect(rec(r)['note']).to.equal('valid update'),
        validWrites: 'reliability_counters',
      },
      {
        method: 'Repository.updateMany',
        slots: [
          where((v) => items.updateMany(untyped(v), { note: 'pwned' }), true),
          whereName((v) => items.updateMany({ name: untyped(v) }, { note: 'pwned' }), isZero),
          { name: 'patch', kind: 'object', call: (v) => items.updateMany({ name: 'first' }, untyped(v)), ok: isZero },
          {
            name: 'patch.note',
            kind: 'writeValue',
            call: (v) => items.updateMany({ name: 'first' }, { note: untyped(v) }),
            ok: async (r, v) => {
              expect(r).to.equal(v === undefined ? 0 : 1);
              if (v !== undefined) expect((await storedCounter(ids.first))?.['note'] === v).to.equal(true);
            },
            writes: 'reliability_counters',
          },
        ],
        valid: (e) => e.items.updateMany({ name: 'first' }, { note: 'valid updateMany' }),
        validOk: (r) => expect(r).to.equal(1),
        validWrites: 'reliability_counters',
      },
      {
        method: 'Repository.upsert',
        slots: [
          { name: 'values', kind: 'object', call: (v) => items.upsert(untyped(v), ['code']) },
          {
            name: 'values.name',
            kind: 'writeValue',
            call: (v) => items.upsert({ name: untyped(v), code: 'c1' }, ['code']),
            ok: counterStored('name', 'name'),
            writes: 'reliability_counters',
          },
          {
            name: 'conflictColumns',
            kind: 'column',
            call: (v) => items.upsert({ name: 'u', code: 'c1' }, untyped(v)),
          },
        ],
        valid: (e) => e.items.upsert({ name: 'valid upsert', code: 'c1' }, ['code']),
        validOk: (r) => expect(rec(r)['id']).to.equal(ids.first),
        validWrites: 'reliability_counters',
      },
      {
        method: 'Repository.delete',
        slots: [id('id', (v) => items.delete(untyped(v)), isFalse)],
        valid: (e) => e.items.delete(ids.second),
        validOk: (r) => expect(r).to.equal(true),
        validWrites: 'reliability_counters',
      },
      {
        method: 'Repository.restore',
        slots: [id('id', (v) => items.restore(untyped(v)), isFalse)],
        valid: (e) => e.items.restore(ids.gone),
        validOk: (r) => expect(r).to.equal(true),
        validWrites: 'reliability_counters',
      },
      ...(['increment', 'decrement'] as const).map((op): Row => ({
        method: `Repository.${op}`,
        slots: [
          id('id', (v) => items[op](untyped(v), 'hits')),
          { name: 'column', kind: 'column', call: (v) => items[op](ids.first, untyped(v)) },
          {
            name: 'by',
            kind: 'number',
            call: (v) => items[op](ids.first, 'hits', untyped(v)),
            ok: (r, v, input) => {
              const valid = v === undefined || (typeof v === 'number' && Number.isFinite(v));
              expect(valid, 'a result for a `by` that is not a finite number').to.equal(true);
              return counted((by) => (op === 'increment' ? 1 : -1) * (by === undefined ? 1 : Number(by)))(r, v, input);
            },
            writes: 'reliability_counters',
          },
        ],
        valid: (e) => e.items[op](ids.first, 'hits', 2),
        validOk: (r) => expect(rec(r)['hits']).to.equal(op === 'increment' ? 2 : -2),
        validWrites: 'reliability_counters',
      })),

      // ---- UserRepository ------------------------------------------------------------------
      {
        method: 'new UserRepository',
        slots: [
          { name: 'db', kind: 'db', call: (v) => new UserRepository(untyped(v)).countUsers() },
          {
            name: 'options',
            kind: 'object',
            call: (v) => new UserRepository(userDb, untyped(v)).countUsers(),
            ok: (r) => expect(r).to.equal(2),
          },
        ],
        valid: (e) => new UserRepository(e.db, { logger: e.logger }).countUsers(),
        validOk: (r) => expect(r).to.equal(2),
      },
      {
        method: 'UserRepository.createUser',
        slots: [
          { name: 'user', kind: 'object', call: (v) => users.createUser(untyped(v)) },
          {
            name: 'username',
            kind: 'string',
            call: (v) =>
              users.createUser({ username: untyped(v), email: 'hostile-new@example.com', password: 'hostile-pw-1' }),
            ok: userCreated('username'),
            writes: 'users',
          },
          {
            name: 'email',
            kind: 'string',
            call: (v) => users.createUser({ username: 'hostile_new', email: untyped(v), password: 'hostile-pw-1' }),
            ok: userCreated('email'),
            writes: 'users',
          },
          {
            name: 'password',
            kind: 'string',
            call: (v) =>
              users.createUser({ username: 'hostile_new', email: 'hostile-new@example.com', password: untyped(v) }),
            ok: userCreated('password'),
            writes: 'users',
          },
        ],
        valid: (e) => e.users.createUser({ username: 'valid_new', email: 'valid@example.com', password: 'valid-pw-1' }),
        validOk: (r) => expect(rec(r)['username']).to.equal('valid_new'),
        validWrites: 'users',
      },
      {
        method: 'UserRepository.getUserById',
        slots: [id('id', (v) => users.getUserById(untyped(v)))],
        valid: (e) => e.users.getUserById(ids.alice),
        validOk: (r) => expect(rec(r)['username']).to.equal('alice'),
      },
      {
        method: 'UserRepository.getUserByUsername',
        slots: [{ name: 'username', kind: 'string', call: (v) => users.getUserByUsername(untyped(v)), ok: absent }],
        valid: (e) => e.users.getUserByUsername('alice'),
        validOk: (r) => expect(rec(r)['id']).to.equal(ids.alice),
      },
      {
        method: 'UserRepository.getUserByEmail',
        slots: [{ name: 'email', kind: 'string', call: (v) => users.getUserByEmail(untyped(v)), ok: absent }],
        valid: (e) => e.users.getUserByEmail('ALICE@example.com'),
        validOk: (r) => expect(rec(r)['id']).to.equal(ids.alice),
      },
      {
        method: 'UserRepository.updateUser',
        slots: [
          id('id', (v) => users.updateUser(untyped(v), { isActive: true })),
          { name: 'changes', kind: 'object', call: (v) => users.updateUser(ids.alice, untyped(v)), ok: aliceUnchanged },
          {
            name: 'changes.email',
            kind: 'writeValue',
            call: (v) => users.updateUser(ids.alice, { email: untyped(v) }),
            ok: whenUndefined(aliceUnchanged),
            writes: 'users',
          },
        ],
        valid: (e) => e.users.updateUser(ids.alice, { email: 'alice2@example.com' }),
        validOk: (r) => expect(rec(r)['email']).to.equal('alice2@example.com'),
        validWrites: 'users',
      },
      {
        method: 'UserRepository.deleteUser',
        slots: [id('id', (v) => users.deleteUser(untyped(v)), isFalse)],
        valid: (e) => e.users.deleteUser(ids.carol),
        validOk: (r) => expect(r).to.equal(true),
        validWrites: 'users',
      },
      {
        method: 'UserRepository.restoreUser',
        slots: [id('id', (v) => users.restoreUser(untyped(v)), isFalse)],
        valid: (e) => e.users.restoreUser(ids.bob),
        validOk: (r) => expect(r).to.equal(true),
        validWrites: 'users',
      },
      {
        method: 'UserRepository.listUsers',
        slots: [
          {
            name: 'options',
            kind: 'object',
            call: (v) => users.listUsers(untyped(v)),
            ok: sameAsDefault(() => env.users.listUsers()),
          },
          {
            name: 'limit',
            kind: 'number',
            call: (v) => users.listUsers({ limit: untyped(v) }),
            ok: whenCount(1, 1000, rowsCheck),
          },
          {
            name: 'offset',
            kind: 'number',
            call: (v) => users.listUsers({ offset: untyped(v) }),
            ok: whenCount(0, Number.MAX_SAFE_INTEGER, rowsCheck),
          },
          {
            name: 'activeOnly',
            kind: 'object',
            call: (v) => users.listUsers({ activeOnly: untyped(v) }),
            ok: whenUndefined(sameAsDefault(() => env.users.listUsers())),
          },
        ],
        valid: (e) => e.users.listUsers({ limit: 10 }),
        validOk: (r) => expect(isRowList(r) && r.length === 2).to.equal(true),
      },
      {
        method: 'UserRepository.listUsersPage',
        slots: [
          { name: 'options', kind: 'object', call: (v) => users.listUsersPage(untyped(v)), ok: pageCheck },
          {
            name: 'cursor',
            kind: 'cursor',
            cursor: usersCursor,
            call: (v) => users.listUsersPage({ cursor: untyped(v) }),
            ok: pagedCursor,
          },
          {
            name: 'limit',
            kind: 'number',
            call: (v) => users.listUsersPage({ limit: untyped(v) }),
            ok: whenCount(1, 1000, pageCheck),
          },
        ],
        valid: (e) => e.users.listUsersPage({ limit: 1 }),
        validOk: (r) => expect(rec(r)['hasMore']).to.equal(true),
      },
      {
        method: 'UserRepository.countUsers',
        slots: [
          {
            name: 'options',
            kind: 'object',
            call: (v) => users.countUsers(untyped(v)),
            ok: (r) => expect(r).to.equal(2),
          },
          {
            name: 'activeOnly',
            kind: 'object',
            call: (v) => users.countUsers({ activeOnly: untyped(v) }),
            ok: whenUndefined((r) => expect(r).to.equal(2)),
          },
        ],
        valid: (e) => e.users.countUsers({ activeOnly: false }),
        validOk: (r) => expect(r).to.equal(3),
      },
      {
        method: 'UserRepository.verifyPassword',
        slots: [
          {
            name: 'username',
            kind: 'string',
            call: (v) => users.verifyPassword(untyped(v), PASSWORDS.alice),
            ok: absent,
          },
          { name: 'password', kind: 'string', call: (v) => users.verifyPassword('alice', untyped(v)), ok: absent },
        ],
        valid: (e) => e.users.verifyPassword('alice', PASSWORDS.alice),
        validOk: (r) => expect(rec(r)['id']).to.equal(ids.alice),
      },
      {
        method: 'UserRepository.changePassword',
        slots: [
          id('id', (v) => users.changePassword(untyped(v), PASSWORDS.alice, 'next-password-1'), isFalse),
          {
            name: 'current',
            kind: 'string',
            call: (v) => users.changePassword(ids.alice, untyped(v), 'next-password-1'),
            ok: isFalse,
          },
          {
            name: 'next',
            kind: 'string',
            call: (v) => users.changePassword(ids.alice, PASSWORDS.alice, untyped(v)),
            ok: async (r, v) => {
              expect(r).to.equal(true);
              const stored = await storedUser(ids.alice);
              expect(await bcrypt.compare(String(v), String(stored?.['password_hash']))).to.equal(true);
            },
            writes: 'users',
          },
        ],
        valid: (e) => e.users.changePassword(ids.alice, PASSWORDS.alice, 'valid-next-password'),
        validOk: (r) => expect(r).to.equal(true),
        validWrites: 'users',
      },

      // ---- configuration, database, logging -----------------------------------------------
      {
        method: 'loadConfig',
        slots: [
          {
            name: 'env',
            kind: 'object',
            call: (v) => sync(() => loadConfig(untyped(v), { envFile: '/dev/null' })),
            ok: isConfig,
          },
          {
            name: 'env.DATABASE_URL',
            kind: 'string',
            call: (v) => sync(() => loadConfig(untyped({ DATABASE_URL: v }), { envFile: '/dev/null' })),
          },
          { name: 'options', kind: 'object', call: (v) => sync(() => loadConfig(goodEnv, untyped(v))), ok: isConfig },
          {
            // a bad value beside a password and a cursor secret: the error and the config never show them
            name: 'env.DB_POOL_SIZE',
            kind: 'string',
            call: (v) =>
              sync(() =>
                loadConfig(untyped({ DATABASE_URL: secretUrl, DB_CURSOR_SECRET: CURSOR_SECRET, DB_POOL_SIZE: v }), {
                  envFile: '/dev/null',
                }),
              ),
            ok: whenUndefined(isConfig),
          },
        ],
        valid: () => sync(() => loadConfig(goodEnv, { envFile: '/dev/null' })),
        validOk: isConfig,
      },
      {
        method: 'sealConfig',
        slots: [
          {
            name: 'config',
            kind: 'object',
            call: (v) => sync(() => sealConfig(untyped(v))),
            ok: (r) => {
              expect(Object.isFrozen(r) && typeof r === 'object' && r !== null).to.equal(true);
              expect(rec(r)['engine']).to.be.oneOf(['postgres', 'pglite']);
            },
          },
        ],
        valid: (e) => sync(() => sealConfig(e.config)),
        validOk: isConfig,
      },
      {
        method: 'createDatabase',
        slots: [
          { name: 'options', kind: 'object', call: (v) => openDatabase(v), ok: isOk },
          {
            name: 'options.config',
            kind: 'object',
            call: (v) => openDatabase({ config: v, logger: env.logger }),
            ok: isOk,
          },
          { name: 'options.logger', kind: 'object', call: (v) => openDatabase({ config, logger: v }), ok: isOk },
          {
            name: 'options.plugins',
            kind: 'object',
            call: (v) => openDatabase({ config, logger: env.logger, plugins: v }),
            // null, like undefined, is "no plugins"
            ok: (r, v) => {
              expect(v === undefined || v === null, 'a result for plugins that are not absent').to.equal(true);
              return isOk(r, v, VALID_CALL);
            },
          },
        ],
        valid: (e) => openDatabase({ config: e.config, logger: e.logger }),
        validOk: (r) => expect(r).to.equal('ok'),
      },
      {
        method: 'createDialect',
        slots: [
          {
            name: 'options',
            kind: 'object',
            call: async (v) => {
              const kysely = new Kysely<HostileDB>({ dialect: createDialect(untyped(v)) });
              try {
                await sql`select 1`.execute(kysely);
              } finally {
                await kysely.destroy();
              }
              return 'ok';
            },
            ok: isOk,
          },
        ],
        valid: async (e) => {
          const kysely = new Kysely<HostileDB>({ dialect: createDialect({ config: e.config, logger: e.logger }) });
          try {
            await sql`select 1`.execute(kysely);
          } finally {
            await kysely.destroy();
          }
          return 'ok';
        },
        validOk: (r) => expect(r).to.equal('ok'),
      },
      {
        method: 'mapError',
        slots: [
          {
            name: 'error',
            kind: 'object',
            call: (v) => sync(() => mapError(v)),
            ok: (r) => expect(r).to.be.instanceOf(DatabaseError),
          },
        ],
        valid: () => sync(() => mapError(Object.assign(new Error('x'), { code: '23505', severity: 'ERROR' }))),
        validOk: (r) => expect(rec(r)['name']).to.equal('UniqueViolationError'),
      },
      {
        method: 'createLogger',
        slots: [
          {
            name: 'options',
            kind: 'object',
            call: (v) => sync(() => createLogger(untyped(v))),
            ok: (r) => expect(typeof rec(r)['info']).to.equal('function'),
          },
        ],
        valid: () => sync(() => createLogger({ level: 'error' })),
        validOk: (r) => expect(typeof rec(r)['info']).to.equal('function'),
      },
      {
        method: 'redactingLogger',
        slots: [
          // a logger that fails never changes the caller's outcome: the line is dropped
          {
            name: 'logger',
            kind: 'object',
            call: (v) => sync(() => redactingLogger(untyped(v)).info('hostile line', { a: 1 })),
            ok: (r) => expect(r).to.equal(undefined),
          },
          {
            name: 'secrets',
            kind: 'object',
            call: (v) => sync(() => redactingLogger(env.logger, untyped(v)).info('hostile line', { a: 1 })),
            ok: (r) => expect(r).to.equal(undefined),
          },
          {
            name: 'meta',
            kind: 'object',
            call: (v) => sync(() => redactingLogger(env.logger, [], untyped(v)).info('hostile line', { a: 1 })),
            ok: (r) => expect(r).to.equal(undefined),
          },
        ],
        valid: (e) => sync(() => redactingLogger(e.logger, ['s3cret']).info('a s3cret line', { a: 1 })),
        validOk: (r) => expect(r).to.equal(undefined),
      },

      // ---- migrations ----------------------------------------------------------------------
      ...(
        [
          ['migrateToLatest', migrateToLatest],
          ['migrateUp', migrateUp],
          ['migrateDown', migrateDown],
          ['migrationStatus', migrationStatus],
        ] as const
      ).map(([method, fn]): Row => ({
        method,
        slots: [{ name: 'db', kind: 'db', call: (v) => fn(untyped<Kysely<unknown>>(v)) }],
        // a valid migrateDown would take the schema away: every valid call runs migrationStatus
        valid: (e) => migrationStatus(e.db),
        validOk: (r) => expect(Array.isArray(r) && r.every((m) => !rec(m)['pending'])).to.equal(true),
      })),

      // ---- transactions --------------------------------------------------------------------
      ...(
        [
          ['afterCommit', afterCommit],
          ['afterRollback', afterRollback],
        ] as const
      ).map(([method, register]): Row => ({
        method,
        slots: [
          {
            name: 'hook',
            kind: 'function',
            call: (v) =>
              withTransaction(db, () => {
                register(untyped(v));
                return Promise.resolve('done');
              }),
            ok: whenFunction(isDone),
          },
        ],
        valid: (e) =>
          withTransaction(e.db, () => {
            register(() => undefined);
            return Promise.resolve('done');
          }),
        validOk: (r) => expect(r).to.equal('done'),
      })),
      {
        method: 'currentTransaction',
        slots: [
          {
            name: 'db',
            kind: 'db',
            call: (v) => sync(() => currentTransaction(untyped<Kysely<unknown>>(v))),
            ok: (r) => expect(r).to.equal(undefined),
          },
        ],
        valid: (e) => withTransaction(e.db, () => Promise.resolve(currentTransaction(e.db) !== undefined)),
        validOk: (r) => expect(r).to.equal(true),
      },
      {
        method: 'withTransaction',
        slots: [
          {
            name: 'db',
            kind: 'db',
            call: (v) => withTransaction(untyped<Kysely<unknown>>(v), () => Promise.resolve('done')),
          },
          {
            name: 'fn',
            kind: 'function',
            call: (v) => withTransaction(db, untyped<() => Promise<unknown>>(v)),
            ok: whenFunction((r) => expect(r).to.equal('x')),
          },
          {
            name: 'options',
            kind: 'object',
            call: (v) => withTransaction(db, () => Promise.resolve('done'), untyped(v)),
            ok: isDone,
          },
          {
            name: 'options.isolationLevel',
            kind: 'string',
            call: (v) => withTransaction(db, () => Promise.resolve('done'), { isolationLevel: untyped(v) }),
            ok: whenUndefined(isDone),
          },
        ],
        valid: (e) => withTransaction(e.db, () => Promise.resolve('done'), { isolationLevel: 'repeatable read' }),
        validOk: (r) => expect(r).to.equal('done'),
      },
      {
        method: 'withReadYourWrites',
        slots: [
          {
            name: 'fn',
            kind: 'function',
            call: (v) => sync(() => withReadYourWrites(untyped(v))),
            ok: whenFunction((r) => expect(r).to.equal('x')),
          },
        ],
        valid: (e) => withReadYourWrites(() => e.items.count()),
        validOk: (r) => expect(r).to.equal(2),
      },

      // ---- users: hashing, policy, validation ----------------------------------------------
      {
        method: 'new BcryptPasswordHasher',
        slots: [
          {
            name: 'options',
            kind: 'object',
            call: (v) => sync(() => new BcryptPasswordHasher(untyped(v)).cost),
            ok: (r) => expect(r).to.equal(DEFAULT_USER_POLICY.bcryptCost),
          },
        ],
        valid: () => sync(() => new BcryptPasswordHasher({ cost: 5 }).cost),
        validOk: (r) => expect(r).to.equal(5),
      },
      {
        method: 'BcryptPasswordHasher.hash',
        slots: [
          {
            name: 'password',
            kind: 'string',
            call: (v) => hasher.hash(untyped(v)),
            ok: async (r, v) => expect(await bcrypt.compare(String(v), String(r))).to.equal(true),
          },
        ],
        valid: () => hasher.hash('valid-password'),
        validOk: (r) => expect(String(r)).to.match(/^\$2b\$04\$/),
      },
      {
        method: 'BcryptPasswordHasher.verify',
        slots: [
          { name: 'password', kind: 'string', call: (v) => hasher.verify(untyped(v), otherHash), ok: isFalse },
          { name: 'hash', kind: 'string', call: (v) => hasher.verify('valid-password', untyped(v)), ok: isFalse },
        ],
        valid: async () => hasher.verify('valid-password', await hasher.hash('valid-password')),
        validOk: (r) => expect(r).to.equal(true),
      },
      {
        method: 'BcryptPasswordHasher.needsRehash',
        slots: [
          {
            name: 'hash',
            kind: 'string',
            call: (v) => sync(() => hasher.needsRehash(untyped(v))),
            ok: (r) => expect(r).to.equal(true),
          },
        ],
        valid: () => sync(() => hasher.needsRehash(otherHash)),
        validOk: (r) => expect(r).to.equal(false),
      },
      {
        method: 'resolveUserPolicy',
        slots: [
          {
            name: 'overrides',
            kind: 'object',
            call: (v) => sync(() => resolveUserPolicy(untyped(v))),
            ok: (r) => expect(r).to.deep.equal(DEFAULT_USER_POLICY),
          },
        ],
        valid: () => sync(() => resolveUserPolicy({ bcryptCost: 10 })),
        validOk: (r) => expect(rec(r)['bcryptCost']).to.equal(10),
      },
      {
        method: 'validateUsername',
        slots: [
          {
            name: 'value',
            kind: 'string',
            call: (v) => sync(() => validateUsername(v)),
            ok: (r, v) => {
              expect(r).to.equal(v);
              expect(String(v)).to.match(/^[A-Za-z0-9_.-]{3,50}$/);
            },
          },
        ],
        valid: () => sync(() => validateUsername('john_doe')),
        validOk: (r) => expect(r).to.equal('john_doe'),
      },
      {
        method: 'validateEmail',
        slots: [
          {
            name: 'value',
            kind: 'string',
            call: (v) => sync(() => validateEmail(v)),
            ok: (r) => expect(String(r)).to.match(/^[^@\s]+@[^@\s]+$/),
          },
        ],
        valid: () => sync(() => validateEmail(' John@Example.com ')),
        validOk: (r) => expect(r).to.equal('john@example.com'),
      },
      {
        method: 'validatePassword',
        slots: [
          {
            name: 'value',
            kind: 'string',
            call: (v) => sync(() => validatePassword(v, DEFAULT_USER_POLICY)),
            ok: (r, v) => {
              expect(r).to.equal(v);
              expect(Buffer.byteLength(String(v))).to.be.within(DEFAULT_USER_POLICY.minLength, 72);
            },
          },
          {
            name: 'policy',
            kind: 'object',
            call: (v) => sync(() => validatePassword('valid-password', untyped(v))),
            // no policy (undefined, null, an object naming no rule) means the defaults
            ok: (r) => expect(r).to.equal('valid-password'),
          },
        ],
        valid: () => sync(() => validatePassword('valid-password', DEFAULT_USER_POLICY)),
        validOk: (r) => expect(r).to.equal('valid-password'),
      },
      {
        method: 'validateUserChanges',
        slots: [
          {
            name: 'changes',
            kind: 'object',
            call: (v) => sync(() => validateUserChanges(v)),
            ok: (r) =>
              expect(Object.keys(rec(r)).every((k) => ['username', 'email', 'isActive'].includes(k))).to.equal(true),
          },
        ],
        valid: () => sync(() => validateUserChanges({ email: 'New@Example.com' })),
        validOk: (r) => expect(r).to.deep.equal({ email: 'new@example.com' }),
      },

      // ---- maintenance ---------------------------------------------------------------------
      {
        method: 'getTableInfo',
        slots: [
          { name: 'db', kind: 'db', call: (v) => getTableInfo(untyped<Kysely<unknown>>(v), 'users') },
          { name: 'table', kind: 'table', call: (v) => getTableInfo(db, untyped(v)) },
        ],
        valid: (e) => getTableInfo(e.db, 'reliability_counters'),
        validOk: (r) => expect(rec(r)['rowCount']).to.equal(3),
      },
      {
        method: 'vacuumAnalyze',
        slots: [
          { name: 'db', kind: 'db', call: (v) => vacuumAnalyze(untyped<Kysely<unknown>>(v), 'users') },
          {
            name: 'table',
            kind: 'table',
            call: (v) => vacuumAnalyze(db, untyped(v)),
            ok: whenUndefined((r) => expect(r).to.equal(undefined)),
          },
        ],
        valid: (e) => vacuumAnalyze(e.db, 'reliability_counters'),
        validOk: (r) => expect(r).to.equal(undefined),
      },
    ];
  }

  /** The error a slot must give for an input, when the contract names one. */
  function required(slot: Slot, input: HostileInput): { says: string; test: (error: unknown) => boolean } | undefined {
    const validation = (field?: string) => ({
      says: `ValidationError${field ? ` (${field})` : ''}`,
      test: (error: unknown) => error instanceof ValidationError && (field === undefined || error.field === field),
    });
    if (
      slot.kind === 'where' &&
      NAMES_NO_COLUMN.has(input.name) &&
      (input.name !== 'undefined' || slot.whereRequired)
    ) {
      return validation('where');
    }
    if (slot.kind === 'whereValue' && input.name === 'undefined') return validation('name');
    if (slot.kind === 'table' && input.catalog) {
      return {
        says: 'ValidationError or NotFoundError',
        test: (error) => error instanceof ValidationError || error instanceof NotFoundError,
      };
    }
    if (slot.kind === 'cursor' && (input.tampered || (input.forged && signedCursors))) return validation('cursor');
    return undefined;
  }

  /** Runs one call of the table and returns what it found wrong (nothing: handled). */
  async function judgeCall(
    call: () => Promise<unknown>,
    value: unknown,
    input: HostileInput,
    expectation: { required?: ReturnType<typeof required>; ok?: Check; writes?: Table | undefined },
  ): Promise<string[]> {
    const problems: string[] = [];
    const leaksBefore = logLeaks.length;
    let result: unknown;
    let error: unknown;
    let failed = false;
    const callStarted = performance.now();
    try {
      result = await withDeadline(call(), DEADLINE_MS);
    } catch (caught) {
      failed = true;
      error = caught;
    }
    const tookMs = performance.now() - callStarted;
    if (tookMs > SLOW_MS && !(error instanceof HungMarker)) {
      problems.push(`took ${(tookMs / 1000).toFixed(1)} s (over ${SLOW_MS / 1000} s for one call)`);
    }
    let resultOk = false;
    if (failed && error instanceof HungMarker) {
      problems.push(`no answer within ${DEADLINE_MS / 1000} s (hang)`);
    } else if (failed) {
      const name = errorName(error);
      tally.errorsByClass[name.split(' (')[0]!] = (tally.errorsByClass[name.split(' (')[0]!] ?? 0) + 1;
      if (!(error instanceof DatabaseError)) problems.push(`${name}: ${messageOf(error)}`);
      else if (expectation.required && !expectation.required.test(error)) {
        problems.push(`expected ${expectation.required.says}, got ${name}: ${messageOf(error)}`);
      }
      const { forms, problems: unserializable } = errorForms(error);
      problems.push(...unserializable);
      for (const { form, text } of forms) {
        for (const secret of secrets) if (text.includes(secret.value)) problems.push(`${secret.kind} in ${form}`);
      }
    } else {
      tally.errorsByClass['result'] = (tally.errorsByClass['result'] ?? 0) + 1;
      if (expectation.required) problems.push(`expected ${expectation.required.says}, got a result: ${show(result)}`);
      else if (!expectation.ok) problems.push(`expected a typed error, got a result: ${show(result)}`);
      else {
        try {
          await expectation.ok(result, value, input);
          resultOk = true;
        } catch (why) {
          problems.push(`wrong result ${show(result)}: ${messageOf(why)}`);
        }
      }
      for (const secret of secrets) {
        let text = '';
        try {
          text = inspect(result, { depth: 6, maxStringLength: Infinity });
        } catch {
          // a result that cannot be shown carries nothing to leak
        }
        if (text.includes(secret.value)) problems.push(`${secret.kind} in the result`);
      }
    }
    const sums = await tablesChecksum(admin, TABLES);
    const changed = TABLES.filter((table) => sums[table] !== baseline.sums[table]);
    const allowed = resultOk ? expectation.writes : undefined;
    const wrongly = changed.filter((table) => table !== allowed);
    if (wrongly.length > 0) problems.push(`changed the ${wrongly.join(' and ')} table`);
    if (changed.length > 0) await restoreBaseline();
    problems.push(...logLeaks.slice(leaksBefore));
    return problems;
  }

  it('has a row for every public function and method that takes input', function () {
    const { callables, errorClasses } = publicSurface();
    const covered = new Set(rows.map((row) => row.method));
    const missing = callables.filter((name) => !covered.has(name) && !(name in NO_INPUT));
    const stale = [...covered].filter((name) => !callables.includes(name));
    expect(missing, 'public methods without a row in the hostile-input table').to.deep.equal([]);
    expect(stale, 'rows for methods the package no longer exports').to.deep.equal([]);
    // the error classes only carry what they are given: no input reaches the database through them
    expect(errorClasses).to.include('DatabaseError');
  });

  it("answers every row's valid call correctly (the table's own wiring)", async function () {
    this.timeout(60_000);
    // the leak detector sees a secret in a log line, and every statement is logged
    const leaks = logLeaks.length;
    env.logger.info('self-test', { hash: secrets[0]?.value });
    expect(logLeaks.length, 'a secret written to the log is found').to.equal(leaks + 1);
    logLeaks.pop();
    const lines = logLines;
    await env.items.count();
    expect(logLines, 'DB_ECHO_SQL logs each statement').to.be.greaterThan(lines);
    // the judge sees a row changed behind a correct result, and a secret in an error
    const changed = await judgeCall(
      async () => {
        await admin.query("update reliability_counters set note = 'self-test' where id = $1", [ids.first]);
        return 'ok';
      },
      undefined,
      VALID_CALL,
      { ok: () => undefined },
    );
    expect(changed).to.deep.equal(['changed the reliability_counters table']);
    const leaked = await judgeCall(
      () => Promise.reject(new ValidationError('self', 'test', `self-test ${CURSOR_SECRET}`)),
      undefined,
      VALID_CALL,
      {},
    );
    expect(leaked).to.include('DB_CURSOR_SECRET in message');
    tally.errorsByClass = {};
    const wrong: string[] = [];
    for (const row of rows) {
      try {
        await row.validOk(await row.valid(env), undefined, VALID_CALL);
      } catch (error) {
        wrong.push(`${row.method}: ${errorName(error)}: ${messageOf(error)}`);
      }
      const sums = await tablesChecksum(admin, TABLES);
      if (TABLES.some((table) => sums[table] !== baseline.sums[table])) await restoreBaseline();
    }
    expect(wrong).to.deep.equal([]);
  });

  it('every method × every hostile input: a typed error or the correct result, no row changed, no secret shown', async function () {
    this.timeout(300_000);
    const loggerThrows: HostileInput = { name: 'a logger that throws', value: () => undefined };
    const inputs = [...catalogue, loggerThrows];
    for (const row of rows) {
      const rowStarted = performance.now();
      for (const input of inputs) {
        tally.cells++;
        const problems: Violation[] = [];
        if (input === loggerThrows) {
          tally.calls++;
          const found = await judgeCall(() => row.valid(throwing), undefined, input, {
            ok: (result) => row.validOk(result, undefined, VALID_CALL),
            writes: row.validWrites,
          });
          for (const what of found)
            problems.push({ method: row.method, input: input.name, slot: '(valid call)', what });
        } else {
          for (const slot of row.slots) {
            tally.calls++;
            const value = input.value(slot.kind, slot.cursor);
            const callStarted = performance.now();
            const found = await judgeCall(() => slot.call(value), value, input, {
              required: required(slot, input),
              ...(slot.ok ? { ok: slot.ok } : {}),
              writes: slot.writes,
            });
            for (const what of found) problems.push({ method: row.method, input: input.name, slot: slot.name, what });
            if (process.env['HOSTILE_TABLE_TIMES'] && performance.now() - callStarted > 300) {
              process.stdout.write(
                `      slow: ${row.method} × ${input.name} [${slot.name}] ${(performance.now() - callStarted).toFixed(0)} ms\n`,
              );
            }
          }
        }
        if (problems.length === 0) tally.handled++;
        violations.push(...problems);
      }
      if (process.env['HOSTILE_TABLE_TIMES']) {
        process.stdout.write(`      ${row.method}: ${(performance.now() - rowStarted).toFixed(0)} ms\n`);
      }
    }
    const report = grouped(violations);
    if (report.length > 0) process.stdout.write(`${report.map((line) => `      violation: ${line}`).join('\n')}\n`);
    expect(report, `${violations.length} violations in ${tally.cells} cells (grouped)`).to.deep.equal([]);
  });

  it('contract cases: optimistic-lock versions, increment on text, foreign cursors', async function () {
    this.timeout(60_000);
    const versioned = new Repository(env.db, 'reliabilityCounters', { version: 'version' });
    const hostileVersions: [string, unknown][] = [
      ["'2 or 1=1'", '2 or 1=1'],
      ['NaN', NaN],
      ['2.5', 2.5],
      ['{}', {}],
    ];
    const cases: { name: string; call: () => Promise<unknown>; field?: string }[] = [
      ...hostileVersions.map(([name, version]) => ({
        name: `update with version ${name}`,
        call: () => versioned.update(ids.first, untyped({ note: 'v', version })),
        field: 'version',
      })),
      { name: 'increment a text column', call: () => env.items.increment(ids.first, untyped('name')) },
      { name: 'decrement a text column', call: () => env.items.decrement(ids.first, untyped('note')) },
      {
        name: "paginate with the users' cursor",
        call: () => env.items.paginate({ cursor: rowsCursor('users') }),
        field: 'cursor',
      },
    ];
    const found: string[] = [];
    for (const contract of cases) {
      tally.contract++;
      const pseudo: HostileInput = { name: contract.name, value: () => undefined };
      const problems = await judgeCall(contract.call, undefined, pseudo, {
        required: {
          says: `ValidationError${contract.field ? ` (${contract.field})` : ''}`,
          test: (error) =>
            error instanceof ValidationError && (contract.field === undefined || error.field === contract.field),
        },
      });
      for (const what of problems) {
        found.push(`${contract.name}: ${what}`);
        violations.push({ method: 'contract', input: contract.name, slot: '', what });
      }
    }
    expect(found).to.deep.equal([]);
  });

  function rowsCursor(which: 'users'): string {
    const row = rows.find((r) => r.method === 'UserRepository.listUsersPage');
    const slot = row?.slots.find((s) => s.kind === 'cursor');
    return which === 'users' ? (slot?.cursor?.issued ?? '') : '';
  }

  it('leaves no unhandled rejection, uncaught exception or listener leak', function () {
    expect(watch.stop()).to.deep.equal([]);
  });
});
