/**
 * What the OpenTelemetry reporting costs: Repository.findById by primary key on a small table
 * (random ids), one caller at a time and 32 at once, against raw pg with the Repository's own
 * statement, through four Databases made before the rounds: raw pg (the baseline), telemetry off
 * (`telemetry: { enabled: false }`, the path of an application without @opentelemetry/api),
 * the API installed and no SDK registered (default options), and an SDK registered (tracing with
 * a SimpleSpanProcessor into memory, metrics with a reader collected once at the end, the
 * AsyncLocalStorage context manager). The SDK is registered only around the last one's windows,
 * so the others run without it. Prints ops/s, median µs per call, client CPU per call, the ratio
 * to raw pg, medians of the rounds, and the throughput of "API, no SDK" and "SDK registered"
 * against "telemetry off": the median of the rounds' ratios, with their spread. Under load the
 * Repository shares busy connections (pipelining), so it checks out fewer connections than it
 * makes calls, and (4) records fewer than three spans per call.
 *
 *   npx tsx bench/telemetry.ts     (BENCH_TELEMETRY_ROUNDS=8 BENCH_TELEMETRY_SECONDS=0.6 by default)
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import pg from 'pg';
import {
  createDatabase,
  loadConfig,
  Repository,
  silentLogger,
  type CreateDatabaseOptions,
  type Database,
  type DB,
} from '../lib/index.js';
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

const ROUNDS = Number(process.env['BENCH_TELEMETRY_ROUNDS'] ?? 8);
const SECONDS = Number(process.env['BENCH_TELEMETRY_SECONDS'] ?? 0.6);
const ROWS = 5_000;

const random = (n: number) => 1 + Math.floor(Math.random() * n);

type Setup = 'raw pg' | 'telemetry off' | 'API, no SDK' | 'SDK registered';
const SETUPS: readonly Setup[] = ['raw pg', 'telemetry off', 'API, no SDK', 'SDK registered'];
const LABELS: Record<Setup, string> = {
  'raw pg': '(1) raw pg',
  'telemetry off': '(2) telemetry off (without the API)',
  'API, no SDK': '(3) API, no SDK',
  'SDK registered': '(4) SDK registered',
};

/** A reader that collects only when asked (once, at the end). */
class CollectAtEnd extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** One window: throughput and client CPU (measure's), and the median latency of its calls. */
interface Window {
  readonly opsPerSecond: number;
  readonly cpuMicros: number;
  readonly medianMicros: number;
  readonly calls: number;
}

async function timed(run: (i: number) => Promise<unknown>, workers: number, seconds: number): Promise<Window> {
  const latencies: number[] = [];
  const sample = await measure(
    async (i) => {
      const started = performance.now();
      await run(i);
      latencies.push(performance.now() - started);
    },
    workers,
    seconds,
  );
  return { ...sample, medianMicros: median(latencies) * 1000, calls: latencies.length };
}

/** Runs the whole benchmark and prints its table. */
export async function benchTelemetry(): Promise<void> {
  const bench = await createBenchDatabase('kr_bench_otel');
  const config = loadConfig({ DATABASE_URL: bench.url, DB_POOL_SIZE: String(POOL) }, { envFile: '/dev/null' });
  const open = (options: Omit<CreateDatabaseOptions, 'config' | 'logger'>) =>
    createDatabase<DB>({ config, logger: silentLogger, ...options });
  const databases: Database<DB>[] = [];
  const pool = new pg.Pool({ connectionString: bench.url, max: POOL });

  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new CollectAtEnd();
  const meterProvider = new MeterProvider({ readers: [reader] });
  /** Runs `fn` with the SDK registered globally, and unregisters it after. */
  const withSdk = async <T>(fn: () => Promise<T>): Promise<T> => {
    const registered =
      trace.setGlobalTracerProvider(tracerProvider) &&
      metrics.setGlobalMeterProvider(meterProvider) &&
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      if (!registered) throw new Error('another OpenTelemetry SDK is registered in this process');
      return await fn();
    } finally {
      trace.disable();
      metrics.disable();
      context.disable();
    }
  };

  try {
    const FIND = await seedUsersAndFindStatement(bench.url, ROWS);

    const off = open({ telemetry: { enabled: false } });
    const noSdk = open({});
    const sdk = open({});
    databases.push(off, noSdk, sdk);
    const repositories = {
      'telemetry off': new Repository(off.db, 'users'),
      'API, no SDK': new Repository(noSdk.db, 'users'),
      'SDK registered': new Repository(sdk.db, 'users'),
    };
    const run: Record<Setup, (i: number) => Promise<unknown>> = {
      'raw pg': () => pool.query(FIND, [random(ROWS)]),
      'telemetry off': () => repositories['telemetry off'].findById(random(ROWS)),
      'API, no SDK': () => repositories['API, no SDK'].findById(random(ROWS)),
      'SDK registered': () => repositories['SDK registered'].findById(random(ROWS)),
    };
    let sdkCalls = 0;
    let spans = 0;
    const window = async (setup: Setup, workers: number, seconds: number): Promise<Window> => {
      if (setup !== 'SDK registered') return timed(run[setup], workers, seconds);
      const result = await withSdk(() => timed(run[setup], workers, seconds));
      sdkCalls += result.calls;
      spans += exporter.getFinishedSpans().length;
      exporter.reset();
      return result;
    };

    console.log(
      `\nOpenTelemetry reporting — Repository.findById by primary key, PostgreSQL ${bench.serverVersion}, ` +
        `${ROWS.toLocaleString('en')} users, random ids, pool ${POOL}, ${ROUNDS} rounds × ${SECONDS}s, medians\n` +
        `raw pg sends the Repository's statement unprepared (as bench/repository.ts): ${FIND}\n`,
    );
    const rows: string[][] = [];
    const verdicts: string[] = [];
    const modes = [
      { name: 'sequential', workers: 1 },
      { name: `concurrent (${WORKERS})`, workers: WORKERS },
    ];
    for (const mode of modes) {
      const windows = new Map<Setup, Window[]>(SETUPS.map((s) => [s, []]));
      for (const setup of SETUPS) await window(setup, mode.workers, 0.3); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const setup of turnOrder(SETUPS, round)) {
          windows.get(setup)!.push(await window(setup, mode.workers, SECONDS));
        }
      }
      const of = (setup: Setup, key: 'opsPerSecond' | 'medianMicros' | 'cpuMicros') =>
        median(windows.get(setup)!.map((w) => w[key]));
      const base = of('raw pg', 'opsPerSecond');
      for (const setup of SETUPS) {
        rows.push([
          mode.name,
          LABELS[setup],
          Math.round(of(setup, 'opsPerSecond')).toLocaleString('en'),
          of(setup, 'medianMicros').toFixed(1),
          of(setup, 'cpuMicros').toFixed(1),
          (of(setup, 'opsPerSecond') / base).toFixed(2) + '×',
        ]);
      }
      // throughput against (2) round by round, (2) and the other one having run next to each other:
      // drift between rounds cancels out, and the spread shows how much a round's figure is noise
      const versusOff = (setup: Setup) => {
        const off = windows.get('telemetry off')!;
        const ratios = windows.get(setup)!.map((w, round) => w.opsPerSecond / off[round]!.opsPerSecond);
        const micros = of(setup, 'medianMicros') - of('telemetry off', 'medianMicros');
        const cpu = of(setup, 'cpuMicros') - of('telemetry off', 'cpuMicros');
        const signed = (n: number) => (n >= 0 ? '+' : '') + n.toFixed(1);
        return {
          ratio: median(ratios),
          text:
            `${median(ratios).toFixed(3)}× throughput (rounds ${Math.min(...ratios).toFixed(2)}–` +
            `${Math.max(...ratios).toFixed(2)}), ${signed(micros)} µs median per call, ` +
            `${signed(cpu)} µs client CPU per call`,
        };
      };
      const third = versusOff('API, no SDK');
      verdicts.push(
        `${mode.name}: (3) vs (2) ${third.text}; target ≥ 0.98 ${third.ratio >= 0.98 ? 'met' : 'MISSED'}`,
        `${mode.name}: (4) vs (2) ${versusOff('SDK registered').text}`,
      );
    }
    printTable(['load', 'configuration', 'ops/s', 'median µs/call', 'client CPU µs/call', 'ratio to raw pg'], rows);
    console.log('');
    for (const verdict of verdicts) console.log(verdict);

    // what (4) reported: spans per call, and the statement durations its reader collected
    const { resourceMetrics } = await reader.collect();
    const durations = resourceMetrics.scopeMetrics
      .filter((s) => s.scope.name === 'kysely-repository')
      .flatMap((s) => s.metrics)
      .filter((m) => m.descriptor.name === 'db.client.operation.duration')
      .flatMap((m) => m.dataPoints as readonly { readonly value: number | { readonly count: number } }[])
      .reduce((sum, point) => sum + (typeof point.value === 'object' ? point.value.count : 0), 0);
    console.log(
      `\n(4) reported ${(spans / sdkCalls).toFixed(2)} spans per call (${spans.toLocaleString('en')} for ` +
        `${sdkCalls.toLocaleString('en')} calls) and ${durations.toLocaleString('en')} statement durations`,
    );
    if (spans === 0 || durations === 0) console.log('(4) recorded nothing: its figures measure no reporting');
  } finally {
    trace.disable();
    metrics.disable();
    context.disable();
    await pool.end();
    for (const database of databases) await database.close();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    await bench.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchTelemetry();
