/**
 * Pool exhaustion: a pool of 4 whose every connection is held by an open transaction. Each call
 * of every kind then fails with PoolTimeoutError once DB_POOL_TIMEOUT has passed (not before,
 * and not much after), writes that timed out never land, the pool's queue empties, callers still
 * queued when a connection frees up are served, and afterwards the pool gives full service
 * with no connection leaked.
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import bcrypt from 'bcrypt';
import {
  createDatabase,
  DatabaseError,
  loadConfig,
  migrateToLatest,
  PoolTimeoutError,
  Repository,
  silentLogger,
  UserRepository,
  withTransaction,
  type Database,
  type DB,
} from '../../lib/index.js';
import { createScratchDatabase } from '../support/test-server.js';
import { Ledger } from './support/ledger.js';
import { backendCount, backendsSettle, readUsers, withClient } from './support/pg-probe.js';
import { phases } from './support/phases.js';
import { watchProcess, type ProcessWatch } from './support/process-watch.js';
import { printFigures } from './support/summary.js';

const POOL_SIZE = 4;
const POOL_TIMEOUT_MS = 1_000;
/** How late a PoolTimeoutError may arrive on a shared, busy machine. */
const LATE_MARGIN_MS = 1_500;
/** How early: timers may fire a little before their time. */
const EARLY_MARGIN_MS = 50;

interface Timed {
  readonly kind: string;
  readonly elapsedMs: number;
  readonly error: unknown;
  readonly value: unknown;
}

async function timed(kind: string, call: () => Promise<unknown>): Promise<Timed> {
  const started = performance.now();
  try {
    const value = await call();
    return { kind, elapsedMs: performance.now() - started, error: undefined, value };
  } catch (error) {
    return { kind, elapsedMs: performance.now() - started, error, value: undefined };
  }
}

function className(error: unknown): string {
  if (error === undefined) return 'none';
  if (error instanceof DatabaseError) return error.name;
  return `untyped:${error instanceof Error ? error.constructor.name : typeof error}`;
}

