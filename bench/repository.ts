/**
 * Repository speed against raw pg, measured in one run on the same pool and data:
 * raw pg (parameterized), raw pg (named prepared), plain Kysely and the Repository, on findById,
 * create, update, a 50-row keyset page, a 50-row offset page, a two-statement transaction and a
 * 100,000-row bulk insert (raw: COPY). Prints ops/s, client CPU per operation and the ratio to
 * raw pg (parameterized), medians of the rounds.
 *
 *   npx tsx bench/repository.ts            (BENCH_SECONDS=2 BENCH_ROUNDS=3 by default)
 *
 * BENCH_WORKLOADS=findById,bulk runs only the workloads whose names start with one of those words.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  createDatabase,
  loadConfig,
  migrateToLatest,
  Repository,
  silentLogger,
  withTransaction,
  type DB,
} from '../lib/index.js';
import {
  createBenchDatabase,
  measure,
  median,
  printTable,
  seedUsers,
  turnOrder,
  type Sample,
  NEWEST_FIRST,
  CONTENDERS,
  picked,
  type Contender,
  POOL,
  ROUNDS,
  WORKERS,
} from './bench-support.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const ROWS = 100_000;
const BULK = 100_000;

interface Workload {
  readonly name: string;
  readonly run: Record<Contender, (i: number) => Promise<unknown>>;
}

const random = (n: number) => 1 + Math.floor(Math.random() * n);

/** Runs the whole benchmark and prints its table. Returns the rows for other reports. */
export async function benchRepository(): Promise<void> {
  const bench = await createBenchDatabase('kr_bench');
  const database = createDatabase<DB>({
    config: loadConfig({ DATABASE_URL: bench.url, DB_POOL_SIZE: String(POOL) }, { envFile: '/dev/null' }),
    logger: silentLogger,
  });
  const db = database.db;
  const pool = new pg.Pool({ connectionString: bench.url, max: POOL });
  try {
    await migrateToLatest(db);
    await seedUsers(db as Kysely<unknown>, ROWS);

    const users = new Repository(db, 'users');
    const unprepared = new Repository(db, 'users', { prepare: false });
    let serial = 0;
    const unique = () => `${process.pid}-${++serial}-${Math.random().toString(36).slice(2, 8)}`;

    // keyset starting points spread over the table, the same for every contender
    const starts: { cursor: string; createdAt: Date; id: string }[] = [];
    {
      let cursor: string | null = null;
      do {
        const page = await users.paginate({
          where: { isActive: true },
          orderBy: NEWEST_FIRST,
          limit: 1000,
          cursor,
        });
        const last = page.items[page.items.length - 1]!;
        if (page.nextCursor) starts.push({ cursor: page.nextCursor, createdAt: last.createdAt, id: last.id });
        cursor = page.nextCursor;
      } while (cursor !== null && starts.length < 80);
    }
    const start = (i: number) => starts[i % starts.length]!;

    const FIND = 'select * from users where id = $1';
    const INSERT = 'insert into users (username, email, password_hash) values ($1, $2, $3) returning *';
    const UPDATE = 'update users set email = $1, updated_at = now() where id = $2 returning *';
    const KEYSET =
      'select * from users where is_active = true and (created_at, id) < ($1, $2) order by created_at desc, id desc limit $3';
    const OFFSET = 'select * from users where is_active = true order by created_at desc, id desc limit $1 offset $2';
    const LOCK = 'select * from users where id = $1 for update';
    const HASH = '$2b$04$' + 'b'.repeat(53);

    const rawTransaction = async (prepared: boolean, id: number) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query(prepared ? { name: 'b_lock', text: LOCK, values: [id] } : { text: LOCK, values: [id] });
        const values = [`tx${unique()}@example.com`, id];
        await client.query(prepared ? { name: 'b_update', text: UPDATE, values } : { text: UPDATE, values });
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw error;
      } finally {
        client.release();
      }
    };

    const workloads: Workload[] = [
      {
        name: 'findById',
        run: {
          'raw pg': (i) => pool.query(FIND, [1 + (i % ROWS)]),
          'raw pg prepared': (i) => pool.query({ name: 'b_find', text: FIND, values: [1 + (i % ROWS)] }),
          Kysely: (i) =>
            db
              .selectFrom('users')
              .selectAll()
              .where('id', '=', String(1 + (i % ROWS)))
              .executeTakeFirst(),
          Repository: (i) => users.findById(1 + (i % ROWS)),
        },
      },
      {
        name: 'create',
        run: {
          'raw pg': () => {
            const u = unique();
            return pool.query(INSERT, [`r${u}`, `r${u}@example.com`, HASH]);
          },
          'raw pg prepared': () => {
            const u = unique();
            return pool.query({ name: 'b_insert', text: INSERT, values: [`p${u}`, `p${u}@example.com`, HASH] });
          },
          Kysely: () => {
            const u = unique();
            return db
              .insertInto('users')
              .values({ username: `k${u}`, email: `k${u}@example.com`, passwordHash: HASH })
              .returningAll()
              .executeTakeFirst();
          },
          Repository: () => {
            const u = unique();
            return users.create({ username: `o${u}`, email: `o${u}@example.com`, passwordHash: HASH });
          },
        },
      },
      {
        name: 'update',
        run: {
          'raw pg': () => pool.query(UPDATE, [`u${unique()}@example.com`, random(ROWS)]),
          'raw pg prepared': () =>
            pool.query({ name: 'b_update', text: UPDATE, values: [`u${unique()}@example.com`, random(ROWS)] }),
          Kysely: () =>
            db
              .updateTable('users')
              .set({ email: `u${unique()}@example.com`, updatedAt: sql`now()` })
              .where('id', '=', String(random(ROWS)))
              .returningAll()
              .executeTakeFirst(),
          Repository: () => users.update(random(ROWS), { email: `u${unique()}@example.com` }),
        },
      },
      {
        name: 'keyset page (50)',
        run: {
          'raw pg': (i) => pool.query(KEYSET, [start(i).createdAt, start(i).id, 51]),
          'raw pg prepared': (i) =>
            pool.query({ name: 'b_keyset', text: KEYSET, values: [start(i).createdAt, start(i).id, 51] }),
          Kysely: (i) =>
            db
              .selectFrom('users')
              .selectAll()
              .where('isActive', '=', true)
              .where((eb) => eb(eb.refTuple('createdAt', 'id'), '<', eb.tuple(start(i).createdAt, start(i).id)))
              .orderBy('createdAt', 'desc')
              .orderBy('id', 'desc')
              .limit(51)
              .execute(),
          Repository: (i) =>
            users.paginate({
              where: { isActive: true },
              orderBy: NEWEST_FIRST,
              limit: 50,
              cursor: start(i).cursor,
            }),
        },
      },
      {
        name: 'offset page (50)',
        run: {
          'raw pg': (i) => pool.query(OFFSET, [51, (i * 50) % 5000]),
          'raw pg prepared': (i) => pool.query({ name: 'b_offset', text: OFFSET, values: [51, (i * 50) % 5000] }),
          Kysely: (i) =>
            db
              .selectFrom('users')
              .selectAll()
              .where('isActive', '=', true)
              .orderBy('createdAt', 'desc')
              .orderBy('id', 'desc')
              .limit(51)
              .offset((i * 50) % 5000)
              .execute(),
          Repository: (i) =>
            users.paginate({
              where: { isActive: true },
              orderBy: NEWEST_FIRST,
              limit: 50,
              offset: (i * 50) % 5000,
            }),
        },
      },
      {
        name: 'transaction (lock + update)',
        run: {
          'raw pg': () => rawTransaction(false, random(ROWS)),
          'raw pg prepared': () => rawTransaction(true, random(ROWS)),
          Kysely: () =>
            db.transaction().execute(async (trx) => {
              const id = String(random(ROWS));
              await trx.selectFrom('users').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
              await trx
                .updateTable('users')
                .set({ email: `tx${unique()}@example.com`, updatedAt: sql`now()` })
                .where('id', '=', id)
                .returningAll()
                .executeTakeFirst();
            }),
          Repository: () =>
            withTransaction(db, async () => {
              const id = random(ROWS);
              await users.findById(id, { forUpdate: true });
              await users.update(id, { email: `tx${unique()}@example.com` });
            }),
        },
      },
    ];

    console.log(
      `\nRepository vs raw pg — PostgreSQL ${bench.serverVersion}, ${ROWS.toLocaleString('en')} users, pool ${POOL}, ` +
        `${WORKERS} workers, ${ROUNDS} rounds × ${SECONDS}s, medians\n`,
    );
    const rows: string[][] = [];
    for (const workload of workloads.filter((w) => picked(w.name))) {
      const samples = new Map<Contender, Sample[]>(CONTENDERS.map((c) => [c, []]));
      for (const contender of CONTENDERS) await measure(workload.run[contender], WORKERS, 0.3); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const contender of turnOrder(CONTENDERS, round)) {
          samples.get(contender)!.push(await measure(workload.run[contender], WORKERS, SECONDS));
        }
      }
      const base = median(samples.get('raw pg')!.map((s) => s.opsPerSecond));
      for (const contender of CONTENDERS) {
        const ops = median(samples.get(contender)!.map((s) => s.opsPerSecond));
        const cpu = median(samples.get(contender)!.map((s) => s.cpuMicros));
        rows.push([
          workload.name,
          contender,
          Math.round(ops).toLocaleString('en'),
          cpu.toFixed(1),
          (ops / base).toFixed(2) + '×',
        ]);
      }
    }

    // bulk insert: raw COPY vs Repository.createMany vs Kysely multi-row INSERT in chunks
    const bulkRows = (tag: string) =>
      Array.from({ length: BULK }, (_, i) => ({
        username: `${tag}${i}_${serial}`,
        email: `${tag}${i}_${serial}@bulk.example.com`,
        passwordHash: HASH,
      }));
    type Bulk = 'raw pg COPY' | 'Kysely INSERT (5k chunks)' | 'Repository.createMany';
    const bulkRuns: Record<Bulk, { tag: string; run: (data: ReturnType<typeof bulkRows>) => Promise<unknown> }> = {
      'raw pg COPY': {
        tag: 'c',
        run: async (data) => {
          const client = await pool.connect();
          try {
            const lines = data.map((r) => `${r.username}\t${r.email}\t${r.passwordHash}\n`);
            await pipeline(
              Readable.from(lines),
              client.query(copyFrom('copy users (username, email, password_hash) from stdin')),
            );
          } finally {
            client.release();
          }
        },
      },
      'Kysely INSERT (5k chunks)': {
        tag: 'k',
        run: (data) =>
          db.transaction().execute(async (trx) => {
            for (let i = 0; i < data.length; i += 5000)
              await trx
                .insertInto('users')
                .values(data.slice(i, i + 5000))
                .execute();
          }),
      },
      'Repository.createMany': { tag: 'r', run: (data) => unprepared.createMany(data, { returning: false }) },
    };
    const bulkNames = Object.keys(bulkRuns) as Bulk[];
    const bulk = Object.fromEntries(bulkNames.map((name) => [name, [] as number[]])) as Record<Bulk, number[]>;
    for (let round = 0; round < (picked('bulk') ? ROUNDS : 0); round++) {
      serial++;
      for (const name of turnOrder(bulkNames, round)) {
        const data = bulkRows(bulkRuns[name].tag);
        const t = performance.now();
        await bulkRuns[name].run(data);
        bulk[name].push(performance.now() - t);
      }
    }
    const copyMs = median(bulk['raw pg COPY']);
    for (const [name, times] of Object.entries(bulk)) {
      if (times.length === 0) continue;
      const ms = median(times);
      rows.push([
        `bulk insert ${BULK.toLocaleString('en')} rows`,
        name,
        `${Math.round((BULK / ms) * 1000).toLocaleString('en')} rows/s (${Math.round(ms)} ms)`,
        '',
        (copyMs / ms).toFixed(2) + '× of COPY',
      ]);
    }
    printTable(['workload', 'contender', 'ops/s', 'client CPU µs/op', 'ratio to raw pg'], rows);
  } finally {
    await pool.end();
    await database.close();
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRepository();
