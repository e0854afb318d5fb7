import { randomFillSync } from 'node:crypto';
import {
  type Context,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';

export interface TracingOptions {
  /** `otlp` sends spans to `endpoint` (OTLP over HTTP); `none` records nothing (and costs nothing). */
  readonly exporter: 'none' | 'otlp';
  readonly endpoint?: string | undefined;
  /** Share of requests traced, 0 to 1; the caller's sampling decision wins when it sends a traceparent. */
  readonly sampleRatio?: number | undefined;
  /** An exporter of the caller's (tests use an in-memory one); spans go to it synchronously. */
  readonly spanExporter?: SpanExporter | undefined;
}

/** A span the caller ends itself (for work that outlives the function that starts it, like a streamed result). */
export interface OpenSpan {
  end(error?: unknown): void;
}

/**
 * The stages of one request, as child spans of its span. Passed along explicitly rather than through an
 * async-context manager: on Node 20 that manager hooks every promise in the process, traced or not.
 */
export interface TraceScope {
  /** Runs `fn` in a child span of the request's span. */
  span<T>(name: string, attributes: Readonly<Record<string, string | number>>, fn: () => Promise<T>): Promise<T>;
  /** Starts a child span of the request's span that the caller ends. */
  open(name: string, attributes?: Readonly<Record<string, string | number>>): OpenSpan;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const noSpan: OpenSpan = { end: () => {} };

/** A scope that records nothing: tracing off, or work outside any request. */
export const NO_TRACE: TraceScope = { span: (_name, _attributes, fn) => fn(), open: () => noSpan };

function scopeOf(tracer: Tracer, parent: Context): TraceScope {
  return {
    async span(name, attributes, fn) {
      const span = tracer.startSpan(name, { attributes }, parent);
      try {
        return await fn();
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
    open(name, attributes = {}) {
      const span = tracer.startSpan(name, { attributes }, parent);
      return {
        end(error?: unknown) {
          if (error !== undefined) fail(span, error);
          span.end();
        },
      };
    },
  };
}

/** Random bytes drawn 4 KiB at a time: one call into the system's generator per 170 requests, not two each. */
const pool = Buffer.alloc(4096);
let poolUsed = pool.length;

/** `bytes` random bytes as hex (trace and span ids of untraced requests). */
function randomHex(bytes: number): string {
  if (poolUsed + bytes > pool.length) {
    randomFillSync(pool);
    poolUsed = 0;
  }
  poolUsed += bytes;
  return pool.toString('hex', poolUsed - bytes, poolUsed);
}

/**
 * One trace per request, with spans for each stage, in OpenTelemetry. W3C `traceparent` is accepted (the request
 * joins the caller's trace) and sent back. With the exporter off, no span is made at all; requests still get a
 * trace id (the caller's, or a new one) for logs and error bodies.
 */
export class Tracing {
  readonly #provider: BasicTracerProvider | undefined;
  readonly #tracer: Tracer | undefined;
  readonly #propagator = new W3CTraceContextPropagator();

  constructor(options: TracingOptions) {
    const exporter =
      options.spanExporter ??
      (options.exporter === 'otlp'
        ? new OTLPTraceExporter(options.endpoint ? { url: options.endpoint } : {})
        : undefined);
    if (!exporter) return;
    this.#provider = new BasicTracerProvider({
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
      spanProcessors: [options.spanExporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
    });
    this.#tracer = this.#provider.getTracer('lakegate');
  }

  /**
   * Runs a request in its own span (a child of the caller's `traceparent`, if any). `fn` gets the trace id, the
   * `traceparent` to send back and the scope its stages make their spans in.
   */
  async request<T>(
    name: string,
    traceparent: string | undefined,
    fn: (ids: { traceId: string; traceparent: string; scope: TraceScope }) => Promise<T>,
  ): Promise<T> {
    const tracer = this.#tracer;
    if (!tracer) {
      const given = traceparent ? TRACEPARENT.exec(traceparent) : null;
      const traceId = given?.[1] ?? randomHex(16);
      return fn({ traceId, traceparent: `00-${traceId}-${randomHex(8)}-00`, scope: NO_TRACE });
    }
    const parent = traceparent
      ? this.#propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter)
      : ROOT_CONTEXT;
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
    const { traceId, spanId, traceFlags } = span.spanContext();
    try {
      return await fn({
        traceId,
        traceparent: `00-${traceId}-${spanId}-0${traceFlags.toString(16)}`,
        // An unsampled request makes no child spans at all.
        scope: span.isRecording() ? scopeOf(tracer, trace.setSpan(ROOT_CONTEXT, span)) : NO_TRACE,
      });
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  async close(): Promise<void> {
    await this.#provider?.shutdown();
  }
}

function fail(span: Span, error: unknown): void {
  const code = (error as { code?: unknown }).code;
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : 'error' });
}
