import { INTERNAL_MESSAGE, type LakegateError, toLakegateError } from '@lakegate/engine-api';
import type { Logger } from '../logging/logger.js';

export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly requestId: string;
    readonly traceId?: string;
    readonly details?: Readonly<Record<string, unknown>>;
  };
}

/** The one place that turns any error into the response a client sees. Internal details go to logs only. */
export function errorResponse(
  error: unknown,
  requestId: string,
  logger: Logger,
  traceId?: string,
): {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Record<string, string>;
  readonly error: LakegateError;
} {
  const lakegate = toLakegateError(error);
  if (lakegate.kind === 'internal') {
    logger.error('request.internal_error', { requestId, error: error instanceof Error ? error : String(error) });
  } else if (lakegate.kind === 'engine' || lakegate.kind === 'unavailable') {
    logger.warn('request.failed', { requestId, code: lakegate.code, cause: lakegate.cause });
  }
  const headers: Record<string, string> = {};
  if (lakegate.kind === 'unavailable' || lakegate.kind === 'limit') {
    headers['Retry-After'] = String(lakegate.retryAfterSeconds ?? (lakegate.kind === 'unavailable' ? 5 : 1));
  }
  if (lakegate.code === 'UNAUTHENTICATED')
    headers['WWW-Authenticate'] = 'Bearer realm="lakegate", Basic realm="lakegate"';
  const message = lakegate.kind === 'internal' ? INTERNAL_MESSAGE : lakegate.message;
  const body: ErrorBody = {
    error: {
      code: lakegate.code,
      message,
      requestId,
      ...(traceId ? { traceId } : {}),
      ...(lakegate.details && lakegate.kind !== 'internal' ? { details: lakegate.details } : {}),
    },
  };
  return { status: lakegate.status, body, headers, error: lakegate };
}
