import { createHash, timingSafeEqual } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';
import type { Rollups } from '@lakegate/rollups';
import type { Storage } from '@lakegate/storage';
import { Hono } from 'hono';
import type { Admission } from './admission/admission.js';
import type { GatewayEnv } from './app-env.js';
import { ApiKeyIndex } from './auth/api-keys.js';
import type { GatewayConfig } from './config/config.js';
import { consoleRoutes } from './console/console-routes.js';
import { openApiDocument } from './console/openapi.js';
import { runningRoutes } from './console/running-routes.js';
import { datasetsRoutes } from './datasets/datasets-route.js';
import type { EngineRegistry } from './engines/engine-registry.js';
import { authenticate, authenticateAdmin, authenticateViewer } from './http/authenticate.js';
import { limitBody } from './http/body-limit.js';
import { errorHandler, notFound } from './http/error-handler.js';
import { requestContext } from './http/request-context.js';
import type { Logger } from './logging/logger.js';
import type { CacheTrend } from './observability/cache-trend.js';
import type { GatewayMetrics } from './observability/metrics.js';
import type { QueryOverview } from './observability/query-overview.js';
import { Tracing } from './observability/tracing.js';
import { historyHandler } from './query/history-route.js';
import { QueryLifecycle } from './query/query-lifecycle.js';
import { queryRoute } from './query/query-route.js';
import { rollupsRoutes } from './rollups/rollups-route.js';
import type { SessionService } from './sessions/session-service.js';
import { sessionsRoutes } from './sessions/sessions-route.js';
import type { OverviewStore } from './state/overview-store.js';
import type { QueryHistory } from './state/query-history.js';
import type { ReplicaBus } from './state/replica-bus.js';
import { trinoInfo } from './trino/trino-info.js';
import type { TrinoQueryRegistry } from './trino/trino-query.js';
import { trinoRoutes } from './trino/trino-route.js';
import { trinoType } from './trino/trino-types.js';

export interface AppDeps {
  readonly config: GatewayConfig;
  /** Tenants' and operators' keys; built from `config` when absent (a reload replaces what they hold). */
  readonly keys?: ApiKeyIndex;
  /** The tenants serving now (a reload changes them); default: those of `config`. */
  readonly tenants?: () => readonly string[];
  /** Every query's end with its SQL text, for `GET /v1/history`; absent, that route is not served. */
  readonly history?: QueryHistory | undefined;
  /** Per-minute figures of every query's end, for `GET /v1/overview`; absent, that route is not served. */
  readonly overview?: QueryOverview | undefined;
  /** Where replicas share those figures (Redis), so that the Overview shows every replica's. */
  readonly overviewStore?: OverviewStore | undefined;
  /** The file cache's hit ratio per minute, for `GET /v1/cache/trend`; absent, that route is not served. */
  readonly cacheTrend?: CacheTrend | undefined;
  /** Re-reads and applies the configuration, for `POST /v1/admin/reload`; absent, that route is not served. */
  readonly reload?: () => Promise<unknown>;
  readonly storage: Storage;
  readonly engines: EngineRegistry;
  readonly logger: Logger;
  /** The query path; built from the other deps when absent. */
  readonly queries?: QueryLifecycle;
  /** Admission control for the query path built here. */
  readonly admission?: Admission;
  /** Metrics, served at GET /metrics when present. */
  readonly metrics?: GatewayMetrics;
  /** Tracing; requests still get trace ids without it. */
  readonly tracing?: Tracing;
  /** Livy sessions, served under /sessions when present. */
  readonly sessions?: SessionService;
  /** Trino client protocol queries, served under /v1/statement when present. */
  readonly trino?: TrinoQueryRegistry;
  /** Interval rollups: served under /v1/rollups when present, and answering the queries they fit. */
  readonly rollups?: Pick<Rollups, 'admin' | 'answerer'> | undefined;
  /** What replicas tell each other: for the operators' view of every replica and cancels across them. */
  readonly bus?: ReplicaBus | undefined;
  /** This replica's id (known once listening). */
  readonly replicaId?: () => string;
  /** Set when the gateway is draining; readiness then fails. */
  readonly isShuttingDown?: () => boolean;
}

