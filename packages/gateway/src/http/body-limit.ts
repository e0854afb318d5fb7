import { LakegateError } from '@lakegate/engine-api';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { GatewayEnv } from '../app-env.js';

/**
 * Refuses request bodies over `maxBodyBytes` with REQUEST_TOO_LARGE. A body with a Content-Length is judged by it
 * without being touched, so that a request refused before its body is read (admission) costs no body stream; a
 * chunked one is counted as it is read.
 */
export function limitBody(maxBodyBytes: number): MiddlewareHandler<GatewayEnv> {
  const tooLarge = () => new LakegateError('REQUEST_TOO_LARGE', `The request body exceeds ${maxBodyBytes} bytes.`);
  const streamed = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw tooLarge();
    },
  });
  return async function limitBody(c, next) {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(length) > maxBodyBytes) throw tooLarge();
      return next();
    }
    return streamed(c, next);
  };
}
