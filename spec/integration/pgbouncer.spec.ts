/**
 * Behind a real PgBouncer in transaction mode (Debian's package, started by the harness on a free
 * loopback port with a pool of 5 server connections), in front of a scratch database on the run's
 * server: startup, migrations, the user lifecycle, transactions with savepoints, and 200
 * concurrent clients sharing those 5 connections.
 */
import { expect, use } from 'chai';
import chaiAsPromised from 'chai-as-promised';
import { sql } from 'kysely';
import pg from 'pg';
import {
  ConflictError,
  createDatabase,
  loadConfig,
  migrateToLatest,
  QueryTimeoutError,
  Repository,
  silentLogger,
  UserRepository,
  withTransaction,
  type Database,
  type DB,
} from '../../lib/index.js';
import { connectionSetup } from '../../lib/connection/pg/connection-setup.js';
import { findPgBouncer, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { createScratchDatabase } from '../support/test-server.js';
import { queryServer as onServer } from '../support/spec-helpers.js';

use(chaiAsPromised);

const POOL_SIZE = 5;
const CLIENTS = 200;
const PASSWORD = 'secure_password_123';

describe('behind PgBouncer in transaction mode (real pgbouncer)', function () {
  this.timeout(60_000);
  let scratch: { url: string; drop(): Promise<void> };
  let bouncer: PgBouncer;
  let bouncerUrl: string;
  let databaseName: string;
  let database: Database<DB>;
  const databases: Database<DB>[] = [];

  function open(env: Record<string, string> = {}): Database<DB> {
    const opened = createDatabase<DB>({
      config: loadConfig(
        { DATABASE_URL: bouncerUrl, DB_PGBOUNCER: 'transaction', DB_STATEMENT_TIMEOUT: '7000', ...env },
        { envFile: '/dev/null' },
      ),
      logger: silentLogger,
    });
    databases.push(opened);
    return opened;
  }

  before(async function () {
    if (!findPgBouncer()) {
      process.stdout.write('    skipped: the PgBouncer specs need pgbouncer (Debian: apt-get install pgbouncer)\n');
      this.skip();
    }
    scratch = await createScratchDatabase('kr_bouncer');
    const server = new URL(scratch.url);
    databaseName = decodeURIComponent(server.pathname.slice(1));
    bouncer = await startPgBouncer({
      server: {
        host: server.hostname,
        port: Number(server.port || 5432),
        user: decodeURIComponent(server.username || 'postgres'),
        ...(server.password ? { password: decodeURIComponent(server.password) } : {}),
      },
      poolMode: 'transaction',
      poolSize: POOL_SIZE,
      maxClientConnections: 400,
    });
    bouncerUrl = bouncer.url(databaseName);
    database = open();
    // Kysely's migration lock is a session-level advisory lock: with DB_PGBOUNCER=transaction the
    // migrator runs in one transaction, so the lock is taken and released on one server connection
    const run = await migrateToLatest(database.db);
    expect(run.steps.map((s) => s.status)).to.include('done');
  });

  /** statement_timeout inside a transaction, outside one (through the pooler), and the server's own. */
  async function statementTimeouts(
    opened: Database<DB>,
  ): Promise<{ inside?: string; outside?: string; serverDefault?: string }> {
    const setting = sql<{ v: string }>`select current_setting('statement_timeout') as v`;
    const inside = (await withTransaction(opened.db, (trx) => setting.execute(trx))).rows[0]?.v;
    const outside = (await setting.execute(opened.db)).rows[0]?.v;
    const [server] = await onServer<{ v: string }>(scratch.url, "select current_setting('statement_timeout') as v");
    return { inside, outside, serverDefault: server?.v };
  }

  after(async function () {
    this.timeout(60_000);
    for (const opened of databases) await opened.close();
    await bouncer?.destroy();
    await scratch?.drop();
  });

  describe('startup and session state', () => {
    it('connects: no statement_timeout startup parameter, which PgBouncer would refuse', async () => {
      expect(await database.ping()).to.equal(true);
      const direct = open({ DB_PGBOUNCER: 'off' });
      const report = await direct.health();
      expect(report.ok).to.equal(false);
      expect(report.error).to.contain('unsupported startup parameter: statement_timeout');
    });

    it('migrates in one transaction, leaving no advisory lock on a pooled server connection', async () => {
      const locksQuery = `select count(*) as n from pg_locks
          where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`;
      const locks = await onServer<{ n: string }>(scratch.url, locksQuery);
      expect(locks[0]?.n).to.equal('0');
      expect((await migrateToLatest(database.db)).steps).to.deep.equal([]);
      expect((await onServer<{ n: string }>(scratch.url, locksQuery))[0]?.n).to.equal('0');
    });

    it('applies DB_STATEMENT_TIMEOUT to each transaction (SET LOCAL), leaving single statements to the server', async () => {
      const timeouts = await statementTimeouts(database);
      expect(timeouts.inside).to.equal('7s');
      expect(timeouts.outside).to.equal(timeouts.serverDefault);

      const strict = open({ DB_STATEMENT_TIMEOUT: '300' });
      const slow = withTransaction(strict.db, (trx) => sql`select pg_sleep(3)`.execute(trx));
      await expect(slow).to.eventually.be.rejectedWith(QueryTimeoutError);
      expect(await strict.ping()).to.equal(true);
    });

    it("'auto' tells a pooler from a direct server by the backend pid announced at startup", async () => {
      const setUp = connectionSetup(
        loadConfig({ DATABASE_URL: bouncerUrl, DB_PGBOUNCER: 'auto' }, { envFile: '/dev/null' }),
      );
      const detect = async (url: string) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await setUp!(client)).transactionPooled;
        } finally {
          await client.end();
        }
      };
      expect(await detect(bouncerUrl)).to.equal(true);
      expect(await detect(scratch.url)).to.equal(false);
    });

    it("'auto' behind the pooler: timeout per transaction, no session state, no named statements", async () => {
      const auto = open({ DB_PGBOUNCER: 'auto' });
      const timeouts = await statementTimeouts(auto);
      expect(timeouts.inside).to.equal('7s');
      expect(timeouts.outside).to.equal(timeouts.serverDefault);
      const repo = new Repository(auto.db, 'users');
      for (let i = 0; i < 20; i++) await Promise.all([repo.count(), repo.findById(1), repo.count()]);
    });

    it("'auto' on a direct server: timeout for the session, named prepared statements", async () => {
      const direct = createDatabase<DB>({
        config: loadConfig(
          { DATABASE_URL: scratch.url, DB_PGBOUNCER: 'auto', DB_STATEMENT_TIMEOUT: '7000', DB_POOL_SIZE: '1' },
          { envFile: '/dev/null' },
        ),
        logger: silentLogger,
      });
      try {
        // a direct session: the timeout is the session's, and repositories prepare their statements
        const { rows } = await sql<{ v: string }>`select current_setting('statement_timeout') as v`.execute(direct.db);
        expect(rows[0]?.v).to.equal('7s');
        await new Repository(direct.db, 'users').count();
        const prepared = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(direct.db);
        expect(prepared.rows.some((r) => r.name.startsWith('kr_'))).to.equal(true);
      } finally {
        await direct.close();
      }
    });
  });

  describe('the package, unchanged', () => {
    beforeEach(async () => {
      await sql`truncate users restart identity`.execute(database.db);
    });

    it('runs the user lifecycle', async () => {
      const users = new UserRepository(database.db, { policy: { bcryptCost: 4 } });
      const created = await users.createUser({ username: 'john_doe', email: 'John@Example.com', password: PASSWORD });
      expect(created).to.include({ username: 'john_doe', email: 'john@example.com', isActive: true });
      expect(await users.getUserById(created.id)).to.deep.equal(created);
      expect(await users.getUserByUsername('john_doe')).to.deep.equal(created);
      expect(await users.getUserByEmail('JOHN@example.com')).to.deep.equal(created);
      const updated = await users.updateUser(created.id, { email: 'john.doe@example.com' });
      expect(updated).to.include({ id: created.id, email: 'john.doe@example.com' });
      expect(await users.verifyPassword('john_doe', PASSWORD)).to.include({ id: created.id });
      expect(await users.verifyPassword('john_doe', 'wrong')).to.equal(undefined);
      expect(await users.changePassword(created.id, PASSWORD, 'another_password_456')).to.equal(true);
      expect(await users.verifyPassword('john_doe', 'another_password_456')).to.include({ id: created.id });
      await users.createUser({ username: 'jane', email: 'jane@example.com', password: PASSWORD });
      await expect(
        users.createUser({ username: 'jane', email: 'other@example.com', password: PASSWORD }),
      ).to.eventually.be.rejectedWith(ConflictError);
      expect((await users.listUsers({ limit: 10 })).map((u) => u.username)).to.deep.equal(['jane', 'john_doe']);
      const page = await users.listUsersPage({ limit: 1 });
      expect(page.hasMore).to.equal(true);
      expect((await users.listUsersPage({ limit: 1, cursor: page.nextCursor })).items[0]?.username).to.be.a('string');
      expect(await users.deleteUser(created.id)).to.equal(true);
      expect(await users.countUsers()).to.equal(1);
      expect(await users.getUserStats()).to.include({ totalUsers: 2, activeUsers: 1, inactiveUsers: 1 });
      expect(await users.restoreUser(created.id)).to.equal(true);
      expect(await users.countUsers()).to.equal(2);
    });

    it('runs transactions with savepoints: a failed nested call rolls back alone, a failed outer one entirely', async () => {
      const users = new UserRepository(database.db, { policy: { bcryptCost: 4 } });
      await withTransaction(database.db, async () => {
        await users.createUser({ username: 'outer', email: 'outer@example.com', password: PASSWORD });
        await expect(
          withTransaction(database.db, async () => {
            await users.createUser({ username: 'inner', email: 'inner@example.com', password: PASSWORD });
            throw new Error('inner fails');
          }),
        ).to.eventually.be.rejectedWith('inner fails');
        await withTransaction(database.db, () =>
          users.createUser({ username: 'kept', email: 'kept@example.com', password: PASSWORD }),
        );
      });
      const names = (await users.listUsers({ limit: 10 })).map((u) => u.username);
      expect(names).to.deep.equal(['kept', 'outer']);

      const failing = withTransaction(
        database.db,
        async () => {
          await users.createUser({ username: 'doomed', email: 'doomed@example.com', password: PASSWORD });
          await users.createUser({ username: 'doomed', email: 'doomed2@example.com', password: PASSWORD });
        },
        { isolationLevel: 'serializable', timeoutMs: 5_000 },
      );
      await expect(failing).to.eventually.be.rejectedWith(ConflictError);
      expect(await users.countUsers()).to.equal(2);
    });

    it(`serves ${CLIENTS} concurrent clients over ${POOL_SIZE} server connections`, async function () {
      this.timeout(120_000);
      // 4 Databases x 50 pooled connections: 200 client connections to PgBouncer at once
      const fleet = Array.from({ length: 4 }, () => open({ DB_POOL_SIZE: String(CLIENTS / 4) }));
      const peak = { clients: 0, servers: 0 };
      let running = true;
      const sampler = (async () => {
        while (running) {
          const pools = await bouncer.admin(async (c) => (await c.query<Record<string, unknown>>('SHOW POOLS')).rows);
          const pool = pools.find((p) => p['database'] === databaseName);
          if (pool) {
            const n = (key: string) => Number(pool[key] ?? 0);
            peak.clients = Math.max(peak.clients, n('cl_active') + n('cl_waiting'));
            peak.servers = Math.max(
              peak.servers,
              n('sv_active') + n('sv_idle') + n('sv_used') + n('sv_tested') + n('sv_login'),
            );
          }
          const [backends] = await onServer<{ n: string }>(
            scratch.url,
            'select count(*) as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
          );
          peak.servers = Math.max(peak.servers, Number(backends?.n ?? 0));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();

      try {
        const results = await Promise.all(
          Array.from({ length: CLIENTS }, async (_, i) => {
            const owner = fleet[i % fleet.length]!;
            const users = new UserRepository(owner.db, { policy: { bcryptCost: 4 } });
            return withTransaction(owner.db, async (trx) => {
              const user = await users.createUser({
                username: `client_${i}`,
                email: `client_${i}@example.com`,
                password: PASSWORD,
              });
              // hold the transaction (and its server connection) a little, so clients queue
              await sql`select pg_sleep(0.02)`.execute(trx);
              await withTransaction(owner.db, () => users.updateUser(user.id, { email: `c${i}@example.com` }));
              return users.getUserById(user.id);
            });
          }),
        );
        expect(results.map((u) => u?.email)).to.deep.equal(results.map((_, i) => `c${i}@example.com`));
      } finally {
        running = false;
        await sampler;
      }
      expect(
        await database.db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst(),
      ).to.deep.equal({
        n: String(CLIENTS),
      });
      expect(peak.clients).to.be.at.least(CLIENTS);
      expect(peak.servers).to.be.at.most(POOL_SIZE);
      expect(peak.servers).to.be.at.least(1);
    });
  });
});
