import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueryRequest } from '@lakegate/engine-api';
import { ClickHouseEngine, parseClickHouseConfig } from '@lakegate/engine-clickhouse';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import pg from 'pg';
import { Trino } from 'trino-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseCluster, findClickHouseServer, startClickHouseCluster } from '../harness/clickhouse.js';
import { runGatewayProcess } from '../support/gateway-process.js';

const ACME_KEY = 'acme-clickhouse-key';
const ACME = { user: 'acme', password: 'acme-ch-password', database: 'acme' };
/** Small blocks, so that sleepEachRow's sleep (one per block, which no cancel interrupts) stays short. */
const ACME_PROFILE = { max_block_size: 8192 };
const GLOBEX = { user: 'globex', password: 'globex-ch-password', database: 'globex' };
/** acme's tables through a user whose profile has small limits, as an operator would set them. */
const LIMITED = { user: 'acme_limited', password: 'acme-limited-password', database: 'acme' };
const ROWS_PER_SHARD = [3000, 2000];
const BIG_PER_SHARD = 600_000;

/** Rows of a shard's part of `events`: ids apart per shard, five APIs, latencies that differ per shard. */
const shardRows = (shard: number, rows: number) =>
  `SELECT number + ${shard * 1_000_000} AS id, concat('api-', toString(number % 5)) AS api, ` +
  `toDate('2024-01-01') + number % 7 AS day, (number % 97) * ${shard + 1}.5 AS ms, number % 11 = 0 AS failed ` +
  `FROM numbers(${rows})`;

/**
 * The ClickHouse engine against a real two-shard cluster (two clickhouse-server processes, a Distributed table
 * over a MergeTree table on each): answers equal ClickHouse's own, each shard computes its part, results stream,
 * cancels and time limits stop the query on every shard, and isolation holds by ClickHouse's access control, with
 * the gateway refusing what ClickHouse 18.16 cannot.
 */
