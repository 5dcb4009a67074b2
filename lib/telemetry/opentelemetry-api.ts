/**
 * The one boundary to the optional peer dependency @opentelemetry/api: loaded on first use with
 * `require` (so an application without it pays nothing and sees no import error), and described
 * by the few structural types the package uses, so that no emitted declaration names the package.
 * The registry behind the API is global (shared by every copy and module format of it), so the
 * application's SDK registered through its own import is the one this copy reports to.
 */
import { createRequire } from 'node:module';

/** Attribute values the package sets: never a row value, parameter, name, e-mail or password. */
export type OtelAttributes = Record<string, string | number | boolean>;

/** Opaque OpenTelemetry context. */
export type OtelContext = object;

/** The part of an OpenTelemetry Span the package uses. */
export interface OtelSpan {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setAttributes(attributes: OtelAttributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(endTime?: number): void;
  isRecording(): boolean;
}

/** Options of Tracer.startSpan the package uses. */
export interface OtelSpanOptions {
  kind?: number;
  attributes?: OtelAttributes;
  /** Milliseconds since the epoch. */
  startTime?: number;
}

/** The part of an OpenTelemetry Tracer the package uses. */
export interface OtelTracer {
  startSpan(name: string, options?: OtelSpanOptions, context?: OtelContext): OtelSpan;
}

/** The part of an OpenTelemetry TracerProvider the package uses. */
export interface OtelTracerProvider {
  getTracer(name: string, version?: string): OtelTracer;
  /**
   * The API's ProxyTracerProvider (what `trace.getTracerProvider()` returns in API 1.10, with or
   * without an SDK behind it) has this: the registered SDK's tracer, or undefined while none is.
   */
  getDelegateTracer?(name: string, version?: string): OtelTracer | undefined;
}

/** A synchronous instrument that adds or records a value. */
export interface OtelRecorder {
  record?(value: number, attributes?: OtelAttributes): void;
  add?(value: number, attributes?: OtelAttributes): void;
}

/** What an observable callback reports to. */
export interface OtelObservableResult {
  observe(instrument: object, value: number, attributes?: OtelAttributes): void;
}

/** Options of an instrument. */
export interface OtelInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** The part of an OpenTelemetry Meter the package uses. */
export interface OtelMeter {
  createHistogram(
    name: string,
    options?: OtelInstrumentOptions,
  ): { record(value: number, attributes?: OtelAttributes): void };
  createCounter(
    name: string,
    options?: OtelInstrumentOptions,
  ): { add(value: number, attributes?: OtelAttributes): void };
  createObservableUpDownCounter(name: string, options?: OtelInstrumentOptions): object;
  createObservableGauge(name: string, options?: OtelInstrumentOptions): object;
  addBatchObservableCallback(callback: (result: OtelObservableResult) => void, observables: object[]): void;
  removeBatchObservableCallback(callback: (result: OtelObservableResult) => void, observables: object[]): void;
}

/** The part of an OpenTelemetry MeterProvider the package uses. */
export interface OtelMeterProvider {
  getMeter(name: string, version?: string): OtelMeter;
}

/** The part of @opentelemetry/api the package uses (a type spec checks the real one fits). */
export interface OpenTelemetryApi {
  readonly trace: {
    getTracerProvider(): OtelTracerProvider;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
  };
  readonly context: {
    active(): OtelContext;
    with<R>(context: OtelContext, fn: () => R): R;
  };
  readonly metrics: { getMeterProvider(): OtelMeterProvider };
  /** The meter of the no-op provider `metrics.getMeterProvider()` returns while no SDK is registered. */
  createNoopMeter(): OtelMeter;
}

/** SpanKind.INTERNAL and SpanKind.CLIENT, as the API numbers them. */
export const SPAN_KIND = { internal: 0, client: 2 } as const;
/** SpanStatusCode.ERROR, as the API numbers it. */
export const STATUS_ERROR = 2;

let loaded: { readonly api: OpenTelemetryApi | undefined } | undefined;

/**
 * @opentelemetry/api when the application has it installed, else undefined (looked up once per
 * process). Never throws.
 */
export function openTelemetryApi(): OpenTelemetryApi | undefined {
  loaded ??= { api: load() };
  return loaded.api;
}

function load(): OpenTelemetryApi | undefined {
  try {
    const api = createRequire(import.meta.url)('@opentelemetry/api') as Partial<OpenTelemetryApi>;
    const usable =
      typeof api.trace?.getTracerProvider === 'function' &&
      typeof api.context?.with === 'function' &&
      typeof api.metrics?.getMeterProvider === 'function' &&
      typeof api.createNoopMeter === 'function';
    return usable ? (api as OpenTelemetryApi) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether @opentelemetry/instrumentation-pg (or another shimmer-based wrapper) has wrapped pg's
 * `Client.prototype.query`: it then reports every statement the package sends, and the package's
 * own statement spans would report each one twice. Never throws.
 */
export function pgQueryIsWrapped(clientPrototype: object): boolean {
  const query = (clientPrototype as { query?: unknown }).query;
  return typeof query === 'function' && (query as { __wrapped?: unknown }).__wrapped === true;
}
