import { createHistogram } from 'node:perf_hooks';
import type { Storage } from '@lakegate/storage';
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { Admission } from '../admission/admission.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import { type LatencyHistogram, LatencyHistograms } from './latency-histograms.js';

export interface MetricsSources {
  /** Read at each scrape: a configuration reload may change it. */
  readonly tenants: readonly string[];
  readonly storage: Storage;
  readonly engines: EngineRegistry;
  readonly admission: Admission;
}

/**
 * Bucket bounds of the latency histograms, in seconds: from a millisecond to ten minutes. (The SDK's default bounds,
 * 0 to 10000, are meant for milliseconds and would put every query of under five seconds in one bucket.)
 */
const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

/**
 * Measures how late a 10 ms timer fires, in windows that each scrape closes. (Node's monitorEventLoopDelay forgets
 * its last tick on reset, so a stall that begins right after a scrape would go unseen.)
 */
class LoopDelayMonitor {
  static readonly #INTERVAL_MS = 10;
  #window = createHistogram();
  #last = performance.now();
  readonly #timer = setInterval(() => {
    const now = performance.now();
    const lateNs = (now - this.#last - LoopDelayMonitor.#INTERVAL_MS) * 1e6;
    this.#window.record(Math.max(1, Math.round(lateNs)));
    this.#last = now;
  }, LoopDelayMonitor.#INTERVAL_MS).unref();

