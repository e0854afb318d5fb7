import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectRows, type QueryRequest, type TableBinding } from '@lakegate/engine-api';
import { KIT_TENANT, runEngineConformance } from '@lakegate/engine-api/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duckdbEngineFactory } from './duckdb-engine.js';
import { snapshot, tenantRoot, testEngine, writeParquet, writeTable } from './test-support.js';

runEngineConformance({ describe, it, beforeAll, afterAll }, 'duckdb', {
  async setup(tables) {
    const { root, storage, cleanup } = await tenantRoot([KIT_TENANT]);
    const bindings: TableBinding[] = [];
    for (const [name, table] of Object.entries(tables)) {
      const path = join(root, KIT_TENANT, `${name}.parquet`);
      await writeTable(table, path);
      bindings.push({ name, snapshot: snapshot(KIT_TENANT, name, [path]) });
    }
    return {
      engine: await testEngine(storage),
      tables: bindings,
      slowQuery: 'SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3',
      teardown: cleanup,
    };
  },
});

describe('duckdb engine', () => {
  let env: Awaited<ReturnType<typeof tenantRoot>>;
  const signal = new AbortController().signal;
  const file = (tenant: string, name = 'data.parquet') => join(env.root, tenant, name);
  const request = (tenant: string, sql: string, tables?: TableBinding[]): QueryRequest => ({
    queryId: 'q',
    tenant,
    sql,
    tables: tables ?? [{ name: 'data', snapshot: snapshot(tenant, 'data', [file(tenant)]) }],
  });

  beforeAll(async () => {
    env = await tenantRoot(['alpha', 'beta']);
    for (const tenant of ['alpha', 'beta']) {
      await writeParquet(file(tenant), `SELECT '${tenant}' AS owner, i AS n FROM range(3) t(i)`);
    }
  });
  afterAll(() => env.cleanup());

  it('parses its config and lists every problem', () => {
    expect(duckdbEngineFactory.parseConfig(undefined).ok).toBe(true);
    const bad = duckdbEngineFactory.parseConfig({
      threads: 0,
      memoryLimit: 'lots',
      colour: 'red',
      tenants: { alpha: { threads: 'x', speed: 1 } },
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems).toEqual(
        expect.arrayContaining([
          'threads: must be a positive integer',
          'memoryLimit: must be a size such as "512MB" or "2GB"',
          'tenants.alpha.threads: must be a positive integer',
          'tenants.alpha.speed: unknown setting',
        ]),
      );
    }
  });

  it('converts every common DuckDB type to the batch representation', async () => {
    await using engine = await testEngine(env.storage);
    const stream = await engine.execute(
      request(
        'alpha',
        `SELECT 42::INTEGER i, 9007199254740993::BIGINT b, 1.5::DOUBLE d, 12.30::DECIMAL(10,2) dc, 'x' s,
         DATE '2024-03-01' dt, TIMESTAMP '2024-03-01 12:34:56.789' ts, INTERVAL 90 MINUTE iv,
         [1, NULL, 3] l, {'a': 1, 'b': 'z'} st, NULL::VARCHAR n, true bo, TIMESTAMPTZ '2024-03-01 00:00:00+00' tz,
         TIME '01:02:03' tm, 'abc'::BLOB bl, MAP {'k': 1} m, '00000000-0000-0000-0000-000000000001'::UUID u`,
      ),
      { signal },
    );
    expect(stream.schema.map((c) => c.type.kind)).toEqual([
      'integer',
      'bigint',
      'float',
      'decimal',
      'string',
      'date',
      'timestamp',
      'interval',
      'list',
      'struct',
      'string',
      'boolean',
      'timestamptz',
      'time',
      'blob',
      'map',
      'string',
    ]);
    const [row] = await collectRows(stream);
    expect(row).toEqual([
      42,
      9007199254740993n,
      1.5,
      '12.30',
      'x',
      19783,
      1709296496789000n,
      'PT5400S',
      [1, null, 3],
      { a: 1, b: 'z' },
      null,
      true,
      1709251200000000n,
      3723000000n,
      Buffer.from('abc'),
      [{ key: 'k', value: 1 }],
      '00000000-0000-0000-0000-000000000001',
    ]);
  });

  it('reads CSV and TSV files that share a header with one sniffing, and files that differ by name', async () => {
    await using engine = await testEngine(env.storage);
    const csv = (format: 'csv' | 'tsv', names: string[], version: string) => ({
      name: 'data',
      snapshot: {
        ...snapshot(
          'alpha',
          'data',
          names.map((n) => file('alpha', n)),
          version,
        ),
        format,
      },
    });
    await writeFile(file('alpha', 'a.csv'), 'ts,who,n\n2026-01-01 10:00:00,"x, y",1\n2026-01-02 11:30:00,z,2\n');
    await writeFile(file('alpha', 'b.csv'), 'ts,who,n\n2026-01-03 09:15:00,w,3\n');
    await writeFile(file('alpha', 'c.csv'), 'who,extra\nq,true\n');
    await writeFile(file('alpha', 'd.tsv'), 'who\tn\nx y\t4\n');
    const run = async (binding: TableBinding, sql: string) => {
      const stream = await engine.execute(request('alpha', sql, [binding]), { signal });
      return { types: stream.schema.map((c) => c.type.sqlType), rows: await collectRows(stream) };
    };
    const same = await run(csv('csv', ['a.csv', 'b.csv'], 'v-same'), 'SELECT * FROM data ORDER BY n');
    expect(same.types).toEqual(['TIMESTAMP', 'VARCHAR', 'BIGINT']);
    expect(same.rows.map((r) => r.slice(1))).toEqual([
      ['x, y', 1n],
      ['z', 2n],
      ['w', 3n],
    ]);
    // Again: the sniffed scan is reused, and gives the same answer.
    expect((await run(csv('csv', ['a.csv', 'b.csv'], 'v-same'), 'SELECT sum(n) FROM data')).rows).toEqual([[6n]]);
    const differing = await run(csv('csv', ['a.csv', 'c.csv'], 'v-differ'), 'SELECT who, extra FROM data ORDER BY who');
    expect(differing.rows).toEqual([
      ['q', true],
      ['x, y', null],
      ['z', null],
    ]);
    expect((await run(csv('tsv', ['d.tsv'], 'v-tsv'), 'SELECT who, n FROM data')).rows).toEqual([['x y', 4n]]);
  });

  it('gives each tenant its own instance, which cannot read the other tenant’s files', async () => {
    await using engine = await testEngine(env.storage);
    expect(
      await collectRows(await engine.execute(request('alpha', 'SELECT DISTINCT owner FROM data'), { signal })),
    ).toEqual([['alpha']]);
    expect(
      await collectRows(await engine.execute(request('beta', 'SELECT DISTINCT owner FROM data'), { signal })),
    ).toEqual([['beta']]);
    expect(engine.stats().gauges?.instancesOpen).toBe(2);
    // Even a binding that names another tenant's file cannot be read: the instance is locked to its folder.
    const smuggled = request('alpha', 'SELECT * FROM data', [
      { name: 'data', snapshot: snapshot('alpha', 'data', [file('beta')], 'smuggled') },
    ]);
    await expect(engine.execute(smuggled, { signal })).rejects.toMatchObject({ code: 'FORBIDDEN_STATEMENT' });
  });

  it('applies per-tenant overrides: the same query fits one tenant’s memory limit and not another’s', async () => {
    await using engine = await testEngine(env.storage, {
      memoryLimit: '2GB',
      tenants: { beta: { memoryLimit: '32MB' } },
    });
    const hungry = "SELECT length(list(range::VARCHAR || repeat('x', 100))) FROM range(3000000)";
    expect(await collectRows(await engine.execute(request('alpha', hungry), { signal }))).toEqual([[3000000n]]);
    await expect(engine.execute(request('beta', hungry), { signal }).then(collectRows)).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
    });
    await expect(
      engine.execute(request('beta', "SELECT current_setting('memory_limit')"), { signal }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN_STATEMENT',
    });
  });

  it('closes the least recently used idle instance beyond maxInstances, and reopens on demand', async () => {
    await using engine = await testEngine(env.storage, { maxInstances: 1 });
    await collectRows(await engine.execute(request('alpha', 'SELECT 1'), { signal }));
    await collectRows(await engine.execute(request('beta', 'SELECT 1'), { signal }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(engine.stats().gauges?.instancesOpen).toBe(1);
    expect(
      await collectRows(await engine.execute(request('alpha', 'SELECT DISTINCT owner FROM data'), { signal })),
    ).toEqual([['alpha']]);
  });

  it('describes a query’s columns without running it', async () => {
    await using engine = await testEngine(env.storage);
    // error() fails the query for any row it reaches: only a query that runs reaches one.
    const sql =
      "SELECT n, CASE WHEN n >= 0 THEN error('the query ran') END AS v FROM data WHERE coalesce(CAST($1 AS VARCHAR), owner) = owner";
    const described = await engine.execute(
      { ...request('alpha', sql), parameters: [null], describeOnly: true },
      { signal },
    );
    expect(described.schema.map((c) => c.name)).toEqual(['n', 'v']);
    expect(await collectRows(described)).toEqual([]);
    await expect(
      engine
        .execute({ ...request('alpha', sql), parameters: ['alpha'] }, { signal })
        .then((stream) => collectRows(stream)),
    ).rejects.toThrow(/the query ran/);
  });

  it('spreads lists with unnest in an expression and compares with = ANY(list)', async () => {
    await using engine = await testEngine(env.storage);
    const rows = await collectRows(
      await engine.execute(
        request('alpha', 'SELECT unnest([n, n + 10]) AS v FROM data WHERE n = ANY([0, 2]) ORDER BY v'),
        { signal },
      ),
    );
    expect(rows).toEqual([[0n], [2n], [10n], [12n]]);
  });

  it('reports the statement, tables, table functions and CTEs from DuckDB’s parser, and refuses what may not run', async () => {
    await using engine = await testEngine(env.storage);
    const analyze = engine.analyze?.bind(engine);
    expect(analyze).toBeDefined();
    if (!analyze) return;
    const analysis = await analyze(
      'WITH recent AS (SELECT * FROM events) FROM recent r JOIN s.users u USING (id), range(3) SELECT * QUALIFY row_number() OVER () = 1',
      { signal },
    );
    expect(analysis).toMatchObject({ statementCount: 1, statementType: 'SELECT', ctes: ['recent'] });
    expect(analysis.tables.map((t) => [t.schema ?? '', t.name, t.cte])).toEqual(
      expect.arrayContaining([
        ['', 'events', false],
        ['', 'recent', true],
        ['s', 'users', false],
      ]),
    );
    expect(analysis.tableFunctions.map((f) => f.name)).toEqual(['range']);
    expect((await analyze('EXPLAIN SELECT 1', { signal })).statementType).toBe('EXPLAIN');
    // Whether its result may change between runs: a call of now() or random(), SQL's current_date, a macro over them.
    expect(analysis.volatile).toBe(false);
    for (const sql of [
      'SELECT count(*) FROM events WHERE ts > now() - INTERVAL 1 DAY',
      'SELECT random() AS r FROM events',
      'SELECT * FROM events WHERE day = current_date',
      'SELECT current_timestamp',
      "SELECT age(TIMESTAMP '2000-01-01') AS a",
    ])
      expect((await analyze(sql, { signal })).volatile, sql).toBe(true);
    expect((await analyze('SELECT \'now\', "random" FROM events', { signal })).volatile).toBe(false);
    await expect(analyze("SELECT * FROM read_csv('x.csv')", { signal })).rejects.toMatchObject({
      code: 'FORBIDDEN_STATEMENT',
    });
    await expect(analyze("ATTACH 'x.db'", { signal })).rejects.toMatchObject({ code: 'FORBIDDEN_STATEMENT' });
    await expect(analyze('SELECT 1; SELECT 2', { signal })).rejects.toMatchObject({ code: 'FORBIDDEN_STATEMENT' });
    await expect(analyze('SELECT 1 FROM\n  WHERE', { signal })).rejects.toMatchObject({
      code: 'INVALID_SQL',
      details: { line: 2 },
    });
  });

  it('maps running out of memory to RESOURCE_EXHAUSTED', async () => {
    await using engine = await testEngine(env.storage, { memoryLimit: '32MB' });
    await expect(
      engine
        .execute(request('alpha', "SELECT list(range::VARCHAR || repeat('x', 100)) FROM range(3000000)"), { signal })
        .then(collectRows),
    ).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(await collectRows(await engine.execute(request('alpha', 'SELECT 1'), { signal }))).toEqual([[1]]);
  });

  it('tells how far a running query is, and nothing once it ended', async () => {
    await using engine = await testEngine(env.storage, { threads: 1 });
    const big = file('alpha', 'progress.parquet');
    await writeParquet(big, 'SELECT i, i % 13 AS k FROM range(6000000) t(i)');
    const scan = request('alpha', 'SELECT k, count(*), sum(hash(i)) FROM data GROUP BY k', [
      { name: 'data', snapshot: snapshot('alpha', 'data', [big], 'progress-v1') },
    ]);
    expect(engine.progress?.(scan.queryId)).toBeUndefined();
    const seen: number[] = [];
    const sampler = setInterval(() => {
      const value = engine.progress?.(scan.queryId);
      if (value !== undefined) seen.push(value);
    }, 5);
    const rows = await collectRows(await engine.execute(scan, { signal }));
    clearInterval(sampler);
    expect(rows).toHaveLength(13);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(Math.max(...seen)).toBeGreaterThan(0);
    expect(engine.progress?.(scan.queryId)).toBeUndefined();
  });

  it('reports an abort with a QUERY_TIMEOUT reason as QUERY_TIMEOUT', async () => {
    await using engine = await testEngine(env.storage);
    const controller = new AbortController();
    const running = engine.execute(request('alpha', 'SELECT count(*) FROM range(10000000000) t(i) WHERE i % 3 = 1'), {
      signal: controller.signal,
    });
    const { LakegateError } = await import('@lakegate/engine-api');
    setTimeout(() => controller.abort(new LakegateError('QUERY_TIMEOUT', 'too slow')), 50);
    await expect(running.then(collectRows)).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
  });

  it('runs each query on the snapshot versions it was given, while another version is bound concurrently', async () => {
    await using engine = await testEngine(env.storage, { connections: 4 });
    const v1 = file('alpha', 'v1.parquet');
    const v2 = file('alpha', 'v2.parquet');
    await writeParquet(v1, 'SELECT 1 AS version, i FROM range(200000) t(i)');
    await writeParquet(v2, 'SELECT 2 AS version, i FROM range(200000) t(i)');
    const on = (version: 1 | 2) =>
      request('alpha', 'SELECT min(version), max(version), count(*) FROM data', [
        { name: 'data', snapshot: snapshot('alpha', 'data', [version === 1 ? v1 : v2], `v${version}`) },
      ]);
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => engine.execute(on(i % 2 === 0 ? 1 : 2), { signal }).then(collectRows)),
    );
    results.forEach(([row], i) => {
      const version = i % 2 === 0 ? 1 : 2;
      expect(row).toEqual([version, version, 200000n]);
    });
  });

  it('reads a result whole when its last run returned few rows, and streams the rest', async () => {
    await using engine = await testEngine(env.storage);
    const whole = () => engine.stats().gauges?.resultsReadWhole;
    const run = (sql: string, parameters?: unknown[]) =>
      engine.execute({ ...request('alpha', sql), ...(parameters ? { parameters } : {}) }, { signal }).then(collectRows);
    const few = 'SELECT count(*), sum(n) FROM data';
    const many = 'SELECT i FROM range(5000) t(i) ORDER BY i';
    for (let i = 0; i < 3; i++) expect(await run(few)).toEqual([[3n, 3n]]);
    // Not known before its first run; read whole after.
    expect(whole()).toBe(2);
    for (let i = 0; i < 2; i++) {
      const rows = await run(many);
      expect([rows.length, rows[0], rows[4999]]).toEqual([5000, [0n], [4999n]]);
    }
    expect(whole()).toBe(2);
    // A row limit holds on a result read whole.
    expect(await run('SELECT i FROM range(100) t(i)')).toHaveLength(100);
    const limited = await engine
      .execute({ ...request('alpha', 'SELECT i FROM range(100) t(i)'), maxRows: 7 }, { signal })
      .then(collectRows);
    expect([limited.length, whole()]).toEqual([7, 3]);
    // A kept statement that took no values refuses one on a later run.
    await expect(run('SELECT count(*), sum(n) FROM data', [1])).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('The query has 0 parameters and 1 value was given'),
    });
    // Parameters may change the result's size from one run to the next: such queries stream.
    for (let i = 0; i < 2; i++) expect(await run('SELECT count(*) FROM data WHERE n > $1', [0])).toEqual([[2n]]);
    expect(whole()).toBe(3);
    // A forecast proved wrong (the data grew) still returns every row, in several chunks.
    const grown = file('alpha', 'grown.parquet');
    await writeParquet(grown, 'SELECT i AS n FROM range(5000) t(i)');
    const onGrown = request('alpha', 'SELECT n FROM data ORDER BY n');
    expect(await run('SELECT n FROM data ORDER BY n')).toHaveLength(3);
    const rows = await engine
      .execute(
        { ...onGrown, tables: [{ name: 'data', snapshot: snapshot('alpha', 'data', [grown], 'grown') }] },
        { signal },
      )
      .then(collectRows);
    expect([rows.length, rows[4999], whole()]).toEqual([5000, [4999n], 4]);
  });

  it('reuses a repeated query’s prepared statement on its connection, and plans it afresh on a new version', async () => {
    await using engine = await testEngine(env.storage, { connections: 1 });
    const v1 = file('alpha', 'p1.parquet');
    const v2 = file('alpha', 'p2.parquet');
    await writeParquet(v1, 'SELECT 1 AS version, i FROM range(10) t(i)');
    await writeParquet(v2, 'SELECT 2 AS version, i, i * 2 AS extra FROM range(20) t(i)');
    const on = (version: 1 | 2, sql = 'SELECT * FROM data ORDER BY i DESC LIMIT 1') =>
      request('alpha', sql, [
        { name: 'data', snapshot: snapshot('alpha', 'data', [version === 1 ? v1 : v2], `p${version}`) },
      ]);
    const prepared = () => engine.stats().gauges?.statementsPrepared;
    for (let run = 0; run < 3; run++) {
      expect(await engine.execute(on(1), { signal }).then(collectRows)).toEqual([[1, 9n]]);
    }
    expect(prepared()).toBe(1);
    // The view now reads another file with another column. DuckDB would notice the change and rebind an old
    // statement itself; the engine does not rely on that: the count shows the query was prepared afresh.
    expect(await engine.execute(on(2), { signal }).then(collectRows)).toEqual([[2, 19n, 38n]]);
    expect(await engine.execute(on(2), { signal }).then(collectRows)).toEqual([[2, 19n, 38n]]);
    expect(prepared()).toBe(2);
    // A statement the policy refuses is never kept, however often it comes.
    for (let run = 0; run < 2; run++) {
      await expect(engine.execute(on(2, "SELECT * FROM read_csv('/etc/passwd')"), { signal })).rejects.toMatchObject({
        code: 'FORBIDDEN_STATEMENT',
      });
    }
    expect(prepared()).toBe(2);
  });

  it('keeps serving a query whose files are renamed away after it started', async () => {
    await using engine = await testEngine(env.storage);
    const path = file('alpha', 'moving.parquet');
    await writeParquet(path, 'SELECT i FROM range(1000000) t(i)');
    const stream = await engine.execute(
      request('alpha', 'SELECT i FROM data', [{ name: 'data', snapshot: snapshot('alpha', 'data', [path], 'm1') }]),
      { signal },
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    await rename(path, `${path}.gone`);
    let rows = 0;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) rows += r.value.rowCount;
    expect(rows).toBeGreaterThan(900_000);
  });

  it('answers a short query within a second while one tenant runs long queries beyond its connection limit', async () => {
    // 4 global slots: alpha's 5 queries, 3 of them waiting for alpha's 2 connections, must not take them all.
    await using engine = await testEngine(env.storage, { connections: 2, threads: 1, maxConcurrentQueries: 4 });
    const controller = new AbortController();
    const long = 'SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3';
    const running = Array.from({ length: 5 }, () =>
      engine
        .execute(request('alpha', long), { signal: controller.signal })
        .then(collectRows)
        .catch((e: unknown) => e),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(engine.stats()).toMatchObject({ activeQueries: 5, gauges: { queriesRunning: 2 } });
    try {
      const started = performance.now();
      expect(await collectRows(await engine.execute(request('beta', 'SELECT count(*) FROM data'), { signal }))).toEqual(
        [[3n]],
      );
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      controller.abort();
      for (const outcome of await Promise.all(running)) expect(outcome).toMatchObject({ code: 'QUERY_CANCELLED' });
    }
  });

  it('holds known long queries to the long-query slots, and counts a new one there once it runs long', async () => {
    await using engine = await testEngine(env.storage, { threads: 1, longQueryMs: 50, longQueryConcurrency: 1 });
    const controller = new AbortController();
    const long = 'SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3';
    const run = (tenant: string) =>
      engine
        .execute(request(tenant, long), { signal: controller.signal })
        .then(collectRows)
        .catch((e: unknown) => e);
    // Seen for the first time, both start; past 50 ms each takes a slot, beyond the one there is.
    const running = [run('alpha'), run('beta')];
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.stats().gauges).toMatchObject({ longQueriesRunning: 2, longQueriesWaiting: 0, queriesRunning: 2 });
    // Known as long now, alpha's next run waits for a slot; a short query does not.
    running.push(run('alpha'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(engine.stats().gauges).toMatchObject({ longQueriesRunning: 2, longQueriesWaiting: 1, queriesRunning: 2 });
    try {
      const started = performance.now();
      expect(await collectRows(await engine.execute(request('beta', 'SELECT count(*) FROM data'), { signal }))).toEqual(
        [[3n]],
      );
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      controller.abort();
      for (const outcome of await Promise.all(running)) expect(outcome).toMatchObject({ code: 'QUERY_CANCELLED' });
    }
    expect(engine.stats().gauges).toMatchObject({ longQueriesRunning: 0, longQueriesWaiting: 0 });
  });
});
