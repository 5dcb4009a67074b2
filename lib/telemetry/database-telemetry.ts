/**
 * A Database's OpenTelemetry reporting: a CLIENT span and a duration for each statement, spans
 * around connection checkouts, transactions and repository calls, and the connection metrics of
 * the database semantic conventions. Costs a property lookup per statement while no SDK is
 * registered; with one, attributes never carry a bound value, a row value or a secret.
 */
import type { LogEvent } from 'kysely';
import { DatabaseError, mapError, PoolTimeoutError } from '../errors.js';
import type { Logger } from '../logger.js';
import { capText, MAX_LOGGED_TEXT, redactText } from '../redact.js';
import {
  SPAN_KIND,
  STATUS_ERROR,
  type OpenTelemetryApi,
  type OtelAttributes,
  type OtelMeterProvider,
  type OtelObservableResult,
  type OtelSpan,
  type OtelTracer,
} from './opentelemetry-api.js';
import { querySummary } from './query-summary.js';
import type { TelemetryOptions } from './telemetry-options.js';

/** The instrumentation scope the package reports under. */
export const INSTRUMENTATION_SCOPE = 'kysely-repository';

/** Where statements go: the attributes every span and duration of that server carries. */
export interface TelemetryTarget {
  /** `server.address` (absent for the embedded engine). */
  readonly address?: string;
  readonly port?: number;
  /** `db.namespace`: the database name. */
  readonly namespace?: string;
  /** `db.client.connection.pool.name`: `host:port/database`, never with credentials. */
  readonly poolName: string;
  /** Whether the statements travel through the SSH tunnel. */
  readonly tunnel: boolean;
}

/** The gauges the metric reader collects, read from status() at collection time only. */
export interface TelemetrySnapshot {
  readonly pools: readonly {
    readonly name: string;
    readonly total: number;
    readonly idle: number;
    readonly waiting: number;
    readonly max: number;
  }[];
  readonly retried: number;
  readonly tunnel?: { readonly reconnects: number; readonly openChannels: number };
  readonly replicas?: readonly {
    readonly name: string;
    readonly up: boolean;
    readonly lagMs: number | undefined;
  }[];
}

/** Options of DatabaseTelemetry. */
export interface DatabaseTelemetryOptions extends TelemetryOptions {
  readonly logger: Logger;
  /** Secrets masked in `db.query.text` (the config's). */
  readonly secrets: readonly string[];
  /** Whether instrumentation-pg wraps pg's client now (for `clientSpans: 'auto'`). */
  readonly instrumentedElsewhere?: () => boolean;
  /** The gauges' current values (called by the metric reader only). */
  readonly snapshot: () => TelemetrySnapshot;
}

/** Histogram buckets the conventions advise for db.client.operation.duration, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/** The synchronous instruments, built per MeterProvider. */
interface Instruments {
  readonly duration: { record(value: number, attributes?: OtelAttributes): void };
  readonly waitTime: { record(value: number, attributes?: OtelAttributes): void };
  readonly timeouts: { add(value: number, attributes?: OtelAttributes): void };
  readonly remove: () => void;
}

/** One Database's OpenTelemetry reporting (see the file comment). */
export class DatabaseTelemetry {
  readonly #api: OpenTelemetryApi;
  readonly #options: DatabaseTelemetryOptions;
  #tracer: OtelTracer | undefined;
  #clientSpans = false;
  #meterProvider: OtelMeterProvider | undefined;
  #instruments: Instruments | undefined;
  #closed = false;

  constructor(api: OpenTelemetryApi, options: DatabaseTelemetryOptions) {
    this.#api = api;
    this.#options = options;
  }

