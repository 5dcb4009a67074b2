/**
 * Memory after many distinct query shapes: the Repository compiles each shape once and caches it,
 * and the pg driver runs it as a named prepared statement, at most DB_PREPARED_STATEMENTS_MAX (100)
 * per connection, least recently used deallocated. This makes up to 28,800 distinct shapes through
 * the public API with inputs a caller controls — findMany/findAndCount over a 40-column table,
 * each with one where column (= value, = any(list), is null), one orderBy column and direction,
 * with and without an offset — and reports, at checkpoints, the client heap after a full garbage
 * collection, the entries of the repository's own shape map, and on the server: the named
 * statements the connection holds and the memory of their cached plans (pg_backend_memory_contexts
 * shows only the backend that asks, so the Database has DB_POOL_SIZE=1: every shape and every
 * measurement runs on that one connection). The highest `kr_<n>` statement name counts the
 * distinct statement texts the driver prepared, which confirms the shapes are distinct.
 *
 * Twice: one long-lived Repository (its own map and the Database-wide cache both keep every
 * shape), and a new Repository per call, as made per request (only the Database-wide cache keeps
 * them); the difference is the cost of the repository's own map.
 *
 *   npx tsx bench/shapes.ts            (BENCH_SHAPES=20000 by default, at most 28,800)
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { sql, type Generated, type Kysely } from 'kysely';
import { createDatabase, loadConfig, Repository, silentLogger } from '../lib/index.js';
import { createBenchDatabase, printTable } from './bench-support.js';

const COLUMNS = 40;
const KINDS = ['eq', 'any', 'null'] as const;
const MAX_SHAPES = COLUMNS * KINDS.length * COLUMNS * 2 * 3;
const SHAPES = Math.min(MAX_SHAPES, Number(process.env['BENCH_SHAPES'] ?? 20_000));
const CHECKPOINTS = [0, 1_000, 5_000, 10_000, 20_000, MAX_SHAPES].filter((n) => n < SHAPES).concat(SHAPES);
const IN_LIST_MAX = 500;

type Column = `c${string}`;
interface WideDB {
  wide: { id: Generated<number> } & Record<Column, number | null>;
}
type Wide = Repository<WideDB, 'wide'>;

const column = (n: number): Column => `c${String(n + 1).padStart(2, '0')}`;

/**
 * Makes shape `i` (0 ≤ i < MAX_SHAPES) through the public API: where column, its kind, orderBy
 * column, direction, and the method (findMany, findMany with an offset, findAndCount).
 */
function makeShape(users: Wide, i: number): Promise<unknown> {
  const where = column(i % COLUMNS);
  const kind = KINDS[Math.floor(i / COLUMNS) % KINDS.length]!;
  const order = column(Math.floor(i / (COLUMNS * KINDS.length)) % COLUMNS);
  const direction = Math.floor(i / (COLUMNS * KINDS.length * COLUMNS)) % 2 === 0 ? 'asc' : 'desc';
  const method = Math.floor(i / (COLUMNS * KINDS.length * COLUMNS * 2));
  const query = {
    where: { [where]: kind === 'eq' ? 1 : kind === 'any' ? [1, 2, 3] : null },
    orderBy: [[order, direction]] as const,
    limit: 10,
  };
  if (method === 2) return users.findAndCount(query);
  return users.findMany(method === 1 ? { ...query, offset: 1 } : query);
}

/** A full garbage collection: global.gc when node runs with --expose-gc, else through V8's flag. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

interface Checkpoint {
  readonly shapes: number;
  readonly heapBytes: number;
  readonly mapEntries: number;
  readonly prepared: number;
  readonly named: number;
  readonly planBytes: number;
  readonly backendBytes: number;
  readonly pid: number;
}

/** What the one pooled connection holds, asked on that connection. */
async function serverSide(db: Kysely<WideDB>): Promise<Omit<Checkpoint, 'shapes' | 'heapBytes' | 'mapEntries'>> {
  const { rows } = await sql<{ prepared: number; named: number; plan: string; backend: string; pid: number }>`
    select (select count(*)::int from pg_prepared_statements) as prepared,
           (select coalesce(max(substr(name, 4)::int), 0) from pg_prepared_statements where name ~ '^kr_[0-9]+$') as named,
           (select coalesce(sum(total_bytes), 0) from pg_backend_memory_contexts
             where name in ('CachedPlanSource', 'CachedPlanQuery', 'CachedPlan')) as plan,
           (select sum(total_bytes) from pg_backend_memory_contexts) as backend,
           pg_backend_pid() as pid`.execute(db);
  const row = rows[0]!;
  return {
    prepared: row.prepared,
    named: row.named,
    planBytes: Number(row.plan),
    backendBytes: Number(row.backend),
    pid: row.pid,
  };
}

