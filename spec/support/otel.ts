/**
 * The real OpenTelemetry SDK, registered globally for a spec (as an application registers it):
 * spans into an in-memory exporter, metrics through a reader the spec collects, contexts through
 * AsyncLocalStorage. `uninstall()` takes every global back, so other specs run without an SDK.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';

/** A reader that exports nothing by itself: the spec calls collect(). */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** One metric data point, flattened. */
export interface Point {
  readonly name: string;
  readonly attributes: Record<string, unknown>;
  /** A sum's or gauge's value; a histogram's count. */
  readonly value: number;
  /** A histogram's sum. */
  readonly sum?: number;
}

/** The SDK registered for a spec. */
export interface InstalledOtel {
  /** Finished spans, oldest first. */
  spans(): ReadableSpan[];
  /** Forgets the finished spans. */
  reset(): void;
  /** Collects every metric now. */
  collect(): Promise<Point[]>;
  /** A tracer of the application's own. */
  readonly tracer: ReturnType<typeof trace.getTracer>;
  /** Takes the globals back (idempotent). */
  uninstall(): Promise<void>;
}

/** Registers a tracer provider, a meter provider and the AsyncLocalStorage context manager globally. */
export function installOtel(): InstalledOtel {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!trace.setGlobalTracerProvider(tracerProvider)) throw new Error('a tracer provider is already registered');
  metrics.setGlobalMeterProvider(meterProvider);
  context.setGlobalContextManager(contextManager);
  let installed = true;
  return {
    spans: () => exporter.getFinishedSpans().slice(),
    reset: () => exporter.reset(),
    collect: async () => flatten((await reader.collect()).resourceMetrics),
    tracer: tracerProvider.getTracer('application'),
    uninstall: async () => {
      if (!installed) return;
      installed = false;
      trace.disable();
      metrics.disable();
      context.disable();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

function flatten(resource: ResourceMetrics): Point[] {
  const points: Point[] = [];
  for (const scope of resource.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]) {
        const value = point.value;
        if (typeof value === 'number') {
          points.push({ name: metric.descriptor.name, attributes: point.attributes, value });
        } else {
          const histogram = value as { count: number; sum?: number };
          points.push({
            name: metric.descriptor.name,
            attributes: point.attributes,
            value: histogram.count,
            ...(histogram.sum === undefined ? {} : { sum: histogram.sum }),
          });
        }
      }
    }
  }
  return points;
}

/** The span's parent span id, or undefined for a root. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** Every string in a span that an exporter sends: name, attributes, status, events and links. */
export function exportedStrings(span: ReadableSpan): string[] {
  const out = [span.name, span.status.message ?? ''];
  const add = (attributes: Record<string, unknown> | undefined): void => {
    for (const [key, value] of Object.entries(attributes ?? {})) out.push(key, String(value));
  };
  add(span.attributes);
  for (const event of span.events) {
    out.push(event.name);
    add(event.attributes);
  }
  for (const link of span.links) add(link.attributes);
  return out;
}