/** Builds the HTTP application. Tests call it directly with `app.request(...)`. */
export function createApp(deps: AppDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const startedAt = Date.now();
  const keys = deps.keys ?? new ApiKeyIndex(deps.config.tenants, deps.config.admin.apiKeys);

  const tracing = deps.tracing ?? new Tracing({ exporter: 'none' });
  app.use(requestContext({ logger: deps.logger, tracing, metrics: deps.metrics }));

  app.onError(errorHandler(deps.logger));
  app.notFound(notFound(deps.logger));

  app.get('/livez', (c) => c.json({ status: 'ok' }));
  // Operators' routes take an admin key, never a tenant's: they are served before the tenants' authentication.
  const reload = deps.reload;
  if (reload) {
    app.post('/v1/admin/reload', authenticateAdmin(keys), async function reloadConfig(c) {
      return c.json(await reload());
    });
  }
  // The web console and the API's description are public; every call the console makes takes a key.
  consoleRoutes(app);
  const openApi = JSON.stringify(openApiDocument(deps.config));
  app.get('/openapi.json', (c) => c.body(openApi, 200, { 'Content-Type': 'application/json' }));
  // The console's read-only views: a tenant sees its own, an operator (admin key) every tenant's.
  const viewer = authenticateViewer(keys);
  const admin = authenticateAdmin(keys);
  const tenantIds = deps.tenants ?? (() => Object.keys(deps.config.tenants));
  app.get('/v1/whoami', viewer, (c) =>
    c.json(c.get('admin') ? { admin: true } : { tenant: c.get('tenant'), admin: false }),
  );
  const history = deps.history;
  if (history) app.get('/v1/history', viewer, historyHandler(history));
  if (deps.queries) {
    runningRoutes(app, {
      queries: deps.queries,
      bus: deps.bus,
      replicaId: deps.replicaId ?? (() => 'local'),
      viewer,
      admin,
    });
  }
  const sessions = deps.sessions;
  if (sessions) {
    // An operator sees every tenant's sessions and may close any.
    app.get('/v1/admin/sessions', admin, async (c) => {
      const pages = await Promise.all(tenantIds().map((tenant) => sessions.list(tenant, 0, 1000)));
      return c.json({ sessions: pages.flatMap((page) => page.items) }, 200, {
        'Cache-Control': 'no-store',
      });
    });
    app.delete('/v1/admin/sessions/:tenant/:id', admin, async (c) => {
      await sessions.delete(c.req.param('tenant'), Number(c.req.param('id')));
      return c.json({ msg: 'deleted' });
    });
  }
  const overview = deps.overview;
  if (overview) {
    app.get('/v1/overview', viewer, async (c) => {
      const byTenant = deps.admission?.stats().byTenant ?? {};
      const queued = (t: string): number => byTenant[t]?.queued ?? 0;
      const tenant = c.get('admin') ? c.req.query('tenant') : c.get('tenant');
      // Every replica's figures when they share them (Redis), else this replica's own.
      const shared = deps.overviewStore;
      const tenants = shared
        ? await overview.shared(shared, tenant !== undefined ? [tenant] : tenantIds(), queued)
        : overview.minutes(tenant, queued);
      return c.json({ tenants }, 200, { 'Cache-Control': 'no-store' });
    });
  }
  // Trino clients read the server's info before they authenticate, as they do from a Trino coordinator.
  if (deps.trino)
    app.get(
      '/v1/info',
      trinoInfo(startedAt, () => false),
    );
  const metrics = deps.metrics;
  if (metrics) {
    const token = deps.config.observability.metricsToken;
    const expected = token === undefined ? undefined : createHash('sha256').update(`Bearer ${token}`).digest();
    app.get('/metrics', async (c) => {
      if (expected) {
        const given = createHash('sha256')
          .update(c.req.header('authorization') ?? '')
          .digest();
        if (!timingSafeEqual(given, expected))
          throw new LakegateError(
            'UNAUTHENTICATED',
            'GET /metrics needs observability.metricsToken as a Bearer token.',
          );
      }
      return c.body(await metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    });
  }
  app.get('/readyz', async (c) => {
    const ready = deps.engines.ready && !deps.isShuttingDown?.();
    // A remote engine that is down is reported, not a reason to take this replica out: every replica shares it,
    // and this one still serves the tenants of the other engines.
    const engines = ready ? await deps.engines.health() : undefined;
    return c.json({ status: ready ? 'ready' : 'not_ready', ...(engines ? { engines } : {}) }, ready ? 200 : 503);
  });

  const authenticated = [authenticate(keys), limitBody(deps.config.server.maxBodyBytes)] as const;
  app.use('/v1/*', ...authenticated);
  app.use('/sessions', ...authenticated);
  app.use('/sessions/*', ...authenticated);

  const service =
    deps.queries ??
    new QueryLifecycle({ ...deps, rollups: deps.rollups?.answerer, typeName: (type) => trinoType(type).type });
  if (deps.sessions) app.route('/sessions', sessionsRoutes(deps.sessions));
  if (deps.trino) {
    const { trino } = deps.config;
    app.route(
      '/v1',
      trinoRoutes({
        queries: service,
        registry: deps.trino,
        pageRows: trino.pageRows,
        pageBytes: trino.pageBytes,
        maxWaitMs: trino.maxWaitMs,
        publicUrl: trino.publicUrl,
      }),
    );
  }
  app.route('/v1', datasetsRoutes(deps.storage));
  const trend = deps.cacheTrend;
  if (trend) {
    app.get('/v1/cache/trend', (c) => {
      trend.sample([c.get('tenant')]);
      return c.json({ minutes: trend.series(c.get('tenant')) }, 200, { 'Cache-Control': 'no-store' });
    });
  }
  if (deps.rollups) app.route('/v1', rollupsRoutes(deps.rollups.admin));
  app.route(
    '/v1/query',
    queryRoute({ service, defaultMaxRows: deps.config.query.defaultMaxRows, maxMaxRows: deps.config.query.maxMaxRows }),
  );

  return app;
}
