import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { EngineFactory } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { LocalAggEngine, localAggEngineFactory } from '@lakegate/engine-local-agg';
import { createBlobStore, createStorage, type StorageOptions } from '@lakegate/storage';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Admission, defaultMaxMemoryBytes } from './admission/admission.js';
import { createApp } from './app.js';
import type { GatewayConfig } from './config/config.js';
import { planEngines } from './engines/engine-plan.js';
import { EngineRegistry } from './engines/engine-registry.js';
import type { Logger } from './logging/logger.js';
import { GatewayMetrics } from './observability/metrics.js';
import { Tracing } from './observability/tracing.js';
import { type RunningPostgresServer, startPostgresServer } from './postgres/pg-server.js';
import { QueryLifecycle } from './query/query-lifecycle.js';
import { RollupService } from './rollups/rollup-service.js';
import { defaultReplicaId, SessionService } from './sessions/session-service.js';
import { openState } from './state/gateway-state.js';
import { TrinoQueryRegistry } from './trino/trino-query.js';
import { trinoType } from './trino/trino-types.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /**
   * The built-in engines, which need no `module` in the config; default: DuckDB and local-agg. Engines named by
   * `engines.<id>.module` are loaded alongside them.
   */
  readonly engines?: readonly EngineFactory<unknown>[];
  /** Where spans go instead of the configured exporter (tests pass an in-memory one). */
  readonly spanExporter?: SpanExporter;
}

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  /** The Postgres wire protocol's port, when `server.postgres.enabled`. */
  readonly postgresPort: number | undefined;
  /** Each engine's figures (running queries, ...), by engine id. */
  engineStats(): Readonly<Record<string, ReturnType<EngineRegistry['get']>['stats'] extends () => infer S ? S : never>>;
  /** What an engine keeps for a tenant that queries could change (see `Engine.inspectTenant`); `{}` if nothing. */
  inspectTenant(engine: string, tenant: string): Promise<Readonly<Record<string, unknown>>>;
  /** Stops accepting connections, lets running queries finish within the grace period, then cancels them. */
  close(): Promise<void>;
}

/** The engines every gateway has; a section under their id configures them. */
const BUILT_IN_ENGINES: readonly EngineFactory<unknown>[] = [
  duckdbEngineFactory as EngineFactory<unknown>,
  localAggEngineFactory as EngineFactory<unknown>,
];

/** The storage layer's options from the gateway's configuration. */
export function storageOptions(config: GatewayConfig, logger?: Logger): StorageOptions {
  const { storage } = config;
  return {
    cacheDir: storage.cacheDir,
    cacheMaxBytes: storage.cacheMaxBytes,
    s3: storage.s3,
    fetchConcurrency: storage.fetchConcurrency,
    warming: storage.warming.enabled
      ? { intervalSeconds: storage.warming.intervalSeconds, lookaheadMs: storage.warming.lookaheadMinutes * 60_000 }
      : undefined,
    tenants: Object.fromEntries(
      Object.entries(config.tenants).map(([id, t]) => [id, { cacheMaxBytes: t.cacheMaxBytes, datasets: t.datasets }]),
    ),
    logger,
  };
}

