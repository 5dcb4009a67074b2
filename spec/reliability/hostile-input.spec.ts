/**
 * Hostile input through every public method: SQL injection strings, NUL bytes, 10 MB strings,
 * lone UTF-16 surrogates, negative / NaN / fractional / 2^63 ids and limits, objects and arrays
 * where strings belong, `__proto__` and `constructor` keys, tampered and forged cursors, hostile
 * configuration. Each is answered by a typed error of the class named in the table or by a
 * correct result — never a raw pg error, an untyped Error, a hang or a crash — and both tables
 * keep their checksum unless the input was a valid write (then the write is checked).
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import bcrypt from 'bcrypt';
import { sql, type Generated, type GeneratedAlways, type Kysely } from 'kysely';
import pg from 'pg';
import {
  createDatabase,
  getTableInfo,
  loadConfig,
  migrateToLatest,
  Repository,
  silentLogger,
  UserRepository,
  vacuumAnalyze,
  withTransaction,
  type Database,
  type DB,
  type Page,
  type User,
} from '../../lib/index.js';
import { createScratchDatabase } from '../support/test-server.js';
import {
  configError,
  invalid,
  judge,
  notFound,
  nothing,
  orInvalid,
  refusedByServer,
  result,
  untyped,
  type HostileCase,
} from './support/hostile.js';
import { tableChecksum, type TableChecksum } from './support/pg-probe.js';
import { watchProcess, type ProcessWatch } from './support/process-watch.js';
import { printFigures } from './support/summary.js';
import { readFileSync } from 'node:fs';
import { exportedStrings, installOtel, type InstalledOtel } from '../support/otel.js';

interface ReliabilityCounters {
  id: GeneratedAlways<string>;
  name: string;
  code: string | null;
  hits: Generated<number>;
  note: string | null;
}
interface HostileDB extends DB {
  reliabilityCounters: ReliabilityCounters;
}

const TEN_MB = 10 * 1024 * 1024;
const BIG = 'x'.repeat(TEN_MB);
const INJECTION = "' OR '1'='1' --";
const DROP = "'); DROP TABLE users; --";
const NUL = 'ali\u0000ce';
const LONE_HIGH = '\uD800';
const LONE_LOW = '\uDFFF';
const INT8_OVERFLOW = '9223372036854775808';
const USERS_SCOPE = 'users|createdAt:desc,id:desc';

/** A cursor with a checksum recomputed over a payload of our choosing (the checksum has no secret). */
function forgedCursor(scope: string, values: readonly unknown[]): string {
  const payload = JSON.stringify(values);
  const sum = createHash('sha256').update(scope).update('\0').update(payload).digest('base64url').slice(0, 12);
  return `${Buffer.from(payload).toString('base64url')}.${sum}`;
}

/** The cursor with one character of its payload changed and the old checksum kept. */
function tampered(cursor: string): string {
  const [payload = '', sum = ''] = cursor.split('.');
  const text = Buffer.from(payload, 'base64url')
    .toString('utf8')
    .replace(/\d/, (d) => String((Number(d) + 1) % 10));
  return `${Buffer.from(text).toString('base64url')}.${sum}`;
}