  /** The window's p50, p99 and max delay in seconds (0 when no tick ran), and a new window. */
  takeWindow(): { p50: number; p99: number; max: number } {
    const window = this.#window;
    this.#window = createHistogram();
    if (window.count === 0) return { p50: 0, p99: 0, max: 0 };
    return { p50: window.percentile(50) / 1e9, p99: window.percentile(99) / 1e9, max: window.max / 1e9 };
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * The gateway's metrics, with OpenTelemetry, served in Prometheus text format at GET /metrics. Latencies are
 * histograms by tenant, engine and outcome; queue, cache and engine figures are read when scraped.
 */
export class GatewayMetrics {
  /** Latencies, recorded by every request: aggregated by the gateway itself and exported with the SDK's metrics. */
  readonly #histograms = new LatencyHistograms(LATENCY_BUCKETS_SECONDS);
  readonly #exporter = new PrometheusExporter({
    preventServerStart: true,
    withoutScopeInfo: true,
    withoutTargetInfo: true,
    metricProducers: [this.#histograms],
  });
  readonly #provider = new MeterProvider({ readers: [this.#exporter] });
  readonly #serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  readonly requestDuration: LatencyHistogram<'method' | 'route' | 'status' | 'tenant'>;
  readonly queryDuration: LatencyHistogram<'tenant' | 'engine' | 'outcome'>;
  readonly admissionWait: LatencyHistogram<'tenant'>;
  readonly statementDuration: LatencyHistogram<'tenant' | 'state'>;
  readonly #meter: Meter;
  readonly #sources: MetricsSources;
  readonly #loopDelay = new LoopDelayMonitor();

  constructor(sources: MetricsSources) {
    const meter = this.#provider.getMeter('lakegate');
    this.#meter = meter;
    this.#sources = sources;
    meter
      .createObservableGauge('lakegate_event_loop_delay_seconds', {
        description:
          "How late the event loop ran its timers since the previous scrape (p50, p99, max): a stalled loop delays every tenant's requests",
        unit: 's',
      })
      .addCallback((result) => {
        const { p50, p99, max } = this.#loopDelay.takeWindow();
        result.observe(p50, { quantile: '0.5' });
        result.observe(p99, { quantile: '0.99' });
        result.observe(max, { quantile: '1' });
      });
    const histograms = this.#histograms;
    this.statementDuration = histograms.create(
      'lakegate_statement_duration_seconds',
      'Session statements from submission to their final state (available, error, cancelled), by tenant',
      ['tenant', 'state'],
    );
    this.requestDuration = histograms.create(
      'lakegate_http_request_duration_seconds',
      'HTTP request latency, by route, status and tenant',
      ['method', 'route', 'status', 'tenant'],
    );
    this.queryDuration = histograms.create(
      'lakegate_query_duration_seconds',
      'Query latency from admission to the end of its result, by tenant, engine and outcome',
      ['tenant', 'engine', 'outcome'],
    );
    this.admissionWait = histograms.create(
      'lakegate_admission_wait_seconds',
      'Time queries waited in the admission queue, by tenant',
      ['tenant'],
    );
    meter
      .createObservableGauge('lakegate_admission_queries', { description: 'Queries running and queued, by tenant' })
      .addCallback((result) => {
        for (const [tenant, figures] of Object.entries(sources.admission.stats().byTenant)) {
          result.observe(figures.running, { tenant, state: 'running' });
          result.observe(figures.queued, { tenant, state: 'queued' });
        }
      });
    const cacheCounter = (
      name: string,
      key: 'hits' | 'misses' | 'originBytes' | 'evictions' | 'refreshes',
      description: string,
    ) =>
      meter.createObservableCounter(name, { description }).addCallback((result) => {
        for (const tenant of sources.tenants) result.observe(sources.storage.metrics(tenant)[key], { tenant });
      });
    cacheCounter('lakegate_cache_hits', 'hits', 'Queries whose datasets were entirely in the cache');
    cacheCounter('lakegate_cache_misses', 'misses', 'Queries that waited for the origin');
    cacheCounter('lakegate_cache_origin_bytes', 'originBytes', 'Bytes read from the origin');
    cacheCounter('lakegate_cache_evictions', 'evictions', 'Files evicted to make room');
    cacheCounter('lakegate_dataset_refreshes', 'refreshes', 'Listings of dataset locations');
    meter
      .createObservableGauge('lakegate_cache_bytes', { description: 'Bytes cached, by tenant' })
      .addCallback((result) => {
        for (const tenant of sources.tenants) result.observe(sources.storage.metrics(tenant).bytesCached, { tenant });
      });
    meter
      .createObservableGauge('lakegate_engine_gauge', {
        description: "Engines' own gauges (DuckDB instances open, ...)",
      })
      .addCallback((result) => {
        for (const id of sources.engines.ids) {
          const stats = sources.engines.get(id).stats();
          result.observe(stats.activeQueries, { engine: id, gauge: 'activeQueries' });
          for (const [gauge, value] of Object.entries(stats.gauges ?? {})) result.observe(value, { engine: id, gauge });
        }
      });
  }

  /** Rollup lag and audit mismatches, read from the orchestrator at each scrape. */
  watchRollups(rollups: {
    lags(): Promise<{ tenant: string; rollup: string; seconds: number; auditMismatches: number }[]>;
  }): void {
    const lag = this.#meter.createObservableGauge('lakegate_rollup_lag_seconds', {
      description: 'Seconds between now and the end of the newest computed interval, by tenant and rollup',
      unit: 's',
    });
    const mismatches = this.#meter.createObservableGauge('lakegate_rollup_audit_mismatches', {
      description: 'Intervals whose last count audit found other rows than the source has, by tenant and rollup',
    });
    // Both from one read of every rollup's records per scrape.
    this.#meter.addBatchObservableCallback(
      async (result) => {
        const lags = await rollups.lags().catch(() => []);
        for (const { tenant, rollup, seconds, auditMismatches } of lags) {
          result.observe(lag, seconds, { tenant, rollup });
          result.observe(mismatches, auditMismatches, { tenant, rollup });
        }
      },
      [lag, mismatches],
    );
  }

  /**
   * Session figures, known once the session service exists: statements waiting and running on this replica, and
   * open sessions per tenant from the session store (left out of a scrape while the store is unreachable).
   */
  watchSessions(sessions: {
    localStatements(): Record<string, { waiting: number; running: number }>;
    countSessions(tenant: string): Promise<number>;
  }): void {
    this.#meter
      .createObservableGauge('lakegate_statements', {
        description: 'Session statements waiting and running on this replica, by tenant',
      })
      .addCallback((result) => {
        const counts = sessions.localStatements();
        for (const tenant of this.#sources.tenants) {
          result.observe(counts[tenant]?.waiting ?? 0, { tenant, state: 'waiting' });
          result.observe(counts[tenant]?.running ?? 0, { tenant, state: 'running' });
        }
      });
    this.#meter
      .createObservableGauge('lakegate_sessions', { description: 'Open sessions across replicas, by tenant' })
      .addCallback(async (result) => {
        const tenants = this.#sources.tenants;
        const counts = await Promise.all(
          tenants.map((tenant) => sessions.countSessions(tenant).catch(() => undefined)),
        );
        tenants.forEach((tenant, i) => {
          const count = counts[i];
          if (count !== undefined) result.observe(count, { tenant });
        });
      });
  }

  /** Which configuration is live: `lakegate_config_info{version}` is 1 for the version serving now. */
  /** The Postgres protocol's connections: every socket open, and the logged-in ones by tenant. */
  watchPostgres(connections: () => { open: number; byTenant: Readonly<Record<string, number>> }): void {
    this.#meter
      .createObservableGauge('lakegate_postgres_sockets', {
        description: 'Postgres protocol connections open on this replica, logging in or logged in',
      })
      .addCallback((result) => result.observe(connections().open));
    this.#meter
      .createObservableGauge('lakegate_postgres_connections', {
        description: 'Logged-in Postgres protocol connections on this replica, by tenant',
      })
      .addCallback((result) => {
        const { byTenant } = connections();
        for (const tenant of this.#sources.tenants) result.observe(byTenant[tenant] ?? 0, { tenant });
      });
  }

  watchConfig(version: () => string): void {
    const seen = new Set<string>();
    this.#meter
      .createObservableGauge('lakegate_config_info', {
        description: 'The configuration serving now, by version (a hash of its content): 1',
      })
      .addCallback((result) => {
        // Versions seen before stay in the export (the SDK keeps an instrument's last value per attributes): they
        // are reported 0, so that exactly one version reads 1.
        const now = version();
        seen.add(now);
        for (const v of seen) result.observe(v === now ? 1 : 0, { version: v });
      });
  }

  /** Every metric, in Prometheus text exposition format. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.#exporter.collect();
    return this.#serializer.serialize(resourceMetrics);
  }

  async close(): Promise<void> {
    this.#loopDelay.stop();
    await this.#provider.shutdown();
  }
}
