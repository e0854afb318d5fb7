import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../app-env.js';
import type { Logger } from '../logging/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';

export interface RequestContextOptions {
  readonly logger: Logger;
  readonly tracing: Tracing;
  readonly metrics?: GatewayMetrics | undefined;
}

/** A caller's request id is kept when it is this safe to log and echo; otherwise the gateway makes one. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives every request its id (`X-Request-Id`), its trace (the caller's `traceparent`, or a new one) and a logger
 * bound to both, and when it ends writes its one `request` log line and records its duration.
 */
export function requestContext(options: RequestContextOptions): MiddlewareHandler<GatewayEnv> {
  return async function requestContext(c, next) {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    const started = performance.now();
    await options.tracing.request(
      `${c.req.method} ${c.req.path}`,
      c.req.header('traceparent'),
      async ({ traceId, traceparent, scope }) => {
        const logger = options.logger.child({ requestId, traceId });
        c.set('traceId', traceId);
        c.set('trace', scope);
        c.set('logger', logger);
        c.header('traceparent', traceparent);
        try {
          await next();
        } finally {
          const durationMs = performance.now() - started;
          // c.get, not c.var: Hono builds a new object of every variable on each read of c.var.
          const errorCode = c.get('errorCode');
          logger.info('request', {
            method: c.req.method,
            path: c.req.path,
            status: c.res.status,
            tenant: c.get('tenant'),
            ...(errorCode ? { code: errorCode } : {}),
            durationMs: Math.round(durationMs),
          });
          options.metrics?.requestDuration.record(durationMs / 1000, {
            method: c.req.method,
            route: c.req.routePath,
            status: String(c.res.status),
            tenant: c.get('tenant') ?? '',
          });
        }
      },
    );
  };
}