describe('reliability: hostile input through every public method', function () {
  let target: { url: string; drop(): Promise<void> };
  let database: Database<HostileDB>;
  let db: Kysely<HostileDB>;
  let users: UserRepository;
  let userRows: Repository<DB, 'users'>;
  let counters: Repository<HostileDB, 'reliabilityCounters'>;
  let admin: pg.Client;
  let watch: ProcessWatch;
  let alice: User;
  let bob: User;
  let counter: { id: string };
  let usersCursor: string;
  let countersCursor: string;
  const started = performance.now();
  const tally = { inputs: 0, results: 0, violations: 0, errorsByClass: {} as Record<string, number> };
  /** Rows that valid writes reported (acknowledged): each must still be there at the end. */
  const acknowledged: { table: 'users' | 'reliability_counters'; id: string }[] = [];
  let lostWrites = 0;
  /** The OpenTelemetry SDK, registered for the whole table: no input may reach an attribute. */
  let otel: InstalledOtel;

  before(async function () {
    this.timeout(60_000);
    otel = installOtel();
    watch = watchProcess();
    target = await createScratchDatabase('kr_rel_hostile');
    database = createDatabase<HostileDB>({
      config: loadConfig({ DATABASE_URL: target.url }, { envFile: '/dev/null' }),
      logger: silentLogger,
    });
    db = database.db;
    await migrateToLatest(db);
    await sql`
      create table reliability_counters (
        id bigint generated always as identity primary key,
        name text not null,
        code text unique,
        hits integer not null default 0,
        note text
      )`.execute(db);
    const userDb = db as unknown as Kysely<DB>;
    users = new UserRepository(userDb, { policy: { bcryptCost: 4 }, logger: silentLogger });
    userRows = new Repository(userDb, 'users', { softDelete: { column: 'isActive', kind: 'boolean' } });
    counters = new Repository(db, 'reliabilityCounters');
    alice = await users.createUser({ username: 'alice', email: 'alice@example.com', password: 'alice-password' });
    bob = await users.createUser({ username: 'bob', email: 'bob@example.com', password: 'bob-password' });
    await users.createUser({ username: 'carol', email: 'carol@example.com', password: 'carol-password' });
    await users.deleteUser(bob.id);
    counter = await counters.create({ name: 'first', code: 'c1' });
    await counters.create({ name: 'second', code: 'c2' });
    usersCursor = (await users.listUsersPage({ limit: 1 })).nextCursor ?? '';
    countersCursor = (await counters.paginate({ limit: 1 })).nextCursor ?? '';
    expect(usersCursor).to.not.equal('');
    expect(countersCursor).to.not.equal('');
    admin = new pg.Client({ connectionString: target.url });
    await admin.connect();
  });

  after(async function () {
    this.timeout(30_000);
    printFigures({
      spec: 'hostile input',
      operations: tally.inputs,
      errorsByClass: tally.errorsByClass,
      acknowledgedWrites: acknowledged.length,
      lostWrites,
      hostileInputs: tally.inputs,
      seconds: (performance.now() - started) / 1000,
      notes: [`correct results ${tally.results}`, `violations ${tally.violations}`],
    });
    await admin?.end();
    await database?.close();
    await target?.drop();
    await otel?.uninstall();
    watch?.stop();
  });

  /** The stored row of a user, read behind the package's back. */
  async function storedUser(username: string): Promise<Record<string, unknown> | undefined> {
    const { rows } = await admin.query<Record<string, unknown>>('select * from users where username = $1', [username]);
    return rows[0];
  }

  async function checksums(): Promise<{ users: TableChecksum; counters: TableChecksum }> {
    return { users: await tableChecksum(admin, 'users'), counters: await tableChecksum(admin, 'reliability_counters') };
  }

  /** Runs every case; each must be answered acceptably, and leave the tables as its `writes` allows. */
  async function runTable(cases: readonly HostileCase[]): Promise<void> {
    const violations: string[] = [];
    for (const hostile of cases) {
      const before = await checksums();
      const verdict = await judge(hostile);
      const after = await checksums();
      const id = (verdict.value as { id?: unknown } | undefined)?.id;
      if (hostile.writes && verdict.answer === 'result' && typeof id === 'string') {
        acknowledged.push({ table: hostile.writes === 'users' ? 'users' : 'reliability_counters', id });
      }
      tally.inputs++;
      if (verdict.answer === 'result') tally.results++;
      else tally.errorsByClass[verdict.answer] = (tally.errorsByClass[verdict.answer] ?? 0) + 1;
      const changed = (['users', 'counters'] as const).filter(
        (table) => table !== hostile.writes && before[table].md5 !== after[table].md5,
      );
      if (verdict.violation) violations.push(`${hostile.input}: ${verdict.violation}`);
      if (changed.length > 0) violations.push(`${hostile.input}: changed the ${changed.join(' and ')} table`);
    }
    tally.violations += violations.length;
    expect(violations, `${violations.length} of ${cases.length} inputs answered wrongly`).to.deep.equal([]);
  }

  it('UserRepository.createUser: injection, NUL, 10 MB, lone surrogates, wrong types, extra keys', async function () {
    this.timeout(60_000);
    await runTable([
      {
        input: 'username with SQL injection',
        run: () => users.createUser({ username: DROP, email: 'x1@example.com', password: 'password-1' }),
        expected: invalid('username'),
      },
      {
        input: 'email with SQL injection',
        run: () =>
          users.createUser({
            username: 'inj_email',
            email: "x@example.com'; DROP TABLE users; --",
            password: 'pw-1234567',
          }),
        expected: invalid('email'),
      },
      {
        input: "valid email with a quote (o'brien+tag@example.com)",
        run: () => users.createUser({ username: 'obrien', email: "O'Brien+tag@example.com", password: 'pw-obrien' }),
        expected: result('the user, email stored exactly (lower-cased)', async (value) => {
          expect(value).to.deep.include({ username: 'obrien', email: "o'brien+tag@example.com" });
          expect(await storedUser('obrien')).to.deep.include({ email: "o'brien+tag@example.com" });
        }),
        writes: 'users',
      },
      {
        input: '10 MB username',
        run: () => users.createUser({ username: BIG, email: 'big1@example.com', password: 'password-1' }),
        expected: invalid('username'),
      },
      {
        input: '10 MB email',
        run: () => users.createUser({ username: 'big_email', email: `${BIG}@example.com`, password: 'password-1' }),
        expected: invalid('email'),
      },
      {
        input: '10 MB password',
        run: () => users.createUser({ username: 'big_password', email: 'big3@example.com', password: BIG }),
        expected: invalid('password'),
      },
      {
        input: 'NUL byte in username',
        run: () => users.createUser({ username: NUL, email: 'nul1@example.com', password: 'password-1' }),
        expected: invalid('username'),
      },
      {
        input: 'NUL byte in email',
        run: () =>
          users.createUser({ username: 'nul_email', email: 'ali\u0000ce@example.com', password: 'password-1' }),
        expected: invalid('email'),
      },
      {
        input: 'NUL byte inside the password (bcrypt must not stop at it)',
        run: async () => {
          await users.createUser({ username: 'nul_pw', email: 'nul_pw@example.com', password: 'password\u0000suffix' });
          return users.verifyPassword('nul_pw', 'password');
        },
        expected: orInvalid(
          result('the prefix before NUL does not log in', (value) => expect(value).to.equal(undefined)),
          'password',
        ),
        writes: 'users',
      },
      {
        input: 'lone surrogate in username',
        run: () =>
          users.createUser({ username: `ali${LONE_HIGH}ce`, email: 'sur1@example.com', password: 'password-1' }),
        expected: invalid('username'),
      },
      {
        input: 'lone surrogate in email (would be stored as U+FFFD)',
        run: () =>
          users.createUser({ username: 'sur_email', email: `sur${LONE_HIGH}@example.com`, password: 'pw-sur-1' }),
        expected: orInvalid(
          result('the email stored as given', (value) => {
            expect(value).to.deep.include({ email: `sur${LONE_HIGH}@example.com` });
          }),
          'email',
        ),
        writes: 'users',
      },
      {
        input: 'lone surrogate in password: another lone surrogate must not log in',
        run: async () => {
          await users.createUser({
            username: 'sur_pw',
            email: 'sur_pw@example.com',
            password: `password-${LONE_HIGH}`,
          });
          return users.verifyPassword('sur_pw', `password-${LONE_LOW}`);
        },
        expected: orInvalid(
          result('a different password does not log in', (value) => expect(value).to.equal(undefined)),
          'password',
        ),
        writes: 'users',
      },
      {
        input: 'username as an array',
        run: () =>
          users.createUser({
            username: untyped<string>(['arr_user']),
            email: 'arr@example.com',
            password: 'pw-1234567',
          }),
        expected: invalid('username'),
      },
      {
        input: 'username as an object with toString',
        run: () =>
          users.createUser({
            username: untyped<string>({ toString: () => 'obj_user' }),
            email: 'obj@example.com',
            password: 'pw-1234567',
          }),
        expected: invalid('username'),
      },
      {
        input: 'password as an object',
        run: () =>
          users.createUser({
            username: 'obj_pw',
            email: 'obj_pw@example.com',
            password: untyped<string>({ length: 9 }),
          }),
        expected: invalid('password'),
      },
      {
        input: 'null instead of the user',
        run: () => users.createUser(untyped(null)),
        expected: invalid('user'),
      },
      {
        input: 'an array instead of the user',
        run: () => users.createUser(untyped(['mass', 'mass@example.com', 'password-1'])),
        expected: invalid('user'),
      },
      {
        input: 'mass assignment: id, passwordHash, isActive, createdAt and __proto__ beside the fields',
        run: () =>
          users.createUser(
            untyped(
              JSON.parse(
                '{"username":"mass_user","email":"mass@example.com","password":"mass-password","id":"999999",' +
                  '"passwordHash":"$2b$04$abcdefghijklmnopqrstuvabcdefghijklmnopqrstuvwxyz01234","isActive":false,' +
                  '"createdAt":"2000-01-01T00:00:00Z","__proto__":{"isActive":false}}',
              ),
            ),
          ),
        expected: result('only username, email and password taken', async (value) => {
          expect(value).to.deep.include({ username: 'mass_user', isActive: true });
          expect(value).to.not.have.property('passwordHash');
          const row = await storedUser('mass_user');
          expect(row?.['id']).to.not.equal('999999');
          expect(String(row?.['password_hash'])).to.not.include('abcdefghijklmnop');
          expect(await bcrypt.compare('mass-password', String(row?.['password_hash']))).to.equal(true);
          expect((row?.['created_at'] as Date).getUTCFullYear()).to.be.greaterThan(2000);
        }),
        writes: 'users',
      },
    ]);
  });

  it('UserRepository lookups: getUserById, getUserByUsername, getUserByEmail', async function () {
    this.timeout(60_000);
    await runTable([
      { input: 'getUserById(NaN)', run: () => users.getUserById(NaN), expected: invalid('id') },
      { input: 'getUserById(1.5)', run: () => users.getUserById(1.5), expected: invalid('id') },
      { input: 'getUserById(2 ** 63)', run: () => users.getUserById(2 ** 63), expected: invalid('id') },
      { input: 'getUserById(2n ** 63n)', run: () => users.getUserById(2n ** 63n), expected: invalid('id') },
      {
        input: `getUserById('${INT8_OVERFLOW}')`,
        run: () => users.getUserById(INT8_OVERFLOW),
        expected: invalid('id'),
      },
      { input: 'getUserById(-1)', run: () => users.getUserById(-1), expected: nothing },
      { input: 'getUserById(-(2n ** 63n))', run: () => users.getUserById(-(2n ** 63n)), expected: nothing },
      { input: "getUserById('1 OR 1=1')", run: () => users.getUserById('1 OR 1=1'), expected: invalid('id') },
      { input: "getUserById('0x1')", run: () => users.getUserById('0x1'), expected: invalid('id') },
      { input: 'getUserById({})', run: () => users.getUserById(untyped({})), expected: invalid('id') },
      { input: 'getUserById([1])', run: () => users.getUserById(untyped([1])), expected: invalid('id') },
      { input: 'getUserByUsername(injection)', run: () => users.getUserByUsername(INJECTION), expected: nothing },
      {
        input: 'getUserByUsername with a NUL byte',
        run: () => users.getUserByUsername(NUL),
        expected: orInvalid(nothing, 'username'),
      },
      { input: 'getUserByUsername(10 MB)', run: () => users.getUserByUsername(BIG), expected: nothing },
      {
        input: 'getUserByUsername with a lone surrogate',
        run: () => users.getUserByUsername(`alice${LONE_HIGH}`),
        expected: orInvalid(nothing, 'username'),
      },
      {
        input: 'getUserByUsername({})',
        run: () => users.getUserByUsername(untyped({})),
        expected: invalid('username'),
      },
      {
        input: "getUserByUsername({ $ne: '' })",
        run: () => users.getUserByUsername(untyped({ $ne: '' })),
        expected: invalid('username'),
      },
      { input: 'getUserByEmail(injection)', run: () => users.getUserByEmail(`x${INJECTION}@x.io`), expected: nothing },
      {
        input: 'getUserByEmail with a NUL byte',
        run: () => users.getUserByEmail('alice@example.com\u0000'),
        expected: orInvalid(nothing, 'email'),
      },
      {
        input: "getUserByEmail(['alice@example.com'])",
        run: () => users.getUserByEmail(untyped(['alice@example.com'])),
        expected: invalid('email'),
      },
      { input: 'getUserByEmail(10 MB)', run: () => users.getUserByEmail(BIG), expected: nothing },
    ]);
  });

  it('UserRepository writes: updateUser, deleteUser, restoreUser, changePassword', async function () {
    this.timeout(60_000);
    await runTable([
      {
        input: 'updateUser with a __proto__ key (JSON)',
        run: () => users.updateUser(alice.id, untyped(JSON.parse('{"__proto__":{"email":"evil@example.com"}}'))),
        expected: invalid('__proto__'),
      },
      {
        input: 'updateUser with a constructor key',
        run: () => users.updateUser(alice.id, untyped({ constructor: { prototype: { isAdmin: true } } })),
        expected: invalid('constructor'),
      },
      {
        input: 'updateUser with changes inheriting an email',
        run: () => users.updateUser(alice.id, untyped(Object.create({ email: 'evil@example.com' }))),
        expected: invalid('__proto__'),
      },
      {
        input: 'updateUser setting passwordHash',
        run: () => users.updateUser(alice.id, untyped({ passwordHash: '$2b$04$' + 'a'.repeat(53) })),
        expected: invalid('passwordHash'),
      },
      {
        input: 'updateUser setting id',
        run: () => users.updateUser(alice.id, untyped({ id: '999' })),
        expected: invalid('id'),
      },
      {
        input: "updateUser isActive 'false' (a string)",
        run: () => users.updateUser(alice.id, untyped({ isActive: 'false' })),
        expected: invalid('isActive'),
      },
      {
        input: 'updateUser email as an array',
        run: () => users.updateUser(alice.id, untyped({ email: ['evil@example.com'] })),
        expected: invalid('email'),
      },
      {
        input: 'updateUser username with SQL injection',
        run: () => users.updateUser(alice.id, { username: DROP }),
        expected: invalid('username'),
      },
      {
        input: 'updateUser(NaN, …)',
        run: () => users.updateUser(NaN, { email: 'n@example.com' }),
        expected: invalid('id'),
      },
      {
        input: 'updateUser(id, null)',
        run: () => users.updateUser(alice.id, untyped(null)),
        expected: invalid('changes'),
      },
      { input: 'deleteUser(2n ** 63n)', run: () => users.deleteUser(2n ** 63n), expected: invalid('id') },
      {
        input: "deleteUser('1; DELETE FROM users')",
        run: () => users.deleteUser('1; DELETE FROM users'),
        expected: invalid('id'),
      },
      {
        input: 'deleteUser(-1)',
        run: () => users.deleteUser(-1),
        expected: result('false', (v) => expect(v).to.equal(false)),
      },
      { input: 'restoreUser(1.5)', run: () => users.restoreUser(1.5), expected: invalid('id') },
      {
        input: 'restoreUser(-(2n ** 63n) - 1n)',
        run: () => users.restoreUser(-(2n ** 63n) - 1n),
        expected: invalid('id'),
      },
      {
        input: 'changePassword with current as an object',
        run: () => users.changePassword(alice.id, untyped({}), 'new-password-1'),
        expected: invalid('currentPassword'),
      },
      {
        input: 'changePassword with next as an array',
        run: () => users.changePassword(alice.id, 'alice-password', untyped(['new-password-1'])),
        expected: invalid('newPassword'),
      },
      {
        input: 'changePassword with a 10 MB next',
        run: () => users.changePassword(alice.id, 'alice-password', BIG),
        expected: invalid('newPassword'),
      },
      {
        input: 'changePassword with an injected current',
        run: () => users.changePassword(alice.id, INJECTION, 'new-password-1'),
        expected: result('false', (v) => expect(v).to.equal(false)),
      },
      {
        input: 'changePassword(NaN, …)',
        run: () => users.changePassword(NaN, 'alice-password', 'new-password-1'),
        expected: invalid('id'),
      },
    ]);
  });

  it('UserRepository lists and logins: listUsers, listUsersPage, countUsers, verifyPassword', async function () {
    this.timeout(60_000);
    const page = (check: (page: Page<User>) => unknown) => result('a page', (value) => check(value as Page<User>));
    await runTable([
      { input: 'listUsers limit -1', run: () => users.listUsers({ limit: -1 }), expected: invalid('limit') },
      { input: 'listUsers limit NaN', run: () => users.listUsers({ limit: NaN }), expected: invalid('limit') },
      { input: 'listUsers limit 1.5', run: () => users.listUsers({ limit: 1.5 }), expected: invalid('limit') },
      { input: 'listUsers limit 2 ** 63', run: () => users.listUsers({ limit: 2 ** 63 }), expected: invalid('limit') },
      {
        input: 'listUsers limit Infinity',
        run: () => users.listUsers({ limit: Infinity }),
        expected: invalid('limit'),
      },
      {
        input: "listUsers limit '10'",
        run: () => users.listUsers({ limit: untyped('10') }),
        expected: invalid('limit'),
      },
      { input: 'listUsers offset -1', run: () => users.listUsers({ offset: -1 }), expected: invalid('offset') },
      {
        input: 'listUsers offset 2 ** 63',
        run: () => users.listUsers({ offset: 2 ** 63 }),
        expected: invalid('offset'),
      },
      { input: 'listUsers offset NaN', run: () => users.listUsers({ offset: NaN }), expected: invalid('offset') },
      {
        input: "listUsers activeOnly 'false'",
        run: () => users.listUsers({ activeOnly: untyped('false') }),
        expected: invalid('activeOnly'),
      },
      {
        input: 'listUsersPage cursor of garbage',
        run: () => users.listUsersPage({ cursor: INJECTION }),
        expected: invalid('cursor'),
      },
      {
        input: 'listUsersPage cursor tampered (payload changed, checksum kept)',
        run: () => users.listUsersPage({ cursor: tampered(usersCursor) }),
        expected: invalid('cursor'),
      },
      {
        input: 'listUsersPage cursor truncated',
        run: () => users.listUsersPage({ cursor: usersCursor.slice(0, -3) }),
        expected: invalid('cursor'),
      },
      {
        input: "listUsersPage cursor of another table's page",
        run: () => users.listUsersPage({ cursor: countersCursor }),
        expected: invalid('cursor'),
      },
      {
        input: 'listUsersPage cursor with a NUL byte',
        run: () => users.listUsersPage({ cursor: `${usersCursor}\u0000` }),
        expected: invalid('cursor'),
      },
      {
        input: 'listUsersPage cursor of 10 MB',
        run: () => users.listUsersPage({ cursor: BIG }),
        expected: invalid('cursor'),
      },
      {
        input: 'listUsersPage cursor as an object',
        run: () => users.listUsersPage({ cursor: untyped({ createdAt: '2000-01-01', id: 1 }) }),
        expected: invalid('cursor'),
      },
      {
        input: 'listUsersPage cursor forged (checksum recomputed) with valid values',
        run: () =>
          users.listUsersPage({
            cursor: forgedCursor(USERS_SCOPE, [
              ['s', '2999-01-01 00:00:00+00'],
              ['s', '9223372036854775807'],
            ]),
          }),
        expected: orInvalid(
          page((p) => expect(p.items.map((u) => u.username)).to.include.members(['alice', 'carol'])),
          'cursor',
        ),
      },
      {
        input: 'listUsersPage cursor forged (checksum recomputed) carrying SQL injection',
        run: () =>
          users.listUsersPage({
            cursor: forgedCursor(USERS_SCOPE, [
              ['s', "2000-01-01'); DROP TABLE users; --"],
              ['s', '1 OR 1=1'],
            ]),
          }),
        expected: invalid('cursor'),
      },
      { input: 'listUsersPage limit NaN', run: () => users.listUsersPage({ limit: NaN }), expected: invalid('limit') },
      { input: 'listUsersPage limit 0', run: () => users.listUsersPage({ limit: 0 }), expected: invalid('limit') },
      {
        input: 'countUsers activeOnly {}',
        run: () => users.countUsers({ activeOnly: untyped({}) }),
        expected: invalid('activeOnly'),
      },
      {
        input: 'verifyPassword with injection in both',
        run: () => users.verifyPassword("alice' --", INJECTION),
        expected: nothing,
      },
      {
        input: 'verifyPassword with a NUL byte in the username',
        run: () => users.verifyPassword(NUL, 'alice-password'),
        expected: orInvalid(nothing, 'username'),
      },
      {
        input: 'verifyPassword with a NUL byte after the right password',
        run: () => users.verifyPassword('alice', 'alice-password\u0000'),
        expected: orInvalid(nothing, 'password'),
      },
      { input: 'verifyPassword(10 MB, 10 MB)', run: () => users.verifyPassword(BIG, BIG), expected: nothing },
      {
        input: 'verifyPassword({}, password)',
        run: () => users.verifyPassword(untyped({}), 'alice-password'),
        expected: invalid('username'),
      },
      {
        input: 'verifyPassword(username, [])',
        run: () => users.verifyPassword('alice', untyped([])),
        expected: invalid('password'),
      },
      {
        input: 'verifyPassword of a soft-deleted user with the right password',
        run: () => users.verifyPassword('bob', 'bob-password'),
        expected: nothing,
      },
    ]);
  });

  it('Repository reads: findById, getById, findOne, findMany, paginate, count, exists, findAndCount', async function () {
    this.timeout(60_000);
    const rows = (check: (rows: readonly Record<string, unknown>[]) => unknown) =>
      result('rows', (value) => check(value as Record<string, unknown>[]));
    await runTable([
      { input: 'findById(NaN)', run: () => userRows.findById(NaN), expected: invalid('id') },
      { input: 'findById(1.5)', run: () => userRows.findById(1.5), expected: invalid('id') },
      { input: 'findById(2 ** 63)', run: () => userRows.findById(2 ** 63), expected: invalid('id') },
      { input: 'findById({})', run: () => userRows.findById(untyped({})), expected: invalid('id') },
      { input: "findById('')", run: () => userRows.findById(''), expected: invalid('id') },
      { input: 'findById with a NUL byte', run: () => userRows.findById('1\u0000'), expected: invalid('id') },
      {
        input: "findById('1 OR 1=1') on an int8 key",
        run: () => userRows.findById('1 OR 1=1'),
        expected: orInvalid(refusedByServer('22P02'), 'id'),
      },
      {
        input: `findById('${INT8_OVERFLOW}')`,
        run: () => userRows.findById(INT8_OVERFLOW),
        expected: orInvalid(refusedByServer('22003'), 'id'),
      },
      { input: 'getById(-1)', run: () => userRows.getById(-1), expected: notFound },
      {
        input: 'findOne({ username: { $ne: null } }) (operator injection)',
        run: () => userRows.findOne({ username: untyped({ $ne: null }) }),
        expected: orInvalid(nothing, 'username'),
      },
      {
        input: 'findOne with a __proto__ key (JSON)',
        run: () => userRows.findOne(untyped(JSON.parse('{"__proto__":{"id":"1"}}'))),
        expected: invalid('__proto__'),
      },
      {
        input: "findMany where a key is SQL ('username = username OR 1=1 --')",
        run: () => userRows.findMany({ where: untyped({ 'username = username OR 1=1 --': 1 }) }),
        expected: invalid(),
      },
      {
        input: "findMany where username in ['alice', injection]",
        run: () => userRows.findMany({ where: { username: ['alice', INJECTION] } }),
        expected: rows((r) => expect(r.map((row) => row['username'])).to.deep.equal(['alice'])),
      },
      {
        input: "findMany orderBy 'id; DROP TABLE users'",
        run: () => userRows.findMany({ orderBy: untyped('id; DROP TABLE users') }),
        expected: invalid('orderBy'),
      },
      {
        input: "findMany orderBy [['id', 'desc; DROP TABLE users']]",
        run: () => userRows.findMany({ orderBy: untyped([['id', 'desc; DROP TABLE users']]) }),
        expected: invalid('orderBy'),
      },
      {
        input: 'findMany orderBy an object with toString',
        run: () => userRows.findMany({ orderBy: untyped({ toString: () => 'id' }) }),
        expected: invalid('orderBy'),
      },
      { input: 'findMany limit -1', run: () => userRows.findMany({ limit: -1 }), expected: invalid('limit') },
      { input: 'findMany limit 1.5', run: () => userRows.findMany({ limit: 1.5 }), expected: invalid('limit') },
      {
        input: 'findMany offset 2 ** 63',
        run: () => userRows.findMany({ offset: 2 ** 63 }),
        expected: invalid('offset'),
      },
      {
        input: 'findMany where as a string',
        run: () => userRows.findMany({ where: untyped(INJECTION) }),
        expected: invalid('where'),
      },
      {
        input: 'paginate cursor tampered',
        run: () => counters.paginate({ cursor: tampered(countersCursor) }),
        expected: invalid('cursor'),
      },
      { input: 'paginate limit 0', run: () => counters.paginate({ limit: 0 }), expected: invalid('limit') },
      {
        input: 'paginate with both cursor and offset',
        run: () => counters.paginate({ cursor: countersCursor, offset: 1 }),
        expected: invalid('cursor'),
      },
      {
        input: 'count with a constructor key',
        run: () => userRows.count(untyped({ constructor: 'x' })),
        expected: invalid('constructor'),
      },
      {
        input: 'exists with a toString key',
        run: () => userRows.exists(untyped({ toString: 'x' })),
        expected: invalid('toString'),
      },
      {
        input: 'findAndCount limit 2 ** 63',
        run: () => userRows.findAndCount({ limit: 2 ** 63 }),
        expected: invalid('limit'),
      },
    ]);
  });

  it('maintenance and transactions: getTableInfo, vacuumAnalyze, withTransaction options', async function () {
    this.timeout(60_000);
    const noop = () => Promise.resolve(1);
    await runTable([
      {
        input: "getTableInfo('users; DROP TABLE users')",
        run: () => getTableInfo(db, 'users; DROP TABLE users'),
        expected: notFound,
      },
      { input: 'getTableInfo(\'"users"\')', run: () => getTableInfo(db, '"users"'), expected: notFound },
      { input: 'getTableInfo with a NUL byte', run: () => getTableInfo(db, 'users\u0000'), expected: notFound },
      { input: 'getTableInfo(10 MB)', run: () => getTableInfo(db, BIG), expected: notFound },
      { input: 'getTableInfo({})', run: () => getTableInfo(db, untyped({})), expected: invalid('table') },
      { input: "getTableInfo(['users'])", run: () => getTableInfo(db, untyped(['users'])), expected: invalid('table') },
      {
        input: "vacuumAnalyze('users; DROP TABLE users')",
        run: () => vacuumAnalyze(db, 'users; DROP TABLE users'),
        expected: notFound,
      },
      {
        input: 'vacuumAnalyze("users\'); VACUUM FULL; --")',
        run: () => vacuumAnalyze(db, "users'); VACUUM FULL; --"),
        expected: notFound,
      },
      { input: 'vacuumAnalyze(42)', run: () => vacuumAnalyze(db, untyped(42)), expected: invalid('table') },
      {
        input: 'vacuumAnalyze with a NUL byte',
        run: () => vacuumAnalyze(db, 'users\u0000'),
        expected: notFound,
      },
      {
        input: "withTransaction isolationLevel 'serializable; DROP TABLE users'",
        run: () => withTransaction(db, noop, { isolationLevel: untyped('serializable; DROP TABLE users') }),
        expected: invalid('isolationLevel'),
      },
      {
        input: "withTransaction isolationLevel '__proto__'",
        run: () => withTransaction(db, noop, { isolationLevel: untyped('__proto__') }),
        expected: invalid('isolationLevel'),
      },
      {
        input: 'withTransaction accessMode {}',
        run: () => withTransaction(db, noop, { accessMode: untyped({}) }),
        expected: invalid('accessMode'),
      },
      {
        input: 'withTransaction retries NaN',
        run: () => withTransaction(db, noop, { retries: NaN }),
        expected: invalid('retries'),
      },
      {
        input: 'withTransaction retries 2 ** 63',
        run: () => withTransaction(db, noop, { retries: 2 ** 63 }),
        expected: invalid('retries'),
      },
      {
        input: 'withTransaction timeoutMs 1.5',
        run: () => withTransaction(db, noop, { timeoutMs: 1.5 }),
        expected: invalid('timeoutMs'),
      },
      {
        input: "withTransaction propagation 'constructor'",
        run: () => withTransaction(db, noop, { propagation: untyped('constructor') }),
        expected: invalid('propagation'),
      },
    ]);
  });

  it('loadConfig: bad numbers, injection, NUL, 10 MB, wrong types, __proto__', async function () {
    this.timeout(60_000);
    const base = { DATABASE_URL: 'postgres://app@db.example.com:5432/app' };
    // loadConfig is synchronous: a thrown error becomes the rejection the judge reads
    const load = (env: unknown) => () =>
      new Promise((resolve) => resolve(loadConfig(untyped(env), { envFile: '/dev/null' })));
    await runTable([
      { input: "DB_POOL_SIZE '-1'", run: load({ ...base, DB_POOL_SIZE: '-1' }), expected: configError('DB_POOL_SIZE') },
      {
        input: "DB_POOL_SIZE 'NaN'",
        run: load({ ...base, DB_POOL_SIZE: 'NaN' }),
        expected: configError('DB_POOL_SIZE'),
      },
      {
        input: "DB_POOL_SIZE '1.5'",
        run: load({ ...base, DB_POOL_SIZE: '1.5' }),
        expected: configError('DB_POOL_SIZE'),
      },
      {
        input: `DB_POOL_SIZE '${INT8_OVERFLOW}'`,
        run: load({ ...base, DB_POOL_SIZE: INT8_OVERFLOW }),
        expected: configError('DB_POOL_SIZE'),
      },
      {
        input: "DB_POOL_SIZE '0x10'",
        run: load({ ...base, DB_POOL_SIZE: '0x10' }),
        expected: configError('DB_POOL_SIZE'),
      },
      {
        input: "DB_POOL_SIZE '10; rm -rf /'",
        run: load({ ...base, DB_POOL_SIZE: '10; rm -rf /' }),
        expected: configError('DB_POOL_SIZE'),
      },
      {
        input: "DB_POOL_TIMEOUT '1e3'",
        run: load({ ...base, DB_POOL_TIMEOUT: '1e3' }),
        expected: configError('DB_POOL_TIMEOUT'),
      },
      {
        input: 'DATABASE_URL with SQL injection',
        run: load({ DATABASE_URL: DROP }),
        expected: configError('DATABASE_URL'),
      },
      {
        input: 'DATABASE_URL of 10 MB',
        run: load({ DATABASE_URL: `postgres://${BIG}` }),
        expected: configError('DATABASE_URL'),
      },
      {
        input: 'DB_APPLICATION_NAME with a NUL byte',
        run: load({ ...base, DB_APPLICATION_NAME: 'app\u0000name' }),
        expected: configError('DB_APPLICATION_NAME'),
      },
      {
        input: 'DB_APPLICATION_NAME of 10 MB',
        run: load({ ...base, DB_APPLICATION_NAME: BIG }),
        expected: configError('DB_APPLICATION_NAME'),
      },
      {
        input: 'DB_APPLICATION_NAME with SQL injection (a startup parameter, never SQL)',
        run: load({ ...base, DB_APPLICATION_NAME: "x'; DROP TABLE users; --" }),
        expected: result('kept as given', (value) =>
          expect((value as { applicationName: string }).applicationName).to.equal("x'; DROP TABLE users; --"),
        ),
      },
      {
        input: "DB_SSH_PORT '65536'",
        run: load({ ...base, DB_SSH_HOST: 'h', DB_SSH_USER: 'u', DB_SSH_PORT: '65536' }),
        expected: configError('DB_SSH_PORT'),
      },
      {
        input: 'DB_SSH_HOST_FINGERPRINT with injection',
        run: load({ ...base, DB_SSH_HOST: 'h', DB_SSH_USER: 'u', DB_SSH_HOST_FINGERPRINT: `SHA256:${INJECTION}` }),
        expected: configError('DB_SSH_HOST_FINGERPRINT'),
      },
      {
        input: 'DATABASE_URL as an object',
        run: load({ DATABASE_URL: { toString: () => base.DATABASE_URL } }),
        expected: configError('DATABASE_URL'),
      },
      {
        input: 'DATABASE_URL as an array',
        run: load({ DATABASE_URL: [base.DATABASE_URL] }),
        expected: configError('DATABASE_URL'),
      },
      {
        input: 'DB_POOL_SIZE as a number',
        run: load({ ...base, DB_POOL_SIZE: 5 }),
        expected: {
          ...configError('DB_POOL_SIZE'),
          result: (value) => expect((value as { pool: { size: number } }).pool.size).to.equal(5),
          says: 'ConfigError (DB_POOL_SIZE) or pool size 5',
        },
      },
      {
        input: 'a __proto__ key carrying DATABASE_URL (JSON)',
        // a variable named __proto__, refused as one: it never becomes the environment's prototype
        run: load(JSON.parse('{"__proto__":{"DATABASE_URL":"postgres://evil@evil.example.com/db"}}')),
        expected: configError('__proto__'),
      },
      { input: 'null instead of the environment', run: load(null), expected: configError('env') },
    ]);
  });

  it('Repository writes: create, createMany, update, updateMany, upsert, delete, restore, increment, decrement', async function () {
    this.timeout(60_000);
    const stored = (input: string) =>
      result('stored exactly as given', async (value) => {
        const row = value as { id: string; name: string };
        expect(row.name).to.equal(input);
        const { rows } = await admin.query<{ name: string }>('select name from reliability_counters where id = $1', [
          row.id,
        ]);
        expect(rows[0]?.name === input, 'the stored name equals the input').to.equal(true);
      });
    await runTable([
      {
        input: 'create with SQL injection as the value',
        run: () => counters.create({ name: DROP }),
        expected: stored(DROP),
        writes: 'counters',
      },
      {
        input: 'create with a lone surrogate as the value (would be stored as U+FFFD)',
        run: () => counters.create({ name: `lone${LONE_HIGH}` }),
        expected: orInvalid(stored(`lone${LONE_HIGH}`), 'name'),
        writes: 'counters',
      },
      {
        input: 'create with a NUL byte in the value',
        run: () => counters.create({ name: NUL }),
        expected: orInvalid(refusedByServer('22021'), 'name'),
      },
      {
        input: 'create with an object where the text belongs (would be stored as JSON)',
        run: () => counters.create({ name: untyped({ $gt: '' }) }),
        expected: invalid('name'),
        writes: 'counters',
      },
      {
        input: 'create with an array where the text belongs (would be stored as an array literal)',
        run: () => counters.create({ name: untyped(['a', 'b']) }),
        expected: invalid('name'),
        writes: 'counters',
      },
      {
        input: 'create with a __proto__ key (JSON)',
        run: () => counters.create(untyped(JSON.parse('{"name":"p","__proto__":{"hits":100}}'))),
        expected: invalid('__proto__'),
      },
      {
        input: 'create setting the generated id',
        run: () => counters.create(untyped({ name: 'gen', id: '5' })),
        expected: invalid('id'),
      },
      { input: 'create(null)', run: () => counters.create(untyped(null)), expected: invalid('values') },
      { input: "create(['name'])", run: () => counters.create(untyped(['name'])), expected: invalid('values') },
      { input: "createMany('abc')", run: () => counters.createMany(untyped('abc')), expected: invalid('rows') },
      { input: 'createMany([null])', run: () => counters.createMany(untyped([null])), expected: invalid('rows[0]') },
      {
        input: 'createMany with a __proto__ row',
        run: () => counters.createMany([{ name: 'ok' }, untyped(JSON.parse('{"name":"p","__proto__":{"hits":1}}'))]),
        expected: invalid('__proto__'),
      },
      { input: 'update(NaN, …)', run: () => counters.update(NaN, { note: 'x' }), expected: invalid('id') },
      {
        input: 'update with a __proto__ key (JSON)',
        run: () => counters.update(counter.id, untyped(JSON.parse('{"__proto__":{"note":"pwned"}}'))),
        expected: invalid('__proto__'),
      },
      {
        input: 'update with a constructor key',
        run: () => counters.update(counter.id, untyped({ constructor: 'x' })),
        expected: invalid('constructor'),
      },
      {
        input: 'update setting the generated id',
        run: () => counters.update(counter.id, untyped({ id: '1' })),
        expected: invalid('id'),
      },
      {
        input: "update an integer column with 'abc'",
        run: () => counters.update(counter.id, { hits: untyped('abc') }),
        expected: orInvalid(refusedByServer('22P02'), 'hits'),
      },
      {
        input: 'update an integer column with 2 ** 63',
        run: () => counters.update(counter.id, { hits: 2 ** 63 }),
        expected: orInvalid(refusedByServer('22003'), 'hits'),
      },
      {
        input: 'update a text column with an array',
        run: () => counters.update(counter.id, { note: untyped(['a', 'b']) }),
        expected: invalid('note'),
        writes: 'counters',
      },
      {
        input: "updateMany where { name: { $ne: '' } } (operator injection)",
        run: () => counters.updateMany({ name: untyped({ $ne: '' }) }, { note: 'pwned' }),
        expected: orInvalid(
          result('0 rows changed', (v) => expect(v).to.equal(0)),
          'name',
        ),
      },
      {
        input: 'updateMany where with a __proto__ key (JSON)',
        run: () => counters.updateMany(untyped(JSON.parse('{"__proto__":{"id":"1"}}')), { note: 'pwned' }),
        expected: invalid('__proto__'),
      },
      {
        input: "updateMany where a key is SQL ('1=1 --')",
        run: () => counters.updateMany(untyped({ '1=1 --': 1 }), { note: 'pwned' }),
        expected: invalid(),
      },
      {
        input: "upsert with conflictColumns 'code' (a string)",
        run: () => counters.upsert({ name: 'u', code: 'c1' }, untyped('code')),
        expected: invalid('conflictColumns'),
      },
      {
        input: "upsert with conflictColumns ['code; DROP TABLE users']",
        run: () => counters.upsert({ name: 'u', code: 'c1' }, untyped(['code; DROP TABLE users'])),
        expected: invalid(),
      },
      {
        input: 'upsert with a __proto__ key (JSON)',
        run: () => counters.upsert(untyped(JSON.parse('{"name":"u","code":"c1","__proto__":{"hits":9}}')), ['code']),
        expected: invalid('__proto__'),
      },
      { input: 'delete(NaN)', run: () => counters.delete(NaN), expected: invalid('id') },
      {
        input: 'delete(-1)',
        run: () => counters.delete(-1),
        expected: result('false', (v) => expect(v).to.equal(false)),
      },
      {
        input: "delete('1 OR 1=1')",
        run: () => counters.delete('1 OR 1=1'),
        expected: orInvalid(refusedByServer('22P02'), 'id'),
      },
      {
        input: 'restore(2 ** 63) on a soft-delete table',
        run: () => userRows.restore(2 ** 63),
        expected: invalid('id'),
      },
      {
        input: 'increment by NaN',
        run: () => counters.increment(counter.id, 'hits', NaN),
        expected: invalid('by'),
      },
      {
        input: 'increment by Infinity',
        run: () => counters.increment(counter.id, 'hits', Infinity),
        expected: invalid('by'),
      },
      {
        input: "increment by '1' (a string)",
        run: () => counters.increment(counter.id, 'hits', untyped('1')),
        expected: invalid('by'),
      },
      {
        input: "increment column 'hits; DROP TABLE users'",
        run: () => counters.increment(counter.id, untyped('hits; DROP TABLE users')),
        expected: invalid(),
      },
      {
        input: "increment column '__proto__'",
        run: () => counters.increment(counter.id, untyped('__proto__')),
        expected: invalid(),
      },
      {
        input: 'increment an integer column by 2 ** 63',
        run: () => counters.increment(counter.id, 'hits', 2 ** 63),
        expected: orInvalid(refusedByServer('22003'), 'by'),
      },
      {
        input: 'decrement by NaN',
        run: () => counters.decrement(counter.id, 'hits', NaN),
        expected: invalid('by'),
      },
      {
        input: 'create with a 10 MB value',
        run: () => counters.create({ name: BIG }),
        expected: stored(BIG),
        writes: 'counters',
      },
    ]);
  });

  it('reported every call to OpenTelemetry with no input, username, e-mail, password or hash in any span or metric', async () => {
    // every username, e-mail and password this file writes, and the hostile strings it sends
    const source = readFileSync(new URL(import.meta.url), 'utf8');
    const literals = [...source.matchAll(/(?:password|email|username): '((?:[^'\\]|\\.){4,})'/g)].map(
      (m) => JSON.parse(`"${m[1]!.replaceAll('"', '\\"')}"`) as string,
    );
    const { rows } = await admin.query<{ hash: string }>('select password_hash as hash from users');
    const forbidden = [...new Set([...literals, INJECTION, DROP, NUL, ...rows.map((r) => r.hash)])];
    expect(literals.length, 'literals found in this file').to.be.at.least(30);
    const spans = otel.spans();
    expect(spans.length, 'spans reported').to.be.at.least(tally.inputs);
    const strings = [
      ...spans.flatMap(exportedStrings),
      ...(await otel.collect()).flatMap((p) => Object.values(p.attributes).map(String)),
    ];
    const leaks = forbidden.filter((value) => strings.some((s) => s.includes(value)));
    expect(leaks).to.deep.equal([]);
  });

  it('keeps every valid write, and leaves no unhandled rejection, uncaught exception or listener leak', async () => {
    const missing: string[] = [];
    for (const row of acknowledged) {
      const { rowCount } = await admin.query(`select 1 from ${row.table} where id = $1`, [row.id]);
      if (rowCount !== 1) missing.push(`${row.table} ${row.id}`);
    }
    lostWrites = missing.length;
    expect(tally.inputs, 'hostile inputs tried').to.be.at.least(40);
    expect(missing, 'acknowledged valid writes missing').to.deep.equal([]);
    expect(watch.stop()).to.deep.equal([]);
  });
});
