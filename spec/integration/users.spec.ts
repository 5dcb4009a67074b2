/**
 * UserRepository on a real PostgreSQL: the original's lifecycle, uniqueness under concurrency,
 * soft delete, both ways of paging, password verification and rehashing, and that no password
 * or hash ever leaves — not in a returned object, not in its JSON, not in a log line.
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { sql } from 'kysely';
import pg from 'pg';
import {
  CheckViolationError,
  ConflictError,
  createDatabase,
  loadConfig,
  migrateToLatest,
  silentLogger,
  UniqueViolationError,
  UserRepository,
  ValidationError,
  withTransaction,
  type Database,
  type DB,
  type Logger,
  type LogMeta,
  type PasswordHasher,
  type User,
} from '../../lib/index.js';
import { createScratchDatabase } from '../support/test-server.js';
import { planNodes } from '../support/spec-helpers.js';

use(chaiAsPromised);

const BCRYPT_IN_JSON = /\$2[abxy]?\$/;
const PASSWORD = 'secure_password_123';

/** A logger that keeps every line, to search it for secrets. */
function recordingLogger(): Logger & { lines: { level: string; message: string; meta?: LogMeta }[] } {
  const lines: { level: string; message: string; meta?: LogMeta }[] = [];
  const write =
    (level: string) =>
    (message: string, meta?: LogMeta): void => {
      lines.push(meta === undefined ? { level, message } : { level, message, meta });
    };
  return { lines, error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') };
}

function newUser(n: number | string): { username: string; email: string; password: string } {
  return { username: `user_${n}`, email: `user_${n}@example.com`, password: `password-${n}` };
}

// The same specs on a real server and on the embedded engine (PGlite), which the demo uses.
for (const engine of ['postgres', 'pglite'] as const) {
  describe(`UserRepository (${engine === 'postgres' ? 'real PostgreSQL' : 'embedded PGlite'})`, () => {
    let target: { url: string; drop(): Promise<void> };
    let database: Database<DB>;
    let users: UserRepository;
    let logger: ReturnType<typeof recordingLogger>;

    before(async function () {
      this.timeout(60_000);
      target =
        engine === 'postgres'
          ? await createScratchDatabase('kr_users')
          : { url: 'pglite://', drop: () => Promise.resolve() };
      database = createDatabase<DB>({
        config: loadConfig({ DATABASE_URL: target.url }, { envFile: '/dev/null' }),
        logger: silentLogger,
      });
      await migrateToLatest(database.db);
    });

    after(async () => {
      await database?.close();
      await target?.drop();
    });

    beforeEach(async () => {
      await sql`truncate users restart identity`.execute(database.db);
      logger = recordingLogger();
      users = new UserRepository(database.db, { policy: { bcryptCost: 4 }, logger });
    });

    /** The stored hash of a user, read behind the repository's back. */
    async function storedHash(username: string): Promise<string> {
      const row = await database.db
        .selectFrom('users')
        .select('passwordHash')
        .where('username', '=', username)
        .executeTakeFirstOrThrow();
      return row.passwordHash;
    }

    describe('the lifecycle of the original example', () => {
      it('creates, fetches, updates, verifies, lists, counts, deletes, restores and reports stats', async () => {
        const seen: unknown[] = [];
        const created = await users.createUser({
          username: 'john_doe',
          email: 'John@Example.com ',
          password: PASSWORD,
        });
        seen.push(created);
        expect(created).to.include({ username: 'john_doe', email: 'john@example.com', isActive: true });
        expect(created.id).to.be.a('string');
        expect(created.createdAt).to.be.instanceOf(Date);

        const fetched = await users.getUserById(created.id);
        seen.push(fetched);
        expect(fetched).to.deep.equal(created);
        expect(await users.getUserById(Number(created.id))).to.deep.equal(created);
        expect(await users.getUserById(BigInt(created.id))).to.deep.equal(created);

        const updated = await users.updateUser(created.id, { email: 'john.doe@example.com' });
        seen.push(updated);
        expect(updated).to.include({ id: created.id, email: 'john.doe@example.com' });
        expect(updated!.updatedAt.getTime()).to.be.greaterThan(created.updatedAt.getTime());

        const verified = await users.verifyPassword('john_doe', PASSWORD);
        seen.push(verified);
        expect(verified).to.include({ id: created.id, username: 'john_doe' });
        expect(await users.verifyPassword('john_doe', 'wrong_password')).to.equal(undefined);

        await users.createUser({ username: 'jane', email: 'jane@example.com', password: PASSWORD });
        const listed = await users.listUsers({ limit: 10 });
        seen.push(listed);
        expect(listed.map((u) => u.username)).to.deep.equal(['jane', 'john_doe']);
        const page = await users.listUsersPage({ limit: 1, withTotal: true });
        seen.push(page);
        expect(page).to.include({ hasMore: true, total: 2 });
        expect(await users.countUsers()).to.equal(2);

        expect(await users.deleteUser(created.id)).to.equal(true);
        expect(await users.deleteUser(created.id)).to.equal(false);
        expect(await users.countUsers()).to.equal(1);
        expect(await users.countUsers({ activeOnly: false })).to.equal(2);
        expect(await users.getUserById(created.id)).to.include({ isActive: false });

        const stats = await users.getUserStats();
        seen.push(stats);
        expect(stats).to.include({ totalUsers: 2, activeUsers: 1, inactiveUsers: 1 });
        expect(stats.firstUserCreated!.getTime()).to.equal(created.createdAt.getTime());
        expect(stats.lastUserCreated!.getTime()).to.be.at.least(created.createdAt.getTime());

        expect(await users.restoreUser(created.id)).to.equal(true);
        expect(await users.restoreUser(created.id)).to.equal(false);
        expect(await users.verifyPassword('john_doe', PASSWORD)).to.include({ id: created.id });

        for (const value of seen) expect(JSON.stringify(value)).not.to.match(BCRYPT_IN_JSON);
        expect(logger.lines.map((l) => l.message)).to.include.members([
          'user created',
          'user updated',
          'user deleted',
          'user restored',
          'login failed',
        ]);
      });

      it('reports empty stats for an empty table', async () => {
        expect(await users.getUserStats()).to.deep.equal({
          totalUsers: 0,
          activeUsers: 0,
          inactiveUsers: 0,
          firstUserCreated: null,
          lastUserCreated: null,
        });
      });
    });

    describe('the password hash never leaves', () => {
      it('is in no returned object, no JSON and no log line, though the row holds it', async () => {
        const results: unknown[] = [];
        const user = await users.createUser(newUser(1));
        results.push(user, await users.createUser(newUser(2)));
        results.push(await users.getUserById(user.id));
        results.push(await users.getUserByUsername('user_1'));
        results.push(await users.getUserByEmail('USER_1@example.com'));
        results.push(await users.updateUser(user.id, { username: 'user_1b' }));
        results.push(await users.updateUser(user.id, {}));
        results.push(await users.verifyPassword('user_1b', 'password-1'));
        results.push(await users.listUsers({ activeOnly: false }));
        results.push(await users.listUsersPage({ activeOnly: false }));
        results.push(await users.getUserStats());

        expect(await storedHash('user_1b')).to.match(/^\$2b\$04\$/);
        for (const result of results) {
          expect(result).to.not.equal(undefined);
          const json = JSON.stringify(result);
          expect(json).not.to.match(BCRYPT_IN_JSON);
          expect(json).not.to.include('passwordHash');
        }
        const all = [user, ...(await users.listUsers({ activeOnly: false }))];
        for (const u of all) expect(Object.getOwnPropertyNames(u)).not.to.include('passwordHash');
        const logged = JSON.stringify(logger.lines);
        expect(logged).not.to.match(BCRYPT_IN_JSON);
        expect(logged).not.to.include('password-1');
        expect(logged).not.to.include('password-2');
      });
    });

    describe('uniqueness, decided by the database', () => {
      it('50 concurrent createUser calls with one username: exactly 1 row and 49 ConflictErrors', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) =>
            users.createUser({ username: 'racer', email: `racer${i}@example.com`, password: PASSWORD }),
          ),
        );
        const created = results.filter((r) => r.status === 'fulfilled');
        const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        expect(created).to.have.length(1);
        expect(failed).to.have.length(49);
        for (const error of failed) {
          expect(error)
            .to.be.instanceOf(ConflictError)
            .and.include({ field: 'username', constraint: 'users_username_key' });
          expect((error as Error).message).to.equal("Username 'racer' already exists");
          expect((error as Error).cause).to.be.instanceOf(UniqueViolationError);
        }
        expect(await users.countUsers({ activeOnly: false })).to.equal(1);
      });

      it('emails differing only in case (or surrounding spaces) clash, also concurrently', async () => {
        await users.createUser({ username: 'first', email: 'Mixed.Case@Example.com', password: PASSWORD });
        await expect(users.createUser({ username: 'second', email: ' mixed.case@EXAMPLE.COM', password: PASSWORD }))
          .to.eventually.be.rejectedWith(ConflictError, "Email 'mixed.case@example.com' already registered")
          .and.include({ field: 'email', constraint: 'users_email_lower_key' });

        const variants = ['Race@X.io', 'race@x.io', 'RACE@X.IO', 'rAcE@x.Io', ' race@x.io '];
        const results = await Promise.allSettled(
          variants.map((email, i) => users.createUser({ username: `race${i}`, email, password: PASSWORD })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).to.be.instanceOf(ConflictError);
        expect(await users.getUserByEmail('RACE@x.io')).to.include({ email: 'race@x.io' });
      });

      it('updateUser maps clashes to ConflictError and leaves both users as they were', async () => {
        const a = await users.createUser(newUser('a'));
        const b = await users.createUser(newUser('b'));
        await expect(users.updateUser(b.id, { username: 'user_a' })).to.eventually.be.rejectedWith(
          ConflictError,
          "Username 'user_a' already exists",
        );
        await expect(users.updateUser(b.id, { email: 'USER_A@example.com' })).to.eventually.be.rejectedWith(
          ConflictError,
          "Email 'user_a@example.com' already registered",
        );
        expect(await users.getUserById(a.id)).to.deep.equal(a);
        expect(await users.getUserById(b.id)).to.deep.equal(b);
      });

      it('inside a transaction a ConflictError rolls back only that write, and events are logged on commit', async () => {
        await users.createUser(newUser('taken'));
        logger.lines.length = 0;
        const made = await withTransaction(database.db, async () => {
          await expect(users.createUser(newUser('taken'))).to.eventually.be.rejectedWith(ConflictError);
          const fresh = await users.createUser(newUser('fresh'));
          expect(logger.lines.map((l) => l.message)).not.to.include('user created');
          return fresh;
        });
        expect(await users.getUserById(made.id)).to.deep.equal(made);
        expect(logger.lines.filter((l) => l.message === 'user created')).to.have.length(1);

        logger.lines.length = 0;
        await expect(
          withTransaction(database.db, async () => {
            await users.createUser(newUser('rolled_back'));
            throw new Error('abort');
          }),
        ).to.eventually.be.rejectedWith('abort');
        expect(await users.getUserByUsername('user_rolled_back')).to.equal(undefined);
        expect(logger.lines.map((l) => l.message)).not.to.include('user created');
      });

      it('a value that passes validation but not a check constraint surfaces as CheckViolationError', async () => {
        const sloppy: PasswordHasher = {
          hash: () => Promise.resolve('not a hash'),
          verify: () => Promise.resolve(false),
          needsRehash: () => false,
        };
        const repo = new UserRepository(database.db, { hasher: sloppy });
        await expect(repo.createUser(newUser('x')))
          .to.eventually.be.rejectedWith(CheckViolationError)
          .and.include({ constraint: 'users_password_hash_check' });
      });
    });

    describe('validation', () => {
      it('refuses bad input with the original wording, before anything is written', async () => {
        const cases: [Record<string, unknown>, string, string, string][] = [
          [{ ...newUser(1), username: 'ab' }, 'username', 'minLength', 'Username must be at least 3 characters'],
          [
            { ...newUser(1), username: 'a'.repeat(51) },
            'username',
            'maxLength',
            'Username must be at most 50 characters',
          ],
          [
            { ...newUser(1), username: 'bad name' },
            'username',
            'format',
            'Username may contain only letters, digits, _, . and -',
          ],
          [{ ...newUser(1), email: 'invalid-email' }, 'email', 'format', 'Valid email address is required'],
          [{ ...newUser(1), password: 'short' }, 'password', 'minLength', 'Password must be at least 8 characters'],
          [{ ...newUser(1), password: 'é'.repeat(37) }, 'password', 'maxBytes', 'Password must be at most 72 bytes'],
          [{ ...newUser(1), username: 42 }, 'username', 'type', 'Username must be a string'],
        ];
        for (const [input, field, rule, message] of cases) {
          await expect(users.createUser(input as never))
            .to.eventually.be.rejectedWith(ValidationError, message)
            .and.include({ field, rule });
        }
        expect(await users.countUsers({ activeOnly: false })).to.equal(0);
      });

      it('accepts a password of exactly 72 bytes and a 254-character email', async () => {
        const local = 'a'.repeat(64);
        const email = `${local}@${'b'.repeat(254 - 64 - 1 - 4)}.com`;
        expect(email).to.have.length(254);
        const user = await users.createUser({ username: 'edge', email, password: 'p'.repeat(72) });
        expect(user.email).to.equal(email);
        expect(await users.verifyPassword('edge', 'p'.repeat(72))).to.include({ id: user.id });
        // a longer password is refused outright, never truncated to match
        expect(await users.verifyPassword('edge', `${'p'.repeat(72)}extra`)).to.equal(undefined);
      });

      it('updateUser allows only username, email and isActive, and revalidates them', async () => {
        const user = await users.createUser(newUser(1));
        for (const key of ['passwordHash', 'id', 'createdAt', 'password']) {
          await expect(users.updateUser(user.id, { [key]: 'x' }))
            .to.eventually.be.rejectedWith(ValidationError)
            .and.include({ field: key, rule: 'allowed' });
        }
        await expect(users.updateUser(user.id, JSON.parse('{"__proto__": {"isAdmin": true}}') as never))
          .to.eventually.be.rejectedWith(ValidationError)
          .and.include({ field: '__proto__' });
        await expect(users.updateUser(user.id, { username: 'no' })).to.eventually.be.rejectedWith(
          ValidationError,
          'Username must be at least 3 characters',
        );
        await expect(users.updateUser(user.id, { email: 'nope' })).to.eventually.be.rejectedWith(
          ValidationError,
          'Valid email address is required',
        );
        expect(await users.getUserById(user.id)).to.deep.equal(user);
        expect(await storedHash('user_1')).to.match(/^\$2b\$04\$/);
      });

      it('lists refuse a limit outside 1..1000 and a foreign cursor', async () => {
        for (const limit of [0, 1001, 1.5]) {
          await expect(users.listUsers({ limit }))
            .to.eventually.be.rejectedWith(ValidationError)
            .and.include({ field: 'limit' });
          await expect(users.listUsersPage({ limit })).to.eventually.be.rejectedWith(ValidationError);
        }
        await expect(users.listUsersPage({ cursor: 'garbage' }))
          .to.eventually.be.rejectedWith(ValidationError)
          .and.include({ field: 'cursor' });
        await expect(users.getUserById('1; drop table users')).to.eventually.be.rejectedWith(ValidationError);
      });
    });

    describe('lookups', () => {
      it('find by id, case-insensitive username and case-insensitive email, or return undefined', async () => {
        const user = await users.createUser(newUser('Look'));
        expect(await users.getUserByUsername('user_Look')).to.deep.equal(user);
        expect(await users.getUserByUsername('USER_look')).to.deep.equal(user); // stored as given: user_Look
        expect(await users.getUserByUsername('user_nobody')).to.equal(undefined);
        expect(await users.getUserByEmail('  USER_LOOK@Example.COM ')).to.deep.equal(user);
        expect(await users.getUserByEmail('nobody@example.com')).to.equal(undefined);
        expect(await users.getUserById('999999')).to.equal(undefined);
      });
    });

    describe('updates, soft delete and restore', () => {
      it('updateUser bumps updatedAt, returns undefined for an absent user, and can reactivate', async () => {
        const user = await users.createUser(newUser(1));
        // a JS Date keeps milliseconds: let one pass, so a bumped updatedAt is a later Date
        await new Promise((resolve) => setTimeout(resolve, 5));
        const renamed = await users.updateUser(user.id, { username: 'renamed' });
        expect(renamed).to.include({ username: 'renamed', email: 'user_1@example.com' });
        expect(renamed!.createdAt.getTime()).to.equal(user.createdAt.getTime());
        expect(renamed!.updatedAt.getTime()).to.be.greaterThan(user.updatedAt.getTime());
        expect(await users.updateUser('424242', { username: 'ghost' })).to.equal(undefined);

        expect(await users.updateUser(user.id, { isActive: false })).to.include({ isActive: false });
        expect(await users.verifyPassword('renamed', 'password-1')).to.equal(undefined);
        expect(await users.updateUser(user.id, { email: 'still@works.io' })).to.include({ isActive: false });
        expect(await users.updateUser(user.id, { isActive: true })).to.include({ isActive: true });
        expect(await users.verifyPassword('renamed', 'password-1')).to.include({ id: user.id });
      });

      it('deleteUser is soft: the row stays, inactive; absent ids give false', async () => {
        const user = await users.createUser(newUser(1));
        expect(await users.deleteUser(user.id)).to.equal(true);
        const row = await database.db
          .selectFrom('users')
          .select('isActive')
          .where('id', '=', user.id)
          .executeTakeFirst();
        expect(row).to.deep.equal({ isActive: false });
        expect(await users.deleteUser(user.id)).to.equal(false);
        expect(await users.deleteUser('987654')).to.equal(false);
        expect(await users.restoreUser('987654')).to.equal(false);
        expect(await users.listUsers()).to.deep.equal([]);
        expect(await users.listUsers({ activeOnly: false })).to.have.length(1);
      });
    });

    describe('passwords', () => {
      it('inactive users cannot log in, even with the right password', async () => {
        const user = await users.createUser(newUser(1));
        await users.deleteUser(user.id);
        expect(await users.verifyPassword('user_1', 'password-1')).to.equal(undefined);
        expect(logger.lines.find((l) => l.message === 'login failed')?.meta).to.include({ reason: 'inactive user' });
        await users.restoreUser(user.id);
        expect(await users.verifyPassword('user_1', 'password-1')).to.include({ id: user.id });
      });

      it('unknown usernames fail like wrong passwords', async () => {
        await users.createUser(newUser(1));
        expect(await users.verifyPassword('nobody', 'password-1')).to.equal(undefined);
        expect(await users.verifyPassword('user_1', 'password-2')).to.equal(undefined);
      });

      it('rehashes a hash made at a lower cost than the policy on a successful login', async () => {
        const user = await users.createUser(newUser(1));
        const before = await storedHash('user_1');
        expect(before).to.match(/^\$2b\$04\$/);

        const stricter = new UserRepository(database.db, { policy: { bcryptCost: 5 }, logger });
        expect(await stricter.verifyPassword('user_1', 'wrong-password')).to.equal(undefined);
        expect(await storedHash('user_1')).to.equal(before);

        expect(await stricter.verifyPassword('user_1', 'password-1')).to.include({ id: user.id });
        const after = await storedHash('user_1');
        expect(after).to.match(/^\$2b\$05\$/);
        expect(logger.lines.map((l) => l.message)).to.include('password rehashed');

        // the new hash works, and is not replaced again
        expect(await stricter.verifyPassword('user_1', 'password-1')).to.include({ id: user.id });
        expect(await storedHash('user_1')).to.equal(after);
        // nor lowered by a repository with a lower cost
        expect(await users.verifyPassword('user_1', 'password-1')).to.include({ id: user.id });
        expect(await storedHash('user_1')).to.equal(after);
      });

      it('changePassword verifies the current password, validates the next and stores it', async () => {
        const user = await users.createUser(newUser(1));
        expect(await users.changePassword(user.id, 'wrong-password', 'brand-new-pw')).to.equal(false);
        await expect(users.changePassword(user.id, 'password-1', 'short'))
          .to.eventually.be.rejectedWith(ValidationError, 'Password must be at least 8 characters')
          .and.include({ field: 'newPassword' });
        expect(await users.changePassword('777777', 'password-1', 'brand-new-pw')).to.equal(false);

        expect(await users.changePassword(user.id, 'password-1', 'brand-new-pw')).to.equal(true);
        expect(await users.verifyPassword('user_1', 'password-1')).to.equal(undefined);
        expect(await users.verifyPassword('user_1', 'brand-new-pw')).to.include({ id: user.id });

        await users.deleteUser(user.id);
        expect(await users.changePassword(user.id, 'brand-new-pw', 'another-pw-1')).to.equal(false);
      });
    });

    describe('listing', () => {
      /** 60 users created in bursts (many in the same millisecond), every third one deactivated. */
      async function seed(): Promise<{ all: string[]; active: string[] }> {
        const made: User[] = [];
        for (let batch = 0; batch < 6; batch++) {
          made.push(
            ...(await Promise.all(Array.from({ length: 10 }, (_, i) => users.createUser(newUser(batch * 10 + i))))),
          );
        }
        for (const user of made.filter((_, i) => i % 3 === 0)) await users.deleteUser(user.id);
        const { rows } = await sql<{ id: string; isActive: boolean }>`
        select id, is_active from users order by created_at desc, id desc`.execute(database.db);
        return { all: rows.map((r) => r.id), active: rows.filter((r) => r.isActive).map((r) => r.id) };
      }

      it('listUsers by offset and listUsersPage by cursor each cover every row exactly once, newest first', async () => {
        const expected = await seed();
        expect(expected.all).to.have.length(60);
        expect(expected.active).to.have.length(40);
        for (const activeOnly of [true, false]) {
          const want = activeOnly ? expected.active : expected.all;
          for (const limit of [1, 7, 60, 1000]) {
            const byOffset: string[] = [];
            for (let offset = 0; ; offset += limit) {
              const slice = await users.listUsers({ offset, limit, activeOnly });
              byOffset.push(...slice.map((u) => u.id));
              if (slice.length < limit) break;
            }
            expect(byOffset, `offset, limit ${limit}, activeOnly ${activeOnly}`).to.deep.equal(want);

            const byCursor: string[] = [];
            let cursor: string | null = null;
            let pages = 0;
            do {
              const page: Awaited<ReturnType<UserRepository['listUsersPage']>> = await users.listUsersPage({
                limit,
                cursor,
                activeOnly,
              });
              byCursor.push(...page.items.map((u) => u.id));
              expect(page.hasMore).to.equal(page.nextCursor !== null);
              cursor = page.nextCursor;
              pages++;
            } while (cursor);
            expect(byCursor, `cursor, limit ${limit}, activeOnly ${activeOnly}`).to.deep.equal(want);
            expect(pages).to.equal(Math.max(1, Math.ceil(want.length / limit)));
          }
        }
        // activeOnly defaults to true
        expect((await users.listUsers()).map((u) => u.id)).to.deep.equal(expected.active);
        expect(await users.countUsers()).to.equal(40);
      });
    });

    // the planner's choices on the server are what matter in production; PGlite's are its own
    if (engine === 'postgres')
      describe('the query plan', () => {
        it('the active-users page query is served by users_active_created_at_idx, on the first page and deeper', async () => {
          const echoed: { sql: string; parameters: unknown[] }[] = [];
          const capture: Logger = {
            ...silentLogger,
            info: (message, meta) => {
              if (message === 'query' && meta) echoed.push(meta as { sql: string; parameters: unknown[] });
            },
          };
          const traced = createDatabase<DB>({
            config: loadConfig({ DATABASE_URL: target.url, DB_ECHO_SQL: 'true' }, { envFile: '/dev/null' }),
            logger: capture,
          });
          const client = new pg.Client({ connectionString: target.url });
          client.on('error', () => undefined);
          await client.connect();
          try {
            await client.query(`
          insert into users (username, email, password_hash, is_active, created_at)
          select 'bulk' || g, 'bulk' || g || '@example.com', '$2b$04$' || repeat('a', 53), g % 10 <> 0,
                 now() - g * interval '1 second'
            from generate_series(1, 20000) g`);
            await client.query('analyze users');
            const repo = new UserRepository(traced.db, { policy: { bcryptCost: 4 } });
            const first = await repo.listUsersPage({ limit: 50 });
            await repo.listUsersPage({ limit: 50, cursor: first.nextCursor });
            const pageQueries = echoed.filter((q) => /order by "created_at" desc, "id" desc/.test(q.sql));
            expect(pageQueries).to.have.length(2);
            for (const query of pageQueries) {
              const parameters = query.parameters.map((p) =>
                typeof p === 'string' && /^\d{4}-\d\d-\d\dT/.test(p) ? new Date(p) : p,
              );
              const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
                `explain (format json) ${query.sql}`,
                parameters,
              );
              const nodes = planNodes(rows[0]?.['QUERY PLAN']);
              expect(nodes, query.sql).to.include('Index Scan using users_active_created_at_idx');
              expect(nodes, query.sql).not.to.include('Sort');
            }
          } finally {
            await client.end();
            await traced.close();
          }
        });
      });
  });
}
