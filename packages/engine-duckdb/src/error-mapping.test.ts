import { describe, expect, it } from 'vitest';
import { mapDuckDBError, withoutSettingHints } from './error-mapping.js';

const context = { signal: new AbortController().signal, hiddenPaths: ['/var/cache/lakegate/acme'] };

describe('DuckDB error messages shown to tenants', () => {
  it('says what to do about a too-deep expression instead of naming a setting the tenant cannot change', () => {
    const error = mapDuckDBError(
      new Error(
        'Parser Error: Max expression depth limit of 1000 exceeded. Use "SET max_expression_depth TO x" to increase the maximum expression depth.',
      ),
      context,
    );
    expect(error.code).toBe('INVALID_SQL');
    expect(error.message).toBe(
      'Parser Error: Max expression depth limit of 1000 exceeded. Simplify the query: split long chains of operators, nested calls or parentheses.',
    );
  });

  it('drops any other advice to SET or PRAGMA a setting, and hides the tenant’s cache paths', () => {
    const message = withoutSettingHints(
      'Out of Memory Error: failed to allocate. Try SET memory_limit = "2GB" to raise it. See the docs.',
    );
    expect(message).toBe(
      'Out of Memory Error: failed to allocate. The setting it names is fixed by the operator. See the docs.',
    );
    const error = mapDuckDBError(
      new Error('Binder Error: column "z" not found in /var/cache/lakegate/acme/x.parquet'),
      context,
    );
    expect(error.message).toBe('Binder Error: column "z" not found in <dataset>/x.parquet');
  });

  it('stays quick on a long message without sentence ends', () => {
    const long = `Binder Error: ${'Use x '.repeat(20_000)}`;
    const started = performance.now();
    withoutSettingHints(long);
    expect(performance.now() - started).toBeLessThan(50);
  });
});
