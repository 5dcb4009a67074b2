/**
 * OpenTelemetry: the application registers the SDK (a tracer provider, a meter provider and a
 * context manager), then one application span wraps a user sign-up, a transaction and a nested
 * savepoint that rolls back; the package's spans (repository calls, transaction, attempt,
 * savepoint, connection checkouts, statements) nest under it, and its metrics (statement
 * durations, pool gauges) are exported at the end. The console shows every span and metric.
 *
 *   npx tsx examples/telemetry.ts
 */
import { context, metrics, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { ConsoleSpanExporter, SimpleSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { ConflictError, Repository, UserRepository, withTransaction, type Database, type DB } from '../lib/index.js';
import { openExampleDatabase, runSuffix, type Print } from './open-database.js';

/** The registered SDK: flush it to export what was recorded, shut it down once at the end. */
export interface OpenTelemetrySdk {
  /** Exports every ended span and the metrics collected now. */
  flush(): Promise<void>;
  /** Flushes and shuts down both providers, then unregisters them and the context manager. */
  shutdown(): Promise<void>;
}

/**
 * Registers the SDK as an application does, before it opens a Database: the global tracer and
 * meter providers and an AsyncLocalStorage context manager (without one, no span has a parent).
 */
export function startOpenTelemetry(exporters: {
  readonly spans: SpanExporter;
  readonly metrics: PushMetricExporter;
}): OpenTelemetrySdk {
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: exporters.spans })],
  });
  // the reader exports once a minute, and once more when flushed or shut down
  const reader = new PeriodicExportingMetricReader({ exporter: exporters.metrics, exportIntervalMillis: 60_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  if (!trace.setGlobalTracerProvider(tracerProvider)) throw new Error('an OpenTelemetry SDK is registered already');
  metrics.setGlobalMeterProvider(meterProvider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    async flush() {
      await tracerProvider.forceFlush();
      await reader.forceFlush();
    },
    async shutdown() {
      try {
        await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
      } finally {
        trace.disable();
        metrics.disable();
        context.disable();
      }
    },
  };
}

/**
 * Runs a sign-up in an application span `sign up` on `database` and prints what it did and its
 * trace id. The registered SDK receives the spans and metrics.
 */
export async function telemetry(
  database: Database<DB>,
  print: Print,
  options: { bcryptCost?: number } = {},
): Promise<void> {
  const users = new UserRepository(database.db, { policy: { bcryptCost: options.bcryptCost ?? 12 } });
  const table = new Repository(database.db, 'users');
  const name = `grace_${runSuffix()}`;
  const tracer = trace.getTracer('telemetry-example');

  await tracer.startActiveSpan('sign up', async (span) => {
    try {
      const created = await users.createUser({ username: name, email: `${name}@example.com`, password: 'telemetry-1' });
      print(`created:  #${created.id} ${created.username}`);

      const active = await withTransaction(database.db, async () => {
        await users.updateUser(created.id, { email: `${name}.new@example.com` });
        try {
          // nested: a savepoint, rolled back when the name is taken; the transaction goes on
          await withTransaction(database.db, async () => {
            await users.createUser({ username: name, email: `again_${name}@example.com`, password: 'telemetry-2' });
          });
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          print(`savepoint: rolled back (${error.message}); the transaction goes on`);
        }
        return table.count({ isActive: true });
      });
      print(`committed: email updated, ${active} active user(s)`);
      print(`trace:    ${span.spanContext().traceId} (span 'sign up')`);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
      throw error;
    } finally {
      span.end();
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sdk = startOpenTelemetry({ spans: new ConsoleSpanExporter(), metrics: new ConsoleMetricExporter() });
  let database: Database<DB> | undefined;
  try {
    database = await openExampleDatabase();
    await telemetry(database, console.log);
  } finally {
    // the SDK first: its last export reads the pool gauges while the Database is still open
    await sdk.shutdown();
    await database?.close();
  }
}
