/**
 * What a multi-host DATABASE_URL costs once connected, and what it adds to opening a connection:
 * Repository.findById by primary key (random ids), one caller at a time and 32 at once, against
 * raw pg with the Repository's own statement, through Databases made before the rounds: (2) one
 * host; (3) the same server first in a two-host URL (`target_session_attrs=any`: the second host,
 * a port nothing listens on, is never needed); (4) the same with `read-write`, where the list's
 * other host is also a read replica (down: reads go to the primary, through the replica routing).
 * Then the first query of a fresh Database, one host against a multi-host read-write URL (a probe
 * connection, then the pooled one with its role check). Medians of the rounds; ratios to raw pg,
 * and (3), (4) against (2) round by round.
 *
 *   npx tsx bench/failover.ts     (BENCH_FAILOVER_ROUNDS=8 BENCH_FAILOVER_SECONDS=0.6 by default)
 */
import pg from 'pg';
import { createDatabase, loadConfig, Repository, silentLogger, type Database, type DB } from '../lib/index.js';
import {
  createBenchDatabase,
  measure,
  median,
  printTable,
  seedUsersAndFindStatement,
  turnOrder,
  POOL,
  WORKERS,
} from './bench-support.js';
import { freePort } from '../spec/support/free-port.js';

const ROUNDS = Number(process.env['BENCH_FAILOVER_ROUNDS'] ?? 8);
const SECONDS = Number(process.env['BENCH_FAILOVER_SECONDS'] ?? 0.6);
const ROWS = 5_000;
const OPENS = 30;

const random = (n: number) => 1 + Math.floor(Math.random() * n);

type Setup = 'raw pg' | 'one host' | 'two hosts, any' | 'two hosts, read-write';
const SETUPS: readonly Setup[] = ['raw pg', 'one host', 'two hosts, any', 'two hosts, read-write'];
const LABELS: Record<Setup, string> = {
  'raw pg': '(1) raw pg',
  'one host': '(2) one host',
  'two hosts, any': '(3) two hosts, target_session_attrs=any',
  'two hosts, read-write': '(4) two hosts, read-write (+ replica routing)',
};

/** Runs the whole benchmark and prints its tables. */
export async function benchFailover(): Promise<void> {
  const bench = await createBenchDatabase('kr_bench_failover');
  const down = await freePort();
  const address = /@([^/]+)\//.exec(bench.url)![1]!;
  const urls: Record<Exclude<Setup, 'raw pg'>, string> = {
    'one host': bench.url,
    'two hosts, any': bench.url.replace(`@${address}/`, `@${address},127.0.0.1:${down}/`) + '?target_session_attrs=any',
    'two hosts, read-write':
      bench.url.replace(`@${address}/`, `@${address},127.0.0.1:${down}/`) + '?target_session_attrs=read-write',
  };
  const open = (url: string) =>
    createDatabase<DB>({
      config: loadConfig(
        { DATABASE_URL: url, DB_POOL_SIZE: String(POOL), DB_REPLICA_RETRY_MS: '5000' },
        { envFile: '/dev/null' },
      ),
      logger: silentLogger,
    });
  const databases: Database<DB>[] = [];
  const pool = new pg.Pool({ connectionString: bench.url, max: POOL });
  try {
    const FIND = await seedUsersAndFindStatement(bench.url, ROWS);

    const repositories = Object.fromEntries(
      (Object.keys(urls) as Exclude<Setup, 'raw pg'>[]).map((name) => {
        const database = open(urls[name]);
        databases.push(database);
        return [name, new Repository(database.db, 'users')];
      }),
    ) as Record<Exclude<Setup, 'raw pg'>, Repository<DB, 'users'>>;
    const run: Record<Setup, () => Promise<unknown>> = {
      'raw pg': () => pool.query(FIND, [random(ROWS)]),
      'one host': () => repositories['one host'].findById(random(ROWS)),
      'two hosts, any': () => repositories['two hosts, any'].findById(random(ROWS)),
      'two hosts, read-write': () => repositories['two hosts, read-write'].findById(random(ROWS)),
    };

    console.log(
      `\nmulti-host DATABASE_URL — Repository.findById by primary key, PostgreSQL ${bench.serverVersion}, ` +
        `${ROWS.toLocaleString('en')} users, random ids, pool ${POOL}, ${ROUNDS} rounds × ${SECONDS}s, medians\n`,
    );
    const rows: string[][] = [];
    const verdicts: string[] = [];
    for (const mode of [
      { name: 'sequential', workers: 1 },
      { name: `concurrent (${WORKERS})`, workers: WORKERS },
    ]) {
      const windows = new Map<Setup, number[]>(SETUPS.map((s) => [s, []]));
      for (const name of SETUPS) await measure(run[name], mode.workers, 0.3); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of turnOrder(SETUPS, round)) {
          windows.get(name)!.push((await measure(run[name], mode.workers, SECONDS)).opsPerSecond);
        }
      }
      const base = median(windows.get('raw pg')!);
      for (const name of SETUPS) {
        const ops = median(windows.get(name)!);
        rows.push([mode.name, LABELS[name], Math.round(ops).toLocaleString('en'), `${(ops / base).toFixed(2)}×`]);
      }
      for (const name of ['two hosts, any', 'two hosts, read-write'] as const) {
        const one = windows.get('one host')!;
        const ratios = windows.get(name)!.map((ops, round) => ops / one[round]!);
        verdicts.push(
          `${mode.name}: ${LABELS[name]} vs (2): ${median(ratios).toFixed(3)}× (rounds ` +
            `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
        );
      }
    }
    printTable(['load', 'configuration', 'ops/s', 'ratio to raw pg'], rows);
    console.log('');
    for (const verdict of verdicts) console.log(verdict);

    // opening: the first query of a fresh Database (a new pool: connect, setup, statement)
    const opens: Record<string, number[]> = { 'one host': [], 'two hosts, read-write': [] };
    for (let i = 0; i < OPENS; i++) {
      for (const name of turnOrder(['one host', 'two hosts, read-write'] as const, i)) {
        const database = open(urls[name]);
        const started = performance.now();
        await database.query('select 1');
        opens[name]!.push(performance.now() - started);
        await database.close();
      }
    }
    console.log(
      `\nfirst query of a fresh Database (median of ${OPENS}): one host ${median(opens['one host']!).toFixed(2)} ms, ` +
        `two hosts read-write ${median(opens['two hosts, read-write']!).toFixed(2)} ms ` +
        `(a probe connection and the role check of the pooled one)`,
    );
  } finally {
    await Promise.all(databases.map((database) => database.close()));
    await pool.end();
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFailover();
