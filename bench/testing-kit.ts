/**
 * The testing kit on a sample application: the orders service's 200 specs (examples/orders), each
 * touching the database, run by mocha with the kit's sandbox (one transaction per test, rolled
 * back) and with truncate-per-test (the same suite emptying its four tables after each test), both
 * sequential and with `--parallel` on 2 workers. Each of the four is run ROUNDS times, in a
 * different order each round; medians. Two times per run: mocha's own duration of the run (hooks
 * and tests, without starting Node, loading TypeScript or migrating), and the wall time of the
 * whole command. Then the isolation alone, in one process on one migrated database: a test that
 * writes one customer, isolated by a sandbox (open, write, close) against the same write followed by
 * the truncation of the four tables.
 *
 *   npx tsx bench/testing-kit.ts           (BENCH_ROUNDS=3 by default; TEST_DATABASE_URL as the kit reads it)
 */
import path from 'node:path';
import { sql } from 'kysely';
import { createTestDatabase, openSandbox } from '../lib/testing/index.js';
import { ordersMigrations, type OrdersDB } from '../examples/orders/src/schema.js';
import { runMocha } from '../spec/support/run-mocha.js';
import { median, printTable, turnOrder, ROUNDS } from './bench-support.js';

interface Variant {
  readonly name: string;
  readonly cleanup: 'sandbox' | 'truncate';
  readonly parallel: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'sandbox, sequential', cleanup: 'sandbox', parallel: false },
  { name: 'truncate, sequential', cleanup: 'truncate', parallel: false },
  { name: 'sandbox, --parallel 2', cleanup: 'sandbox', parallel: true },
  { name: 'truncate, --parallel 2', cleanup: 'truncate', parallel: true },
];

interface Timing {
  readonly runMs: number;
  readonly wallMs: number;
}

/** Runs the orders suite once; throws unless all 200 specs passed. */
async function runSuite(variant: Variant): Promise<Timing> {
  const started = performance.now();
  const { report } = await runMocha({
    args: ['--config', 'examples/orders/.mocharc.json', ...(variant.parallel ? ['--parallel', '--jobs', '2'] : [])],
    env: { ORDERS_SPEC_CLEANUP: variant.cleanup },
    cwd: path.join(import.meta.dirname, '..'),
    timeoutMs: 600_000,
  });
  const wallMs = performance.now() - started;
  if (report.stats.passes !== 200 || report.stats.failures !== 0) {
    throw new Error(`${variant.name}: ${report.stats.passes} passed, ${report.stats.failures} failed`);
  }
  return { runMs: report.stats.duration, wallMs };
}

/** Runs the comparison and prints its table. */
export async function benchTestingKit(): Promise<void> {
  console.log(
    `\ntesting kit: the orders service's 200 specs, sandbox against truncate-per-test (${ROUNDS} rounds, medians)`,
  );
  const timings = new Map<string, Timing[]>(VARIANTS.map((variant) => [variant.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of turnOrder(VARIANTS, round)) timings.get(variant.name)!.push(await runSuite(variant));
  }
  const medians = new Map(
    VARIANTS.map((variant) => {
      const list = timings.get(variant.name)!;
      return [variant.name, { runMs: median(list.map((t) => t.runMs)), wallMs: median(list.map((t) => t.wallMs)) }];
    }),
  );
  const rows = VARIANTS.map((variant) => {
    const own = medians.get(variant.name)!;
    const sandbox = medians.get(
      VARIANTS.find((v) => v.cleanup === 'sandbox' && v.parallel === variant.parallel)!.name,
    )!;
    return [
      variant.name,
      `${(own.runMs / 1000).toFixed(2)} s`,
      `${(own.wallMs / 1000).toFixed(2)} s`,
      `${(own.runMs / 200).toFixed(1)} ms`,
      variant.cleanup === 'sandbox' ? '1.00×' : `${(own.runMs / sandbox.runMs).toFixed(2)}×`,
      variant.cleanup === 'sandbox' ? '1.00×' : `${(own.wallMs / sandbox.wallMs).toFixed(2)}×`,
    ];
  });
  printTable(['suite', 'run (mocha)', 'wall (command)', 'per spec', 'run / sandbox', 'wall / sandbox'], rows);
  await benchIsolationAlone();
}

const TESTS = 200;

/** The cost of isolating one test, without the test's own work: sandbox against truncation. */
async function benchIsolationAlone(): Promise<void> {
  const database = await createTestDatabase<OrdersDB>({ migrations: ordersMigrations });
  try {
    const write = (i: number) =>
      database.db
        .insertInto('customers')
        .values({ email: `c${i}@example.com`, name: 'Ada' })
        .execute();
    const contenders: [string, (i: number) => Promise<unknown>][] = [
      [
        'sandbox (open, write, roll back)',
        async (i) => {
          const sandbox = await openSandbox(database);
          await sandbox.run(() => write(i));
          await sandbox.close();
        },
      ],
      [
        'truncate (write, truncate 4 tables)',
        async (i) => {
          await write(i);
          await sql`truncate order_lines, orders, products, customers restart identity cascade`.execute(database.db);
        },
      ],
      ['the write alone (no isolation)', (i) => write(i + 1_000_000 * (1 + Math.random()))],
    ];
    const perTest = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, test] of turnOrder(contenders, round)) {
        const started = performance.now();
        for (let i = 0; i < TESTS; i++) await test(i);
        perTest.get(name)!.push((performance.now() - started) / TESTS);
      }
      await sql`truncate customers cascade`.execute(database.db);
    }
    const sandboxMs = median(perTest.get(contenders[0]![0])!);
    console.log(`\nisolation alone: ${TESTS} tests writing one row, ${ROUNDS} rounds, medians`);
    printTable(
      ['per test', 'ms', '/ sandbox'],
      contenders.map(([name]) => {
        const ms = median(perTest.get(name)!);
        return [name, ms.toFixed(2), `${(ms / sandboxMs).toFixed(2)}×`];
      }),
    );
  } finally {
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTestingKit();
