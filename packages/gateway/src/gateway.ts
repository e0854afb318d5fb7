import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { type EngineFactory, type HeldTableConfig, LakegateError } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { localAggEngineFactory } from '@lakegate/engine-local-agg';
import { createBlobStore, createStorage, type StorageOptions } from '@lakegate/storage';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Admission, defaultMaxMemoryBytes } from './admission/admission.js';
import { createApp } from './app.js';
import { ApiKeyIndex } from './auth/api-keys.js';
import { ConfigError, type GatewayConfig } from './config/config.js';
import { configVersion, planReload } from './config/config-reload.js';
import { checkLocations } from './datasets/location-checks.js';
import { planEngines } from './engines/engine-plan.js';
import { EngineRegistry } from './engines/engine-registry.js';
import type { Logger } from './logging/logger.js';
import { CacheTrend } from './observability/cache-trend.js';
import { GatewayMetrics } from './observability/metrics.js';
import { QueryOverview } from './observability/query-overview.js';
import { Tracing } from './observability/tracing.js';
import { type RunningPostgresServer, startPostgresServer } from './postgres/pg-server.js';
import { QueryLifecycle } from './query/query-lifecycle.js';
import { hasRollups, ReloadableRollups } from './rollups/gateway-rollups.js';
import { defaultReplicaId, type LocalStatementCounts, SessionService } from './sessions/session-service.js';
import { openState } from './state/gateway-state.js';
import { MAX_SHARED_RUNNING, type ReplicaStatus } from './state/replica-bus.js';
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
  /** Reads the configuration again, for `POST /v1/admin/reload` (the config file, as at start). */
  readonly loadConfig?: () => GatewayConfig | undefined;
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
  /**
   * Takes a new configuration without dropping a connection or a query: tenants, keys, datasets, limits and
   * rollups change at once; gateway-wide settings wait for a restart (named in the report).
   */
  reload(next: GatewayConfig): Promise<ReloadReport>;
  /** Reads the configuration again with `GatewayOptions.loadConfig` and applies it; INVALID_REQUEST if invalid. */
  reloadFromSource(): Promise<ReloadReport>;
  /** Drains (see the README's Operations), then stops. */
  close(): Promise<void>;
}

export interface ReloadReport {
  /** The version now serving (a hash of the configuration). */
  readonly version: string;
  /** `tenant/dataset` names of datasets added, changed and removed. */
  readonly datasets: {
    readonly added: readonly string[];
    readonly changed: readonly string[];
    readonly removed: readonly string[];
  };
  readonly restartNeeded: readonly string[];
}

/** How often a replica shares its Overview figures with the others. */
const OVERVIEW_SHARE_MS = 5000;
/**
 * Connections the kernel may hold waiting to be accepted. It caps them at net.core.somaxconn: a host raised for many
 * clients gets all it allows (see the README).
 */
const LISTEN_BACKLOG = 65_535;
/** How often the cache's totals are sampled for its hit ratio per minute. */
const CACHE_TREND_SAMPLE_MS = 10_000;

