import { strict as assert } from 'node:assert';
import type { Engine } from '../engine.js';
import { type ErrorCode, isLakegateError } from '../errors.js';
import { collectRows } from '../query-stream.js';
import type { QueryRequest, QueryStream, TableBinding } from '../types.js';
import { KIT_SERIES_ROWS, KIT_TENANT, type KitTables, kitTables } from './kit-tables.js';

type TestFn = () => unknown | Promise<unknown>;

/** The few test-runner functions the kit needs; pass vitest's (or node:test's) own. */
export interface ConformanceTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: TestFn, timeoutMs?: number): void;
  beforeAll(fn: TestFn, timeoutMs?: number): void;
  afterAll(fn: TestFn, timeoutMs?: number): void;
}

export interface ConformanceSetup {
  readonly engine: Engine;
  /** Bindings for `kit_people` and `kit_series` as the engine expects them. */
  readonly tables: readonly TableBinding[];
  /**
   * SQL that computes for several seconds before its first row. Required when the engine declares
   * `cancellation: 'native'`: the kit then checks that an abort interrupts it.
   */
  readonly slowQuery?: string;
  /** Frees what `setup` made besides the engine (temporary files, ...). */
  teardown?(): Promise<void>;
}

export interface ConformanceHarness {
  /** Creates an engine that serves {@link kitTables} as datasets of {@link KIT_TENANT}. */
  setup(tables: KitTables): Promise<ConformanceSetup>;
}

async function expectCode(promise: Promise<unknown>, codes: readonly ErrorCode[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isLakegateError(error), `expected a Lakegate error, got ${String(error)}`);
    assert.ok(codes.includes(error.code), `expected ${codes.join(' or ')}, got ${error.code}: ${error.message}`);
    return true;
  });
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Registers the engine conformance suite. Every engine runs it:
 *
 * @example
 * import { describe, it, beforeAll, afterAll } from 'vitest';
 * runEngineConformance({ describe, it, beforeAll, afterAll }, 'duckdb', harness);
 */
