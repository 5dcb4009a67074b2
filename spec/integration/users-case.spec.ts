/**
 * Usernames ignore case, on a real PostgreSQL: `ada` and `ADA` cannot both exist (also when two
 * callers race), a lookup by `ADA` finds `ada` through the unique index on lower(username), the
 * migration that adds that index refuses a table whose names already clash (naming them, changing
 * nothing), and a failed login logs the attempted name only when it is a valid username.
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { sql } from 'kysely';
import pg from 'pg';
import sinon from 'sinon';
import {
  ConflictError,
  createDatabase,
  DatabaseError,
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationStatus,
  silentLogger,
  UniqueViolationError,
  UserRepository,
  type Database,
  type DB,
  type LogMeta,
} from '../../lib/index.js';
import { migrations } from '../../schema/migrations/index.js';
import { testConfig } from '../support/test-config.js';
import { createScratchDatabase } from '../support/test-server.js';
import { planNodes, rejection } from '../support/spec-helpers.js';

use(chaiAsPromised);

const PASSWORD = 'correct horse battery';
const HASH = '$2b$12$C6UzMDM.H6dfI/f/IKcEeO5x9hC0XGm0GqzWvW1kYQ3lWm9cMh4yS';
const CASE_MIGRATION = '2026-12-07-002-users-username-lower-key';
const INDEX = 'users_username_lower_key';

/** A Logger whose every level is a sinon stub. */
function stubLogger(sandbox: sinon.SinonSandbox): Record<'error' | 'warn' | 'info' | 'debug', sinon.SinonStub> {
  return { error: sandbox.stub(), warn: sandbox.stub(), info: sandbox.stub(), debug: sandbox.stub() };
}

/** The meta of every `message` line `stub` received. */
function metaOf(stub: sinon.SinonStub, message: string): LogMeta[] {
  return stub.getCalls().flatMap((call) => (call.args[0] === message ? [call.args[1] as LogMeta] : []));
}

/** A fresh database with a Database on it (migrated by the spec as it needs) and a raw client. */
async function scratch(prefix: string, env: Record<string, string> = {}) {
  const target = await createScratchDatabase(prefix);
  const database = createDatabase<DB>({
    config: testConfig({ DATABASE_URL: target.url, ...env }),
    logger: silentLogger,
  });
  const client = new pg.Client({ connectionString: target.url });
  client.on('error', () => undefined);
  await client.connect();
  return {
    url: target.url,
    database,
    client,
    close: async () => {
      await client.end();
      await database.close();
      await target.drop();
    },
  };
}

