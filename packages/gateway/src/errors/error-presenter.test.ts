import { ERROR_CODES, type ErrorCode, INTERNAL_MESSAGE, LakegateError } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logging/logger.js';
import { trinoError } from '../trino/trino-errors.js';
import { presentError } from './error-presenter.js';
import { errorResponse } from './error-response.js';

describe('error presenter', () => {
  it('shows nothing of an internal error, whatever was thrown', () => {
    for (const thrown of [new Error('secret path /etc/x'), 'a string', new LakegateError('INTERNAL', 'db password')]) {
      const presented = presentError(thrown);
      expect(presented).toMatchObject({ code: 'INTERNAL', message: INTERNAL_MESSAGE, status: 500, internal: true });
      expect(presented.details).toBeUndefined();
    }
  });

  it('keeps a user error’s message and details, and tells when to retry a refusal', () => {
    const sql = new LakegateError('INVALID_SQL', 'syntax error at "FORM"', { details: { line: 1, column: 10 } });
    expect(presentError(sql)).toMatchObject({ code: 'INVALID_SQL', message: 'syntax error at "FORM"', status: 400 });
    expect(presentError(sql).details).toEqual({ line: 1, column: 10 });
    expect(presentError(sql).retryAfterSeconds).toBeUndefined();
    expect(presentError(new LakegateError('ENGINE_BUSY', 'busy')).retryAfterSeconds).toBe(5);
    expect(presentError(new LakegateError('RATE_LIMITED', 'slow down')).retryAfterSeconds).toBe(1);
    expect(
      presentError(new LakegateError('RATE_LIMITED', 'slow down', { retryAfterSeconds: 7 })).retryAfterSeconds,
    ).toBe(7);
  });

  it('gives every code the same code and message on HTTP and on the Trino protocol', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const error = new LakegateError(code, `message of ${code}`);
      const http = errorResponse(error, 'req-1', silentLogger);
      const trino = trinoError(error, 'SELECT 1');
      const expected = code === 'INTERNAL' ? INTERNAL_MESSAGE : `message of ${code}`;
      expect(http.body.error).toMatchObject({ code, message: expected });
      expect(http.status).toBe(ERROR_CODES[code].status);
      expect(trino.message).toBe(expected);
      expect(trino.failureInfo.type).toBe(`io.lakegate.${code}`);
      expect(typeof trino.errorCode).toBe('number');
    }
  });
});