describe.skipIf(!findClickHouseServer())('ClickHouse engine on a two-shard cluster', () => {
  let cluster: ClickHouseCluster;
  let gateway: RunningGateway;
  let root: string;

  /** ClickHouse's own answer, as the administrator on the first shard, rows of text fields. */
  const direct = async (sql: string, database = 'acme'): Promise<string[][]> => {
    const text = await (cluster.shards[0] as ClickHouseCluster['shards'][0]).admin(`${sql} FORMAT TSV`, database);
    return text
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('\t'));
  };
  const query = async (sql: string, key = ACME_KEY) => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}` },
      body: JSON.stringify({ sql }),
    });
    return {
      status: response.status,
      body: (await response.json()) as {
        rows?: unknown[][];
        columns?: { name: string; type: string }[];
        stats?: { engine?: string };
        error?: { code: string; message: string; details?: Record<string, unknown> };
      },
    };
  };
  /** Queries of `user` still running on any shard (as their own query or as a shard's part of one). */
  const runningOnShards = async (user: string): Promise<number> => {
    let count = 0;
    for (const shard of cluster.shards) {
      count += Number(
        (await shard.admin(`SELECT count() FROM system.processes WHERE initial_user = '${user}' FORMAT TSV`)).trim(),
      );
    }
    return count;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-clickhouse-test-'));
    cluster = await startClickHouseCluster([
      { ...ACME, settings: ACME_PROFILE },
      GLOBEX,
      { ...LIMITED, settings: { max_memory_usage: 20_000_000, max_result_rows: 100 } },
    ]);
    for (const [i, shard] of cluster.shards.entries()) {
      for (const database of ['acme', 'globex']) await shard.admin(`CREATE DATABASE ${database}`);
      await shard.admin(
        'CREATE TABLE acme.events_local (id UInt64, api String, day Date, ms Float64, failed UInt8) ENGINE = MergeTree ORDER BY id',
      );
      await shard.admin(
        `CREATE TABLE acme.events AS acme.events_local ENGINE = Distributed(${cluster.cluster}, acme, events_local, rand())`,
      );
      await shard.admin(`INSERT INTO acme.events_local ${shardRows(i, ROWS_PER_SHARD[i] as number)}`);
      // A dimension table, the same on every shard, as distributed joins read it locally.
      await shard.admin('CREATE TABLE acme.apis (api String, team String) ENGINE = MergeTree ORDER BY api');
      await shard.admin(
        "INSERT INTO acme.apis SELECT concat('api-', toString(number)), concat('team-', toString(number % 2)) FROM numbers(5)",
      );
      await shard.admin('CREATE TABLE acme.big_local (n UInt64, label String) ENGINE = MergeTree ORDER BY n');
      await shard.admin(
        `CREATE TABLE acme.big AS acme.big_local ENGINE = Distributed(${cluster.cluster}, acme, big_local, rand())`,
      );
      await shard.admin(
        `INSERT INTO acme.big_local SELECT number * 2 + ${i}, concat('row-', toString(number)) FROM numbers(${BIG_PER_SHARD})`,
      );
      await shard.admin('CREATE TABLE globex.secrets (s String) ENGINE = MergeTree ORDER BY s');
      await shard.admin("INSERT INTO globex.secrets VALUES ('globex-clickhouse-secret')");
    }
    const config = parseConfig(
      {
        server: { port: 0, postgres: { port: 0 } },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        query: { timeoutMs: 4000 },
        engines: {
          duckdb: { threads: 1 },
          clickhouse: { module: '@lakegate/engine-clickhouse', url: cluster.url, maxConnections: 8 },
        },
        tenants: {
          acme: {
            apiKeys: [ACME_KEY],
            engines: { clickhouse: ACME },
            resultCache: { enabled: true, ttlSeconds: 2 },
            datasets: {
              events: { engine: 'clickhouse', table: 'events' },
              apis: { engine: 'clickhouse', table: 'apis' },
              big: { engine: 'clickhouse', table: 'big' },
            },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    await cluster?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('answers aggregations as ClickHouse itself does', async () => {
    const cases = [
      'SELECT api, count() AS n, sum(ms) AS total FROM events GROUP BY api ORDER BY api',
      'SELECT day, uniqExact(api) AS apis, max(ms) AS worst FROM events WHERE failed = 0 GROUP BY day ORDER BY day',
      'SELECT api, quantileExact(0.5)(ms) AS p50, quantileExact(0.95)(ms) AS p95 FROM events GROUP BY api ORDER BY api',
      'SELECT a.team AS team, count() AS n FROM events AS e ANY LEFT JOIN acme.apis AS a USING api GROUP BY team ORDER BY team',
      'SELECT id, ms FROM events ORDER BY ms DESC, id LIMIT 5',
      "SELECT count() FROM events WHERE api GLOBAL IN (SELECT api FROM apis WHERE team = 'team-0')",
    ];
    for (const sql of cases) {
      const answer = await query(sql);
      expect(answer.status, `${sql}: ${JSON.stringify(answer.body.error)}`).toBe(200);
      expect(answer.body.stats?.engine).toBe('clickhouse');
      const expected = await direct(sql);
      expect(
        answer.body.rows?.map((row) => row.map(String)),
        sql,
      ).toEqual(expected);
    }
    // The two shards' rows together.
    expect((await query('SELECT count() AS n FROM events')).body.rows).toEqual([[3000 + 2000]]);
    // The epoch, which 18.16 writes as zeros, and a time zone's wall clock, as the instants they are.
    const times = await query(
      "SELECT toDate(0) AS d, toDateTime(0) AS t, toDateTime('2024-01-02 03:04:05', 'Asia/Tokyo') AS tokyo FROM events LIMIT 1",
    );
    expect(times.status, JSON.stringify(times.body.error)).toBe(200);
    expect(times.body.rows).toEqual([['1970-01-01', '1970-01-01T00:00:00', '2024-01-01T18:04:05']]);
  });

  it('has each shard compute its part of a distributed query, seen in the shard’s own query log', async () => {
    const marker = `shard-part-${Date.now()}`;
    const answer = await query(`SELECT '${marker}' AS m, api, count() AS n FROM events GROUP BY api`);
    expect(answer.status).toBe(200);
    for (const shard of cluster.shards) {
      await shard.admin('SYSTEM FLUSH LOGS');
      const parts = await shard.admin(
        `SELECT count() FROM system.query_log WHERE type = 2 AND is_initial_query = 0 AND initial_user = 'acme' AND query LIKE '%${marker}%' FORMAT TSV`,
      );
      expect(Number(parts.trim())).toBeGreaterThanOrEqual(1);
    }
  });

  it('streams a large result in batches, in bounded memory', async () => {
    const engine = await clickhouseEngine();
    try {
      const stream = await engine.execute(request('SELECT n, label FROM big'), {
        signal: new AbortController().signal,
      });
      expect(stream.schema.map((c) => [c.name, c.type.sqlType])).toEqual([
        ['n', 'UBIGINT'],
        ['label', 'VARCHAR'],
      ]);
      const heapBefore = process.memoryUsage().heapUsed;
      let rows = 0;
      let largest = 0;
      let peak = 0;
      for await (const batch of stream) {
        rows += batch.rowCount;
        largest = Math.max(largest, batch.rowCount);
        peak = Math.max(peak, process.memoryUsage().heapUsed - heapBefore);
      }
      expect(rows).toBe(2 * BIG_PER_SHARD);
      expect(largest).toBeLessThanOrEqual(8192);
      // The whole result as JavaScript values would take well over 100 MiB.
      expect(peak).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await engine.close();
    }
  });

  it('runs the same request id from two gateways at once, and cancels each one alone', async () => {
    const [first, second] = [await clickhouseEngine(), await clickhouseEngine()];
    try {
      const same = { ...request('SELECT sum(sleepEachRow(0.00004)) FROM big'), queryId: 'same-request~1' };
      const controllers = [new AbortController(), new AbortController()];
      const runs = [first, second].map((engine, i) =>
        engine
          .execute(same, { signal: (controllers[i] as AbortController).signal })
          .then(async (stream) => {
            for await (const _ of stream);
            return 'answered';
          })
          .catch((error: { code?: string }) => error.code ?? 'failed'),
      );
      // Both run, on both shards: neither is refused as a duplicate of the other's id.
      await expect.poll(() => runningOnShards('acme'), { timeout: 5000 }).toBeGreaterThanOrEqual(4);
      controllers[0]?.abort();
      expect(await runs[0]).toBe('QUERY_CANCELLED');
      await expect.poll(() => runningOnShards('acme'), { timeout: 2000, interval: 100 }).toBeGreaterThanOrEqual(2);
      controllers[1]?.abort();
      expect(await runs[1]).toBe('QUERY_CANCELLED');
      await expect.poll(() => runningOnShards('acme'), { timeout: 2000, interval: 100 }).toBe(0);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('cancels a query on every shard within 2 s, and ends one past the time limit there too', async () => {
    const controller = new AbortController();
    const slow = fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ACME_KEY}` },
      body: JSON.stringify({ sql: 'SELECT sum(sleepEachRow(0.00004)) FROM big' }),
      signal: controller.signal,
    }).catch(() => undefined);
    await expect.poll(() => runningOnShards('acme'), { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    controller.abort();
    await slow;
    const cancelledAt = Date.now();
    await expect.poll(() => runningOnShards('acme'), { timeout: 2000, interval: 100 }).toBe(0);
    expect(Date.now() - cancelledAt).toBeLessThan(2000);

    // The gateway's time limit (query.timeoutMs, 4 s here) ends a query the same way.
    const timedOut = await query('SELECT sum(sleepEachRow(0.00004)) FROM big');
    expect(timedOut.body.error?.code).toBe('QUERY_TIMEOUT');
    await expect.poll(() => runningOnShards('acme'), { timeout: 2000, interval: 100 }).toBe(0);
  });

  it('refuses the system database in the gateway, and the rest by ClickHouse’s own access control', async () => {
    const systemReads = [
      'SELECT query FROM system.query_log',
      'SELECT * FROM `system`.processes',
      'SELECT * FROM "system" /* x */ . query_thread_log',
      'SELECT * FROM `\\x73ystem`.processes',
      // Escapes ClickHouse reads in a quoted name; `events` makes the gateway send the text to ClickHouse.
      'SELECT user, query AS events FROM `sy\\stem`.query_log',
      'SELECT user, query AS events FROM "sys\\Ntem".processes',
      'SELECT count() FROM events WHERE api GLOBAL IN (SELECT user FROM system.processes)',
    ];
    for (const sql of systemReads) {
      // Refused before ClickHouse: by the gateway's parser (another schema, or text it cannot read and that names no
      // dataset), or by the engine's guard.
      expect(['UNKNOWN_TABLE', 'INVALID_SQL', 'FORBIDDEN_STATEMENT'], sql).toContain(
        (await query(sql)).body.error?.code,
      );
    }
    const guarded = await clickhouseEngine();
    try {
      for (const sql of systemReads) {
        const outcome = await guarded
          .execute(request(sql), { signal: new AbortController().signal })
          .then(() => 'answered')
          .catch((error: { code?: string }) => error.code);
        expect(outcome, sql).toBe('FORBIDDEN_STATEMENT');
      }
    } finally {
      await guarded.close();
    }
    // With the gateway's own check switched off, ClickHouse itself refuses everything else.
    const engine = await clickhouseEngine({ withoutSystemGuard: true });
    try {
      const refusals: [string, string][] = [
        ['SELECT * FROM globex.secrets', 'FORBIDDEN'],
        ['SELECT * FROM events SETTINGS max_threads = 64', 'FORBIDDEN_STATEMENT'],
        ['SET max_memory_usage = 0', 'FORBIDDEN_STATEMENT'],
        ["INSERT INTO events_local VALUES (1, 'x', today(), 1, 0)", 'FORBIDDEN_STATEMENT'],
        ['CREATE TABLE acme.t (x UInt8) ENGINE = Memory', 'FORBIDDEN_STATEMENT'],
        ['DROP TABLE events', 'FORBIDDEN_STATEMENT'],
        ["SELECT * FROM url('http://127.0.0.1/', TSV, 'x String')", 'FORBIDDEN_STATEMENT'],
        ["SELECT * FROM cluster('lakegate', globex, secrets)", 'FORBIDDEN_STATEMENT'],
        ["SELECT * FROM remote('127.0.0.1', globex.secrets)", 'FORBIDDEN_STATEMENT'],
        ['SELECT * FROM numbers(10)', 'FORBIDDEN_STATEMENT'],
      ];
      for (const [sql, code] of refusals) {
        const outcome = await engine
          .execute(request(sql), { signal: new AbortController().signal })
          .then(async (stream) => {
            for await (const _ of stream) {
              // drain
            }
            return 'answered';
          })
          .catch((error: { code?: string; message?: string }) => `${error.code}: ${error.message}`);
        expect(outcome, sql).toMatch(new RegExp(`^${code}:`));
        expect(outcome).not.toContain('globex-clickhouse-secret');
      }
      // What ClickHouse 18.16 does not refuse on its own, and the gateway therefore does: the system database.
      const leaked = await engine.execute(request('SELECT count() AS n FROM system.processes'), {
        signal: new AbortController().signal,
      });
      const rows: unknown[] = [];
      for await (const batch of leaked) rows.push(...(batch.columns[0] ?? []));
      expect(rows).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });

  it('answers the limits of the tenant’s ClickHouse profile with RESOURCE_EXHAUSTED and RESULT_TOO_LARGE', async () => {
    const engine = await clickhouseEngine({}, 30_000, LIMITED);
    const outcome = (sql: string) =>
      engine
        .execute(request(sql), { signal: new AbortController().signal })
        .then(async (stream) => {
          for await (const _ of stream) {
            // drain
          }
          return 'answered';
        })
        .catch((error: { code?: string }) => error.code);
    try {
      expect(await outcome('SELECT label, count() FROM big GROUP BY label')).toBe('RESOURCE_EXHAUSTED');
      expect(await outcome('SELECT n FROM big LIMIT 1000')).toBe('RESULT_TOO_LARGE');
      expect(await outcome('SELECT n FROM big LIMIT 10')).toBe('answered');
    } finally {
      await engine.close();
    }
  });

  it('maps ClickHouse’s errors to Lakegate codes a client can act on', async () => {
    const syntax = await query('SELECT api,, count() FROM events');
    expect(syntax.body.error).toMatchObject({ code: 'INVALID_SQL', details: { line: 1 } });
    expect((await query('SELECT nope FROM events')).body.error?.code).toBe('INVALID_SQL');
    expect((await query('SELECT * FROM events FORMAT JSON')).body.error?.code).toBe('ENGINE_FAILURE');
  });

  it('lists ClickHouse tables’ columns in information_schema', async () => {
    const columns = await query(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position",
    );
    // As Trino names the types (UInt64 may exceed a signed 64-bit integer).
    expect(columns.body.rows).toEqual([
      ['id', 'decimal(38,0)'],
      ['api', 'varchar'],
      ['day', 'date'],
      ['ms', 'double'],
      ['failed', 'smallint'],
    ]);
  });

  it('answers over the Trino and Postgres protocols like any dataset', async () => {
    const sql = 'SELECT api, count() AS n FROM events GROUP BY api ORDER BY api';
    const expected = (await direct(sql)).map(([api, n]) => [api, Number(n)]);
    const client = new pg.Client({
      host: '127.0.0.1',
      port: gateway.postgresPort,
      user: 'acme',
      password: ACME_KEY,
      database: 'lakegate',
    });
    await client.connect();
    try {
      const result = await client.query({ text: sql, rowMode: 'array' });
      expect(result.rows.map(([api, n]) => [api, Number(n)])).toEqual(expected);
    } finally {
      await client.end();
    }
    const trino = Trino.create({
      server: gateway.url,
      catalog: 'lakegate',
      schema: 'acme',
      auth: { username: 'acme', password: ACME_KEY } as never,
      extraHeaders: { Authorization: `Bearer ${ACME_KEY}` },
    });
    const rows: unknown[][] = [];
    for await (const page of await trino.query(sql)) {
      if (page.error) throw new Error(page.error.message);
      rows.push(...(page.data ?? []));
    }
    expect(rows.map(([api, n]) => [api, Number(n)])).toEqual(expected);
    // Its queries are measured like any engine's.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/lakegate_query_duration_seconds_count\{[^}]*engine="clickhouse"[^}]*\} [1-9]/);
  });

  it('keeps a cached result of a ClickHouse table for the cache’s TTL only, as the table has no version', async () => {
    const sql = 'SELECT count() AS n FROM apis';
    const first = await query(sql);
    expect(first.body.rows).toEqual([[5]]);
    for (const shard of cluster.shards) await shard.admin("INSERT INTO acme.apis VALUES ('api-5', 'team-1')");
    try {
      const cached = await query(sql);
      expect(cached.body).toMatchObject({ rows: [[5]], stats: { cache: 'hit' } });
      await expect.poll(async () => (await query(sql)).body.rows, { timeout: 5000, interval: 250 }).toEqual([[6]]);
    } finally {
      for (const shard of cluster.shards) await shard.admin("ALTER TABLE acme.apis DELETE WHERE api = 'api-5'");
    }
  });

  it('runs Livy session statements on ClickHouse tables, and reports the engine in /readyz', async () => {
    const headers = { Authorization: `Bearer ${ACME_KEY}`, 'Content-Type': 'application/json' };
    const session = (await (
      await fetch(`${gateway.url}/sessions`, { method: 'POST', headers, body: JSON.stringify({ kind: 'sql' }) })
    ).json()) as { id: number };
    const statement = (await (
      await fetch(`${gateway.url}/sessions/${session.id}/statements`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ code: 'SELECT api, count() AS n FROM events GROUP BY api ORDER BY api LIMIT 2' }),
      })
    ).json()) as { id: number };
    await expect
      .poll(
        async () =>
          (
            (await (
              await fetch(`${gateway.url}/sessions/${session.id}/statements/${statement.id}`, { headers })
            ).json()) as { state: string }
          ).state,
        { timeout: 10_000 },
      )
      .toBe('available');
    const final = (await (
      await fetch(`${gateway.url}/sessions/${session.id}/statements/${statement.id}`, { headers })
    ).json()) as { output: { data: Record<string, { data: unknown[][] }> } };
    expect(final.output.data['application/json']?.data.map(([api]) => api)).toEqual(['api-0', 'api-1']);
    const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as { engines?: Record<string, string> };
    expect(ready.engines).toMatchObject({ clickhouse: 'up', duckdb: 'up' });
  });

  it('answers ENGINE_UNAVAILABLE, not a hang, when a shard is down or frozen', async () => {
    const second = cluster.shards[1] as ClickHouseCluster['shards'][0];
    await second.stop();
    try {
      const down = await query('SELECT count() FROM events');
      expect(down.status).toBe(503);
      expect(down.body.error?.code).toBe('ENGINE_UNAVAILABLE');
    } finally {
      await second.resume();
    }
    const engine = await clickhouseEngine({}, 1500);
    await second.stop(true);
    try {
      const started = Date.now();
      const frozen = await engine
        .execute(request('SELECT count() FROM events'), { signal: new AbortController().signal })
        .then(() => 'answered')
        .catch((error: { code?: string }) => error.code);
      expect(frozen).toBe('ENGINE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await second.resume();
      await engine.close();
    }
  });

  it('prints the users, profiles and grants the gateway expects with `lakegate clickhouse-users`', async () => {
    const config = {
      engines: { clickhouse: { module: '@lakegate/engine-clickhouse', url: cluster.url } },
      query: { timeoutMs: 60_000 },
      tenants: {
        acme: {
          apiKeys: [ACME_KEY],
          engines: { clickhouse: ACME },
          limits: { maxResultRows: 50_000 },
          datasets: { events: { engine: 'clickhouse', table: 'events' } },
        },
      },
    };
    const xml = await runGatewayProcess(join(root, 'users.json'), config, 30_000, ['clickhouse-users']);
    expect(xml.code).toBe(0);
    expect(xml.stdout).toContain('<lakegate_acme>');
    expect(xml.stdout).toContain('<max_execution_time>60</max_execution_time>');
    expect(xml.stdout).toContain('<max_result_rows>50000</max_result_rows>');
    expect(xml.stdout).toContain('<allow_databases><database>acme</database></allow_databases>');
    const sql = await runGatewayProcess(join(root, 'users.json'), config, 30_000, ['clickhouse-users', '--sql']);
    expect(sql.stdout).toContain('GRANT SELECT ON acme.* TO acme;');
    const unknown = await runGatewayProcess(join(root, 'users.json'), config, 30_000, ['no-such-command']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('they offer: clickhouse-users');
  });

  it('fails the start with a row filter on a ClickHouse dataset, which 18.16 cannot enforce', async () => {
    const started = await runGatewayProcess(
      join(root, 'row-filter.json'),
      {
        server: { port: 0, postgres: { enabled: false } },
        storage: { cacheDir: join(root, 'cache-row-filter') },
        engines: { clickhouse: { module: '@lakegate/engine-clickhouse', url: cluster.url } },
        tenants: {
          acme: {
            apiKeys: [ACME_KEY],
            engines: { clickhouse: ACME },
            datasets: { events: { engine: 'clickhouse', table: 'events', rowFilter: "api = 'api-1'" } },
          },
        },
      },
      30_000,
    );
    expect(started.code).toBe(1);
    expect(started.stderr).toContain(
      'tenants.acme.datasets.events.rowFilter: ClickHouse 18.16.1 has no row policies (they came in 20.5)',
    );
  });

  /** The engine on its own, as the gateway would create it for acme. */
  async function clickhouseEngine(options = {}, requestTimeoutMs = 30_000, user = ACME): Promise<ClickHouseEngine> {
    const parsed = parseClickHouseConfig({ url: cluster.url, requestTimeoutMs });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return new ClickHouseEngine(
      'clickhouse',
      parsed.config,
      { storage: { tenantDirectories: () => [] }, tenantConfigs: new Map([['acme', user]]) },
      options,
    );
  }
});

let sequence = 0;

/** A request for acme's tables, as the gateway builds one. */
function request(sql: string): QueryRequest {
  return {
    queryId: `test-${++sequence}`,
    tenant: 'acme',
    sql,
    tables: ['events', 'apis', 'big', 'events_local'].map((name) => ({ name, table: name })),
  };
}
