/**
 * Read throughput with 0, 1 and 2 read replicas: a throwaway primary and two streaming standbys
 * of it (pg_basebackup -R), the same data on all three, and Repository reads (findById and a
 * 50-row keyset page) through a Database configured with none, one or both replicas. Every
 * server runs on this one machine and shares its CPU with the others and with this client, so
 * the figure shows what routing costs, not how reads scale across hosts. Prints ops/s, client CPU
 * per operation and the ratio to the primary alone, medians of the rounds.
 *
 *   npx tsx bench/replicas.ts            (BENCH_SECONDS=2 BENCH_ROUNDS=3 by default)
 */
import { sql } from 'kysely';
import pg from 'pg';
import { createDatabase, loadConfig, migrateToLatest, Repository, silentLogger, type DB } from '../lib/index.js';
import { startThrowawayCluster, type ThrowawayCluster } from '../spec/support/postgres-cluster.js';
import { measure, median, printTable, type Sample, NEWEST_FIRST, POOL, ROUNDS, WORKERS } from './bench-support.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const ROWS = 50_000;

const random = (n: number) => 1 + Math.floor(Math.random() * n);

/** The primary and two streaming standbys. */
async function startClusters(): Promise<ThrowawayCluster[]> {
  const clusters: ThrowawayCluster[] = [];
  try {
    const settings = { shared_buffers: '64MB' };
    clusters.push(await startThrowawayCluster({ settings }));
    for (let i = 0; i < 2; i++) clusters.push(await startThrowawayCluster({ settings, replicaOf: clusters[0]! }));
    return clusters;
  } catch (error) {
    for (const cluster of clusters) await cluster.destroy();
    throw error;
  }
}

/** Waits until `standby` has every users row the primary has. */
async function caughtUp(standby: ThrowawayCluster, rows: number): Promise<void> {
  const client = new pg.Client({ connectionString: standby.url() });
  await client.connect();
  try {
    for (;;) {
      const result = await client.query<{ n: string }>('select count(*) as n from users').catch(() => undefined);
      if (Number(result?.rows[0]?.n ?? 0) >= rows) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await client.end();
  }
}

/** Runs the benchmark and prints its table. */
export async function benchReplicas(): Promise<void> {
  const clusters = await startClusters();
  const [primary, ...standbys] = clusters as [ThrowawayCluster, ...ThrowawayCluster[]];
  const setups = [0, 1, 2].map((count) =>
    createDatabase<DB>({
      config: loadConfig(
        {
          DATABASE_URL: primary.url(),
          DATABASE_REPLICA_URLS: standbys
            .slice(0, count)
            .map((s) => s.url())
            .join(','),
          DB_POOL_SIZE: String(POOL),
        },
        { envFile: '/dev/null' },
      ),
      logger: silentLogger,
    }),
  );
  try {
    const db = setups[0]!.db;
    await migrateToLatest(db);
    await sql`insert into users (username, email, password_hash, is_active, created_at)
      select 'user' || g, 'user' || g || '@example.com', '$2b$04$' || repeat('a', 53), true,
             now() - make_interval(secs => ${ROWS} - g)
        from generate_series(1, ${ROWS}) g`.execute(db);
    await sql`vacuum analyze users`.execute(db);
    for (const standby of standbys) await caughtUp(standby, ROWS);

    const names = ['primary only', '1 replica', '2 replicas'];
    const workloads = [
      {
        name: 'findById',
        run: setups.map((setup) => {
          const users = new Repository(setup.db, 'users');
          return () => users.findById(random(ROWS));
        }),
      },
      {
        name: 'keyset page of 50',
        run: setups.map((setup) => {
          const users = new Repository(setup.db, 'users');
          return () =>
            users.paginate({
              where: { isActive: true },
              orderBy: NEWEST_FIRST,
              limit: 50,
            });
        }),
      },
    ];

    console.log(
      `\nRepository reads with 0, 1 and 2 streaming replicas — ${ROWS.toLocaleString('en')} users, pool ${POOL} per ` +
        `server, ${WORKERS} workers, ${ROUNDS} rounds × ${SECONDS}s, medians. All three servers share this ` +
        `machine's CPU with the client: the ratios show the routing cost, not scaling.\n`,
    );
    const rows: string[][] = [];
    for (const workload of workloads) {
      const samples: Sample[][] = setups.map(() => []);
      for (const run of workload.run) await measure(run, WORKERS, 0.3); // warm-up: pools, plans
      for (let round = 0; round < ROUNDS; round++) {
        for (let k = 0; k < setups.length; k++) {
          const index = (k + round) % setups.length;
          samples[index]!.push(await measure(workload.run[index]!, WORKERS, SECONDS));
        }
      }
      const base = median(samples[0]!.map((s) => s.opsPerSecond));
      for (const [index, name] of names.entries()) {
        const ops = median(samples[index]!.map((s) => s.opsPerSecond));
        const cpu = median(samples[index]!.map((s) => s.cpuMicros));
        rows.push([
          workload.name,
          name,
          Math.round(ops).toLocaleString('en'),
          cpu.toFixed(1),
          `${(ops / base).toFixed(2)}×`,
        ]);
      }
    }
    printTable(['workload', 'reads go to', 'ops/s', 'client CPU µs/op', 'ratio to primary only'], rows);
    const status = setups[2]!.status();
    console.log(
      `\nreplica pools after the run (2-replica setup): ${(status.replicas ?? [])
        .map((r) => `${r.url} ${r.state}, ${r.pool.total} connections`)
        .join('; ')}`,
    );
  } finally {
    for (const setup of setups) await setup.close();
    for (const cluster of clusters) await cluster.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchReplicas();