export function runEngineConformance(t: ConformanceTestApi, name: string, harness: ConformanceHarness): void {
  t.describe(`engine conformance: ${name}`, () => {
    let setup: ConformanceSetup;
    let engine: Engine;
    const request = (sql: string, extra: Partial<QueryRequest> = {}): QueryRequest => ({
      queryId: `kit-${Math.random().toString(36).slice(2)}`,
      tenant: KIT_TENANT,
      sql,
      tables: setup.tables,
      ...extra,
    });
    const run = (
      sql: string,
      signal = new AbortController().signal,
      extra: Partial<QueryRequest> = {},
    ): Promise<QueryStream> => engine.execute(request(sql, extra), { signal });
    const idle = (): Promise<void> => waitFor(() => engine.stats().activeQueries === 0, 'activeQueries to return to 0');

    t.beforeAll(async () => {
      setup = await harness.setup(kitTables());
      engine = setup.engine;
    }, 120_000);
    t.afterAll(async () => {
      await engine?.close();
      await setup?.teardown?.();
    });

    t.it('declares frozen capabilities and an id', () => {
      assert.equal(typeof engine.id, 'string');
      assert.ok(Object.isFrozen(engine.capabilities), 'capabilities must be frozen');
      assert.ok(['native', 'between-batches'].includes(engine.capabilities.cancellation));
      if (engine.capabilities.cancellation === 'native')
        assert.ok(setup.slowQuery, 'native cancellation needs a slowQuery');
    });

    t.it('accepts the basic query shape in check()', async () => {
      assert.deepEqual(await engine.check(request('SELECT * FROM kit_people')), { supported: true });
    });

    /** A kit table's kinds and rows as this engine answers them: booleans as 1 and 0 without a boolean type. */
    const expectedKinds = () =>
      kitTables().kit_people.columns.map((c) => [
        c.name,
        c.type.kind === 'boolean' && !engine.capabilities.booleanType ? 'integer' : c.type.kind,
      ]);
    const expectedRows = () =>
      kitTables().kit_people.rows.map((row) =>
        row.map((v) => (typeof v === 'boolean' && !engine.capabilities.booleanType ? Number(v) : v)),
      );

    t.it('returns the schema before the first batch, with the declared kinds', async () => {
      const stream = await run('SELECT * FROM kit_people');
      try {
        assert.deepEqual(
          stream.schema.map((c) => [c.name, c.type.kind]),
          expectedKinds(),
        );
      } finally {
        await stream.close();
      }
      await idle();
    });

    t.it('returns every row and value in the batch representation', async () => {
      const rows = await collectRows(await run('SELECT * FROM kit_people'));
      rows.sort((a, b) => Number((a[0] as bigint) - (b[0] as bigint)));
      assert.deepEqual(rows, expectedRows());
      await idle();
    });

    t.it('produces well-formed batches: equal column lengths, no empty batch', async () => {
      let total = 0;
      for await (const batch of await run('SELECT n FROM kit_series')) {
        assert.ok(batch.rowCount > 0, 'empty batch');
        assert.equal(batch.columns.length, 1);
        assert.equal(batch.columns[0]?.length, batch.rowCount);
        total += batch.rowCount;
      }
      assert.equal(total, KIT_SERIES_ROWS);
      await idle();
    });

    t.it('selects named columns and honours LIMIT', async () => {
      const stream = await run('SELECT name, id FROM kit_people LIMIT 2');
      assert.deepEqual(
        stream.schema.map((c) => c.name),
        ['name', 'id'],
      );
      assert.equal((await collectRows(stream)).length, 2);
    });

    t.it('stops at maxRows without reading the rest', async () => {
      const rows = await collectRows(await run('SELECT n FROM kit_series', undefined, { maxRows: 10 }));
      assert.equal(rows.length, 10);
      await idle();
    });

    t.it('binds parameters as values, or declines them in check() (capability parameters)', async () => {
      const sql = 'SELECT name FROM kit_people WHERE id = $1 OR name = $2';
      // A value that would change the query if it were spliced into the text must stay a value.
      const parameters = [2n, "x' OR '1'='1"];
      if (!engine.capabilities.parameters) {
        assert.equal((await engine.check(request(sql, { parameters }))).supported, false);
        return;
      }
      assert.deepEqual(await collectRows(await run(sql, undefined, { parameters })), [['brian']]);
      // A string is cast to the type its place needs, as a literal would be.
      assert.deepEqual(await collectRows(await run(sql, undefined, { parameters: ['4', null] })), [['dennis']]);
      await idle();
    });

    t.it('maps an unknown table to UNKNOWN_TABLE', async () => {
      await expectCode(run('SELECT * FROM kit_missing'), ['UNKNOWN_TABLE']);
      await idle();
    });

    t.it('maps a syntax error to INVALID_SQL', async () => {
      await expectCode(run('SELEC * FROM kit_people'), ['INVALID_SQL']);
      await idle();
    });

    t.it('refuses to start when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expectCode(run('SELECT * FROM kit_people', controller.signal), ['QUERY_CANCELLED']);
      await idle();
    });

    t.it('stops with QUERY_CANCELLED when aborted during streaming, and frees the query', async () => {
      const controller = new AbortController();
      const stream = await run('SELECT n FROM kit_series', controller.signal);
      const iterator = stream[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).done, false);
      controller.abort();
      await expectCode(
        (async () => {
          for (;;) if ((await iterator.next()).done) return;
        })(),
        ['QUERY_CANCELLED'],
      );
      await idle();
    });

    t.it('frees the query when the consumer stops early', async () => {
      for await (const batch of await run('SELECT n FROM kit_series')) {
        assert.ok(batch.rowCount > 0);
        break;
      }
      await idle();
      assert.equal((await collectRows(await run('SELECT * FROM kit_people'))).length, 5, 'engine still usable');
    });

    t.it('frees a stream that is closed without being iterated', async () => {
      const stream = await run('SELECT n FROM kit_series');
      assert.equal(engine.stats().activeQueries, 1);
      await stream.close();
      await idle();
    });

    t.it('interrupts a query that has not produced its first batch (native cancellation)', async () => {
      if (engine.capabilities.cancellation !== 'native' || !setup.slowQuery) return;
      const controller = new AbortController();
      const started = Date.now();
      const running = (async () => collectRows(await run(setup.slowQuery as string, controller.signal)))();
      setTimeout(() => controller.abort(), 100);
      await expectCode(running, ['QUERY_CANCELLED']);
      assert.ok(Date.now() - started < 3000, `cancellation took ${Date.now() - started} ms`);
      await idle();
      assert.equal((await collectRows(await run('SELECT * FROM kit_people'))).length, 5, 'engine still usable');
    });

    t.it('runs queries concurrently', async () => {
      const results = await Promise.all(
        [1, 2, 3, 4].map(async () => collectRows(await run('SELECT * FROM kit_people'))),
      );
      for (const rows of results) assert.equal(rows.length, 5);
      await idle();
    });

    t.it('close() ends running streams, refuses new queries, and is idempotent', async () => {
      const stream = await run('SELECT n FROM kit_series');
      const iterator = stream[Symbol.asyncIterator]();
      await iterator.next();
      await engine.close();
      await expectCode(
        (async () => {
          for (;;) if ((await iterator.next()).done) return;
        })(),
        ['QUERY_CANCELLED', 'ENGINE_CLOSED'],
      );
      await engine.close();
      await expectCode(run('SELECT * FROM kit_people'), ['ENGINE_CLOSED']);
      assert.equal(engine.stats().activeQueries, 0);
    });
  });
}