/** The engines every gateway has; a section under their id configures them. */
export const BUILT_IN_ENGINES: readonly EngineFactory<unknown>[] = [
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

/** Statements of every tenant on this replica. */
function totalStatements(counts: LocalStatementCounts): { running: number; waiting: number } {
  let running = 0;
  let waiting = 0;
  for (const figures of Object.values(counts)) {
    running += figures.running;
    waiting += figures.waiting;
  }
  return { running, waiting };
}

/** Why the server could not listen, in one line an operator can act on. */
function listenError(error: unknown, host: string, port: number): Error {
  const code = (error as { code?: string }).code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new ConfigError(
      'server',
      [
        `server.port: ${where} is already in use by another process: stop it, or choose another port (server.port or LAKEGATE_PORT)`,
      ],
      'Cannot listen',
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new ConfigError(
      'server',
      [
        `server.host, server.port: cannot listen on ${where} (${code === 'EACCES' ? 'permission denied' : 'no such address on this machine'})`,
      ],
      'Cannot listen',
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Starts a gateway: storage, engines and the HTTP server, bound to `server.host:server.port`. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger } = options;
  // Engines are loaded and their configs checked before anything starts, so a bad one leaves nothing to clean up.
  const specs = await planEngines({
    engines: config.engines,
    defaultEngine: config.query.defaultEngine,
    // Only a gateway with rollups audits them: one without needs no audit engine.
    auditEngine: Object.values(config.tenants).some((t) => Object.keys(t.rollups).length > 0)
      ? config.rollups.auditEngine
      : undefined,
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
  await checkLocations(config, storage, logger).catch(async (error: unknown) => {
    await storage.close();
    throw error;
  });
  const engines = await EngineRegistry.create({
    specs,
    deps: { storage, logger: logger.child({ component: 'engine' }) },
    limits: { maxConcurrent: config.query.maxConcurrentQueries, maxQueued: config.query.maxConcurrentQueries * 4 },
    source: config.source,
  }).catch(async (error: unknown) => {
    await storage.close();
    throw error;
  });
  // Each engine judges the tables it holds for tenants (a row filter its server cannot enforce fails the start).
  const tableProblems = await heldTableProblems(config, engines);
  if (tableProblems.length > 0) {
    await engines.close(0);
    await storage.close();
    throw new ConfigError(config.source, tableProblems);
  }
  for (const spec of specs) {
    if (spec.module) logger.info('engine.loaded', { engine: spec.id, module: spec.module.specifier });
  }
  let shuttingDown = false;
  const startedAt = Date.now();
  /** The configuration serving now: a reload replaces it, and everything per tenant reads it through this. */
  let current = config;
  let version = configVersion(config);
  const admission = new Admission({
    global: config.limits,
    tenant: (tenant) => current.tenants[tenant]?.limits ?? {},
    maxMemoryBytes: config.limits.maxMemoryBytes ?? defaultMaxMemoryBytes(),
  });
  const metrics = new GatewayMetrics({
    get tenants() {
      return Object.keys(current.tenants);
    },
    storage,
    engines,
    admission,
  });
  metrics.watchConfig(() => version);
  const tracing = new Tracing({ ...config.observability.tracing, spanExporter: options.spanExporter });
  const stateLogger = logger.child({ component: 'state' });
  // The replica id needs the port, known only once listening: the services are created now, started below.
  let replicaId = config.state.replicaId ?? '';
  const state = openState(config.state, { logger: stateLogger });
  const results = createBlobStore(config.state.resultsLocation, () => storage.s3Client());
  // Rollups compute on the engines like queries, through the managed layer: undefined when no tenant has any.
  const rollups = ReloadableRollups.create({
    config,
    storage,
    ledger: state.ledger,
    engines,
    sink: createBlobStore(config.rollups.location, () => storage.s3Client()),
    logger: logger.child({ component: 'rollups' }),
    replicaId: () => replicaId,
  });
  if (rollups) metrics.watchRollups(rollups.admin);
  const history = config.history.enabled
    ? state.history(
        { maxPerTenant: config.history.maxPerTenant, retentionMs: config.history.retentionHours * 3_600_000 },
        () => Object.keys(current.tenants),
      )
    : undefined;
  const overview = new QueryOverview();
  const cacheTrend = new CacheTrend((tenant) => storage.metrics(tenant));
  const queries = new QueryLifecycle({
    history,
    overview,
    get config() {
      return current;
    },
    storage,
    engines,
    admission,
    metrics,
    rollups: rollups?.answerer,
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
    status: (): ReplicaStatus => ({
      id: replicaId,
      startedAt,
      beatAt: Date.now(),
      configVersion: version,
      draining: shuttingDown,
      statements: totalStatements(sessions.localStatements()),
      running: queries.running().slice(0, MAX_SHARED_RUNNING),
      activeQueries: queries.activeQueries,
    }),
  });
  metrics.watchSessions(sessions);
  // An operator's or tenant's cancel sent to another replica reaches the one running the query.
  state.bus.onQueryCancel((cancel) => queries.cancel(cancel.queryId, cancel.tenant, cancel.by));
  const trino = new TrinoQueryRegistry(config.trino.abandonAfterSeconds * 1000, 300_000);
  const keys = new ApiKeyIndex(config.tenants, config.admin.apiKeys);
  const app = createApp({
    config,
    keys,
    reload: () => reloadFromSource(),
    tenants: () => Object.keys(current.tenants),
    history,
    overview,
    overviewStore: state.overview,
    bus: state.bus,
    replicaId: () => replicaId,
    cacheTrend,
    admission,
    storage,
    engines,
    logger,
    queries,
    sessions,
    trino,
    rollups,
    metrics,
    tracing,
    isShuttingDown: () => shuttingDown,
  });

  const server = await new Promise<ReturnType<typeof createAdaptorServer>>((resolve, reject) => {
    const s = createAdaptorServer({ fetch: app.fetch, hostname: config.server.host });
    s.once('error', reject);
    // Node closes idle connections after 5 s, just when dashboards polling every few seconds send on them.
    if ('keepAliveTimeout' in s) {
      s.keepAliveTimeout = config.server.keepAliveTimeoutMs;
      // A request's headers may take as long as the connection may idle before them.
      s.headersTimeout = config.server.keepAliveTimeoutMs + 1000;
    }
    // Thousands of clients connecting at once wait in the kernel's queue rather than being dropped and retrying
    // seconds later (the kernel caps it at net.core.somaxconn).
    s.listen({ port: config.server.port, host: config.server.host, backlog: LISTEN_BACKLOG }, () => resolve(s));
  }).catch(async (error: unknown) => {
    // Nothing may stay open behind a gateway that could not listen: it would keep the process alive.
    await Promise.allSettled([sessions.close(), rollups?.close(), engines.close(0)]);
    trino.close();
    await Promise.allSettled([storage.close(), state.close(), metrics.close(), tracing.close()]);
    throw listenError(error, config.server.host, config.server.port);
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
  if (postgres) {
    const running = postgres;
    metrics.watchPostgres(() => running.connections());
  }
  replicaId ||= defaultReplicaId(port);
  // Give Redis a moment so the first requests find it; start regardless (session calls answer 503 until it is up).
  await state.ready(3000);
  await sessions.start();
  rollups?.start();
  // Replicas share their Overview figures through the state store every few seconds (Redis only).
  const overviewStore = state.overview;
  const sharing = overviewStore
    ? setInterval(() => void overview.publish(overviewStore, replicaId).catch(() => undefined), OVERVIEW_SHARE_MS)
    : undefined;
  sharing?.unref();
  // The cache's totals are sampled every few seconds, so that each minute's hit ratio is its own.
  const trendSampling = setInterval(() => cacheTrend.sample(Object.keys(current.tenants)), CACHE_TREND_SAMPLE_MS);
  trendSampling.unref();
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;

  /** Applies a new configuration (see RunningGateway.reload); one at a time. */
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (next: GatewayConfig): Promise<ReloadReport> => {
    const run = reloading.then(async (): Promise<ReloadReport> => {
      const plan = planReload(current, next);
      const problems = Object.entries(plan.config.tenants).flatMap(([id, tenant]) => [
        ...(tenant.defaultEngine !== undefined && !engines.ids.includes(tenant.defaultEngine)
          ? [`tenants.${id}.defaultEngine: "${tenant.defaultEngine}" is not one of ${engines.ids.join(', ')}`]
          : []),
        ...Object.entries(tenant.engineTables)
          .filter(([, held]) => !engines.ids.includes(held.engine))
          .map(
            ([name, held]) =>
              `tenants.${id}.datasets.${name}.engine: "${held.engine}" is not one of ${engines.ids.join(', ')}`,
          ),
      ]);
      if (!rollups && hasRollups(plan.config))
        problems.push('rollups: no engine of the gateway computes rollups (implements RollupComputer)');
      if (problems.length > 0) throw new ConfigError(next.source, problems);
      await checkLocations(plan.config, storage, logger);
      const datasets = await storage.reconfigure(storageOptions(plan.config).tenants);
      current = plan.config;
      version = configVersion(current);
      keys.replace(current.tenants, current.admin.apiKeys);
      postgres?.reconfigure(current.tenants);
      queries.reconfigured();
      await rollups?.reconfigure(current);
      logger.info('config.reloaded', { version, ...datasets, restartNeeded: plan.restartNeeded });
      return { version, datasets, restartNeeded: plan.restartNeeded };
    });
    reloading = run.catch(() => undefined);
    return run;
  };

  /**
   * Reads the configuration again and applies it (SIGHUP, POST /v1/admin/reload). An invalid one changes nothing:
   * every problem is logged, and the admin route answers them.
   */
  const reloadFromSource = async (): Promise<ReloadReport> => {
    try {
      const next = options.loadConfig?.();
      if (!next) throw new LakegateError('INVALID_REQUEST', 'This gateway has no configuration file to reload.');
      return await reload(next);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.warn('config.reload_refused', { version, problems: error.problems });
      throw new LakegateError(
        'INVALID_REQUEST',
        `The new configuration is invalid, so the one serving (version ${version}) stays: ${error.problems.join('; ')}`,
        { details: { problems: error.problems } },
      );
    }
  };

  let closing: Promise<void> | undefined;
  return {
    reload,
    reloadFromSource,
    url: `http://${host}:${port}`,
    port,
    postgresPort: postgres?.port,
    engineStats: () => Object.fromEntries(engines.ids.map((id) => [id, engines.get(id).stats()])),
    inspectTenant: async (engine, tenant) => (await engines.get(engine).inspectTenant(tenant)) ?? {},
    close() {
      closing ??= (async () => {
        // Draining: /readyz answers 503 at once, so load balancers move traffic away, while the listener keeps
        // answering: new queries get SHUTTING_DOWN, running ones finish within the grace period or end with a
        // complete QUERY_CANCELLED answer in their protocol. Only then does the listener close.
        shuttingDown = true;
        const grace = config.server.shutdownGraceMs;
        // Statements end first, with SHUTTING_DOWN; the lifecycle then cancels whatever else still runs.
        await Promise.all([sessions.drain(grace), queries.drain(grace + 100)]);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const postgresStopped = postgres?.close();
        await sessions.close();
        await rollups?.close();
        clearInterval(sharing);
        clearInterval(trendSampling);
        if (overviewStore) await overview.publish(overviewStore, replicaId).catch(() => undefined);
        trino.close();
        await engines.close(0);
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

/** What the engines say of the tables tenants configured as held by them. */
async function heldTableProblems(config: GatewayConfig, engines: EngineRegistry): Promise<string[]> {
  const byEngine = new Map<string, HeldTableConfig[]>();
  for (const [tenant, settings] of Object.entries(config.tenants)) {
    for (const [name, held] of Object.entries(settings.engineTables)) {
      const list = byEngine.get(held.engine) ?? [];
      list.push({ tenant, name, table: held.table, rowFilter: held.rowFilter });
      byEngine.set(held.engine, list);
    }
  }
  const problems = await Promise.all(
    [...byEngine].map(([engine, tables]) => engines.get(engine).tableProblems(tables)),
  );
  return problems.flat();
}