/** The entries of a repository's own shape map (a private field, read for this report only). */
function mapEntries(users: Wide): number {
  return (users as unknown as { access: { state: { shapes: Map<string, unknown> } } }).access.state.shapes.size;
}

/** Runs the whole benchmark and prints its tables. */
export async function benchShapes(): Promise<void> {
  const gc = collector();
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const bench = await createBenchDatabase('kr_shapes');
  try {
    {
      const setup = createDatabase<WideDB>({
        config: loadConfig({ DATABASE_URL: bench.url, DB_POOL_SIZE: '1' }, { envFile: '/dev/null' }),
        logger: silentLogger,
      });
      const list = Array.from({ length: COLUMNS }, (_, n) => `${column(n)} int`).join(', ');
      await sql.raw(`create table wide (id serial primary key, ${list})`).execute(setup.db);
      const values = Array.from({ length: COLUMNS }, (_, n) => `(g + ${n}) % 5`).join(', ');
      await sql.raw(`insert into wide select g, ${values} from generate_series(1, 10) g`).execute(setup.db);
      await sql`vacuum analyze wide`.execute(setup.db);
      await setup.close();
    }

    const flavours = [
      { name: 'one Repository', perCall: false },
      { name: 'new Repository per call', perCall: true },
    ];
    const rows: string[][] = [];
    let inLists = '';
    for (const flavour of flavours) {
      const database = createDatabase<WideDB>({
        config: loadConfig(
          { DATABASE_URL: bench.url, DB_POOL_SIZE: '1', DB_POOL_IDLE_TIMEOUT: '600000' },
          { envFile: '/dev/null' },
        ),
        logger: silentLogger,
      });
      try {
        const db = database.db;
        const long = new Repository(db, 'wide');
        const repository = () => (flavour.perCall ? new Repository(db, 'wide') : long);
        // warm-up, outside the shapes counted: the catalog read, and in-lists of every length
        await long.count();
        const before = await serverSide(db);
        for (let n = 1; n <= IN_LIST_MAX; n++) {
          await repository().findMany({ where: { id: Array.from({ length: n }, (_, k) => k + 1) } });
        }
        const after = await serverSide(db);
        inLists ||= `where { id: [n ids] } for n = 1..${IN_LIST_MAX}: ${after.named - before.named} statement text(s) prepared`;

        const base = { heap: heap(), server: await serverSide(db), map: mapEntries(long) };
        let made = 0;
        let previous: Checkpoint | undefined;
        for (const target of CHECKPOINTS) {
          for (; made < target; made++) await makeShape(repository(), made);
          const heapBytes = heap();
          const server = await serverSide(db);
          const point: Checkpoint = {
            shapes: made,
            heapBytes,
            mapEntries: mapEntries(long) - base.map,
            ...server,
            named: server.named - base.server.named,
          };
          if (point.pid !== base.server.pid) throw new Error('the pooled connection was replaced mid-run');
          const growth = previous
            ? ((point.heapBytes - previous.heapBytes) / (point.shapes - previous.shapes) / 1024).toFixed(2)
            : '';
          rows.push([
            flavour.name,
            point.shapes.toLocaleString('en'),
            (point.heapBytes / 2 ** 20).toFixed(1),
            growth,
            point.mapEntries.toLocaleString('en'),
            point.named.toLocaleString('en'),
            String(point.prepared),
            (point.planBytes / 2 ** 20).toFixed(2),
            (point.backendBytes / 2 ** 20).toFixed(1),
          ]);
          previous = point;
        }
      } finally {
        await database.close();
      }
    }

    console.log(
      `\nMemory after distinct query shapes — PostgreSQL ${bench.serverVersion}, Node ${process.version}, ` +
        `DB_POOL_SIZE=1, DB_PREPARED_STATEMENTS_MAX=100 (default), a ${COLUMNS}-column table\n`,
    );
    console.log(`${inLists}\n`);
    printTable(
      [
        'repository',
        'shapes made',
        'heap MB',
        'heap growth KB/shape',
        'repository map entries',
        'statements prepared',
        'prepared on connection',
        'server cached-plan MB',
        'backend total MB',
      ],
      rows,
    );
  } finally {
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchShapes();