  /**
   * The tracer of the registered SDK, or undefined while none is: asked on every call (an SDK
   * may be registered later, or taken back), which costs a property read while there is none.
   */
  #tracing(): OtelTracer | undefined {
    const provider = this.#api.trace.getTracerProvider();
    const tracer = provider.getDelegateTracer
      ? provider.getDelegateTracer(INSTRUMENTATION_SCOPE)
      : provider.getTracer(INSTRUMENTATION_SCOPE);
    if (tracer !== this.#tracer) {
      this.#tracer = tracer;
      this.#clientSpans = tracer !== undefined && this.#wantsClientSpans();
    }
    return tracer;
  }

  #wantsClientSpans(): boolean {
    const mode = this.#options.clientSpans ?? 'auto';
    if (mode !== 'auto') return mode;
    if (this.#options.instrumentedElsewhere?.() !== true) return true;
    this.#options.logger.info(
      "@opentelemetry/instrumentation-pg reports each statement, so this Database's own statement and connection " +
        "spans are off (telemetry.clientSpans: 'auto'); disable that instrumentation for pg to get them, " +
        'with pipelined statements timed on the wire',
    );
    return false;
  }

  /** The synchronous instruments of the registered SDK's meter, or undefined while none is. */
  #metering(): Instruments | undefined {
    if (this.#closed) return undefined;
    const provider = this.#api.metrics.getMeterProvider();
    if (provider !== this.#meterProvider) {
      this.#meterProvider = provider;
      this.#instruments?.remove();
      this.#instruments = this.#instrumentsOf(provider);
    }
    return this.#instruments;
  }

  #instrumentsOf(provider: OtelMeterProvider): Instruments | undefined {
    const meter = provider.getMeter(INSTRUMENTATION_SCOPE);
    if (meter === this.#api.createNoopMeter()) return undefined;
    const seconds = (description: string): { description: string; unit: string; advice: object } => ({
      description,
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    const observable = (name: string, unit: string, description: string, gauge = false): object =>
      gauge
        ? meter.createObservableGauge(name, { unit, description })
        : meter.createObservableUpDownCounter(name, { unit, description });
    const count = observable(
      'db.client.connection.count',
      '{connection}',
      'Connections open now, by state (idle, used).',
    );
    const max = observable('db.client.connection.max', '{connection}', 'The most connections the pool opens.');
    const pending = observable(
      'db.client.connection.pending_requests',
      '{request}',
      'Callers waiting for a connection now.',
    );
    const retries = observable(
      'kysely_repository.transaction.retries',
      '{retry}',
      'Transactions run again after a serialization failure or deadlock (cumulative).',
    );
    const reconnects = observable(
      'kysely_repository.tunnel.reconnects',
      '{reconnect}',
      'Times the SSH tunnel was re-established after it had been up (cumulative).',
    );
    const channels = observable(
      'kysely_repository.tunnel.channels',
      '{channel}',
      'SSH channels (connections) open through the tunnel now.',
    );
    const replicaUp = observable(
      'kysely_repository.replica.up',
      '1',
      '1 while a read replica serves reads, 0 while it is marked down.',
      true,
    );
    const replicaLag = observable(
      'kysely_repository.replica.lag',
      's',
      "How far a replica's replay is behind the primary, at its last health check.",
      true,
    );
    const observables = [count, max, pending, retries, reconnects, channels, replicaUp, replicaLag];
    const observe = (result: OtelObservableResult): void => {
      const snapshot = this.#options.snapshot();
      for (const pool of snapshot.pools) {
        const attributes = { 'db.client.connection.pool.name': pool.name };
        result.observe(count, pool.total - pool.idle, { ...attributes, 'db.client.connection.state': 'used' });
        result.observe(count, pool.idle, { ...attributes, 'db.client.connection.state': 'idle' });
        result.observe(max, pool.max, attributes);
        result.observe(pending, pool.waiting, attributes);
      }
      result.observe(retries, snapshot.retried);
      if (snapshot.tunnel) {
        result.observe(reconnects, snapshot.tunnel.reconnects);
        result.observe(channels, snapshot.tunnel.openChannels);
      }
      for (const replica of snapshot.replicas ?? []) {
        const attributes = { 'db.client.connection.pool.name': replica.name };
        result.observe(replicaUp, replica.up ? 1 : 0, attributes);
        if (replica.lagMs !== undefined) result.observe(replicaLag, replica.lagMs / 1000, attributes);
      }
    };
    meter.addBatchObservableCallback(observe, observables);
    return {
      duration: meter.createHistogram(
        'db.client.operation.duration',
        seconds('Duration of each statement, on the wire: from when the server could start on it to its answer.'),
      ),
      waitTime: meter.createHistogram(
        'db.client.connection.wait_time',
        seconds('Time to obtain an open connection from the pool.'),
      ),
      timeouts: meter.createCounter('db.client.connection.timeouts', {
        unit: '{timeout}',
        description: 'Checkouts that gave up waiting for a connection.',
      }),
      remove: () => meter.removeBatchObservableCallback(observe, observables),
    };
  }

  /**
   * Reports one statement, from its log event (called where it completed, so the active context
   * is its caller's): a CLIENT span and its duration. Never throws.
   */
  statement(event: LogEvent, target: TelemetryTarget | undefined): void {
    const tracer = this.#tracing();
    const instruments = this.#metering();
    if (instruments === undefined && (tracer === undefined || !this.#clientSpans)) return;
    try {
      const end = performance.now();
      const durationMs = event.queryDurationMillis;
      const { operation, collection, summary } = querySummary(event.query.sql);
      const attributes: OtelAttributes = { 'db.system.name': 'postgresql' };
      addTarget(attributes, target);
      if (operation !== undefined) attributes['db.operation.name'] = operation;
      if (collection !== undefined) attributes['db.collection.name'] = collection;
      if (summary !== undefined) attributes['db.query.summary'] = summary;
      const error = event.level === 'error' ? mapError(event.error) : undefined;
      if (error) Object.assign(attributes, errorAttributes(error));
      instruments?.duration.record(durationMs / 1000, attributes);
      if (tracer === undefined || !this.#clientSpans) return;
      // the SDK keeps the metric's attributes object: the span gets a copy
      const spanAttributes = { ...attributes };
      if (this.#options.queryText !== false) {
        spanAttributes['db.query.text'] = redactText(capText(event.query.sql, MAX_LOGGED_TEXT), this.#options.secrets);
      }
      if (target?.tunnel) spanAttributes['kysely_repository.tunnel'] = 'ssh';
      const origin = performance.timeOrigin;
      const span = tracer.startSpan(
        summary ?? 'postgresql',
        { kind: SPAN_KIND.client, attributes: spanAttributes, startTime: origin + end - durationMs },
        this.#api.context.active(),
      );
      if (error) span.setStatus({ code: STATUS_ERROR, message: errorType(error) });
      span.end(origin + end);
    } catch {
      // reporting never fails the statement it reports on
    }
  }

  /**
   * Runs `checkout` (a connection from the pool) in a span of its own, and records its wait time,
   * or a timeout (as `mapFailure` maps its error). Returns what `checkout` returns.
   * @throws what `checkout` throws.
   */
  checkout<T>(
    target: TelemetryTarget,
    checkout: () => Promise<T>,
    mapFailure: (error: unknown) => DatabaseError = mapError,
  ): Promise<T> {
    // #tracing() first: it decides #clientSpans when the tracer changes
    const tracer = this.#tracing() && this.#clientSpans ? this.#tracer : undefined;
    const instruments = this.#metering();
    // while nothing records, no promise of its own: an extra turn here changes which statements
    // share a connection's write under load
    if (tracer === undefined && instruments === undefined) return checkout();
    return this.#checkout(target, checkout, mapFailure, tracer, instruments);
  }

  async #checkout<T>(
    target: TelemetryTarget,
    checkout: () => Promise<T>,
    mapFailure: (error: unknown) => DatabaseError,
    tracer: OtelTracer | undefined,
    instruments: Instruments | undefined,
  ): Promise<T> {
    const started = performance.now();
    const pool = { 'db.client.connection.pool.name': target.poolName };
    const span = tracer?.startSpan(
      'acquire connection',
      { kind: SPAN_KIND.internal, attributes: { 'db.system.name': 'postgresql', ...pool } },
      this.#api.context.active(),
    );
    try {
      // the checkout's own work (a new connection, an SSH (re)connection) nests under its span
      const api = this.#api;
      const connection = await (span
        ? api.context.with(api.trace.setSpan(api.context.active(), span), checkout)
        : checkout());
      instruments?.waitTime.record((performance.now() - started) / 1000, pool);
      return connection;
    } catch (error) {
      const mapped = mapFailure(error);
      if (mapped instanceof PoolTimeoutError) instruments?.timeouts.add(1, pool);
      if (span) failSpan(span, mapped);
      throw error;
    } finally {
      span?.end();
    }
  }

  /**
   * Runs `fn` in a span named `name` (INTERNAL unless `kind` says otherwise), the active span
   * while `fn` runs, ended when it settles; `fn` gets the span to add attributes to (undefined
   * while nothing records). Returns what `fn` returns.
   * @throws what `fn` throws (the span records its SQLSTATE or class, never its message).
   */
  inSpan<T>(
    name: string,
    attributes: OtelAttributes,
    fn: (span: OtelSpan | undefined) => Promise<T>,
    kind: 'internal' | 'client' = 'internal',
  ): Promise<T> {
    const tracer = this.#tracing();
    // while nothing records, no span, context or promise of its own
    if (tracer === undefined) return fn(undefined);
    return this.#inSpan(tracer, name, attributes, fn, kind);
  }

  async #inSpan<T>(
    tracer: OtelTracer,
    name: string,
    attributes: OtelAttributes,
    fn: (span: OtelSpan | undefined) => Promise<T>,
    kind: 'internal' | 'client',
  ): Promise<T> {
    const api = this.#api;
    const span = tracer.startSpan(name, { kind: SPAN_KIND[kind], attributes }, api.context.active());
    try {
      return await api.context.with(api.trace.setSpan(api.context.active(), span), () => fn(span));
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * Runs a repository method in a span `Owner.method table` (`Repository.findById orders`) with
   * the table and the method's name, never its arguments. Returns what `fn` returns.
   * @throws what `fn` throws.
   */
  call<T>(owner: string, method: string, table: string, fn: () => Promise<T>): Promise<T> {
    const tracer = this.#tracing();
    if (tracer === undefined) return fn();
    const name = `${owner}.${method}`;
    const attributes = { 'db.system.name': 'postgresql', 'db.collection.name': table, 'code.function.name': name };
    return this.#inSpan(tracer, `${name} ${table}`, attributes, fn, 'internal');
  }

  /** Stops reporting the gauges (close()). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#instruments?.remove();
    this.#instruments = undefined;
  }
}

function addTarget(attributes: OtelAttributes, target: TelemetryTarget | undefined): void {
  if (target === undefined) return;
  if (target.namespace !== undefined) attributes['db.namespace'] = target.namespace;
  if (target.address !== undefined) attributes['server.address'] = target.address;
  if (target.port !== undefined) attributes['server.port'] = target.port;
}

/** The SQLSTATE when the server gave one, else the error's class: `error.type`. */
function errorType(error: unknown): string {
  if (error instanceof DatabaseError) return error.code ?? error.name;
  return error instanceof Error ? error.name : typeof error;
}

/** `db.response.status_code` (the SQLSTATE, when there is one) and `error.type`. */
function errorAttributes(error: unknown): OtelAttributes {
  const type = errorType(error);
  return error instanceof DatabaseError && error.code !== undefined
    ? { 'db.response.status_code': error.code, 'error.type': type }
    : { 'error.type': type };
}

/**
 * Marks `span` failed with the error's SQLSTATE or class. Never its message: a server message
 * may quote the value it refused.
 */
export function failSpan(span: OtelSpan, error: unknown): void {
  span.setAttributes(errorAttributes(error));
  span.setStatus({ code: STATUS_ERROR, message: errorType(error) });
}
