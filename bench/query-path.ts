/**
 * The short-query path at the scale of a dashboard: a 10 ms-class aggregate over a 2M-row Parquet file through
 * POST /v1/query (HTTP, auth, prepare, admission, lease, locked DuckDB, JSON), beside the same SQL on raw
 * @duckdb/node-api over the same file with the same thread count, interleaved in the same run. p50 and p99 are
 * nearest-rank over BENCH_RUNS (default 300) samples per side.
 *
 *   npm run bench -w @lakegate/bench -- query-path
 */
import { mkdir, stat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import { writeParquet } from '../test/support/duckdb-data.js';
import { ms, report, summarise, timePaired } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 300);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const ROWS = 2_000_000;
const KEY = 'query-path-key';
const SQL = 'SELECT count(*) FROM events WHERE status = 500';
const root = join(import.meta.dirname, '.data', 'query-path');
const file = join(root, 'events', 'part-0.parquet');

if (!(await stat(file).catch(() => undefined))) {
  await mkdir(join(root, 'events'), { recursive: true });
  await writeParquet(
    file,
    `SELECT i AS id, (CASE WHEN i % 97 = 0 THEN 500 WHEN i % 13 = 0 THEN 404 ELSE 200 END)::INTEGER AS status,
            'api-' || (i % 50) AS api, (i * 7919) % 1000 AS ms, TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS ts
     FROM range(${ROWS}) t(i)`,
  );
}

const config = parseConfig(
  {
    server: { port: 0, postgres: { enabled: false } },
    storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
    engines: { duckdb: { threads: THREADS } },
    history: { enabled: true },
    // The result cache stays off (its default), so that every run reaches DuckDB.
    tenants: {
      acme: { apiKeys: [KEY], datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } } },
    },
  },
  { baseDir: root },
);
const gateway = await startGateway({ config, logger: silentLogger });
const raw = await DuckDBInstance.create(':memory:', { threads: String(THREADS) });
const connection = await raw.connect();
await connection.run(`CREATE VIEW events AS SELECT * FROM read_parquet('${file}')`);
const body = JSON.stringify({ sql: SQL });
const headers = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };

try {
  // node:http with a keep-alive agent: a lighter client than fetch, so that less of the figure is the client's.
  const { hostname, port } = new URL(gateway.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const viaGateway = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: hostname, port, path: '/v1/query', method: 'POST', agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const direct = async () => {
    const reader = await connection.runAndReadAll(SQL);
    reader.getRows();
  };
  const [g, d] = await timePaired(viaGateway, direct, RUNS, 20);
  const gs = summarise(g);
  const ds = summarise(d);
  report(`query-path: ${SQL} over ${ROWS} rows, ${RUNS} paired runs, ${THREADS} DuckDB thread(s) each`, [
    ['gateway (POST /v1/query) p50 / p99', `${ms(gs.median)} / ${ms(gs.p99)}`],
    ['raw @duckdb/node-api p50 / p99 (baseline)', `${ms(ds.median)} / ${ms(ds.p99)}`],
    ['ratio p50 gateway/raw', `${(gs.median / ds.median).toFixed(2)}x`],
    ['ratio p99 gateway/raw', `${(gs.p99 / ds.p99).toFixed(2)}x`],
    ['added latency (p50 difference)', ms(gs.median - ds.median)],
    ['process peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`],
  ]);
} finally {
  connection.closeSync();
  raw.closeSync();
  await gateway.close();
}
