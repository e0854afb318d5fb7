import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceEngine, type QueryStream } from '@lakegate/engine-api';
import { createStorage, type Storage } from '@lakegate/storage';
import { describe, expect, it } from 'vitest';
import { Admission } from '../admission/admission.js';
import { parseConfig } from '../config/config.js';
import { EngineRegistry } from '../engines/engine-registry.js';
import { ManagedEngine } from '../engines/managed-engine.js';
import { storageOptions } from '../gateway.js';
import { createLogger } from '../logging/logger.js';
import { PEOPLE } from '../test-support.js';
import { type QueryInput, QueryLifecycle } from './query-lifecycle.js';
import { ResultCache } from './result-cache.js';

async function lifecycle(
  options: {
    resultCache?: boolean;
    held?: Record<string, unknown>;
    progress?: (engineQueryId: string) => number | undefined;
    /** The tenant's admission limits, on a clock that stands still (no rate refills during the test). */
    limits?: { concurrentQueries?: number; queriesPerSecond?: number };
    preparedChars?: number;
  } = {},
) {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-lifecycle-'));
  await mkdir(join(root, 'people'), { recursive: true });
  await writeFile(join(root, 'people', 'part-0.parquet'), 'rows come from the reference engine');
  const config = parseConfig(
    {
      storage: { cacheDir: join(root, 'cache') },
      query: { defaultEngine: 'reference' },
      tenants: {
        acme: {
          apiKeys: ['acme-lifecycle-key'],
          datasets: { people: { location: `file:${join(root, 'people')}`, format: 'parquet' }, ...options.held },
          ...(options.resultCache ? { resultCache: { enabled: true } } : {}),
        },
      },
    },
    { baseDir: root },
  );
  const real = await createStorage(storageOptions(config));
  // Counts the snapshots held, as a refresh would see them.
  let held = 0;
  // Whether a snapshot may be looked at without a lease: when not, a cached answer takes the full path.
  let peekable = true;
  const storage: Storage & { held(): number; peekable(on: boolean): void } = Object.assign(
    Object.create(real) as Storage,
    {
      peek: (...args: Parameters<Storage['peek']>) => (peekable ? real.peek(...args) : undefined),
      peekable: (on: boolean) => {
        peekable = on;
      },
      async acquire(...args: Parameters<Storage['acquire']>) {
        const lease = await real.acquire(...args);
        held++;
        let released = false;
        return {
          snapshot: lease.snapshot,
          stale: lease.stale,
          release() {
            if (!released) held--;
            released = true;
            lease.release();
          },
        };
      },
      held: () => held,
    },
  );
  const engines = EngineRegistry.of([
    new ManagedEngine(
      Object.assign(createReferenceEngine({ datasets: { acme: { people: PEOPLE } }, batchSize: 2 }), {
        progress: options.progress,
      }),
      { maxConcurrent: 2, maxQueued: 2 },
    ),
    // An engine that holds tables of its own: `orders_v2` lives only there.
    new ManagedEngine(createReferenceEngine({ datasets: { acme: { orders_v2: ORDERS } } }), {
      id: 'warehouse',
      maxConcurrent: 2,
      maxQueued: 2,
    }),
  ]);
  const admission = new Admission({
    global: config.limits,
    tenant: () => options.limits ?? {},
    maxMemoryBytes: undefined,
    ...(options.limits ? { clock: () => 0 } : {}),
  });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const queries = new QueryLifecycle({
    config,
    storage,
    engines,
    admission,
    typeName: (t) => t.sqlType,
    preparedChars: options.preparedChars,
  });
  const input = (sql: string, extra: Partial<QueryInput> = {}): QueryInput => ({
    queryId: 'q-1',
    tenant: 'acme',
    sql,
    engine: undefined,
    maxRows: 100,
    signal: new AbortController().signal,
    protocol: 'test',
    logger,
    labels: { client: 'unit' },
    ...extra,
  });
  const done = () => lines.filter((l) => l.event === 'query.done');
  return { queries, admission, storage, input, done };
}

const ORDERS = {
  columns: [{ name: 'order_id', type: { kind: 'bigint' as const, sqlType: 'BIGINT' } }],
  rows: [[10n], [11n]],
};

async function drain(stream: QueryStream): Promise<number> {
  let rows = 0;
  for await (const batch of stream) rows += batch.rowCount;
  return rows;
}

