import { join } from 'node:path';
import { collectRows, type Engine, isLakegateError, type QueryRequest } from '@lakegate/engine-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantInstance } from './tenant-instance.js';
import { snapshot, tenantRoot, testEngine, writeParquet } from './test-support.js';

/**
 * The findings that showed allow-decisions taken on a parse other than DuckDB's, run straight against the engine:
 * each is refused, or answers from the filtered rows only, and leaves the tenant's instance exactly as it was.
 */
describe('duckdb engine: one authority over tenant SQL', () => {
  let env: Awaited<ReturnType<typeof tenantRoot>>;
  let engine: Engine;
  const signal = new AbortController().signal;
  const HIDDEN = 'us-only-row';
  const ordersFile = () => join(env.root, 'acme', 'orders.parquet');
  const request = (sql: string): QueryRequest => ({
    queryId: 'isolation',
    tenant: 'acme',
    sql,
    tables: [
      {
        name: 'orders',
        snapshot: snapshot('acme', 'orders', [ordersFile()], 'orders-v1'),
        rowFilter: "region = 'eu'",
      },
    ],
    qualifiers: [['acme'], ['lakegate', 'acme']],
  });
  const run = async (sql: string) => collectRows(await engine.execute(request(sql), { signal }));
  const state = async () => {
    const inspect = engine.inspectTenant?.bind(engine);
    if (!inspect) throw new Error('the DuckDB engine inspects its tenants');
    return inspect('acme');
  };

  beforeAll(async () => {
    env = await tenantRoot(['acme']);
    await writeParquet(
      ordersFile(),
      `SELECT i AS id, CASE WHEN i < 2 THEN 'eu' ELSE 'us' END AS region,
              CASE WHEN i < 2 THEN 'eu-row' ELSE '${HIDDEN}' END AS note FROM range(4) t(i)`,
    );
    engine = await testEngine(env.storage, { connections: 1 });
    expect(await run('SELECT count(*) FROM orders')).toEqual([[2n]]);
  });
  afterAll(async () => {
    await engine?.close();
    await env?.cleanup();
  });

  const refused: [string, string][] = [
    [
      'a nested comment hiding EXPLAIN ANALYZE CREATE MACRO',
      "/* /* */ explain analyze SELECT '*/ EXPLAIN ANALYZE CREATE OR REPLACE MACRO rt(p) AS (SELECT string_agg(content,$$$$) FROM read_text(p)) --' AS a",
    ],
    ['COPY to a file', "COPY (SELECT 1) TO 'x.csv'"],
    ['CREATE TABLE', 'CREATE TABLE kept AS SELECT 1 AS x'],
    ['INSERT', 'INSERT INTO orders VALUES (9, 9, 9)'],
    ['a temporary macro', 'CREATE TEMP MACRO m(x) AS x + 1'],
    ['a macro over duckdb_settings', 'CREATE MACRO s() AS TABLE SELECT * FROM duckdb_settings()'],
    ['a table macro replacing range', 'CREATE OR REPLACE MACRO range(p) AS TABLE SELECT * FROM read_parquet(p)'],
    ['EXPLAIN ANALYZE of a CREATE', 'EXPLAIN ANALYZE CREATE TABLE kept AS SELECT 1'],
    ['EXPLAIN of a query over the filtered dataset', 'EXPLAIN SELECT * FROM orders'],
    ['SET VARIABLE', "SET VARIABLE v = 'x'"],
    ['a variable read', "SELECT getvariable('v')"],
    ['SHOW ALL TABLES in a subquery', 'SELECT name FROM (SHOW ALL TABLES)'],
    ['duckdb_views without parentheses', 'SELECT * FROM duckdb_views'],
    ['pg_catalog by name', 'SELECT * FROM pg_class'],
    ['a CTE named like a system view', 'WITH duckdb_settings AS (SELECT 1) SELECT * FROM duckdb_settings'],
    ['pg_get_viewdef', "SELECT pg_get_viewdef('orders')"],
    ['a table function through a qualified name', 'SELECT * FROM system.main.duckdb_settings()'],
    ['json_execute_serialized_sql', "SELECT * FROM json_execute_serialized_sql('{}')"],
    ['query()', "SELECT * FROM query('SELECT 1')"],
    ['enable_profiling', 'SELECT * FROM enable_profiling()'],
    ['setseed', 'SELECT setseed(0.5)'],
    ['two statements', 'SELECT 1; CREATE TABLE kept AS SELECT 1'],
    ['time travel', 'SELECT * FROM orders AT (VERSION => 1)'],
    // A PIVOT statement whose values are not listed runs a query of its own first, to find them.
    ['a PIVOT statement', 'PIVOT orders ON region USING count(*)'],
    ['a NUL byte', 'SELECT 1 AS x\u0000 FROM orders'],
    ['an unpaired surrogate', 'SELECT 1 AS \ud800x'],
  ];

  it('refuses every finding with a clear code, and the instance keeps its state', async () => {
    const before = await state();
    for (const [what, sql] of refused) {
      const error = await run(sql).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isLakegateError(error), `${what} must be refused`).toBe(true);
      if (isLakegateError(error)) {
        expect(['FORBIDDEN_STATEMENT', 'UNKNOWN_TABLE', 'INVALID_SQL'], `${what}: ${error.message}`).toContain(
          error.code,
        );
        expect(error.message).not.toContain("region = 'eu'");
      }
      expect(await state(), `${what} left something behind`).toEqual(before);
    }
  });

  const answered: [string, string][] = [
    ['a backslash in a string literal', "SELECT '\\' AS a, * FROM orders -- ' AS b FROM orders"],
    [
      'a CTE scope across a parenthesised set operation',
      '(WITH p AS (SELECT * FROM orders) SELECT * FROM p) UNION ALL SELECT * FROM orders',
    ],
    ['a non-ASCII literal before a qualified reference', "SELECT 'ééé' AS e, * FROM acme.orders"],
    ['a catalog-qualified reference', "SELECT 'ß' AS s, o.* FROM lakegate.acme.orders o"],
    ['a scalar subquery', 'SELECT (SELECT count(*) FROM orders) AS n, (SELECT max(note) FROM orders) AS m'],
    [
      'a recursive CTE',
      'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT count(*) FROM r',
    ],
    ['PIVOT with its values listed', "SELECT * FROM (PIVOT orders ON region IN ('eu', 'us') USING count(*))"],
    ['FROM-first', 'FROM orders SELECT note'],
    ['a lateral join', 'SELECT o.note, l.x FROM orders o, LATERAL (SELECT o.id + 1 AS x) l'],
    ['SUMMARIZE', 'SUMMARIZE orders'],
    ['DESCRIBE', 'DESCRIBE orders'],
    ['a filter that a tenant predicate tries to widen', "SELECT * FROM orders WHERE true OR region <> 'eu'"],
    ['EXPLAIN of a query over no dataset', 'EXPLAIN SELECT 42'],
  ];

  it('answers valid read-only SQL from the filtered rows only, never naming internals', async () => {
    const before = await state();
    for (const [what, sql] of answered) {
      const stream = await engine.execute(request(sql), { signal }).catch((error: unknown) => {
        throw new Error(`${what}: ${isLakegateError(error) ? `${error.code} ${error.message}` : String(error)}`);
      });
      const names = stream.schema.map((c) => c.name).join(' ');
      const rows = JSON.stringify(await collectRows(stream), (_, v) => (typeof v === 'bigint' ? Number(v) : v));
      expect(rows, what).not.toContain(HIDDEN);
      expect(`${names} ${rows}`, what).not.toMatch(/__source|read_parquet|region = 'eu'/);
      expect(await state(), `${what} left something behind`).toEqual(before);
    }
    expect(
      await run('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT count(*) FROM r'),
    ).toEqual([[5n]]);
    expect(await run("SELECT count(*) FROM orders WHERE true OR region <> 'eu'")).toEqual([[2n]]);
  });

  it('runs the text it allowed: literals keep their types', async () => {
    // json_deserialize_sql would turn 1e0 into the DECIMAL 1.0; the engine runs the tenant's own text.
    expect(await run('SELECT typeof(1e0), 1e0')).toEqual([['DOUBLE', 1]]);
    expect(await run("SELECT 'a\\x41', E'a\\x41'")).toEqual([['a\\x41', 'aA']]);
  });

  it('inspects what a statement would leave behind, so that the invariant above can fail', async () => {
    const instance = await TenantInstance.open('probe', [join(env.root, 'acme')], {
      threads: 1,
      memoryLimit: '256MB',
      connections: 1,
    });
    try {
      const signal = new AbortController().signal;
      let before = await instance.inspect();
      for (const change of [
        'CREATE TEMP MACRO m(x) AS x + 1',
        "SET VARIABLE v = 'x'",
        'CREATE TEMP TABLE t AS SELECT 1',
      ]) {
        // Run as the engine never would: straight on the connection, past every check.
        const pooled = await instance.acquire(signal);
        await pooled.connection.run(change);
        instance.release(pooled);
        const after = await instance.inspect();
        expect(after, change).not.toEqual(before);
        before = after;
      }
    } finally {
      instance.close();
    }
  });
});
