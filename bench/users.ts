/**
 * UserRepository benchmark: one command, one run (about a minute on two cores).
 *
 *   npx tsx bench/users.ts
 *
 * On a throwaway database (created and dropped on the server at BENCH_DATABASE_URL,
 * TEST_DATABASE_URL, DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres):
 *
 * - createUser/s and verifyPassword/s at bcrypt cost 10 and 12, with 8 concurrent callers;
 * - the median latency of a failed login for a known username (wrong password) and for an
 *   unknown one, interleaved (the dummy-hash defence: they should match);
 * - the event loop's delay (perf_hooks.monitorEventLoopDelay, p99 and max) while 100 hashes at
 *   cost 12 run concurrently through the async API, against an idle baseline and against the
 *   sync API for contrast. The async p99 must stay under 50 ms: hashing happens off the main thread.
 *
 * UV_THREADPOOL_SIZE (default 4) bounds how many hashes run at once.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import pg from 'pg';
import { createDatabase, loadConfig, migrateToLatest, silentLogger, type Database, type DB } from '../lib/index.js';
import { BcryptPasswordHasher } from '../lib/users/bcrypt-password-hasher.js';
import { UserRepository } from '../lib/users/user-repository.js';

const CALLERS = 8;
const OPERATIONS: Readonly<Record<number, number>> = { 10: 64, 12: 24 };
const LOGIN_SAMPLES: Readonly<Record<number, number>> = { 10: 21, 12: 9 };
const BURST = 100;
const SYNC_CONTRAST = 4;
const P99_LIMIT_MS = 50;

function adminUrl(): string {
  return (
    process.env['BENCH_DATABASE_URL'] ??
    process.env['TEST_DATABASE_URL'] ??
    process.env['DATABASE_URL'] ??
    'postgres://postgres@127.0.0.1:5432/postgres'
  );
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs `count` operations with CALLERS concurrent callers; returns operations per second. */
async function rate(count: number, operation: (index: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < count) await operation(next++);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Median milliseconds of each of two calls, `count` samples each, interleaved so drift hits both alike. */
async function medianMs(
  count: number,
  first: () => Promise<unknown>,
  second: () => Promise<unknown>,
): Promise<[number, number]> {
  const a: number[] = [];
  const b: number[] = [];
  const time = async (fn: () => Promise<unknown>, into: number[]): Promise<void> => {
    const started = performance.now();
    await fn();
    into.push(performance.now() - started);
  };
  for (let i = 0; i < count; i++) {
    await time(first, a);
    await time(second, b);
  }
  const median = (xs: number[]): number => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return [median(a), median(b)];
}

/** p99 and max event-loop delay (ms) while `work` runs, sampled every millisecond. */
async function loopDelay(work: () => Promise<unknown>): Promise<{ p99: number; max: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  // let the sampling timer start before the work does
  await new Promise((resolve) => setTimeout(resolve, 20));
  await work();
  await new Promise((resolve) => setTimeout(resolve, 20));
  histogram.disable();
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i === 0 ? ':' : '-') + '-'.repeat(w) + (i === 0 ? '-' : ':')).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

async function measureCost(database: Database<DB>, cost: number): Promise<string[]> {
  const users = new UserRepository(database.db, { policy: { bcryptCost: cost }, logger: silentLogger });
  const n = OPERATIONS[cost]!;
  const tag = randomBytes(3).toString('hex');
  const creates = await rate(n, (i) =>
    users.createUser({
      username: `b${cost}_${tag}_${i}`,
      email: `b${cost}_${tag}_${i}@bench.io`,
      password: `pw-${i}-bench`,
    }),
  );
  const logins = await rate(n, (i) => users.verifyPassword(`b${cost}_${tag}_${i}`, `pw-${i}-bench`));
  const samples = LOGIN_SAMPLES[cost]!;
  const [known, unknown] = await medianMs(
    samples,
    () => users.verifyPassword(`b${cost}_${tag}_0`, 'wrong-password'),
    () => users.verifyPassword(`nobody_${tag}`, 'wrong-password'),
  );
  return [`cost ${cost}`, creates.toFixed(1), logins.toFixed(1), known.toFixed(1), unknown.toFixed(1)];
}

/** Runs the user benchmark (bcrypt costs, event-loop delay) and prints its tables. */
export async function benchUsers(): Promise<void> {
  const name = `kr_bench_users_${process.pid}_${randomBytes(3).toString('hex')}`;
  await admin(`create database "${name}"`);
  const database = createDatabase<DB>({
    config: loadConfig({ DATABASE_URL: withDatabase(adminUrl(), name) }, { envFile: '/dev/null' }),
    logger: silentLogger,
  });
  try {
    await migrateToLatest(database.db);
    console.log(
      `UserRepository bench: ${cpus().length} CPUs, UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}, ` +
        `${CALLERS} concurrent callers\n`,
    );
    const rows = [await measureCost(database, 10), await measureCost(database, 12)];
    console.log(
      table(
        [
          'bcrypt',
          'createUser/s',
          'verifyPassword/s',
          'failed login, known user (median ms)',
          'unknown user (median ms)',
        ],
        rows,
      ),
    );

    const hasher = new BcryptPasswordHasher({ cost: 12 });
    const idle = await loopDelay(() => new Promise((resolve) => setTimeout(resolve, 500)));
    const burstStarted = performance.now();
    const async = await loopDelay(() =>
      Promise.all(Array.from({ length: BURST }, (_, i) => hasher.hash(`burst-password-${i}`))),
    );
    const burstSeconds = (performance.now() - burstStarted) / 1000;
    const sync = await loopDelay(async () => {
      for (let i = 0; i < SYNC_CONTRAST; i++) {
        bcrypt.hashSync(`sync-password-${i}`, 12);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    console.log(
      `\n${table(
        ['event loop delay', 'p99 (ms)', 'max (ms)'],
        [
          ['idle baseline', idle.p99.toFixed(2), idle.max.toFixed(2)],
          [
            `${BURST} concurrent hashes, cost 12, async API (${burstSeconds.toFixed(1)} s)`,
            async.p99.toFixed(2),
            async.max.toFixed(2),
          ],
          [
            `${SYNC_CONTRAST} hashes, cost 12, sync API (contrast; never used)`,
            sync.p99.toFixed(2),
            sync.max.toFixed(2),
          ],
        ],
      )}`,
    );
    const ok = async.p99 < P99_LIMIT_MS;
    console.log(`\nasync burst p99 ${async.p99.toFixed(2)} ms: ${ok ? 'under' : 'OVER'} the ${P99_LIMIT_MS} ms limit`);
    if (!ok) process.exitCode = 1;
  } finally {
    await database.close();
    await admin(`drop database if exists "${name}" with (force)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchUsers();
