import { randomUUID } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { GatewayEnv } from '../app-env.js';
import { errorResponse } from '../errors/error-response.js';
import type { Logger } from '../logging/logger.js';

/** Answers any error a handler throws as the JSON error body, and notes its code for the request's log line. */
export function errorHandler(fallbackLogger: Logger): ErrorHandler<GatewayEnv> {
  return function handleError(error, c: Context<GatewayEnv>) {
    const { status, body, headers } = errorResponse(
      error,
      c.get('requestId') ?? randomUUID(),
      c.get('logger') ?? fallbackLogger,
      c.get('traceId'),
    );
    c.set('errorCode', body.error.code);
    return c.json(body, status as ContentfulStatusCode, headers);
  };
}

/**
 * A route that does not exist is NOT_FOUND, in the same error body as every other error. It answers rather than
 * throws: Hono calls this handler outside the error handling that wraps routes, and a throw would reach the request
 * log before its status is set (logging a 404 as a 200).
 */
export function notFound(fallbackLogger: Logger): NotFoundHandler<GatewayEnv> {
  const handle = errorHandler(fallbackLogger);
  return function notFound(c) {
    return handle(new LakegateError('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}.`), c);
  };
}
