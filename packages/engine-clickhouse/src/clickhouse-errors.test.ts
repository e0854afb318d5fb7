import { describe, expect, it } from 'vitest';
import { clickhouseError } from './clickhouse-errors.js';

const exception = (code: number, message: string) =>
  `Code: ${code}, e.displayText() = DB::Exception: ${message}, e.what() = DB::Exception\n`;

describe('ClickHouse exceptions as Lakegate errors', () => {
  it('maps codes to what a client can act on', () => {
    const code = (n: number, message = 'x') => clickhouseError(exception(n, message), 'SELECT 1', 'clickhouse').code;
    expect(code(60)).toBe('UNKNOWN_TABLE');
    expect(code(164)).toBe('FORBIDDEN_STATEMENT');
    expect(code(291)).toBe('FORBIDDEN');
    expect(code(159)).toBe('QUERY_TIMEOUT');
    expect(code(241)).toBe('RESOURCE_EXHAUSTED');
    expect(code(396)).toBe('RESULT_TOO_LARGE');
    expect(code(279)).toBe('ENGINE_UNAVAILABLE');
    expect(code(193)).toBe('ENGINE_FAILURE');
    expect(code(9999)).toBe('ENGINE_FAILURE');
  });

  it('locates a syntax error by line and column, without the long list of what was expected', () => {
    const error = clickhouseError(
      exception(62, 'Syntax error: failed at position 12: , count(). Expected one of: list of elements, SELECT'),
      'SELECT a\n, , count()',
      'clickhouse',
    );
    expect(error.code).toBe('INVALID_SQL');
    expect(error.message).toBe('Syntax error: failed at position 12: , count().');
    expect(error.details).toMatchObject({ line: 2, column: 3 });
  });

  it('keeps a shard’s address out of the message', () => {
    const error = clickhouseError(
      exception(60, "Received from 127.0.0.1:9000. DB::Exception: Table default.apis doesn't exist."),
      'SELECT 1',
      'clickhouse',
    );
    expect(error.message).toBe("Table default.apis doesn't exist.");
  });

  it('takes a network exception for a server out of reach, and names no host or port', () => {
    for (const text of [
      'Code: 279, e.displayText() = DB::NetException: All connection tries failed. Log: \n\nCode: 210, e.displayText() = DB::NetException: Connection refused (127.0.0.1:19999), e.what() = DB::NetException\n',
      'Code: 210. DB::NetException: Connection refused (10.0.0.7:9000). (NETWORK_ERROR) (version 23.8.1.1)',
      'Code: 32, e.displayText() = DB::Exception: Attempt to read after eof: while receiving packet from 127.0.0.1:19999, e.what() = DB::Exception',
      'Code: 209, e.displayText() = DB::NetException: Timeout exceeded while reading from socket (ch-2.internal:9000), e.what() = DB::NetException',
    ]) {
      const error = clickhouseError(text, 'SELECT 1', 'clickhouse');
      expect(error.code, text).toBe('ENGINE_UNAVAILABLE');
      expect(error.message, text).not.toMatch(/:\d{2,5}|127\.0\.0\.1|10\.0\.0\.7|internal/);
      expect(error.retryAfterSeconds).toBe(5);
    }
    // Any other exception that names an address keeps its message, less the address.
    const other = clickhouseError(
      exception(9999, 'Something failed while receiving packet from 10.0.0.7:9000 (10.0.0.8:9000)'),
      'SELECT 1',
      'clickhouse',
    );
    expect(other.message).toBe(
      'ClickHouse failed to run the query: Something failed while receiving packet from a server of the cluster (a server of the cluster)',
    );
  });
});