/** Starts a gateway: storage, engines and the HTTP server, bound to `server.host:server.port`. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger } = options;
  // Engines are loaded and their configs checked before anything starts, so a bad one leaves nothing to clean up.
  const specs = await planEngines({
    engines: config.engines,
    defaultEngine: config.query.defaultEngine,
    tenants: config.tenants,
    builtIns: options.engines ?? BUILT_IN_ENGINES,
    source: config.source,
  });
  // A rollup's dataset folder exists from the start, so that listing it before its first interval finds it empty.
  for (const tenant of Object.values(config.tenants)) {
    for (const name of Object.keys(tenant.rollups)) {
      const location = tenant.datasets[name]?.location;
      if (location?.kind === 'file') await mkdir(location.path, { recursive: true });
    }
  }
  const storage = await createStorage(storageOptions(config, logger.child({ component: 'storage' })));
  const engines = await EngineRegistry.create({
    specs,
    deps: { storage, logger: logger.child({ component: 'engine' }) },
    limits: { maxConcurrent: config.query.maxConcurrentQueries, maxQueued: config.query.maxConcurrentQueries * 4 },
    source: config.source,
  }).catch(async (error: unknown) => {
    await storage.close();
    throw error;
  });
  for (const spec of specs) {
    if (spec.module) logger.info('engine.loaded', { engine: spec.id, module: spec.module.specifier });
  }
  let shuttingDown = false;
  const admission = new Admission({
    global: config.limits,
    tenant: (tenant) => config.tenants[tenant]?.limits ?? {},
    maxMemoryBytes: config.limits.maxMemoryBytes ?? defaultMaxMemoryBytes(),
  });
  const metrics = new GatewayMetrics({ tenants: Object.keys(config.tenants), storage, engines, admission });
  const tracing = new Tracing({ ...config.observability.tracing, spanExporter: options.spanExporter });
  const stateLogger = logger.child({ component: 'state' });
  // The replica id needs the port, known only once listening: the services are created now, started below.
  let replicaId = config.state.replicaId ?? '';
  const state = openState(config.state, { logger: stateLogger });
  const results = createBlobStore(config.state.resultsLocation, () => storage.s3Client());
  // Rollups compute on their own worker threads, so that dashboards never wait behind an interval.
  const rollupEngine = new LocalAggEngine({ threads: 2, inlineBytes: 4 * 1024 * 1024, rangeBytes: 16 * 1024 * 1024 });
  const rollups = new RollupService({
    config,
    storage,
    ledger: state.ledger,
    engines,
    engine: rollupEngine,
    sink: createBlobStore(config.rollups.location, () => storage.s3Client()),
    logger: logger.child({ component: 'rollups' }),
    replicaId: () => replicaId,
  });
  if (rollups.enabled) metrics.watchRollups(rollups);
  const queries = new QueryLifecycle({
    config,
    storage,
    engines,
    admission,
    metrics,
    rollups,
    typeName: (type) => trinoType(type).type,
  });
  const sessions = new SessionService({
    store: state.sessions,
    bus: state.bus,
    results,
    queries,
    config,
    logger: logger.child({ component: 'sessions' }),
    onStatementEnd: (tenant, state, seconds) => metrics.statementDuration.record(seconds, { tenant, state }),
    get replicaId() {
      return replicaId;
    },
  });
  metrics.watchSessions(sessions);
  const trino = new TrinoQueryRegistry(config.trino.abandonAfterSeconds * 1000, 300_000);
  const app = createApp({
    config,
    storage,
    engines,
    logger,
    queries,
    sessions,
    trino,
    rollups: rollups.enabled ? rollups : undefined,
    metrics,
    tracing,
    isShuttingDown: () => shuttingDown,
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  let postgres: RunningPostgresServer | undefined;
  if (config.server.postgres.enabled) {
    postgres = await startPostgresServer({
      config,
      queries,
      logger: logger.child({ component: 'postgres' }),
      tracing,
    }).catch(async (error: unknown) => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw error;
    });
  }
  replicaId ||= defaultReplicaId(port);
  // Give Redis a moment so the first requests find it; start regardless (session calls answer 503 until it is up).
  await state.ready(3000);
  await sessions.start();
  rollups.start();
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    postgresPort: postgres?.port,
    engineStats: () => Object.fromEntries(engines.ids.map((id) => [id, engines.get(id).stats()])),
    inspectTenant: async (engine, tenant) => (await engines.get(engine).inspectTenant(tenant)) ?? {},
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const postgresStopped = postgres?.close();
        await sessions.close();
        await rollups.close();
        await rollupEngine.close();
        trino.close();
        await engines.close(config.server.shutdownGraceMs);
        if ('closeAllConnections' in server) server.closeAllConnections();
        await stopped;
        await postgresStopped;
        await storage.close();
        await state.close();
        await metrics.close();
        await tracing.close();
      })();
      return closing;
    },
  };
}
