import { createQueryStream, LakegateError } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import type { ActiveQuery, QueryLifecycle } from '../query/query-lifecycle.js';
import { TrinoQuery, TrinoQueryRegistry } from './trino-query.js';

/** A lifecycle whose queries answer `count` rows of `text` at once. */
function quickLifecycle(text: string, count = 1): QueryLifecycle {
  return {
    assertSqlSize: () => undefined,
    catalog: { tenantDatasets: () => [] },
    start: async () =>
      ({
        stream: createQueryStream([{ name: 's', type: { kind: 'string', sqlType: 'VARCHAR' } }], {
          next: (() => {
            let given = false;
            return async () => {
              if (given) return undefined;
              given = true;
              return { rowCount: count, columns: [Array.from({ length: count }, () => text)] };
            };
          })(),
          close: () => undefined,
        }),
        end: async () => undefined,
      }) as unknown as ActiveQuery,
    progress: () => undefined,
    endUnstarted: () => undefined,
  } as unknown as QueryLifecycle;
}

const options = (queries: QueryLifecycle) => ({
  tenant: 'acme',
  sql: 'SELECT s FROM t',
  queries,
  schema: 'acme',
  user: 'acme',
  source: undefined,
  pageRows: 10,
  pageBytes: 1_000_000,
});

/** Reads a query's pages to the last one (without nextUri). */
async function readAll(query: TrinoQuery): Promise<void> {
  for (let token = 1; ; token++) {
    const page = await query.page(token, 'http://gateway', 1000);
    if (page.results.nextUri === undefined) return;
  }
}

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

  it('stays FAILED when cancelled while a page is read, whatever the read then finds', async () => {
    const query = new TrinoQuery(options(slowLifecycle(2000)));
    // The first row at once, then a read left waiting for the slow second one.
    for (let token = 1; token <= 3; token++) await query.page(token, 'http://gateway', 50);
    query.cancel();
    // The read ends (its rows, then the result's end) after the cancel.
    await new Promise((resolve) => setTimeout(resolve, 2300));
    expect(query.state).toBe('FAILED');
    const page = await query.page(4, 'http://gateway', 50);
    expect(page.results.stats.state).toBe('FAILED');
    expect(page.results.error?.errorName).toBe('USER_CANCELED');
    expect(page.data).toBeUndefined();
  });

  it('refuses an overloaded start as 503 with the refusal’s own code, and a rate limit as ENGINE_BUSY', async () => {
    const refusing = (error: LakegateError) =>
      ({
        assertSqlSize: () => undefined,
        catalog: { tenantDatasets: () => [] },
        start: async () => {
          throw error;
        },
        progress: () => undefined,
        endUnstarted: () => undefined,
      }) as unknown as QueryLifecycle;
    const shutting = new TrinoQuery(
      options(refusing(new LakegateError('SHUTTING_DOWN', 'shutting down', { retryAfterSeconds: 1 }))),
    );
    expect(await shutting.refusedForOverload(100)).toMatchObject({ code: 'SHUTTING_DOWN', retryAfterSeconds: 1 });
    const limited = new TrinoQuery(options(refusing(new LakegateError('RATE_LIMITED', 'too many'))));
    expect(await limited.refusedForOverload(100)).toMatchObject({ code: 'ENGINE_BUSY' });
  });

  it('forgets the least recently read finished queries past the bytes it keeps, and one its client deleted', async () => {
    // Each keeps about 10 kB (its last page); 25 kB are kept.
    const registry = new TrinoQueryRegistry(60_000, 300_000, 25_000);
    const queries: TrinoQuery[] = [];
    const now = Date.now();
    for (let i = 0; i < 4; i++) {
      const query = new TrinoQuery(options(quickLifecycle('x'.repeat(10_000))));
      registry.add(query);
      await readAll(query);
      query.lastAccess = now + i;
      queries.push(query);
    }
    // A query FINISHED by its read-ahead, whose last rows its client has not fetched, is never forgotten.
    // (Fifteen rows: ten on the first page, the other five read ahead, to the result's end.)
    const unread = new TrinoQuery(options(quickLifecycle('y'.repeat(3000), 15)));
    registry.add(unread);
    await unread.page(1, 'http://gateway', 1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unread.done).toBe(true);
    unread.lastAccess = now - 1;
    registry.sweep(now + 10);
    const kept = (query: TrinoQuery) =>
      (() => {
        try {
          return registry.get(query.id, 'acme') === query;
        } catch {
          return false;
        }
      })();
    expect(queries.map(kept)).toEqual([false, false, true, true]);
    expect(kept(unread)).toBe(true);
    // A DELETE after the last page forgets it; one of a running query cancels it, and keeps it to say why.
    registry.remove(queries[3] as TrinoQuery);
    expect(kept(queries[3] as TrinoQuery)).toBe(false);
    const running = new TrinoQuery(options(slowLifecycle(60_000)));
    registry.add(running);
    await running.page(1, 'http://gateway', 100);
    registry.remove(running);
    expect(running.done).toBe(true);
    expect(registry.get(running.id, 'acme')).toBe(running);
    registry.close();
  });
});
