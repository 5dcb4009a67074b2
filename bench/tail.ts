/**
 * Tail latency under an open-loop load (wrk2's coordinated-omission correction): requests arrive
 * at a fixed rate whether or not earlier ones have finished, and each one's latency runs from the
 * moment it was *meant* to start, so time spent queueing (for a connection, behind a busy
 * connection's earlier statements, behind a late scheduler) is counted.
 *
 * Contenders, each on a pool of 10 over the same 100,000 users: raw pg (a pg.Pool), the Repository
 * (pipelining on, the package's default) and the Repository with DB_PIPELINING=false. 99% of
 * requests look one user up by a random id (raw: `select * from users where id = $1`, Repository:
 * findById); every 100th is a 50 ms statement (raw: `select pg_sleep(0.05)`, Repository: findMany
 * with a where callback `pg_sleep(0.05) is not null` and limit 1, which runs on the same fast path
 * as findById). First raw pg's saturated findById throughput R is measured (closed loop, 32
 * workers); then, for each load of 50% and 80% of R, each contender runs the schedule for
 * BENCH_TAIL_SECONDS after a one-second warm-up, and fast lookups and slow statements go to
 * separate HdrHistograms. Prints the median over the rounds of each percentile, in ms.
 *
 *   npx tsx bench/tail.ts        (BENCH_TAIL_SECONDS=10 BENCH_ROUNDS=3 by default)
 *
 * BENCH_TAIL_SATURATION_SECONDS (default 5) is how long R is measured; BENCH_TAIL_SPIN_MS (default 0):
 * a request due within this many ms is waited for with setImmediate (a spinning event loop), a
 * later one with setTimeout. By default it never spins: a spinning client takes a whole core from
 * the server on a 2-core machine; the timer's slack (about 1 ms) then counts in every contender's
 * latency alike.
 */
import * as hdr from 'hdr-histogram-js';
import { sql, type Kysely } from 'kysely';
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

const SECONDS = Number(process.env['BENCH_TAIL_SECONDS'] ?? 10);
const SATURATION_SECONDS = Number(process.env['BENCH_TAIL_SATURATION_SECONDS'] ?? 5);
const WARM_UP_SECONDS = 1;
/** A request due within this many ms is waited for with setImmediate, a later one with setTimeout. */
const SPIN_MS = Number(process.env['BENCH_TAIL_SPIN_MS'] ?? 0);
const ROWS = 100_000;
const LOADS = [0.5, 0.8] as const;
/** Every SLOW_EVERY-th request (1%) is the slow statement, the same requests for every contender. */
const SLOW_EVERY = 100;
const SLOW_SECONDS = 0.05;
const STUCK_MS = SLOW_SECONDS * 1000 * 0.8;
/** Latencies are recorded in µs, up to a minute. */
const HIGHEST_MICROS = 60_000_000;

type Contender = 'raw pg' | 'Repository' | 'Repository (DB_PIPELINING=false)';
const CONTENDERS: readonly Contender[] = ['raw pg', 'Repository', 'Repository (DB_PIPELINING=false)'];

interface Operations {
  /** Looks one user up by id. */
  readonly fast: (id: number) => Promise<unknown>;
  /** A statement that takes SLOW_SECONDS on the server, down the same path as `fast`. */
  readonly slow: () => Promise<unknown>;
}

/** One open-loop run. */
interface TailSample {
  /** Completed requests per second, from the first intended start to the last completion. */
  readonly rate: number;
  /** Requests still running when the last one was launched. */
  readonly outstanding: number;
  readonly errors: number;
  /** Fast lookups that took at least STUCK_MS: about as long as a slow statement, as if queued behind one. */
  readonly fastStuck: number;
  readonly fastP50: number;
  readonly fastP99: number;
  readonly fastP999: number;
  readonly fastMax: number;
  readonly slowP50: number;
}

