import { randomUUID } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';
import type { Storage } from '@lakegate/storage';
import { type Context, Hono, type Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Admission } from './admission/admission.js';
import type { GatewayEnv } from './app-env.js';
import { ApiKeyIndex } from './auth/api-keys.js';
import type { GatewayConfig } from './config/config.js';
import { datasetsRoutes } from './datasets/datasets-route.js';
import type { EngineRegistry } from './engines/engine-registry.js';
import { errorResponse } from './errors/error-response.js';
import type { Logger } from './logging/logger.js';
import type { GatewayMetrics } from './observability/metrics.js';
import { Tracing } from './observability/tracing.js';
import { QueryLifecycle } from './query/query-lifecycle.js';
import { queryRoute } from './query/query-route.js';
import type { RollupService } from './rollups/rollup-service.js';
import { rollupsRoutes } from './rollups/rollups-route.js';
import type { SessionService } from './sessions/session-service.js';
import { sessionsRoutes } from './sessions/sessions-route.js';
import type { TrinoQueryRegistry } from './trino/trino-query.js';
import { trinoRoutes } from './trino/trino-route.js';
import { trinoType } from './trino/trino-types.js';

export interface AppDeps {
  readonly config: GatewayConfig;
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
  /** Interval rollups, served under /v1/rollups when present. */
  readonly rollups?: RollupService | undefined;
  /** Set when the gateway is draining; readiness then fails. */
  readonly isShuttingDown?: () => boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Builds the HTTP application. Tests call it directly with `app.request(...)`. */
export function createApp(deps: AppDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const keys = new ApiKeyIndex(deps.config.tenants);

  const tracing = deps.tracing ?? new Tracing({ exporter: 'none' });
  app.use(async function requestContext(c, next) {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    const started = performance.now();
    await tracing.request(
      `${c.req.method} ${c.req.path}`,
      c.req.header('traceparent'),
      async ({ traceId, traceparent, scope }) => {
        const logger = deps.logger.child({ requestId, traceId });
        c.set('traceId', traceId);
        c.set('trace', scope);
        c.set('logger', logger);
        c.header('traceparent', traceparent);
        try {
          await next();
        } finally {
          const durationMs = performance.now() - started;
          logger.info('request', {
            method: c.req.method,
            path: c.req.path,
            status: c.res.status,
            tenant: c.var.tenant,
            ...(c.var.errorCode ? { code: c.var.errorCode } : {}),
            durationMs: Math.round(durationMs),
          });
          deps.metrics?.requestDuration.record(durationMs / 1000, {
            method: c.req.method,
            route: c.req.routePath,
            status: String(c.res.status),
            tenant: c.var.tenant ?? '',
          });
        }
      },
    );
  });

  app.onError(function handleError(error, c) {
    const { status, body, headers } = errorResponse(
      error,
      c.get('requestId') ?? randomUUID(),
      c.get('logger') ?? deps.logger,
      c.get('traceId'),
    );
    c.set('errorCode', body.error.code);
    return c.json(body, status as ContentfulStatusCode, headers);
  });

  app.notFound(function notFound(c) {
    throw new LakegateError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}.`);
  });

  app.get('/livez', (c) => c.json({ status: 'ok' }));
  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', async (c) =>
      c.body(await metrics.render(), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }),
    );
  }
  app.get('/readyz', (c) => {
    const ready = deps.engines.ready && !deps.isShuttingDown?.();
    return c.json({ status: ready ? 'ready' : 'not_ready' }, ready ? 200 : 503);
  });

  const maxBodyBytes = deps.config.server.maxBodyBytes;
  const tooLarge = () => new LakegateError('REQUEST_TOO_LARGE', `The request body exceeds ${maxBodyBytes} bytes.`);
  const streamedBodyLimit = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw tooLarge();
    },
  });
  /**
   * The body size limit. A body with a Content-Length is judged by it without being touched, so that a request
   * refused before its body is read (admission) costs no body stream; a chunked one is counted as it is read.
   */
  async function limitBody(c: Context<GatewayEnv>, next: Next) {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > maxBodyBytes) throw tooLarge();
      return next();
    }
    return streamedBodyLimit(c, next);
  }
  const authenticated = [
    async function authenticate(c: Context<GatewayEnv>, next: Next) {
      const tenant = await c.var.trace.span('auth', {}, async () => keys.authenticate(c.req.header('authorization')));
      c.set('tenant', tenant);
      await next();
    },
    limitBody,
  ] as const;
  app.use('/v1/*', ...authenticated);
  app.use('/sessions', ...authenticated);
  app.use('/sessions/*', ...authenticated);

  const service = deps.queries ?? new QueryLifecycle({ ...deps, typeName: (type) => trinoType(type).type });
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
      }),
    );
  }
  app.route('/v1', datasetsRoutes(deps.storage));
  if (deps.rollups) app.route('/v1', rollupsRoutes(deps.rollups));
  app.route(
    '/v1/query',
    queryRoute({ service, defaultMaxRows: deps.config.query.defaultMaxRows, maxMaxRows: deps.config.query.maxMaxRows }),
  );

  return app;
}
