/**
 * What every benchmark shares: a scratch database on a real server, a fixed-duration runner for
 * N concurrent workers that reports ops/s and client CPU per operation, medians, and a table.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { createDatabase, loadConfig, migrateToLatest, Repository, silentLogger, type DB } from '../lib/index.js';
import { dropDatabase } from '../spec/support/drop-database.js';
import { startThrowawayCluster, type ThrowawayCluster } from '../spec/support/postgres-cluster.js';

/** The load every table shares: 32 concurrent workers on a pool of 10 connections. */
export const WORKERS = 32;
export const POOL = 10;
/** Rounds per contender (BENCH_ROUNDS; default 3), of which each table shows the median. */
export const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);

/** Newest users first, id as the tie-breaker: the order the partial index on active users serves. */
export const NEWEST_FIRST = [
  ['createdAt', 'desc'],
  ['id', 'desc'],
] as const satisfies readonly (readonly [string, 'asc' | 'desc'])[];

/**
 * Fills the users table with `rows` users, one a second up to now, every tenth inactive, all with
 * the same cost-4 bcrypt-shaped hash, and analyzes it.
 */
export async function seedUsers(db: Kysely<unknown>, rows: number): Promise<void> {
  await sql`insert into users (username, email, password_hash, is_active, created_at)
    select 'user' || g, 'user' || g || '@example.com', '$2b$04$' || repeat('a', 53), g % 10 <> 0,
           now() - make_interval(secs => ${rows} - g)
      from generate_series(1, ${rows}) g`.execute(db);
  await sql`vacuum analyze users`.execute(db);
}

/**
 * Migrates the database at `url`, fills its users table (seedUsers), and returns the statement
 * Repository.findById sends, read off a Database of its own that is closed before it returns
 * (raw pg sends that text in the comparisons).
 */
export async function seedUsersAndFindStatement(url: string, rows: number): Promise<string> {
  const texts: string[] = [];
  const probe = createDatabase<DB>({
    config: loadConfig({ DATABASE_URL: url }, { envFile: '/dev/null' }),
    logger: silentLogger,
    telemetry: { enabled: false },
    log: (event) => texts.push(event.query.sql),
  });
  try {
    await migrateToLatest(probe.db);
    await seedUsers(probe.db as Kysely<unknown>, rows);
    texts.length = 0;
    await new Repository(probe.db, 'users').findById(1);
    return texts.at(-1)!;
  } finally {
    await probe.close();
  }
}

/** A database made for one benchmark run. */
export interface BenchDatabase {
  readonly url: string;
  readonly serverVersion: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function reachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>('select current_setting($1) as v', ['server_version']);
    return rows[0]?.v;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates a scratch database: on BENCH_DATABASE_URL, else a postgres:// DATABASE_URL, else
 * 127.0.0.1:5432, else a throwaway cluster from the installed server binaries.
 */
export async function createBenchDatabase(prefix: string): Promise<BenchDatabase> {
  const fromEnv = process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL'];
  const candidates = [
    ...(fromEnv && /^postgres(ql)?:/.test(fromEnv) ? [fromEnv] : []),
    'postgres://postgres@127.0.0.1:5432/postgres',
  ];
  let admin: string | undefined;
  let version: string | undefined;
  let cluster: ThrowawayCluster | undefined;
  for (const url of candidates) {
    version = await reachable(url);
    if (version) {
      admin = url;
      break;
    }
  }
  if (!admin) {
    cluster = await startThrowawayCluster();
    admin = cluster.url();
    version = await reachable(admin);
  }
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database "${name}"`);
  await client.end();
  return {
    url: withDatabase(admin, name),
    serverVersion: version ?? 'unknown',
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await dropDatabase(c, name);
      await c.end();
      await cluster?.destroy();
    },
  };
}

/** The contenders of the repository and every-path benchmarks, in their first round's order. */
export type Contender = 'raw pg' | 'raw pg prepared' | 'Kysely' | 'Repository';
export const CONTENDERS: readonly Contender[] = ['raw pg', 'raw pg prepared', 'Kysely', 'Repository'];

const PICKED = process.env['BENCH_WORKLOADS']?.split(',').map((w) => w.trim().toLowerCase());

/** Whether BENCH_WORKLOADS (unset: all) names a prefix of the workload `name`. */
export function picked(name: string): boolean {
  return PICKED === undefined || PICKED.some((w) => name.toLowerCase().startsWith(w));
}

/** One measured window. */
export interface Sample {
  readonly opsPerSecond: number;
  /** Client CPU (user + system) per operation, µs. */
  readonly cpuMicros: number;
}

/**
 * Runs `op` from `workers` concurrent loops for `seconds` and returns throughput and client CPU
 * per operation over that window. `op` gets the worker's running operation number.
 */
export async function measure(op: (i: number) => Promise<unknown>, workers: number, seconds: number): Promise<Sample> {
  let ops = 0;
  let stop = false;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const timer = setTimeout(() => {
    stop = true;
  }, seconds * 1000);
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      let i = w;
      while (!stop) {
        await op(i);
        i += workers;
        ops++;
      }
    }),
  );
  clearTimeout(timer);
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { opsPerSecond: ops / elapsed, cpuMicros: (used.user + used.system) / ops };
}

/** The median of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The contenders in the order they run in `round`: each round starts one later, so none always runs
 * first or always follows the same other one (and inherits its leftover work: a garbage collection,
 * a bigger table).
 */
export function turnOrder<T>(contenders: readonly T[], round: number): T[] {
  return contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
}

/** Prints rows as an aligned Markdown table. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const row of rows) console.log(line(row));
}