/** A small seeded generator (mulberry32), so every contender looks up the same ids in the same order. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const histogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_MICROS, numberOfSignificantValueDigits: 3 });

/**
 * Runs `ops` open loop at `rate` requests per second for `seconds`: request k is meant to start at
 * t0 + k / rate and is launched as soon as that time has come, never waiting for earlier requests.
 * Its latency is its completion time minus its intended start, in µs. Waits for every request.
 */
async function openLoop(ops: Operations, rate: number, seconds: number, seed: number): Promise<TailSample> {
  const total = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate; // ms between intended starts
  const nextId = seeded(seed);
  const fast = histogram();
  const slow = histogram();
  let inFlight = 0;
  let errors = 0;
  let fastStuck = 0;
  let lastDone = 0;
  let drained: (() => void) | undefined;
  const t0 = performance.now();

  const launch = (k: number) => {
    const intended = t0 + k * interval;
    const isSlow = k % SLOW_EVERY === SLOW_EVERY / 2;
    const id = 1 + Math.floor(nextId() * ROWS);
    inFlight++;
    (isSlow ? ops.slow() : ops.fast(id)).then(
      () => finish(isSlow ? slow : fast, intended),
      () => {
        errors++;
        finish(undefined, intended);
      },
    );
  };
  const finish = (into: hdr.Histogram | undefined, intended: number) => {
    const now = performance.now();
    lastDone = now;
    into?.recordValue(Math.min(HIGHEST_MICROS, Math.max(1, Math.round((now - intended) * 1000))));
    if (into === fast && now - intended >= STUCK_MS) fastStuck++;
    if (--inFlight === 0) drained?.();
  };

  let k = 0;
  while (k < total) {
    const now = performance.now();
    while (k < total && t0 + k * interval <= now) launch(k++);
    if (k >= total) break;
    const wait = t0 + k * interval - performance.now();
    // setTimeout sleeps at least 1 ms and often oversleeps by another, which would count as latency
    // of every request due meanwhile; so a request due within SPIN_MS is waited for with
    // setImmediate, which comes back right after the pending I/O callbacks (the completions) have
    // run. Between closely spaced requests the event loop then spins, taking a core; longer gaps
    // sleep on a timer that wakes SPIN_MS early and finish with setImmediate.
    await new Promise<void>((resolve) => {
      if (wait > SPIN_MS) setTimeout(resolve, Math.max(0, wait - SPIN_MS));
      else setImmediate(resolve);
    });
  }
  const outstanding = inFlight;
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  const ms = (h: hdr.Histogram, p: number) => (p === 100 ? h.maxValue : h.getValueAtPercentile(p)) / 1000;
  return {
    rate: (total - errors) / ((lastDone - t0) / 1000),
    outstanding,
    errors,
    fastStuck,
    fastP50: ms(fast, 50),
    fastP99: ms(fast, 99),
    fastP999: ms(fast, 99.9),
    fastMax: ms(fast, 100),
    slowP50: ms(slow, 50),
  };
}

