/**
 * findById against the limit of this server on this machine: pgbench (a C client, `-M prepared`,
 * 10 connections, no vacuum) running the same lookup — `select * from users where id = :id` with
 * a random id of 100,000 users — with one thread (-j 1, as the Node contenders have one) and with
 * two (-j 2, every core of a 2-core machine the server shares), against, in the same run and on
 * the same database: raw pg (parameterized and named prepared, pool 10, 32 workers) and
 * Repository.findById (pool 10, 32 workers, and 10 workers: one per connection, as pgbench's 10
 * clients). The contenders take turns in a different order each round; medians of the rounds.
 * Prints ops/s, client CPU per lookup (not measured for pgbench), the share of pgbench -j 1 and
 * the ratio to raw pg. Without pgbench (looked up on PATH, then `pg_config --bindir`, then the
 * server's bin directories) it says so and runs the rest.
 *
 *   npx tsx bench/limit.ts            (BENCH_LIMIT_SECONDS=10 BENCH_ROUNDS=3 by default)
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDatabase, loadConfig, migrateToLatest, Repository, silentLogger, type DB } from '../lib/index.js';
import {
  createBenchDatabase,
  measure,
  median,
  printTable,
  seedUsers,
  turnOrder,
  POOL,
  ROUNDS,
  WORKERS,
} from './bench-support.js';

const SECONDS = Number(process.env['BENCH_LIMIT_SECONDS'] ?? 10);
const ROWS = 100_000;
const FIND = 'select * from users where id = $1';
const SCRIPT = `\\set id random(1, ${ROWS})\nselect * from users where id = :id;\n`;

const run = promisify(execFile);
const random = () => 1 + Math.floor(Math.random() * ROWS);

/** One measured window: ops/s, and client CPU per operation when it was measured. */
interface Result {
  readonly opsPerSecond: number;
  readonly cpuMicros: number | undefined;
}

interface Contender {
  readonly name: string;
  run(): Promise<Result>;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pgbench's path, or why there is none: PATH, then `pg_config --bindir`, then the server's bin directories. */
function findPgbench(): { path: string } | { missing: string } {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    if (executable(join(dir, 'pgbench'))) return { path: join(dir, 'pgbench') };
  }
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (executable(join(bindir.trim(), 'pgbench'))) return { path: join(bindir.trim(), 'pgbench') };
  } catch {
    // no pg_config: look where the server packages put their programs
  }
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    // no server packages
  }
  for (const version of versions) {
    if (executable(join(root, version, 'bin', 'pgbench'))) return { path: join(root, version, 'bin', 'pgbench') };
  }
  return {
    missing: `pgbench is not on PATH, in pg_config --bindir, nor under ${root}/*/bin (it ships with the PostgreSQL server packages, e.g. postgresql-contrib or postgresql-client)`,
  };
}

/** Runs pgbench on the lookup for `seconds` and returns its tps (without initial connection time). */
async function pgbench(path: string, url: string, script: string, threads: number, seconds: number): Promise<number> {
  const target = new URL(url);
  const args = ['-n', '-M', 'prepared', '-c', String(POOL), '-j', String(threads), '-T', String(seconds)];
  args.push('-f', script, '-h', target.hostname, '-p', target.port || '5432');
  if (target.username) args.push('-U', decodeURIComponent(target.username));
  args.push(decodeURIComponent(target.pathname.slice(1)));
  const env = { ...process.env, ...(target.password ? { PGPASSWORD: decodeURIComponent(target.password) } : {}) };
  const { stdout } = await run(path, args, { env, maxBuffer: 1 << 20 });
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return Number(tps[1]);
}

