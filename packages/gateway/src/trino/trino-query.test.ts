import { createQueryStream } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import type { ActiveQuery, QueryLifecycle } from '../query/query-lifecycle.js';
import { TrinoQuery, TrinoQueryRegistry } from './trino-query.js';

/**
 * A lifecycle whose query starts at once with a first row, and whose next row comes only after `slowMs`, as a
 * ClickHouse result streams when a shard is slow.
 */
function slowLifecycle(slowMs: number): QueryLifecycle {
  let batches = 0;
  const stream = createQueryStream([{ name: 'n', type: { kind: 'bigint', sqlType: 'BIGINT' } }], {
    next: async () => {
      batches++;
      if (batches === 1) return { rowCount: 1, columns: [[1n]] };
      if (batches === 2) {
        await new Promise((resolve) => setTimeout(resolve, slowMs));
        return { rowCount: 1, columns: [[2n]] };
      }
      return undefined;
    },
    close: () => undefined,
  });
  const active = { stream, end: async () => undefined } as unknown as ActiveQuery;
  return {
    assertSqlSize: () => undefined,
    catalog: { tenantDatasets: () => [] },
    start: async () => active,
    progress: () => undefined,
    endUnstarted: () => undefined,
  } as unknown as QueryLifecycle;
}

describe('a Trino query read page by page', () => {
  it('answers each page within maxWait while rows come slowly, and is not taken for abandoned meanwhile', async () => {
    const registry = new TrinoQueryRegistry(300, 60_000);
    const query = new TrinoQuery({
      tenant: 'acme',
      sql: 'SELECT n FROM slow',
      queries: slowLifecycle(1500),
      schema: 'acme',
      user: 'acme',
      source: undefined,
      pageRows: 10,
      pageBytes: 1_000_000,
    });
    registry.add(query);
    const states: string[] = [];
    let rows = 0;
    let token = 1;
    for (let i = 0; i < 40 && !query.done; i++) {
      const asked = Date.now();
      const page = await query.page(token, 'http://gateway', 100);
      expect(Date.now() - asked).toBeLessThan(600);
      states.push(String(page.results.stats.state));
      expect(page.results.error).toBeUndefined();
      if (page.data) rows += JSON.parse(`[${Buffer.concat(page.data).toString()}]`).length;
      token++;
      // The sweeper runs between the client's requests, as its timer would.
      registry.sweep();
    }
    expect(query.done).toBe(true);
    expect(rows).toBe(2);
    expect(states.at(-1)).toBe('FINISHED');
    registry.close();
  });
});