/** Runs the whole benchmark and prints its table. */
export async function benchTail(): Promise<void> {
  const bench = await createBenchDatabase('kr_tail');
  const pipelined = createDatabase<DB>({
    config: loadConfig({ DATABASE_URL: bench.url, DB_POOL_SIZE: String(POOL) }, { envFile: '/dev/null' }),
    logger: silentLogger,
  });
  const unpipelined = createDatabase<DB>({
    config: loadConfig(
      { DATABASE_URL: bench.url, DB_POOL_SIZE: String(POOL), DB_PIPELINING: 'false' },
      { envFile: '/dev/null' },
    ),
    logger: silentLogger,
  });
  const pool = new pg.Pool({ connectionString: bench.url, max: POOL });
  try {
    const db = pipelined.db;
    await migrateToLatest(db);
    await seedUsers(db as Kysely<unknown>, ROWS);

    const repositoryOps = (users: Repository<DB, 'users'>): Operations => ({
      fast: (id) => users.findById(id),
      // a where callback runs through the Repository's own statement path, like findById
      slow: () => users.findMany({ where: () => sql<boolean>`pg_sleep(${SLOW_SECONDS}) is not null`, limit: 1 }),
    });
    const ops: Record<Contender, Operations> = {
      'raw pg': {
        fast: (id) => pool.query('select * from users where id = $1', [id]),
        slow: () => pool.query(`select pg_sleep(${SLOW_SECONDS})`),
      },
      Repository: repositoryOps(new Repository(pipelined.db, 'users')),
      'Repository (DB_PIPELINING=false)': repositoryOps(new Repository(unpipelined.db, 'users')),
    };

    // the slow statements really take SLOW_SECONDS on every path
    for (const contender of CONTENDERS) {
      const started = performance.now();
      await ops[contender].slow();
      const took = performance.now() - started;
      if (took < SLOW_SECONDS * 1000 * 0.9) throw new Error(`${contender}'s slow statement took only ${took} ms`);
    }

    const rawFind = (i: number) => ops['raw pg'].fast(1 + ((i * 7919) % ROWS));
    await measure(rawFind, WORKERS, 1); // warm-up
    const saturated = await measure(rawFind, WORKERS, SATURATION_SECONDS);
    const R = saturated.opsPerSecond;
    console.log(
      `\nTail latency, open loop — PostgreSQL ${bench.serverVersion}, ${ROWS.toLocaleString('en')} users, pool ${POOL}, ` +
        `1 in ${SLOW_EVERY} requests a ${SLOW_SECONDS * 1000} ms statement, ${ROUNDS} rounds × ${SECONDS}s, medians`,
    );
    console.log(
      `raw pg saturated findById: R = ${Math.round(R).toLocaleString('en')} ops/s (${WORKERS} workers, ` +
        `${SATURATION_SECONDS}s), client CPU ${saturated.cpuMicros.toFixed(1)} µs/op\n`,
    );

    const rows: string[][] = [];
    const notes: string[] = [];
    for (const load of LOADS) {
      const rate = load * R;
      const samples = new Map<Contender, TailSample[]>(CONTENDERS.map((c) => [c, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const contender of turnOrder(CONTENDERS, round)) {
          await openLoop(ops[contender], rate, WARM_UP_SECONDS, 1000 + round); // warm-up
          samples.get(contender)!.push(await openLoop(ops[contender], rate, SECONDS, round + 1));
        }
      }
      const mid = (contender: Contender, pick: (s: TailSample) => number) => median(samples.get(contender)!.map(pick));
      const baseP99 = mid('raw pg', (s) => s.fastP99);
      for (const contender of CONTENDERS) {
        const p99 = mid(contender, (s) => s.fastP99);
        rows.push([
          `${Math.round(load * 100)}%`,
          contender,
          Math.round(mid(contender, (s) => s.rate)).toLocaleString('en'),
          mid(contender, (s) => s.fastP50).toFixed(2),
          p99.toFixed(2),
          mid(contender, (s) => s.fastP999).toFixed(2),
          mid(contender, (s) => s.fastMax).toFixed(2),
          mid(contender, (s) => s.slowP50).toFixed(2),
          (p99 / baseP99).toFixed(2) + '×',
        ]);
        const runs = samples.get(contender)!;
        notes.push(
          `${Math.round(load * 100)}% ${contender}: target ${Math.round(rate).toLocaleString('en')} req/s, ` +
            `outstanding at the last launch ${runs.map((s) => s.outstanding).join('/')}, ` +
            `fast lookups ≥ ${STUCK_MS} ms ${runs.map((s) => s.fastStuck).join('/')}, ` +
            `errors ${runs.map((s) => s.errors).join('/')}`,
        );
      }
    }
    printTable(
      [
        'load',
        'contender',
        'rate (req/s)',
        'fast p50 ms',
        'fast p99 ms',
        'fast p99.9 ms',
        'fast max ms',
        'slow p50 ms',
        'p99 ratio to raw pg',
      ],
      rows,
    );
    console.log('\nPer round:');
    for (const note of notes) console.log(note);
  } finally {
    await pool.end();
    await pipelined.close();
    await unpipelined.close();
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTail();