/** Runs the whole benchmark and prints its table. */
export async function benchLimit(): Promise<void> {
  const found = findPgbench();
  const loadBefore = loadavg()[0]!;
  const bench = await createBenchDatabase('kr_limit');
  const database = createDatabase<DB>({
    config: loadConfig(
      { DATABASE_URL: bench.url, DB_POOL_SIZE: String(POOL), DB_POOL_IDLE_TIMEOUT: '600000' },
      { envFile: '/dev/null' },
    ),
    logger: silentLogger,
  });
  const db = database.db;
  // idle connections stay while pgbench runs, as the Database's do
  const pool = new pg.Pool({ connectionString: bench.url, max: POOL, idleTimeoutMillis: 0 });
  const script = join(tmpdir(), `kr-limit-${process.pid}.sql`);
  try {
    await migrateToLatest(db);
    await seedUsers(db as Kysely<unknown>, ROWS);
    writeFileSync(script, SCRIPT);

    const users = new Repository(db, 'users');
    const node = (op: () => Promise<unknown>, workers: number) => async (): Promise<Result> =>
      measure(op, workers, SECONDS);
    const contenders: Contender[] = [];
    if ('path' in found) {
      for (const threads of [1, 2]) {
        contenders.push({
          name: `pgbench -M prepared -c ${POOL} -j ${threads}`,
          run: async () => ({
            opsPerSecond: await pgbench(found.path, bench.url, script, threads, SECONDS),
            cpuMicros: undefined,
          }),
        });
      }
    }
    const raw = `raw pg (${WORKERS} workers)`;
    contenders.push(
      { name: raw, run: node(() => pool.query(FIND, [random()]), WORKERS) },
      {
        name: `raw pg prepared (${WORKERS} workers)`,
        run: node(() => pool.query({ name: 'l_find', text: FIND, values: [random()] }), WORKERS),
      },
      { name: `Repository.findById (${WORKERS} workers)`, run: node(() => users.findById(random()), WORKERS) },
      { name: `Repository.findById (${POOL} workers)`, run: node(() => users.findById(random()), POOL) },
    );

    // warm-up: every connection opened, every statement prepared
    await measure(() => pool.query(FIND, [random()]), WORKERS, 0.3);
    await measure(() => pool.query({ name: 'l_find', text: FIND, values: [random()] }), WORKERS, 0.3);
    await measure(() => users.findById(random()), WORKERS, 0.3);

    const samples = new Map<string, Result[]>(contenders.map((c) => [c.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const contender of turnOrder(contenders, round)) samples.get(contender.name)!.push(await contender.run());
    }

    const ops = (name: string) => median(samples.get(name)!.map((s) => s.opsPerSecond));
    const base = ops(raw);
    const pgbench1 = contenders.find((c) => c.name.endsWith('-j 1'));
    const limit = pgbench1 ? ops(pgbench1.name) : undefined;
    const rawCpu = median(samples.get(raw)!.map((s) => s.cpuMicros!));
    console.log(
      `\nfindById against pgbench — PostgreSQL ${bench.serverVersion}, ${ROWS.toLocaleString('en')} users, ` +
        `${cpus().length} cores shared with the server, pool ${POOL}, ${ROUNDS} rounds × ${SECONDS}s, medians ` +
        `(1-minute load average before the run: ${loadBefore.toFixed(2)})`,
    );
    console.log(
      `raw pg: ${(1e6 / base).toFixed(1)} µs per lookup (1 / throughput, ${WORKERS} workers on ${POOL} connections), ` +
        `${rawCpu.toFixed(1)} µs client CPU per lookup`,
    );
    if ('missing' in found) console.log(`pgbench: left out, ${found.missing}`);
    console.log('');
    printTable(
      ['contender', 'ops/s', 'client CPU µs/op', 'share of pgbench -j 1', 'ratio to raw pg'],
      contenders.map((c) => {
        const cpu = samples.get(c.name)!.map((s) => s.cpuMicros);
        const value = ops(c.name);
        return [
          c.name,
          Math.round(value).toLocaleString('en'),
          cpu.includes(undefined) ? 'n/a' : median(cpu as number[]).toFixed(1),
          limit ? `${((value / limit) * 100).toFixed(0)}%` : 'n/a',
          (value / base).toFixed(2) + '×',
        ];
      }),
    );
  } finally {
    rmSync(script, { force: true });
    await pool.end();
    await database.close();
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchLimit();
