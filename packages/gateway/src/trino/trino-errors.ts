import { type ErrorCode, LakegateError, lineAndColumn } from '@lakegate/engine-api';
import { presentError } from '../errors/error-presenter.js';

export interface TrinoError {
  readonly message: string;
  readonly errorCode: number;
  readonly errorName: string;
  readonly errorType: 'USER_ERROR' | 'INTERNAL_ERROR' | 'INSUFFICIENT_RESOURCES' | 'EXTERNAL';
  readonly errorLocation?: { readonly lineNumber: number; readonly columnNumber: number };
  readonly failureInfo: {
    readonly type: string;
    readonly message: string;
    readonly suppressed: readonly never[];
    readonly stack: readonly never[];
    readonly errorLocation?: { readonly lineNumber: number; readonly columnNumber: number };
  };
}

/**
 * Trino's own error codes for each Lakegate code, so drivers classify failures as they would Trino's (and retry
 * what Trino's clients retry). Every code is mapped: a new code does not compile until it is.
 */
const MAPPING: Readonly<Record<ErrorCode, readonly [number, string, TrinoError['errorType']]>> = {
  INVALID_REQUEST: [0, 'GENERIC_USER_ERROR', 'USER_ERROR'],
  INVALID_SQL: [1, 'SYNTAX_ERROR', 'USER_ERROR'],
  QUERY_CANCELLED: [3, 'USER_CANCELED', 'USER_ERROR'],
  UNAUTHENTICATED: [4, 'PERMISSION_DENIED', 'USER_ERROR'],
  FORBIDDEN: [4, 'PERMISSION_DENIED', 'USER_ERROR'],
  NOT_FOUND: [5, 'NOT_FOUND', 'USER_ERROR'],
  FORBIDDEN_STATEMENT: [13, 'NOT_SUPPORTED', 'USER_ERROR'],
  UNSUPPORTED_QUERY: [13, 'NOT_SUPPORTED', 'USER_ERROR'],
  REQUEST_TOO_LARGE: [35, 'QUERY_TEXT_TOO_LARGE', 'USER_ERROR'],
  UNKNOWN_TABLE: [46, 'TABLE_NOT_FOUND', 'USER_ERROR'],
  ENGINE_FAILURE: [65536, 'GENERIC_INTERNAL_ERROR', 'INTERNAL_ERROR'],
  INTERNAL: [65536, 'GENERIC_INTERNAL_ERROR', 'INTERNAL_ERROR'],
  ENGINE_CLOSED: [65545, 'SERVER_SHUTTING_DOWN', 'INTERNAL_ERROR'],
  SHUTTING_DOWN: [65545, 'SERVER_SHUTTING_DOWN', 'INTERNAL_ERROR'],
  RESULT_TOO_LARGE: [131072, 'GENERIC_INSUFFICIENT_RESOURCES', 'INSUFFICIENT_RESOURCES'],
  RATE_LIMITED: [131074, 'QUERY_QUEUE_FULL', 'INSUFFICIENT_RESOURCES'],
  ENGINE_BUSY: [131074, 'QUERY_QUEUE_FULL', 'INSUFFICIENT_RESOURCES'],
  QUERY_TIMEOUT: [131075, 'EXCEEDED_TIME_LIMIT', 'INSUFFICIENT_RESOURCES'],
  RESOURCE_EXHAUSTED: [131079, 'EXCEEDED_LOCAL_MEMORY_LIMIT', 'INSUFFICIENT_RESOURCES'],
  // Lakegate's own range for what Trino has no code for (connectors use 0x0100_0000 and above).
  STORAGE_UNAVAILABLE: [16777216, 'GENERIC_EXTERNAL', 'EXTERNAL'],
  STATE_UNAVAILABLE: [16777216, 'GENERIC_EXTERNAL', 'EXTERNAL'],
  ENGINE_UNAVAILABLE: [16777216, 'GENERIC_EXTERNAL', 'EXTERNAL'],
};

/**
 * Trino's codes for a session naming a catalog, a schema or a session property that does not exist
 * (`X-Trino-Catalog`, `X-Trino-Schema`, SET SESSION).
 */
const SESSION_ERRORS = {
  catalog: [44, 'CATALOG_NOT_FOUND', 'USER_ERROR'],
  schema: [45, 'SCHEMA_NOT_FOUND', 'USER_ERROR'],
  property: [26, 'INVALID_SESSION_PROPERTY', 'USER_ERROR'],
} as const satisfies Record<string, readonly [number, string, TrinoError['errorType']]>;

/** A refusal of the session's catalog, schema or property, as `trinoSessionError` made it. */
function sessionError(details: Readonly<Record<string, unknown>> | undefined) {
  const missing = details?.missing;
  return missing === 'catalog' || missing === 'schema' || missing === 'property' ? SESSION_ERRORS[missing] : undefined;
}

/**
 * The error for a session that names a catalog or schema other than Lakegate's and the tenant's: Trino refuses
 * such a session (CATALOG_NOT_FOUND, SCHEMA_NOT_FOUND) rather than run the query somewhere the client did not mean.
 */
export function trinoSessionError(missing: 'catalog' | 'schema', name: string): LakegateError {
  return new LakegateError('NOT_FOUND', `${missing === 'catalog' ? 'Catalog' : 'Schema'} '${name}' does not exist`, {
    details: { missing },
  });
}

/** A Lakegate error (or anything thrown) as Trino's `error` object, and the Lakegate error it stands for. */
export function trinoError(thrown: unknown, sql: string): TrinoError {
  const presented = presentError(thrown);
  const lakegate = presented.error;
  const [errorCode, errorName, errorType] = sessionError(lakegate.details) ?? MAPPING[presented.code];
  const message = presented.message;
  const details = presented.details as { line?: number; column?: number; offset?: number } | undefined;
  const location =
    details?.line !== undefined
      ? { lineNumber: details.line, columnNumber: details.column ?? 1 }
      : details?.offset !== undefined
        ? (({ line, column }) => ({ lineNumber: line, columnNumber: column }))(lineAndColumn(sql, details.offset))
        : undefined;
  return {
    message,
    errorCode,
    errorName,
    errorType,
    ...(location ? { errorLocation: location } : {}),
    failureInfo: {
      type: `io.lakegate.${lakegate.code}`,
      message,
      suppressed: [],
      stack: [],
      ...(location ? { errorLocation: location } : {}),
    },
  };
}
