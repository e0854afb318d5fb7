import { type ErrorCode, INTERNAL_MESSAGE, type LakegateError, toLakegateError } from '@lakegate/engine-api';

/** An error as every protocol shows it: the same code, message and details on HTTP, Trino, Livy and others. */
export interface PresentedError {
  /** The error as a Lakegate error (anything else is INTERNAL, the original kept as its cause for the logs). */
  readonly error: LakegateError;
  readonly code: ErrorCode;
  /** What the client reads: the error's own message, or for an internal error a generic one (details go to logs). */
  readonly message: string;
  readonly status: number;
  /** Machine-readable facts safe to show (a position in the SQL), never for internal errors. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Seconds to wait before retrying, for refusals a retry may clear (overload, limits, outages). */
  readonly retryAfterSeconds?: number;
  /** An internal error: the client sees nothing of it, the server logs everything. */
  readonly internal: boolean;
}

/** The one place that decides what a client may see of an error, whichever protocol carries it. */
export function presentError(thrown: unknown): PresentedError {
  const error = toLakegateError(thrown);
  const internal = error.kind === 'internal';
  const retryAfterSeconds =
    error.kind === 'unavailable' || error.kind === 'limit'
      ? (error.retryAfterSeconds ?? (error.kind === 'unavailable' ? 5 : 1))
      : undefined;
  return {
    error,
    code: error.code,
    message: internal ? INTERNAL_MESSAGE : error.message,
    status: error.status,
    ...(error.details && !internal ? { details: error.details } : {}),
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    internal,
  };
}
