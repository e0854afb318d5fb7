import type { ErrorCode } from '@lakegate/engine-api';
import { presentError } from '../errors/error-presenter.js';

/**
 * The SQLSTATE of each Lakegate code, so that drivers and BI tools classify failures as they would Postgres's own
 * (retry 53xxx, show 42xxx to the user, treat 57014 as a cancel). Every code is mapped: a new code does not
 * compile until it is.
 */
export const SQLSTATE: Readonly<Record<ErrorCode, string>> = {
  INVALID_REQUEST: '22023', // invalid_parameter_value
  INVALID_SQL: '42601', // syntax_error
  FORBIDDEN_STATEMENT: '42501', // insufficient_privilege
  UNKNOWN_TABLE: '42P01', // undefined_table
  NOT_FOUND: '42704', // undefined_object
  UNSUPPORTED_QUERY: '0A000', // feature_not_supported
  REQUEST_TOO_LARGE: '54000', // program_limit_exceeded
  UNAUTHENTICATED: '28000', // invalid_authorization_specification
  FORBIDDEN: '42501', // insufficient_privilege
  RATE_LIMITED: '53400', // configuration_limit_exceeded
  RESULT_TOO_LARGE: '54000', // program_limit_exceeded
  RESOURCE_EXHAUSTED: '53200', // out_of_memory
  ENGINE_BUSY: '53300', // too_many_connections: the gateway's query slots are its connections to the engines
  ENGINE_CLOSED: '57P01', // admin_shutdown
  SHUTTING_DOWN: '57P01', // admin_shutdown
  STORAGE_UNAVAILABLE: '58030', // io_error
  STATE_UNAVAILABLE: '58000', // system_error
  ENGINE_UNAVAILABLE: '08006', // connection_failure: the engine's server cannot be reached
  ENGINE_FAILURE: 'XX000', // internal_error
  QUERY_TIMEOUT: '57014', // query_canceled, as Postgres reports statement_timeout
  QUERY_CANCELLED: '57014', // query_canceled
  INTERNAL: 'XX000', // internal_error
};

/** An ErrorResponse's fields (the ones clients read). */
export interface PgErrorFields {
  readonly severity: 'ERROR' | 'FATAL';
  readonly code: string;
  readonly message: string;
  /** 1-based character position in the statement. */
  readonly position?: number;
  readonly detail?: string;
  readonly hint?: string;
}

/** A failure the Postgres front end raises itself (protocol, login, session state), with its SQLSTATE. */
export class PgError extends Error {
  override readonly name = 'PgError';

  constructor(
    readonly code: string,
    message: string,
    readonly severity: 'ERROR' | 'FATAL' = 'ERROR',
  ) {
    super(message);
  }
}

/** Character position (1-based) of a line and column in `sql`. */
function positionOf(sql: string, line: number, column: number): number | undefined {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = sql.indexOf('\n', offset);
    if (next < 0) return undefined;
    offset = next + 1;
  }
  const position = offset + column;
  return position >= 1 && position <= sql.length + 1 ? position : undefined;
}

/** The ErrorResponse for anything thrown: the same code and message every protocol shows, with its SQLSTATE. */
export function pgErrorFields(thrown: unknown, sql?: string): PgErrorFields {
  if (thrown instanceof PgError) return { severity: thrown.severity, code: thrown.code, message: thrown.message };
  const presented = presentError(thrown);
  const details = presented.details as { line?: unknown; column?: unknown } | undefined;
  const position =
    sql !== undefined && typeof details?.line === 'number' && typeof details.column === 'number'
      ? positionOf(sql, details.line, details.column)
      : undefined;
  return {
    severity: 'ERROR',
    code: SQLSTATE[presented.code],
    message: presented.message,
    ...(position !== undefined ? { position } : {}),
    // The Lakegate code, for the operator reading a client's log beside the gateway's.
    detail: `Lakegate code ${presented.code}.`,
    ...(presented.retryAfterSeconds !== undefined ? { hint: `Retry in ${presented.retryAfterSeconds} s.` } : {}),
  };
}
