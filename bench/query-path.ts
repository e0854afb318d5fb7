/**
 * The short-query path at the scale of a dashboard: a 10 ms-class aggregate over a 2M-row Parquet file through
 * POST /v1/query (HTTP, auth, prepare, admission, lease, locked DuckDB, JSON), beside the same SQL on raw
 * @duckdb/node-api over the same file with the same thread count, interleaved in the same run. p50 and p99 are
 * nearest-rank over BENCH_RUNS (default 300) samples per side.
 *
 * Both sides are warmed up first (BENCH_WARMUP rounds, default 1,500): V8 optimises the gateway's per-request code
 * only after some thousands of requests, and a gateway in service has long passed that. The gateway is timed
 * through two clients: the bench's minimal keep-alive HTTP/1.1 client (clients/keep-alive.ts), which leaves the
 * figure to the gateway, and node:http with a keep-alive agent, which adds its own work to the same thread.
 *
 * Each of the gateway's queries is also split, at its DuckDB run, into the time before DuckDB, DuckDB's own, and the
 * time after it.
 *
 * Then where the difference goes: the same query answered from the result cache (another tenant on the same file,
 * with its cache on), timed back to back, beside the same cached query timed right after a raw DuckDB run, as the
 * gateway's work follows DuckDB's in the main series. The HTTP round trip and the gateway's code cost more when
 * they run after DuckDB's scan than back to back.
 *
 *   npm run bench -w @lakegate/bench -- query-path
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DuckDBInstance, DuckDBPreparedStatement } from '@duckdb/node-api';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import { writeParquet } from '../test/support/duckdb-data.js';
import { KeepAliveConnection, queryRequest } from './clients/keep-alive.js';
import { ms, report, summarise, time, timePaired } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 300);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1500);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const ROWS = 2_000_000;
const KEY = 'query-path-key';
const CACHED_KEY = 'query-path-cached-key';
const SQL = 'SELECT count(*) FROM events WHERE status = 500';
const root = join(import.meta.dirname, '.data', 'query-path');
const file = join(root, 'events', 'part-0.parquet');
/** The cached tenant's own copy: tenants never share a folder. */
const copy = join(root, 'events-cached', 'part-0.parquet');

if (!(await stat(file).catch(() => undefined))) {
  await mkdir(join(root, 'events'), { recursive: true });
  await writeParquet(
    file,
    `SELECT i AS id, (CASE WHEN i % 97 = 0 THEN 500 WHEN i % 13 = 0 THEN 404 ELSE 200 END)::INTEGER AS status,
            'api-' || (i % 50) AS api, (i * 7919) % 1000 AS ms, TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS ts
     FROM range(${ROWS}) t(i)`,
  );
}

if (!(await stat(copy).catch(() => undefined))) {
  await mkdir(join(root, 'events-cached'), { recursive: true });
  await copyFile(file, copy);
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
      cached: {
        apiKeys: [CACHED_KEY],
        resultCache: { enabled: true },
        datasets: { events: { location: `file:${join(root, 'events-cached')}/`, format: 'parquet' } },
      },
    },
  },
  { baseDir: root },
);
const gateway = await startGateway({ config, logger: silentLogger });
// Where the gateway's added time goes: marks around its DuckDB runs, which run prepared statements (the raw side's
// runAndReadAll does not), to split each of its queries into before DuckDB, DuckDB, and after it.
let runStarted = 0;
let runEnded = 0;
const runPrepared = DuckDBPreparedStatement.prototype.run;
DuckDBPreparedStatement.prototype.run = async function run(this: DuckDBPreparedStatement) {
  runStarted = performance.now();
  try {
    return await runPrepared.call(this);
  } finally {
    runEnded = performance.now();
  }
};
const raw = await DuckDBInstance.create(':memory:', { threads: String(THREADS) });
const connection = await raw.connect();
await connection.run(`CREATE VIEW events AS SELECT * FROM read_parquet('${file}')`);
const body = JSON.stringify({ sql: SQL });

