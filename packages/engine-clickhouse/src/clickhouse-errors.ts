import { type ErrorCode, LakegateError, lineAndColumn } from '@lakegate/engine-api';

/** ClickHouse's exception codes (`Code: N`) that mean something a tenant or an operator can act on. */
const CODES: Readonly<Record<number, ErrorCode>> = {
  // The query: its text, names and types.
  62: 'INVALID_SQL', // SYNTAX_ERROR
  47: 'INVALID_SQL', // UNKNOWN_IDENTIFIER
  46: 'INVALID_SQL', // UNKNOWN_FUNCTION
  42: 'INVALID_SQL', // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
  43: 'INVALID_SQL', // ILLEGAL_TYPE_OF_ARGUMENT
  44: 'INVALID_SQL', // ILLEGAL_COLUMN
  53: 'INVALID_SQL', // TYPE_MISMATCH
  184: 'INVALID_SQL', // ILLEGAL_AGGREGATION
  215: 'INVALID_SQL', // NOT_AN_AGGREGATE
  352: 'INVALID_SQL', // AMBIGUOUS_COLUMN_NAME
  60: 'UNKNOWN_TABLE', // UNKNOWN_TABLE
  81: 'UNKNOWN_TABLE', // UNKNOWN_DATABASE
  // What the tenant's user and profile allow.
  164: 'FORBIDDEN_STATEMENT', // READONLY
  113: 'FORBIDDEN_STATEMENT', // THERE_IS_NO_SESSION: SET outside an HTTP session, which the engine never opens
  291: 'FORBIDDEN', // DATABASE_ACCESS_DENIED
  497: 'FORBIDDEN', // ACCESS_DENIED
  // Limits of the profile.
  159: 'QUERY_TIMEOUT', // TIMEOUT_EXCEEDED
  241: 'RESOURCE_EXHAUSTED', // MEMORY_LIMIT_EXCEEDED
  158: 'RESULT_TOO_LARGE', // TOO_MANY_ROWS
  307: 'RESULT_TOO_LARGE', // TOO_MANY_BYTES
  396: 'RESULT_TOO_LARGE', // TOO_MANY_ROWS_OR_BYTES
  202: 'ENGINE_BUSY', // TOO_MANY_SIMULTANEOUS_QUERIES
  394: 'QUERY_CANCELLED', // QUERY_WAS_CANCELLED
  // The cluster: a shard that cannot be reached.
  32: 'ENGINE_UNAVAILABLE', // ATTEMPT_TO_READ_AFTER_EOF: a shard's connection ended mid-query
  209: 'ENGINE_UNAVAILABLE', // SOCKET_TIMEOUT
  210: 'ENGINE_UNAVAILABLE', // NETWORK_ERROR
  279: 'ENGINE_UNAVAILABLE', // ALL_CONNECTION_TRIES_FAILED
  // The gateway's own configuration of the tenant's user.
  192: 'ENGINE_FAILURE', // UNKNOWN_USER
  193: 'ENGINE_FAILURE', // WRONG_PASSWORD
  516: 'ENGINE_FAILURE', // AUTHENTICATION_FAILED
};

/** `Code: 62, e.displayText() = DB::Exception: <message>, e.what() = DB::Exception` (and newer spellings). */
const EXCEPTION =
  /^Code: (\d+)(?:\.|,)\s*(?:e\.displayText\(\) = )?(?:DB::[A-Za-z]*Exception: )?([\s\S]*?)(?:, e\.what\(\) = DB::[A-Za-z]*Exception)?\s*(?:\(version [^)]*\))?\s*$/;

/** A host and port as ClickHouse's messages name them: `(10.0.0.7:9000)`, `[::1]:9000`, `ch-2.internal:9000`. */
const HOST_PORT = /\((?:[\w.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}\)|(?<=\bfrom )(?:[\w.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}\b/g;

/** True when a line of a result is the exception ClickHouse writes into a response it had begun. */
export const isExceptionText = (text: string): boolean => /^Code: \d+[.,]/.test(text);

/**
 * The Lakegate error for an exception ClickHouse answered (as text), worded for the tenant; the query's text locates
 * a syntax error's position as line and column.
 */
export function clickhouseError(text: string, sql: string, engine: string): LakegateError {
  const match = EXCEPTION.exec(text.trim());
  const code = Number(match?.[1] ?? Number.NaN);
  // A shard's exception comes wrapped in the address it came from, and network errors name hosts and ports: the
  // tenant needs the message, not the cluster's addresses.
  const message = (match?.[2] ?? text)
    .replace(/^(?:Received from [^ ]+\. DB::[A-Za-z]*Exception: )+/, '')
    .replace(HOST_PORT, (found: string) =>
      found.startsWith('(') ? '(a server of the cluster)' : 'a server of the cluster',
    )
    .trim();
  const mapped = CODES[code];
  if (!mapped) {
    return new LakegateError('ENGINE_FAILURE', `ClickHouse failed to run the query: ${message}`, {
      details: { engine, clickhouseCode: Number.isNaN(code) ? undefined : code },
    });
  }
  if (mapped === 'INVALID_SQL') {
    const position = /failed at position (\d+)/.exec(message);
    const at = position ? lineAndColumn(sql, Number(position[1]) - 1) : undefined;
    // The list of what ClickHouse expected is long and of little help; the position is what matters.
    const short = message.replace(/\.?\s*Expected one of:[\s\S]*$/, '.');
    return new LakegateError('INVALID_SQL', short, { details: { engine, clickhouseCode: code, ...at } });
  }
  if (mapped === 'ENGINE_FAILURE') {
    return new LakegateError(
      'ENGINE_FAILURE',
      `ClickHouse refused the tenant's user (${message}): the gateway's settings for this tenant (tenants.<id>.engines.<engine>) do not match the server's users.`,
      { details: { engine, clickhouseCode: code } },
    );
  }
  if (mapped === 'ENGINE_UNAVAILABLE') {
    // A shard lost or unreachable: its message names the cluster's hosts and ports (`Connection refused
    // (10.0.0.7:9000)`), which are the operator's business: kept as the cause, which the logs show.
    return new LakegateError(
      'ENGINE_UNAVAILABLE',
      `A ClickHouse server of the cluster cannot be reached (ClickHouse error ${code}); retry in a few seconds.`,
      { retryAfterSeconds: 5, cause: new Error(message), details: { engine, clickhouseCode: code } },
    );
  }
  return new LakegateError(mapped, message, { details: { engine, clickhouseCode: code } });
}
