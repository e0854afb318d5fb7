import { type LakegateError, lineAndColumn, toLakegateError } from '@lakegate/engine-api';

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

/** Trino's own error codes for each Lakegate code, so drivers classify failures as they would Trino's. */
const MAPPING: Readonly<Record<string, [number, string, TrinoError['errorType']]>> = {
  INVALID_SQL: [1, 'SYNTAX_ERROR', 'USER_ERROR'],
  INVALID_REQUEST: [2, 'GENERIC_USER_ERROR', 'USER_ERROR'],
  QUERY_CANCELLED: [3, 'USER_CANCELED', 'USER_ERROR'],
  FORBIDDEN: [4, 'PERMISSION_DENIED', 'USER_ERROR'],
  FORBIDDEN_STATEMENT: [13, 'NOT_SUPPORTED', 'USER_ERROR'],
  UNSUPPORTED_QUERY: [13, 'NOT_SUPPORTED', 'USER_ERROR'],
  UNKNOWN_TABLE: [46, 'TABLE_NOT_FOUND', 'USER_ERROR'],
  NOT_FOUND: [46, 'TABLE_NOT_FOUND', 'USER_ERROR'],
  QUERY_TIMEOUT: [131075, 'EXCEEDED_TIME_LIMIT', 'INSUFFICIENT_RESOURCES'],
  RESOURCE_EXHAUSTED: [131079, 'EXCEEDED_LOCAL_MEMORY_LIMIT', 'INSUFFICIENT_RESOURCES'],
  RESULT_TOO_LARGE: [131072, 'GENERIC_INSUFFICIENT_RESOURCES', 'INSUFFICIENT_RESOURCES'],
  RATE_LIMITED: [131073, 'QUERY_QUEUE_FULL', 'INSUFFICIENT_RESOURCES'],
  STORAGE_UNAVAILABLE: [16777216, 'GENERIC_EXTERNAL', 'EXTERNAL'],
  ENGINE_FAILURE: [65536, 'GENERIC_INTERNAL_ERROR', 'INTERNAL_ERROR'],
};

/** A Lakegate error (or anything thrown) as Trino's `error` object. */
export function trinoError(error: unknown, sql: string): TrinoError {
  const lakegate: LakegateError = toLakegateError(error);
  const [errorCode, errorName, errorType] = MAPPING[lakegate.code] ?? [
    65536,
    'GENERIC_INTERNAL_ERROR',
    'INTERNAL_ERROR',
  ];
  const message = lakegate.kind === 'internal' ? 'Internal error.' : lakegate.message;
  const details = lakegate.details as { line?: number; column?: number; offset?: number } | undefined;
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