try {
  // node:http with a keep-alive agent: a lighter client than fetch, so that less of the figure is the client's.
  const { hostname, port } = new URL(gateway.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const post = (key: string) => () =>
    new Promise<string>((resolve, reject) => {
      const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
      const req = request({ host: hostname, port, path: '/v1/query', method: 'POST', agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  const viaNodeHttp = post(KEY);
  const lean = new KeepAliveConnection(hostname, Number(port));
  const leanRequest = queryRequest(hostname, Number(port), KEY, SQL);
  const before: number[] = [];
  const during: number[] = [];
  const after: number[] = [];
  const viaGateway = async () => {
    const sent = performance.now();
    const status = await lean.send(leanRequest);
    const answered = performance.now();
    if (status !== '200') throw new Error(`the gateway answered ${status}`);
    // Only a query that ran to its end in one call (as this one does once the gateway knows it is small).
    if (runStarted < sent || runEnded > answered) return;
    before.push(runStarted - sent);
    during.push(runEnded - runStarted);
    after.push(answered - runEnded);
  };
  const fromCache = post(CACHED_KEY);
  await fromCache();
  const viaCache = async () => {
    if (!(await fromCache()).includes('"cache":"hit"')) throw new Error('the cached tenant missed its result cache');
  };
  const direct = async () => {
    const reader = await connection.runAndReadAll(SQL);
    reader.getRows();
  };
  for (let i = 0; i < WARMUP; i++) {
    await viaGateway();
    await viaNodeHttp();
    await direct();
  }
  for (const samples of [before, during, after]) samples.length = 0;
  const [g, d] = await timePaired(viaGateway, direct, RUNS, 0);
  const [n, nd] = await timePaired(viaNodeHttp, direct, RUNS, 0);
  lean.close();
  const gs = summarise(g);
  const ds = summarise(d);
  const ns = summarise(n);
  const nds = summarise(nd);
  // The cached query back to back, and right after each raw run (only the cached query is timed).
  const alone = await time(viaCache, RUNS, 20);
  const afterDuckDB: number[] = [];
  for (let i = 0; i < RUNS + 20; i++) {
    await direct();
    const start = performance.now();
    await viaCache();
    if (i >= 20) afterDuckDB.push(performance.now() - start);
  }
  const as = summarise(alone);
  const cs = summarise(afterDuckDB);
  report(`query-path: ${SQL} over ${ROWS} rows, ${RUNS} paired runs, ${THREADS} DuckDB thread(s) each`, [
    ['warm-up rounds before timing', String(WARMUP)],
    ['gateway (POST /v1/query) p50 / p99', `${ms(gs.median)} / ${ms(gs.p99)}`],
    ['raw @duckdb/node-api p50 / p99 (baseline)', `${ms(ds.median)} / ${ms(ds.p99)}`],
    ['ratio p50 gateway/raw', `${(gs.median / ds.median).toFixed(2)}x`],
    ['ratio p99 gateway/raw', `${(gs.p99 / ds.p99).toFixed(2)}x`],
    ['added latency (p50 difference)', ms(gs.median - ds.median)],
    [
      "the gateway's query: sending to DuckDB / DuckDB / DuckDB to the answer, p50",
      [before, during, after].map((samples) => ms(summarise(samples).median)).join(' / '),
    ],
    ['through node:http: gateway p50 / raw p50', `${ms(ns.median)} / ${ms(nds.median)}`],
    [
      'through node:http: ratio p50 / p99',
      `${(ns.median / nds.median).toFixed(2)}x / ${(ns.p99 / nds.p99).toFixed(2)}x`,
    ],
    ['a cached answer, back to back, p50', ms(as.median)],
    ['a cached answer right after a raw DuckDB run, p50', ms(cs.median)],
    ['ratio, after DuckDB / back to back', `${(cs.median / as.median).toFixed(2)}x`],
    ['process peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`],
  ]);
} finally {
  connection.closeSync();
  raw.closeSync();
  await gateway.close();
}
