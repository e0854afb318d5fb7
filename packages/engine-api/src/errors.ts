/**
 * The error taxonomy shared by every package: a stable `code`, a `kind` that decides the HTTP status,
 * a message a user can act on, and the original `cause` for logs.
 *
 * Errors are recognised by a brand property rather than `instanceof`, so that two installed copies of this
 * package still understand each other's errors.
 */

export type ErrorKind = 'user' | 'auth' | 'limit' | 'unavailable' | 'engine' | 'cancelled' | 'internal';

interface CodeSpec {
  readonly kind: ErrorKind;
  readonly status: number;
}

/** Every stable error code, with its kind and HTTP status. Codes never change meaning once published. */
export const ERROR_CODES = {
  INVALID_REQUEST: { kind: 'user', status: 400 },
  INVALID_SQL: { kind: 'user', status: 400 },
  FORBIDDEN_STATEMENT: { kind: 'user', status: 400 },
  UNKNOWN_TABLE: { kind: 'user', status: 404 },
  NOT_FOUND: { kind: 'user', status: 404 },
  UNSUPPORTED_QUERY: { kind: 'user', status: 422 },
  REQUEST_TOO_LARGE: { kind: 'user', status: 413 },
  UNAUTHENTICATED: { kind: 'auth', status: 401 },
  FORBIDDEN: { kind: 'auth', status: 403 },
  RATE_LIMITED: { kind: 'limit', status: 429 },
  RESULT_TOO_LARGE: { kind: 'limit', status: 413 },
  RESOURCE_EXHAUSTED: { kind: 'limit', status: 507 },
  ENGINE_BUSY: { kind: 'unavailable', status: 503 },
  ENGINE_CLOSED: { kind: 'unavailable', status: 503 },
  /** A remote engine (a server, a node of its cluster) cannot be reached or did not answer in time. */
  ENGINE_UNAVAILABLE: { kind: 'unavailable', status: 503 },
  /** The gateway is draining before it stops: send the request to another replica (or again shortly). */
  SHUTTING_DOWN: { kind: 'unavailable', status: 503 },
  STORAGE_UNAVAILABLE: { kind: 'unavailable', status: 503 },
  STATE_UNAVAILABLE: { kind: 'unavailable', status: 503 },
  ENGINE_FAILURE: { kind: 'engine', status: 502 },
  QUERY_TIMEOUT: { kind: 'engine', status: 504 },
  QUERY_CANCELLED: { kind: 'cancelled', status: 499 },
  INTERNAL: { kind: 'internal', status: 500 },
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

const BRAND = Symbol.for('lakegate.error');

/** The message shown for internal errors: details go to logs only. */
export const INTERNAL_MESSAGE = 'Internal error. The request id in this response identifies it in the server logs.';

export interface LakegateErrorOptions {
  readonly cause?: unknown;
  /** Seconds a client should wait before retrying (sent as `Retry-After` for `unavailable` and `limit` kinds). */
  readonly retryAfterSeconds?: number | undefined;
  /** Extra machine-readable facts, e.g. `{ line, column }` for INVALID_SQL. Safe to show to the caller. */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

export class LakegateError extends Error {
  readonly [BRAND] = true;
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: LakegateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LakegateError';
    this.code = code;
    this.kind = ERROR_CODES[code].kind;
    this.status = ERROR_CODES[code].status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }
}

/** True for any Lakegate error, from any installed copy of this package. */
export function isLakegateError(value: unknown): value is LakegateError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [BRAND]?: unknown })[BRAND] === true &&
    typeof (value as { code?: unknown }).code === 'string' &&
    (value as { code: string }).code in ERROR_CODES
  );
}

/** Returns `value` if it is a Lakegate error, else wraps it as INTERNAL (the original kept as `cause`). */
export function toLakegateError(value: unknown): LakegateError {
  if (isLakegateError(value)) return value;
  return new LakegateError('INTERNAL', INTERNAL_MESSAGE, { cause: value });
}

/** The error a cancelled or timed-out signal stands for. */
export function abortError(signal: AbortSignal): LakegateError {
  const reason: unknown = signal.reason;
  if (isLakegateError(reason)) return reason;
  return new LakegateError('QUERY_CANCELLED', 'The query was cancelled.', { cause: reason });
}

/** Throws the signal's error if it has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
