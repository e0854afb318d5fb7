import { describe, expect, it } from 'vitest';
import { abortError, ERROR_CODES, isLakegateError, LakegateError, toLakegateError } from './errors.js';

describe('errors', () => {
  it('carries code, kind and status from the taxonomy', () => {
    const error = new LakegateError('UNKNOWN_TABLE', 'no such table');
    expect([error.code, error.kind, error.status]).toEqual(['UNKNOWN_TABLE', 'user', 404]);
  });

  it('is recognised by brand, also across copies of the package', () => {
    const foreign = { [Symbol.for('lakegate.error')]: true, code: 'RATE_LIMITED', message: 'x' };
    expect(isLakegateError(foreign)).toBe(true);
    expect(isLakegateError(new Error('x'))).toBe(false);
    expect(isLakegateError({ [Symbol.for('lakegate.error')]: true, code: 'NOT_A_CODE' })).toBe(false);
  });

  it('wraps unknown errors as INTERNAL without leaking their message', () => {
    const wrapped = toLakegateError(new Error('secret detail'));
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.message).not.toContain('secret');
    expect((wrapped.cause as Error).message).toBe('secret detail');
  });

  it('turns an abort reason into QUERY_CANCELLED unless it is already a Lakegate error', () => {
    const plain = new AbortController();
    plain.abort();
    expect(abortError(plain.signal).code).toBe('QUERY_CANCELLED');
    const timed = new AbortController();
    timed.abort(new LakegateError('QUERY_TIMEOUT', 'too slow'));
    expect(abortError(timed.signal).code).toBe('QUERY_TIMEOUT');
  });

  it('maps every code to a status consistent with its kind', () => {
    const byKind: Record<string, number[]> = {
      user: [400, 404, 413, 422],
      auth: [401, 403],
      limit: [429, 413, 507],
      unavailable: [503],
      engine: [502, 504],
      cancelled: [499],
      internal: [500],
    };
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(byKind[spec.kind], code).toContain(spec.status);
    }
  });
});