describe('usernames ignore case (real PostgreSQL)', () => {
  const sandbox = sinon.createSandbox();
  let url: string;
  let database: Database<DB>;
  let client: pg.Client;
  let close: () => Promise<void>;
  let logger: ReturnType<typeof stubLogger>;
  let users: UserRepository;

  before(async () => {
    ({ url, database, client, close } = await scratch('kr_users_case'));
    await migrateToLatest(database.db);
  });

  after(async () => {
    await close?.();
  });

  beforeEach(async () => {
    await sql`truncate users restart identity`.execute(database.db);
    logger = stubLogger(sandbox);
    users = new UserRepository(database.db, { policy: { bcryptCost: 4 }, logger });
  });

  afterEach(() => {
    sandbox.restore();
  });

  describe('uniqueness', () => {
    it('createUser refuses ADA next to ada with the same ConflictError as an exact duplicate', async () => {
      const ada = await users.createUser({ username: 'ada', email: 'ada@example.com', password: PASSWORD });

      const upper = await rejection(
        users.createUser({ username: 'ADA', email: 'ada2@example.com', password: PASSWORD }),
      );
      expect(upper).to.be.instanceOf(ConflictError);
      expect(upper.message).to.equal("Username 'ADA' already exists");
      expect(upper).to.include({ field: 'username', column: 'username', constraint: INDEX, code: '23505' });
      expect(upper.cause).to.be.instanceOf(UniqueViolationError);

      const exact = await rejection(
        users.createUser({ username: 'ada', email: 'ada3@example.com', password: PASSWORD }),
      );
      expect(exact).to.be.instanceOf(ConflictError);
      expect(exact.message).to.equal("Username 'ada' already exists");
      expect(exact).to.include({ field: 'username', constraint: 'users_username_key' });

      expect(await users.countUsers({ activeOnly: false })).to.equal(1);
      expect(await users.getUserById(ada.id)).to.deep.equal(ada);
    });

    it('an inactive user keeps the name in every case', async () => {
      const ada = await users.createUser({ username: 'ada', email: 'ada@example.com', password: PASSWORD });
      await users.deleteUser(ada.id);
      await expect(users.createUser({ username: 'Ada', email: 'ada2@example.com', password: PASSWORD }))
        .to.eventually.be.rejectedWith(ConflictError, "Username 'Ada' already exists")
        .and.include({ field: 'username' });
    });

    it('updateUser refuses a name another user has in another case, and leaves both users as they were', async () => {
      const ada = await users.createUser({ username: 'ada', email: 'ada@example.com', password: PASSWORD });
      const bob = await users.createUser({ username: 'bob', email: 'bob@example.com', password: PASSWORD });

      const error = await rejection(users.updateUser(bob.id, { username: 'Ada' }));
      expect(error).to.be.instanceOf(ConflictError);
      expect(error.message).to.equal("Username 'Ada' already exists");
      expect(error).to.include({ field: 'username', constraint: INDEX });
      expect(await users.getUserById(ada.id)).to.deep.equal(ada);
      expect(await users.getUserById(bob.id)).to.deep.equal(bob);
    });

    it('updateUser lets a user change the case of their own name, stored as given', async () => {
      const ada = await users.createUser({ username: 'ada', email: 'ada@example.com', password: PASSWORD });
      expect(await users.updateUser(ada.id, { username: 'Ada' })).to.include({ id: ada.id, username: 'Ada' });
      expect(await users.getUserByUsername('ada')).to.include({ id: ada.id, username: 'Ada' });
    });

    it('concurrent createUser calls for ada, ADA, Ada…: exactly one wins each time, the others get ConflictError', async () => {
      const variants = ['ada', 'ADA', 'Ada', 'aDa', 'adA', 'ADa', 'aDA', 'AdA'];
      for (let round = 0; round < 5; round += 1) {
        const names = variants.map((name) => `${name}_${round}`);
        const results = await Promise.allSettled(
          names.map((username, i) =>
            users.createUser({ username, email: `r${round}_${i}@example.com`, password: PASSWORD }),
          ),
        );
        const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
        expect(won, `round ${round}`).to.have.length(1);
        expect(lost, `round ${round}`).to.have.length(variants.length - 1);
        for (const error of lost) {
          expect(error).to.be.instanceOf(ConflictError).and.include({ field: 'username', constraint: INDEX });
          expect(error.message).to.match(/^Username '[a-zA-Z]{3}_\d' already exists$/);
        }
      }
      expect(await users.countUsers({ activeOnly: false })).to.equal(5);
    });
  });

  describe('lookups', () => {
    it('getUserByUsername and verifyPassword find ada by ADA; the stored name keeps its case', async () => {
      const ada = await users.createUser({ username: 'Ada.L', email: 'ada@example.com', password: PASSWORD });
      for (const name of ['Ada.L', 'ada.l', 'ADA.L', 'aDA.l']) {
        expect(await users.getUserByUsername(name), name).to.deep.equal(ada);
        expect(await users.verifyPassword(name, PASSWORD), name).to.deep.equal(ada);
      }
      expect(await users.getUserByUsername('ada_l')).to.equal(undefined);
      expect(await users.verifyPassword('ADA.L', 'wrong password')).to.equal(undefined);
    });

    it('a string that breaks the username rule names no user', async () => {
      await users.createUser({ username: 'kate', email: 'kate@example.com', password: PASSWORD });
      // U+212A KELVIN SIGN lower-cases to an ASCII k in many locales; it is no username
      for (const name of ['\u212Aate', 'ka', 'kate ', 'k ate', '']) {
        expect(await users.getUserByUsername(name), JSON.stringify(name)).to.equal(undefined);
        expect(await users.verifyPassword(name, PASSWORD), JSON.stringify(name)).to.equal(undefined);
      }
    });

    it('the lookup the repository sends is served by an Index Scan on users_username_lower_key', async function () {
      this.timeout(60_000);
      await client.query(
        `insert into users (username, email, password_hash)
         select 'user_' || i, 'user' || i || '@example.com', $1 from generate_series(1, 20000) as i`,
        [HASH],
      );
      await client.query('analyze users');

      // the statement exactly as the repository sends it, from a Database that echoes SQL
      const echoLogger = stubLogger(sandbox);
      const echoing = createDatabase<DB>({
        config: testConfig({ DATABASE_URL: url, DB_ECHO_SQL: 'true' }),
        logger: echoLogger,
      });
      try {
        const found = await new UserRepository(echoing.db, { policy: { bcryptCost: 4 } }).getUserByUsername(
          'USER_12345',
        );
        expect(found).to.include({ username: 'user_12345' });
        // (the Repository also reads the primary key from the catalog, once)
        const queries = metaOf(echoLogger.info, 'query') as { sql: string; parameters: unknown[] }[];
        const lookups = queries.filter((query) => query.sql.includes('from "users"'));
        expect(lookups).to.have.length(1);
        const { sql: text, parameters } = lookups[0]!;
        expect(text).to.match(/where lower\("username"\) = lower\(\$1\)/);
        expect(parameters[0]).to.equal('USER_12345');

        const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`explain (format json) ${text}`, parameters);
        // Limit, Sort (findOne's order by id, of the one row found), Index Scan: no Seq Scan of 20000 rows
        const nodes = planNodes(rows[0]?.['QUERY PLAN']);
        expect(nodes).to.include(`Index Scan using ${INDEX}`);
        expect(nodes).not.to.include('Seq Scan');
      } finally {
        await echoing.close();
      }
    });
  });

  describe('the "login failed" log line', () => {
    it('carries only the length of an attempted username that breaks the rule', async () => {
      await users.createUser({ username: 'ada', email: 'ada@example.com', password: PASSWORD });
      const typedIntoTheWrongBox = 'my secret p@ssw0rd!'; // 19 characters, spaces and @: no username
      expect(await users.verifyPassword(typedIntoTheWrongBox, PASSWORD)).to.equal(undefined);
      expect(await users.verifyPassword('zoë🔑', PASSWORD)).to.equal(undefined); // 4 characters (5 UTF-16 units)

      const failed = metaOf(logger.info, 'login failed');
      expect(failed).to.deep.equal([
        { usernameLength: 19, reason: 'unknown username' },
        { usernameLength: 4, reason: 'unknown username' },
      ]);
      const everything = JSON.stringify(
        Object.values(logger).flatMap((stub) => stub.getCalls().map((call): unknown[] => call.args)),
      );
      expect(everything).not.to.include('p@ssw0rd');
      expect(everything).not.to.include('zoë');
    });

    it('carries the attempted username when it is a valid one', async () => {
      const ada = await users.createUser({ username: 'ada', email: 'ada@example.com', password: PASSWORD });
      expect(await users.verifyPassword('nobody', PASSWORD)).to.equal(undefined);
      expect(await users.verifyPassword('ADA', 'wrong password')).to.equal(undefined);
      expect(metaOf(logger.info, 'login failed')).to.deep.equal([
        { username: 'nobody', reason: 'unknown username' },
        { username: 'ADA', reason: 'wrong password', userId: ada.id },
      ]);
    });
  });
});