describe('query lifecycle', () => {
  it('keeps prepared queries within a bound of their texts, and none read before a reload', async () => {
    // A bound of 200,000 characters: a key and its query count twice the key's length, 30,000 for a long text.
    const { queries } = await lifecycle({ preparedChars: 200_000 });
    const signal = new AbortController().signal;
    const sql = 'SELECT id, name FROM people';
    const first = await queries.prepare('acme', sql, signal);
    expect(await queries.prepare('acme', sql, signal)).toBe(first);
    // Long texts, far fewer than the entries kept, but more characters than the bound: the first goes.
    for (let i = 0; i < 5; i++)
      await queries.prepare('acme', `SELECT count(*) FROM people -- ${i} ${'x'.repeat(15_000)}`, signal);
    expect(await queries.prepare('acme', sql, signal)).toBe(first);
    for (let i = 5; i < 10; i++)
      await queries.prepare('acme', `SELECT count(*) FROM people -- ${i} ${'x'.repeat(15_000)}`, signal);
    const again = await queries.prepare('acme', sql, signal);
    expect(again).not.toBe(first);
    expect(await queries.prepare('acme', sql, signal)).toBe(again);

    // A preparation under way when the configuration is reloaded answers its query, but is not kept.
    const text = 'SELECT name FROM people';
    const preparing = queries.prepare('acme', text, signal);
    queries.reconfigured();
    const read = await preparing;
    expect(await queries.prepare('acme', text, signal)).not.toBe(read);
  });

  it('holds a slot and the snapshot while the result is read, and frees them and logs once at the end', async () => {
    const { queries, admission, storage, input, done } = await lifecycle();
    const query = await queries.start(input('SELECT id, name FROM people'));
    expect(query.engine).toBe('reference');
    expect(admission.stats().running).toBe(1);
    expect(storage.held()).toBe(1);
    expect(await drain(query.stream)).toBe(3);
    await query.end({ outcome: 'ok', rows: 3, bytes: 42 });
    await query.end({ outcome: 'error', rows: 0 });
    expect(admission.stats().running).toBe(0);
    expect(storage.held()).toBe(0);
    expect(done()).toEqual([
      expect.objectContaining({
        tenant: 'acme',
        queryId: 'q-1',
        protocol: 'test',
        client: 'unit',
        engine: 'reference',
        route: 'default',
        rows: 3,
        bytes: 42,
        outcome: 'ok',
      }),
    ]);
    expect(done()[0]?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('tells how far a tenant’s running query is, through the engine’s own id for it, and forgets it at the end', async () => {
    const asked: string[] = [];
    const { queries, input } = await lifecycle({
      progress: (id) => {
        asked.push(id);
        return 0.25;
      },
    });
    const query = await queries.start(input('SELECT id FROM people'));
    expect(queries.progress('acme', 'q-1')).toBe(0.25);
    // The engine knows the query by an id of its own, unique in the gateway even when a client repeats its id.
    expect(asked[0]).toMatch(/^q-1~\d+$/);
    expect(queries.progress('globex', 'q-1')).toBeUndefined();
    await query.end({ outcome: 'client_closed', rows: 0 });
    expect(queries.progress('acme', 'q-1')).toBeUndefined();
  });

  it('frees everything when the front end ends a query it stopped reading', async () => {
    const { queries, admission, storage, input, done } = await lifecycle();
    const query = await queries.start(input('SELECT id FROM people'));
    await query.end({ outcome: 'client_closed', rows: 0 });
    expect(admission.stats().running).toBe(0);
    expect(storage.held()).toBe(0);
    expect(done()).toEqual([expect.objectContaining({ outcome: 'client_closed' })]);
  });

  it('logs a query that cannot start as its end, with the code, frees its slot, and throws', async () => {
    const { queries, admission, input, done } = await lifecycle();
    await expect(queries.start(input('SELECT * FROM nowhere'))).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
    await expect(queries.start(input('SELECT id FROM people', { engine: 'nope' }))).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(admission.stats().running).toBe(0);
    expect(done()).toEqual([
      expect.objectContaining({ engine: 'none', outcome: 'error', code: 'UNKNOWN_TABLE', rows: 0 }),
      expect.objectContaining({ engine: 'none', outcome: 'error', code: 'INVALID_REQUEST' }),
    ]);
  });

  it('counts a cancelled query as cancelled, whichever end the front end reports', async () => {
    const { queries, input, done } = await lifecycle();
    const controller = new AbortController();
    controller.abort();
    await expect(queries.start(input('SELECT id FROM people', { signal: controller.signal }))).rejects.toMatchObject({
      code: 'QUERY_CANCELLED',
    });
    const query = await queries.start(input('SELECT id FROM people'));
    const { LakegateError } = await import('@lakegate/engine-api');
    await query.end({ outcome: 'error', rows: 0, error: new LakegateError('QUERY_CANCELLED', 'stop') });
    expect(done().map((l) => l.outcome)).toEqual(['cancelled', 'cancelled']);
  });

  it('answers a repeated query from the tenant’s result cache and says so', async () => {
    const { queries, input, done } = await lifecycle({ resultCache: true });
    const first = await queries.start(input('SELECT id, name FROM people'));
    expect(first.cache).toBe('miss');
    await drain(first.stream);
    await first.end({ outcome: 'ok', rows: 3 });
    const second = await queries.start(input('SELECT id, name FROM people'));
    expect(second.cache).toBe('hit');
    // The hit names the engine that computed the result, and why it went there.
    expect([second.engine, second.route]).toEqual([first.engine, first.route]);
    expect(second.encodings).toBeDefined();
    expect(await drain(second.stream)).toBe(3);
    await second.end({ outcome: 'ok', rows: 3 });
    // Asked for by name, the same engine is another route, and so another entry: a hit reports its own route.
    const named = await queries.start(input('SELECT id, name FROM people', { engine: first.engine }));
    expect([named.cache, named.route]).toEqual(['miss', 'requested']);
    await drain(named.stream);
    await named.end({ outcome: 'ok', rows: 3 });
    expect(done().map((l) => l.cache)).toEqual(['miss', 'hit', 'miss']);
  });

  it('answers a cached result at once, without a slot, as the full path does, counting its rate and its snapshot’s use', async () => {
    const { queries, admission, storage, input, done } = await lifecycle({
      resultCache: true,
      limits: { concurrentQueries: 1, queriesPerSecond: 5 },
    });
    const sql = 'SELECT id, name FROM people';
    const first = await queries.start(input(sql));
    await drain(first.stream);
    await first.end({ outcome: 'ok', rows: 3 });
    // Spans the requests' traces get.
    const spans: string[] = [];
    const trace = {
      span: <T>(name: string, _attributes: unknown, fn: () => Promise<T>) => {
        spans.push(name);
        return fn();
      },
      open: (name: string) => {
        spans.push(name);
        return { end() {} };
      },
    };
    const hits = storage.metrics('acme').hits;
    // A snapshot that cannot be looked at without a lease (not entirely cached) sends a hit down the full path.
    storage.peekable(false);
    const full = await queries.start(input(sql, { queryId: 'q-full', trace }));
    expect(spans).toEqual(['sql.prepare', 'admission.wait', 'storage.acquire', 'result.cache']);
    storage.peekable(true);
    spans.length = 0;
    const fast = await queries.start(input(sql, { queryId: 'q-fast', trace }));
    expect(spans).toEqual(['result.cache']);
    expect(admission.stats().running + storage.held()).toBe(0);
    // Alike but for the wait, and for the encodings' accessors, made for each hit.
    const { stream: _full, end: _endFull, encodings: fullEncodings, ...fullFields } = full;
    const { stream: _fast, end: _endFast, encodings: fastEncodings, ...fastFields } = fast;
    expect(fastFields).toEqual({ ...fullFields, waitMs: 0 });
    expect([fullEncodings, fastEncodings]).toEqual([expect.any(Object), expect.any(Object)]);
    expect(fast.cache).toBe('hit');
    expect(await drain(fast.stream)).toBe(3);
    for (const [query, id] of [
      [full, 'q-full'],
      [fast, 'q-fast'],
    ] as const) {
      await query.end({ outcome: 'ok', rows: 3, bytes: 10 });
      expect(done().filter((l) => l.queryId === id)).toHaveLength(1);
    }
    const line = (id: string) => {
      const {
        queryId: _id,
        durationMs: _ms,
        waitMs: _wait,
        time: _time,
        ...rest
      } = done().find((l) => l.queryId === id) ?? {};
      return rest;
    };
    expect(line('q-fast')).toEqual(line('q-full'));
    // Each counted once as a use of the cached dataset, as a query holding its snapshot is.
    expect(storage.metrics('acme').hits).toBe(hits + 2);

    // With the one slot taken by a running query, a cached answer still comes at once: it runs nothing.
    const running = await queries.start(input('SELECT name FROM people', { queryId: 'q-running' }));
    expect(admission.stats().running).toBe(1);
    const atOnce = await Promise.race([
      queries.start(input(sql, { queryId: 'q-beside' })),
      new Promise<'queued'>((resolve) => setTimeout(() => resolve('queued'), 2000)),
    ]);
    expect(atOnce === 'queued' ? atOnce : atOnce.cache).toBe('hit');
    if (atOnce !== 'queued') await atOnce.end({ outcome: 'ok', rows: 3 });
    // Five queries took the tenant's five tokens: the sixth, a cached one too, is refused as any query would be.
    await expect(queries.start(input(sql, { queryId: 'q-sixth' }))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await running.end({ outcome: 'ok', rows: 0 });
  });

  it('hands parameters to the engine, which declines them when it cannot bind them, and keys cached results by them', async () => {
    const { queries, input } = await lifecycle({ resultCache: true });
    await expect(queries.start(input('SELECT id FROM people WHERE id = $1', { parameters: [1] }))).rejects.toThrow(
      /does not bind parameters/,
    );
    const key = (parameters?: readonly unknown[]) =>
      ResultCache.key({ engine: 'e', fingerprint: 'f', parameters, maxRows: 1, versions: {} });
    expect(new Set([key(), key([1]), key([2]), key(['1']), key([1n]), key([null])]).size).toBe(6);
    expect(key([1])).toBe(key([1]));
  });

  it('logs an answer the gateway gave itself, or a query refused before it started, as one line', async () => {
    const { queries, input, done } = await lifecycle();
    queries.endUnstarted(input('SHOW TABLES'), { outcome: 'ok', rows: 1 }, performance.now(), 'gateway');
    expect(done()).toEqual([expect.objectContaining({ engine: 'gateway', rows: 1, outcome: 'ok', protocol: 'test' })]);
  });

  describe('datasets held by an engine', () => {
    const held = {
      orders: { engine: 'warehouse', table: 'orders_v2' },
      refunds: { engine: 'reference', table: 'refunds' },
      eu_orders: { engine: 'warehouse', table: 'orders_v2', rowFilter: "region = 'eu'" },
    };

    it('goes only to the engine that holds them, which reads its own table, with nothing leased and a TTL-cached result', async () => {
      const { queries, storage, input } = await lifecycle({ resultCache: true, held });
      const query = await queries.start(input('SELECT order_id FROM orders'));
      expect(query.engine).toBe('warehouse');
      expect(query.cache).toBe('miss');
      expect(storage.held()).toBe(0);
      expect(await drain(query.stream)).toBe(2);
      await query.end({ outcome: 'ok', rows: 2 });
      // The table has no version: its cached result is kept for the cache's TTL alone.
      const again = await queries.start(input('SELECT order_id FROM orders'));
      expect(again.cache).toBe('hit');
      await again.end({ outcome: 'ok', rows: 2 });
      // Asked for another engine by name, the query still cannot go where the table is not.
      const asked = await queries.start(input('SELECT order_id FROM orders LIMIT 5', { engine: 'reference' }));
      expect(asked.engine).toBe('warehouse');
      expect(asked.route).toBe(
        'reference declined: the query reads datasets that live in warehouse; answered by warehouse',
      );
      await asked.end({ outcome: 'ok', rows: 0 });
    });

    it('refuses a query over tables of two engines, and hands the row filter to the holder', async () => {
      const { queries, input } = await lifecycle({ held });
      await expect(queries.start(input('SELECT * FROM orders, refunds'))).rejects.toMatchObject({
        code: 'UNSUPPORTED_QUERY',
        message: expect.stringContaining('orders: warehouse, refunds: reference'),
      });
      // The reference engine applies no row filters, so it must decline rather than read past one.
      await expect(queries.start(input('SELECT order_id FROM eu_orders'))).rejects.toMatchObject({
        code: 'UNSUPPORTED_QUERY',
        message: expect.stringContaining('warehouse declined: The reference engine does not apply row filters'),
      });
    });

    it('lists them in the catalog and describes them through their engine', async () => {
      const { queries } = await lifecycle({ held });
      expect(queries.catalog.datasets('acme')).toEqual(['eu_orders', 'orders', 'people', 'refunds']);
      const columns = await queries.catalog.columns('acme', 'orders', new AbortController().signal);
      expect(columns.map((c) => c.name)).toEqual(['order_id']);
    });
  });
});
