import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { BasicAuth, type QueryResult, Trino } from 'trino-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hitsSelect, readClickBenchQueries } from '../support/clickbench.js';
import { canonical } from '../support/compat.js';
import { writeParquet } from '../support/duckdb-data.js';
import { LONG_SQL } from '../support/sessions-client.js';

const KEY = 'acme-trino-key';
const corpus = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'corpora', 'clickbench');

interface Collected {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  error: QueryResult['error'];
  pages: number;
  id: string;
  /** Rows of each page that had any. */
  sizes: number[];
}

/** Runs a query with the real trino-client, following nextUri to the end. */
async function collect(trino: Trino, sql: string): Promise<Collected> {
  const out: Collected = { columns: [], rows: [], error: undefined, pages: 0, id: '', sizes: [] };
  for await (const result of await trino.query(sql)) {
    out.id = result.id;
    out.pages++;
    if (result.columns) out.columns = result.columns.map((c) => ({ name: c.name, type: c.type }));
    out.rows.push(...(result.data ?? []));
    if (result.data) out.sizes.push(result.data.length);
    if (result.error) out.error = result.error;
  }
  return out;
}

/** The Trino client protocol, driven by the official JavaScript client. */
describe('Trino client protocol (trino-client)', () => {
  let root: string;
  let gateway: RunningGateway;
  let trino: Trino;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-trino-'));
    for (const dir of ['events', 'hits', 'other']) await mkdir(join(root, dir));
    await writeParquet(
      join(root, 'events', 'p.parquet'),
      `SELECT i AS id, i * 1.5 AS score, 'name-' || i AS name, i % 2 = 0 AS even, DATE '2024-01-01' + (i % 10)::INTEGER AS day,
              TIMESTAMP '2024-01-01 10:00:00.123456' + INTERVAL (i) SECOND AS ts, (i / 4)::DECIMAL(10,2) AS amount,
              [i, i + 1] AS pair, CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS maybe
       FROM range(100000) t(i)`,
    );
    await writeParquet(join(root, 'hits', 'p.parquet'), hitsSelect(20_000));
    await writeParquet(join(root, 'other', 'p.parquet'), "SELECT 'globex-secret' AS s");
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        engines: { duckdb: { threads: 1 } },
        query: { maxMaxRows: 1_000_000 },
        trino: { abandonAfterSeconds: 1, maxWaitMs: 200 },
        tenants: {
          acme: {
            apiKeys: [KEY],
            datasets: {
              events: { location: 'file:./events/', format: 'parquet' },
              hits: { location: 'file:./hits/', format: 'parquet' },
            },
          },
          globex: {
            apiKeys: ['globex-trino-key'],
            datasets: { secrets: { location: 'file:./other/', format: 'parquet' } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
    trino = Trino.create({
      server: gateway.url,
      catalog: 'lakegate',
      schema: 'acme',
      auth: new BasicAuth('acme', KEY),
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('lists catalogs, schemas and tables, and describes a dataset, as drivers do on connect', async () => {
    expect((await collect(trino, 'SHOW CATALOGS')).rows).toEqual([['lakegate']]);
    expect((await collect(trino, 'SHOW SCHEMAS FROM lakegate')).rows).toEqual([['information_schema'], ['acme']]);
    expect((await collect(trino, 'SHOW TABLES')).rows).toEqual([['events'], ['hits']]);
    expect((await collect(trino, "SHOW TABLES FROM lakegate.acme LIKE 'ev%'")).rows).toEqual([['events']]);
    const described = await collect(trino, 'DESCRIBE events');
    expect(described.columns.map((c) => c.name)).toEqual(['Column', 'Type', 'Extra', 'Comment']);
    expect(described.rows.map((r) => [r[0], r[1]])).toEqual([
      ['id', 'bigint'],
      ['score', 'decimal(21,1)'],
      ['name', 'varchar'],
      ['even', 'boolean'],
      ['day', 'date'],
      ['ts', 'timestamp(3)'],
      ['amount', 'decimal(10,2)'],
      ['pair', 'array(bigint)'],
      ['maybe', 'bigint'],
    ]);
    expect((await collect(trino, 'SHOW COLUMNS FROM lakegate.acme.events')).rows).toEqual(described.rows);
    expect((await collect(trino, 'SELECT 1')).rows).toEqual([[1]]);
    expect((await collect(trino, 'SELECT version()')).rows[0]?.[0]).toMatch(/^v\d/);
  });

  it('answers information_schema queries with the tenant’s tables only', async () => {
    const tables = await collect(
      trino,
      "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'acme' ORDER BY table_name",
    );
    expect(tables.rows).toEqual([
      ['acme', 'events'],
      ['acme', 'hits'],
    ]);
    const columns = await collect(
      trino,
      "SELECT column_name, data_type FROM lakegate.information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position LIMIT 3",
    );
    expect(columns.rows).toEqual([
      ['id', 'bigint'],
      ['score', 'decimal(21,1)'],
      ['name', 'varchar'],
    ]);
    const all = await collect(trino, 'SELECT DISTINCT table_schema FROM information_schema.columns');
    expect(all.rows).toEqual([['acme']]);
  });

  it('maps types and encodes values as Trino does', async () => {
    const result = await collect(
      trino,
      'SELECT id, CAST(score AS DOUBLE) AS score, name, even, day, ts, amount, pair, maybe FROM events ORDER BY id LIMIT 4',
    );
    expect(result.columns).toEqual([
      { name: 'id', type: 'bigint' },
      { name: 'score', type: 'double' },
      { name: 'name', type: 'varchar' },
      { name: 'even', type: 'boolean' },
      { name: 'day', type: 'date' },
      { name: 'ts', type: 'timestamp(3)' },
      { name: 'amount', type: 'decimal(10,2)' },
      { name: 'pair', type: 'array(bigint)' },
      { name: 'maybe', type: 'bigint' },
    ]);
    expect(result.rows[1]).toEqual([
      1,
      1.5,
      'name-1',
      false,
      '2024-01-02',
      '2024-01-01 10:00:01.123',
      '0.25',
      [1, 2],
      1,
    ]);
    expect(result.rows[0]?.[8]).toBeNull();
  });

  it('gives the same answers as POST /v1/query on the ClickBench queries', async () => {
    const queries = readClickBenchQueries(corpus);
    if (!queries) return;
    for (const sql of queries) {
      const viaTrino = await collect(trino, sql);
      expect(viaTrino.error, sql).toBeUndefined();
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ sql, maxRows: 100_000 }),
      });
      const viaHttp = (await response.json()) as { rows: unknown[][] };
      // Trino sends bigint as a JSON number, which JavaScript rounds beyond 2^53: compare numbers as JavaScript sees them.
      const normalise = (rows: unknown[][]) =>
        rows.map((row) =>
          row.map((v) => {
            if (typeof v === 'string' && /^-?\d{16,}$/.test(v)) return canonical(Number(v));
            return canonical(typeof v === 'string' ? v.replace(/\.000$/, '') : v);
          }),
        );
      expect(normalise(viaTrino.rows), sql).toEqual(normalise(viaHttp.rows));
    }
  });

  it('pages a 100k-row result: a small first page, then pages that double', async () => {
    const result = await collect(trino, 'SELECT id FROM events');
    expect(result.rows).toHaveLength(100_000);
    expect(new Set(result.rows.map((r) => r[0])).size).toBe(100_000);
    // trino.pageRows (1000) first, each page at most twice the one before: 1000, 2000, ... 32000, then the rest.
    expect(result.sizes).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 37_000]);
  });

  it('keeps every page within trino.pageBytes however wide the rows', async () => {
    // Rows of about 4 KB: the byte bound (2 MiB) cuts each page, the first one too, long before its row bound.
    const result = await collect(trino, "SELECT id, repeat('x', 4000) AS pad FROM events WHERE id < 3000");
    expect(result.rows).toHaveLength(3000);
    expect(result.sizes.length).toBeGreaterThanOrEqual(5);
    for (const size of result.sizes) expect(size * 4005).toBeLessThan(2_097_152 + 4100);
  });

  it('sends non-ASCII text whole in pages of many encoded chunks', async () => {
    // 40k rows of about 30 bytes: pages of up to 32k rows, each encoded in many chunks of UTF-8.
    const result = await collect(trino, "SELECT id, 'naïve—東京 ' || id AS label FROM events WHERE id < 40000");
    expect(result.rows).toHaveLength(40_000);
    expect(result.sizes.some((size) => size >= 16_000)).toBe(true);
    for (const [id, label] of result.rows) expect(label).toBe(`naïve—東京 ${id}`);
  });

  /** Starts a query by the protocol's first request, as any Trino client does, and returns its first results. */
  const submit = async (sql: string): Promise<QueryResult> => {
    const response = await fetch(`${gateway.url}/v1/statement`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'X-Trino-User': 'acme' },
      body: sql,
    });
    return (await response.json()) as QueryResult;
  };
  const waitUntil = async (condition: () => boolean | Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await condition()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  };

  it('cancels a long query mid-flight, by DELETE on nextUri or by the client’s cancel, and it stops in the engine', async () => {
    for (const how of ['nextUri', 'client'] as const) {
      const first = await submit(LONG_SQL);
      const next = (await (
        await fetch(first.nextUri ?? '', { headers: { Authorization: `Bearer ${KEY}` } })
      ).json()) as QueryResult;
      expect(next.stats?.state).toMatch(/QUEUED|RUNNING/);
      await waitUntil(() => gateway.engineStats().duckdb?.activeQueries === 1, 2000);
      expect(gateway.engineStats().duckdb?.activeQueries).toBe(1);
      if (how === 'nextUri') {
        const deleted = await fetch(next.nextUri ?? '', {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${KEY}` },
        });
        expect(deleted.status).toBe(204);
      } else {
        await trino.cancel(first.id);
      }
      await waitUntil(() => gateway.engineStats().duckdb?.activeQueries === 0, 2000);
      expect(gateway.engineStats().duckdb?.activeQueries).toBe(0);
      const info = await trino.queryInfo(first.id);
      expect(info).toMatchObject({ queryId: first.id, state: 'FAILED' });
    }
  });

  it('cancels a query whose client stopped fetching', async () => {
    const first = await submit(LONG_SQL);
    await waitUntil(() => gateway.engineStats().duckdb?.activeQueries === 1, 2000);
    await waitUntil(async () => (await trino.queryInfo(first.id)).state === 'FAILED', 5000);
    const info = await trino.queryInfo(first.id);
    expect(info.state).toBe('FAILED');
    expect(JSON.stringify(info)).toContain('abandoned');
    await waitUntil(() => gateway.engineStats().duckdb?.activeQueries === 0, 2000);
    expect(gateway.engineStats().duckdb?.activeQueries).toBe(0);
  });

  it('returns Trino error objects for bad SQL and for another tenant’s table', async () => {
    const syntax = await collect(trino, 'SELECT * FROM events WHERE');
    expect(syntax.error).toMatchObject({ errorName: 'SYNTAX_ERROR', errorType: 'USER_ERROR', errorCode: 1 });
    expect(syntax.error).toHaveProperty('errorLocation.lineNumber', 1);
    const foreign = await collect(trino, 'SELECT * FROM secrets');
    expect(foreign.error).toMatchObject({ errorName: 'TABLE_NOT_FOUND', errorType: 'USER_ERROR' });
    expect(JSON.stringify(foreign)).not.toContain('globex-secret');
    const qualified = await collect(trino, 'SELECT * FROM lakegate.globex.secrets');
    expect(qualified.error?.errorName).toBe('TABLE_NOT_FOUND');
  });

  it('refuses a session catalog or schema that does not exist, as Trino does', async () => {
    const session = (catalog: string, schema: string) =>
      Trino.create({ server: gateway.url, catalog, schema, auth: new BasicAuth('acme', KEY) });
    const hive = await collect(session('hive', 'acme'), 'SELECT count(*) FROM events');
    expect(hive.error).toMatchObject({
      errorName: 'CATALOG_NOT_FOUND',
      errorCode: 44,
      message: "Catalog 'hive' does not exist",
    });
    // Another tenant's schema is refused as if it did not exist at all.
    const globex = await collect(session('lakegate', 'globex'), 'SELECT count(*) FROM events');
    expect(globex.error).toMatchObject({ errorName: 'SCHEMA_NOT_FOUND', errorCode: 45 });
    const own = await collect(session('lakegate', 'information_schema'), 'SELECT count(*) FROM events');
    expect(own.error).toBeUndefined();
  });

  it('serves GET /v1/info without credentials, and reports a running query as RUNNING', async () => {
    const info = await fetch(`${gateway.url}/v1/info`);
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({
      coordinator: true,
      starting: false,
      nodeVersion: { version: expect.stringMatching(/^lakegate-/) },
    });
    const long = await submit(LONG_SQL);
    await waitUntil(() => gateway.engineStats().duckdb?.activeQueries === 1, 2000);
    expect((await trino.queryInfo(long.id)).state).toBe('RUNNING');
    await trino.cancel(long.id);
  });

  it('authenticates with Basic or Bearer, never with X-Trino-User alone', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${gateway.url}/v1/statement`, { method: 'POST', headers, body: 'SELECT 1' });
    expect((await post({ 'X-Trino-User': 'acme' })).status).toBe(401);
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    expect((await post({ Authorization: basic('acme', 'wrong-password') })).status).toBe(401);
    expect((await post({ Authorization: basic('globex', KEY) })).status).toBe(401);
    expect((await post({ Authorization: basic('acme', KEY) })).status).toBe(200);
    expect((await post({ Authorization: `Bearer ${KEY}` })).status).toBe(200);
    const other = Trino.create({ server: gateway.url, auth: new BasicAuth('acme', 'wrong-password') });
    await expect(collect(other, 'SELECT 1')).rejects.toThrow(/401/);
  });

  it('names trino.publicUrl in nextUri and infoUri, as clients behind a proxy must follow them', async () => {
    const config = parseConfig(
      {
        server: { port: 0, postgres: { enabled: false } },
        storage: { cacheDir: join(root, 'cache-public'), warming: { enabled: false } },
        trino: { publicUrl: 'https://gw-1.example.com/' },
        tenants: { acme: { apiKeys: [KEY], datasets: { events: { location: 'file:./events/', format: 'parquet' } } } },
      },
      { baseDir: root },
    );
    const proxied = await startGateway({ config, logger: silentLogger });
    try {
      const headers = { Authorization: `Bearer ${KEY}` };
      let results = (await (
        await fetch(`${proxied.url}/v1/statement`, { method: 'POST', headers, body: 'SELECT count(*) FROM events' })
      ).json()) as QueryResult;
      expect(results.infoUri).toBe(`https://gw-1.example.com/v1/query/${results.id}`);
      let pages = 0;
      while (results.nextUri) {
        expect(results.nextUri.startsWith('https://gw-1.example.com/v1/statement/')).toBe(true);
        // The proxy's part, played here: the same path on the gateway itself.
        const path = new URL(results.nextUri).pathname;
        results = (await (await fetch(`${proxied.url}${path}`, { headers })).json()) as QueryResult;
        pages++;
      }
      expect(results.data).toEqual([[100000]]);
      expect(pages).toBeGreaterThan(0);
    } finally {
      await proxied.close();
    }
  });

  it('sends X-Trino-Set-Session and X-Trino-Clear-Session for SET and RESET SESSION', async () => {
    const run = async (sql: string) => {
      const headers = { Authorization: `Bearer ${KEY}` };
      let results = (await (
        await fetch(`${gateway.url}/v1/statement`, { method: 'POST', headers, body: sql })
      ).json()) as QueryResult;
      let response: Response | undefined;
      while (results.nextUri) {
        response = await fetch(results.nextUri, { headers });
        results = (await response.json()) as QueryResult;
      }
      return response?.headers;
    };
    expect((await run("SET SESSION query_max_run_time = '10m'"))?.get('x-trino-set-session')).toBe(
      'query_max_run_time=10m',
    );
    expect((await run('RESET SESSION query_max_run_time'))?.get('x-trino-clear-session')).toBe('query_max_run_time');
    // Comments go; text in quotes stays whole, comment markers included.
    expect((await run("SET SESSION /* why */ note = 'a--b/*c' -- trailing\n;"))?.get('x-trino-set-session')).toBe(
      'note=a--b%2F*c',
    );
    // A name no header can carry is no session property: a failed statement, not a server error.
    for (const sql of ['SET SESSION "日本" = 1', 'SET SESSION "a\nb" = 1', 'RESET SESSION "a\rb"']) {
      const result = await collect(trino, sql);
      expect(result.error?.errorName, sql).toBe('INVALID_SESSION_PROPERTY');
    }
  });

  it('sends a bigint past 2^53 with every digit, as Trino does', async () => {
    const headers = { Authorization: `Bearer ${KEY}` };
    let response = await fetch(`${gateway.url}/v1/statement`, {
      method: 'POST',
      headers,
      body: 'SELECT 9007199254740993::BIGINT AS big, [9007199254740993, -9223372036854775808]::BIGINT[] AS list, 7::BIGINT AS small',
    });
    let text = await response.text();
    let pages = text;
    while ((JSON.parse(text) as QueryResult).nextUri) {
      response = await fetch((JSON.parse(text) as QueryResult).nextUri as string, { headers });
      text = await response.text();
      pages += text;
    }
    expect(pages).toContain('[9007199254740993,[9007199254740993,-9223372036854775808],7]');
    // A map's keys are JSON names: their digits stay in quotes.
    const map = await collect(trino, 'SELECT MAP {9007199254740993::BIGINT: 1} AS m');
    expect(map.error).toBeUndefined();
    expect(map.rows).toEqual([[{ '9007199254740993': 1 }]]);
  });
});
