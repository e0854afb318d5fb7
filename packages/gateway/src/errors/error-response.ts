import type { LakegateError } from '@lakegate/engine-api';
import type { Logger } from '../logging/logger.js';
import { presentError } from './error-presenter.js';

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly requestId: string;
    readonly traceId?: string;
    readonly details?: Readonly<Record<string, unknown>>;
  };
}

/** Any error as the HTTP response a client sees (JSON body, status, Retry-After). Internal details go to logs only. */
export function errorResponse(
  thrown: unknown,
  requestId: string,
  logger: Logger,
  traceId?: string,
): {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Record<string, string>;
  readonly error: LakegateError;
} {
  const presented = presentError(thrown);
  const { error } = presented;
  if (presented.internal) {
    logger.error('request.internal_error', { requestId, error: thrown instanceof Error ? thrown : String(thrown) });
  } else if (error.kind === 'engine' || error.kind === 'unavailable') {
    logger.warn('request.failed', { requestId, code: error.code, cause: error.cause });
  }
  const headers: Record<string, string> = {};
  if (presented.retryAfterSeconds !== undefined) headers['Retry-After'] = String(presented.retryAfterSeconds);
  if (error.code === 'UNAUTHENTICATED') headers['WWW-Authenticate'] = 'Bearer realm="lakegate", Basic realm="lakegate"';
  const body: ErrorBody = {
    error: {
      code: presented.code,
      message: presented.message,
      requestId,
      ...(traceId ? { traceId } : {}),
      ...(presented.details ? { details: presented.details } : {}),
    },
  };
  return { status: presented.status, body, headers, error };
}