describe('the migration that makes usernames unique ignoring case', () => {
  it('is the last migration, after create-users', () => {
    expect(Object.keys(migrations).at(-1)).to.equal(CASE_MIGRATION);
  });

  it('refuses a table holding ada and Ada: names them and their ids, changes nothing; runs once they are fixed', async () => {
    const { database, client, close } = await scratch('kr_users_case_mig');
    try {
      // the schema before this migration
      await migrateUp(database.db);
      expect((await migrationStatus(database.db)).map((m) => [m.name, m.pending])).to.deep.equal([
        ['2026-11-27-001-create-users', false],
        [CASE_MIGRATION, true],
      ]);
      for (const [username, email] of [
        ['ada', 'first@example.com'],
        ['bob', 'bob@example.com'],
        ['Ada', 'second@example.com'],
        ['Bob.X', 'bobx@example.com'],
        ['BOB.x', 'bobx2@example.com'],
      ]) {
        await client.query('insert into users (username, email, password_hash) values ($1, $2, $3)', [
          username,
          email,
          HASH,
        ]);
      }
      const before = (await client.query('select * from users order by id')).rows as unknown[];

      const error = await rejection(migrateToLatest(database.db));
      expect(error).to.be.instanceOf(DatabaseError);
      expect(error.message).to.match(new RegExp(`^migration ${CASE_MIGRATION} \\(up\\) failed: `));
      expect(error.message).to.include("'ada' (ids 1, 3)");
      expect(error.message).to.include("'bob.x' (ids 4, 5)");
      expect(error.message).to.include('nothing was changed');
      // the lower-cased names and ids, and no other personal data
      for (const leak of ['Ada', 'BOB.x', 'Bob.X', '@example.com', '$2b$']) expect(error.message).not.to.include(leak);
      expect(error.message).not.to.match(/'bob'/);
      expect(error).to.include({ code: '23505', constraint: INDEX, table: 'users', column: 'username' });
      expect(error.cause).to.be.instanceOf(UniqueViolationError);

      expect((await client.query('select * from users order by id')).rows).to.deep.equal(before);
      const { rows: index } = await client.query('select to_regclass($1) as index', [INDEX]);
      expect(index).to.deep.equal([{ index: null }]);
      expect((await migrationStatus(database.db)).find((m) => m.name === CASE_MIGRATION)?.pending).to.equal(true);

      // the operator renames one of each, and the migration goes through
      await client.query("update users set username = 'ada2' where id = 3");
      await client.query("update users set username = 'bob.y' where id = 5");
      expect((await migrateToLatest(database.db)).steps).to.deep.equal([
        { name: CASE_MIGRATION, direction: 'up', status: 'done' },
      ]);
      const { rows: defs } = await client.query<{ def: string }>(
        'select indexdef as def from pg_indexes where indexname = $1',
        [INDEX],
      );
      expect(defs[0]?.def).to.match(
        /^CREATE UNIQUE INDEX users_username_lower_key ON .*\(lower\(\(username\)::text\)\)$/,
      );

      // down drops the index and nothing else
      expect((await migrateDown(database.db)).steps).to.deep.equal([
        { name: CASE_MIGRATION, direction: 'down', status: 'done' },
      ]);
      expect((await client.query('select to_regclass($1) as index', [INDEX])).rows).to.deep.equal([{ index: null }]);
      expect((await client.query('select count(*)::int as n from users')).rows).to.deep.equal([{ n: 5 }]);
    } finally {
      await close();
    }
  });

  it('keeps a clashing row written by raw SQL out once applied', async () => {
    const { database, client, close } = await scratch('kr_users_case_raw');
    try {
      await migrateToLatest(database.db);
      await client.query("insert into users (username, email, password_hash) values ('ada', 'a@example.com', $1)", [
        HASH,
      ]);
      const error = await rejection(
        client.query("insert into users (username, email, password_hash) values ('ADA', 'b@example.com', $1)", [HASH]),
      );
      expect(error).to.include({ code: '23505', constraint: INDEX });
    } finally {
      await close();
    }
  });
});