describe('reliability: pool exhaustion (pool of 4, DB_POOL_TIMEOUT 1000 ms)', function () {
  const { faultRounds } = phases();
  let target: { url: string; drop(): Promise<void> };
  let database: Database<DB>;
  let watch: ProcessWatch;

  after(async function () {
    this.timeout(30_000);
    await database?.close();
    await target?.drop();
    watch?.stop();
  });

  it('times every call out with PoolTimeoutError within the timeout, then serves fully again', async function () {
    this.timeout(faultRounds * 30_000 + 60_000);
    const started = performance.now();
    watch = watchProcess();
    target = await createScratchDatabase('kr_rel_pool');
    const applicationName = `kr-rel-pool-${process.pid}`;
    const baseline = await withClient(target.url, (c) => backendCount(c, applicationName));
    database = createDatabase<DB>({
      config: loadConfig(
        {
          DATABASE_URL: target.url,
          DB_POOL_SIZE: String(POOL_SIZE),
          DB_POOL_TIMEOUT: String(POOL_TIMEOUT_MS),
          DB_APPLICATION_NAME: applicationName,
        },
        { envFile: '/dev/null' },
      ),
      logger: silentLogger,
    });
    const { db } = database;
    await migrateToLatest(db);
    const users = new UserRepository(db, { policy: { bcryptCost: 4 }, logger: silentLogger });
    const repository = new Repository(db, 'users', { softDelete: { column: 'isActive', kind: 'boolean' } });
    const ledger = new Ledger();
    const seed = await users.createUser({
      username: 'seed_user',
      email: 'seed@example.com',
      password: 'seed-password',
    });
    ledger.attemptCreate('seed_user');
    ledger.created(seed.id, 'seed_user', { email: 'seed@example.com', isActive: true, password: 'seed-password' });

    const outcomes: Timed[] = [];
    const timedOutWrites: string[] = [];
    const lateOrEarly: string[] = [];
    const wrongClass: string[] = [];
    let operations = 1;

    for (let round = 0; round < faultRounds; round++) {
      // hold every connection in an open transaction
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let holding = 0;
      const holders = Array.from({ length: POOL_SIZE }, () =>
        withTransaction(db, async (trx) => {
          await sql`select 1`.execute(trx);
          holding++;
          await gate;
        }),
      );
      while (holding < POOL_SIZE) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(database.status().pool).to.include({ total: POOL_SIZE, idle: 0 });

      // every kind of call times out
      const name = (n: number) => `timeout_r${round}_${n}`;
      const calls: [string, () => Promise<unknown>][] = [
        ['getUserById', () => users.getUserById(seed.id)],
        ['getUserByUsername', () => users.getUserByUsername('seed_user')],
        ['listUsers', () => users.listUsers({ limit: 5 })],
        ['listUsersPage', () => users.listUsersPage({ limit: 5 })],
        ['countUsers', () => users.countUsers()],
        ['verifyPassword', () => users.verifyPassword('seed_user', 'seed-password')],
        ['updateUser', () => users.updateUser(seed.id, { email: `never_${round}@example.com` })],
        ['getUserStats', () => users.getUserStats()],
        ['Repository.findMany', () => repository.findMany({ limit: 5 })],
        ['Repository.paginate', () => repository.paginate({ limit: 5 })],
        ['withTransaction', () => withTransaction(db, (trx) => sql`select 1`.execute(trx))],
        ['Kysely select', () => db.selectFrom('users').select('id').execute()],
      ];
      for (let n = 0; n < 3; n++) {
        calls.push([
          'createUser',
          () => users.createUser({ username: name(n), email: `${name(n)}@example.com`, password: 'password-1' }),
        ]);
        timedOutWrites.push(name(n));
      }
      for (let n = 0; n < 20; n++) calls.push(['getUserById (crowd)', () => users.getUserById(seed.id)]);
      const results = await Promise.all(calls.map(([kind, call]) => timed(kind, call)));
      const pings = await Promise.all([timed('ping', () => database.ping()), timed('health', () => database.health())]);
      operations += results.length + pings.length;
      outcomes.push(...results);
      for (const result of results) {
        if (!(result.error instanceof PoolTimeoutError)) {
          wrongClass.push(`${result.kind}: ${className(result.error)}`);
        } else if (
          result.elapsedMs < POOL_TIMEOUT_MS - EARLY_MARGIN_MS ||
          result.elapsedMs > POOL_TIMEOUT_MS + LATE_MARGIN_MS
        ) {
          lateOrEarly.push(`${result.kind}: ${Math.round(result.elapsedMs)} ms`);
        }
      }
      const [ping, health] = pings;
      expect(ping?.value, 'ping() while exhausted').to.equal(false);
      expect(health?.value, 'health() while exhausted').to.deep.include({ ok: false });
      for (const check of pings) expect(check.elapsedMs).to.be.at.most(POOL_TIMEOUT_MS + LATE_MARGIN_MS);
      expect(database.status().pool.waiting, 'timed-out callers left in the queue').to.equal(0);

      // callers still queued when a connection frees up are served
      const queued = Array.from({ length: 5 }, () => timed('queued getUserById', () => users.getUserById(seed.id)));
      await new Promise((resolve) => setTimeout(resolve, POOL_TIMEOUT_MS / 4));
      release();
      await Promise.all(holders);
      const served = await Promise.all(queued);
      operations += served.length;
      for (const result of served) {
        expect(result.error, 'a queued call after the connections were released').to.equal(undefined);
        expect(result.value).to.deep.include({ id: seed.id });
      }

      // full service: 200 mixed calls, 50 at a time
      const service = await Promise.all(
        Array.from({ length: 50 }, (_, worker) =>
          (async () => {
            const failures: string[] = [];
            for (let i = 0; i < 4; i++) {
              const username = `svc_r${round}_w${worker}_${i}`;
              try {
                if (i === 0) {
                  ledger.attemptCreate(username);
                  const user = await users.createUser({
                    username,
                    email: `${username}@example.com`,
                    password: `pw-${username}`,
                  });
                  ledger.created(user.id, username, {
                    email: user.email,
                    isActive: true,
                    password: `pw-${username}`,
                  });
                } else if (i === 1) await users.listUsers({ limit: 10 });
                else if (i === 2) await withTransaction(db, async () => users.countUsers());
                else await repository.findById(seed.id);
              } catch (error) {
                failures.push(`${username} step ${i}: ${className(error)}`);
              }
            }
            return failures;
          })(),
        ),
      );
      operations += 200;
      expect(service.flat(), 'calls failing after the pool was released').to.deep.equal([]);
      const pool = database.status().pool;
      expect(pool.total).to.be.at.most(POOL_SIZE);
      expect(pool.waiting, 'callers queued after the service phase').to.equal(0);
      expect(pool.idle, 'connections checked out after the service phase').to.equal(pool.total);
    }

    await database.close();
    const backendsAfter = await backendsSettle(target.url, applicationName, baseline, 5_000);
    const rows = await readUsers(target.url);
    const report = await ledger.verify(rows, (password, hash) => bcrypt.compare(password, hash));
    const landed = rows.filter((row) => timedOutWrites.includes(row.username)).map((row) => row.username);
    const seedRow = rows.find((row) => row.id === seed.id);
    const errorsByClass: Record<string, number> = {};
    for (const outcome of outcomes) {
      if (outcome.error !== undefined) {
        errorsByClass[className(outcome.error)] = (errorsByClass[className(outcome.error)] ?? 0) + 1;
      }
    }
    const elapsed = outcomes.filter((o) => o.error instanceof PoolTimeoutError).map((o) => o.elapsedMs);
    printFigures({
      spec: 'pool exhaustion',
      operations,
      errorsByClass,
      acknowledgedWrites: report.acknowledgedWrites,
      lostWrites: report.lostWrites.length,
      hostileInputs: 0,
      seconds: (performance.now() - started) / 1000,
      notes: [
        `${faultRounds} round${faultRounds === 1 ? '' : 's'}, pool ${POOL_SIZE}, timeout ${POOL_TIMEOUT_MS} ms`,
        `PoolTimeoutError after ${Math.round(Math.min(...elapsed))}..${Math.round(Math.max(...elapsed))} ms`,
        `backends after close ${backendsAfter} (baseline ${baseline})`,
      ],
    });

    expect(watch.stop(), 'unhandled rejections, uncaught exceptions, listener leaks').to.deep.equal([]);
    expect(wrongClass, 'calls that did not fail with PoolTimeoutError').to.deep.equal([]);
    expect(lateOrEarly, `PoolTimeoutErrors outside ${POOL_TIMEOUT_MS} ms (+${LATE_MARGIN_MS} ms)`).to.deep.equal([]);
    expect(landed, 'writes that timed out waiting for a connection, yet landed').to.deep.equal([]);
    expect(seedRow?.email, 'the timed-out updateUser did not land').to.equal('seed@example.com');
    expect(report.lostWrites, 'lost writes').to.deep.equal([]);
    expect(backendsAfter, 'backends after close()').to.equal(baseline);
  });
});
