/**
 * The ClickHouse engine's overhead: one dashboard aggregate over a two-shard cluster's Distributed table, through
 * the gateway (its own process; POST /v1/query, JSON) beside the same query sent straight to ClickHouse's HTTP interface as the same
 * tenant user (the baseline), timed in alternation in the same run; and, for reference, the same aggregate over
 * the same rows on one-node DuckDB (a Parquet file, raw @duckdb/node-api). Goal: gateway p50 <= 1.1x direct.
 *
 *   npm run build && npm run bench -w @lakegate/bench -- clickhouse-engine      (BENCH_ROWS per shard, BENCH_RUNS)
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findClickHouseServer, startClickHouseCluster } from '../test/harness/clickhouse.js';
import { freePort } from '../test/harness/services.js';
import { withDuckDB, writeParquet } from '../test/support/duckdb-data.js';
import { startGatewayProcess } from '../test/support/gateway-process.js';
import { ms, report, summarise, time, timePaired } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 2_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const KEY = 'bench-clickhouse-key';
const USER = { user: 'acme', password: 'bench-ch-password', database: 'acme' };
const SQL =
  'SELECT api, count() AS requests, avg(ms) AS avg_ms, max(ms) AS worst FROM events GROUP BY api ORDER BY api';
/** The same rows as the two shards hold, generated the same way, for DuckDB. */
const rowsSql = (shard: number) =>
  `SELECT number + ${shard * 1_000_000_000} AS id, concat('api-', toString(number % 20)) AS api, (number % 997) * 0.5 AS ms FROM numbers(${ROWS})`;

if (!findClickHouseServer()) {
  console.log('clickhouse-engine: skipped, clickhouse-server is not installed (apt-get install clickhouse-server)');
} else {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-clickhouse-'));
  const cluster = await startClickHouseCluster([USER]);
  try {
    for (const [i, shard] of cluster.shards.entries()) {
      await shard.admin('CREATE DATABASE acme');
      await shard.admin(
        'CREATE TABLE acme.events_local (id UInt64, api String, ms Float64) ENGINE = MergeTree ORDER BY id',
      );
      await shard.admin(
        `CREATE TABLE acme.events AS acme.events_local ENGINE = Distributed(${cluster.cluster}, acme, events_local, rand())`,
      );
      await shard.admin(`INSERT INTO acme.events_local ${rowsSql(i)}`);
    }
    await mkdir(join(root, 'events'));
    for (const shard of [0, 1]) {
      await writeParquet(
        join(root, 'events', `part-${shard}.parquet`),
        `SELECT i + ${shard * 1_000_000_000} AS id, 'api-' || (i % 20) AS api, (i % 997) * 0.5 AS ms FROM range(${ROWS}) t(i)`,
      );
    }
    // The gateway runs as its own process, as in production: its work does not share the client's event loop.
    const port = await freePort();
    const gateway = await startGatewayProcess(
      join(root, 'gateway.json'),
      {
        server: { port, postgres: { enabled: false } },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        engines: { clickhouse: { module: '@lakegate/engine-clickhouse', url: cluster.url } },
        tenants: {
          acme: {
            apiKeys: [KEY],
            engines: { clickhouse: USER },
            datasets: { events: { engine: 'clickhouse', table: 'events' } },
          },
        },
      },
      port,
    );
    try {
      const viaGateway = async () => {
        const response = await fetch(`${gateway.url}/v1/query`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ sql: SQL }),
        });
        const body = (await response.json()) as { rows?: unknown[] };
        if (body.rows?.length !== 20) throw new Error(`gateway answered ${JSON.stringify(body).slice(0, 200)}`);
      };
      const viaClickHouse = async () => {
        const response = await fetch(`${cluster.url}/?database=acme&default_format=TabSeparatedWithNamesAndTypes`, {
          method: 'POST',
          headers: { 'X-ClickHouse-User': USER.user, 'X-ClickHouse-Key': USER.password },
          body: SQL,
        });
        const text = await response.text();
        if (text.trim().split('\n').length !== 22) throw new Error(`ClickHouse answered ${text.slice(0, 200)}`);
      };
      const [g, d] = await timePaired(viaGateway, viaClickHouse, RUNS, 3);
      const duckdb = await withDuckDB(async (run) => {
        const sql = `SELECT api, count(*) AS requests, avg(ms) AS avg_ms, max(ms) AS worst FROM read_parquet('${join(root, 'events')}/*.parquet') GROUP BY api ORDER BY api`;
        return summarise(await time(() => run(sql), RUNS, 3));
      });
      const gs = summarise(g);
      const ds = summarise(d);
      report(`clickhouse-engine: ${2 * ROWS} rows on two shards, GROUP BY over a Distributed table`, [
        ['gateway (POST /v1/query), p50 / p99', `${ms(gs.median)} / ${ms(gs.p99)}`],
        ['direct ClickHouse HTTP, same user (baseline), p50 / p99', `${ms(ds.median)} / ${ms(ds.p99)}`],
        ['ratio gateway / direct, p50 (goal <= 1.1x)', `${(gs.median / ds.median).toFixed(2)}x`],
        ['gateway overhead, p50', ms(gs.median - ds.median)],
        ['one-node DuckDB, same rows from Parquet (reference), p50', ms(duckdb.median)],
      ]);
    } finally {
      await gateway.kill('SIGTERM');
    }
  } finally {
    await cluster.stop();
    await rm(root, { recursive: true, force: true });
  }
}
