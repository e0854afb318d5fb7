/**
 * local-agg against raw DuckDB, in the same run, on the same CSV file and the same query: the eight dashboard
 * aggregations of API traffic (count, sum, min, max, avg, exact p50/p95/p99 of total response time, request and
 * response bytes, errors) by organization, API proxy and 5-minute bucket, in one pass. Goal: local-agg at most
 * 0.8x DuckDB.
 *
 *   npm run bench -w @lakegate/bench -- local-agg            (6M rows, about 800 MB, generated once)
 *   BENCH_ORGS=200 BENCH_PROXIES=100 npm run bench -w @lakegate/bench -- local-agg     (1.58M groups)
 *   BENCH_ROWS=1000000 npm run bench -w @lakegate/bench -- local-agg
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalAggEngine } from '@lakegate/engine-local-agg';
import { ensureApiTrafficCsv } from './data/api-traffic.js';
import { ms, report, summarise, timePaired } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 6_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Organizations and API proxies: their spread sets the groups (BENCH_ORGS=200 BENCH_PROXIES=100: 1.58M). */
const ORGS = Number(process.env.BENCH_ORGS ?? 20);
const PROXIES = Number(process.env.BENCH_PROXIES ?? 50);
const root = join(import.meta.dirname, '.data', 'local-agg');
const path = join(root, `api-traffic-${ROWS}-${ORGS}x${PROXIES}.csv`);

const generating = performance.now();
await ensureApiTrafficCsv(path, { rows: ROWS, seed: 42, organizations: ORGS, proxies: PROXIES });
const { size } = await stat(path);
console.log(`data: ${ROWS} rows, ${(size / 1e6).toFixed(0)} MB CSV (ready in ${ms(performance.now() - generating)})`);

const AGGREGATES = `count(*) AS requests,
  sum(total_response_ms) AS total_ms, min(total_response_ms) AS min_ms, max(total_response_ms) AS max_ms,
  avg(total_response_ms) AS avg_ms,
  quantile_cont(total_response_ms, 0.5) AS p50, quantile_cont(total_response_ms, 0.95) AS p95,
  quantile_cont(total_response_ms, 0.99) AS p99,
  sum(request_size) AS request_bytes, sum(response_size) AS response_bytes,
  count(*) FILTER (WHERE status_code >= 500) AS errors`;
const query = (from: string) =>
  `SELECT organization, api_proxy, time_bucket(INTERVAL '5 minutes', ts) AS bucket, ${AGGREGATES}
   FROM ${from} GROUP BY 1, 2, 3`;

const threads = Math.min(8, availableParallelism());
const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const connection = await instance.connect();
const engine = new LocalAggEngine(
  { threads, inlineBytes: 4 * 1024 * 1024, rangeBytes: 16 * 1024 * 1024 },
  { storage: { tenantDirectories: () => [root] } },
);
const binding = {
  name: 'traffic',
  snapshot: {
    tenant: 'bench',
    dataset: 'traffic',
    format: 'csv' as const,
    version: 'v1',
    files: [{ path, size, etag: String(size) }],
  },
};

let duckdbGroups = 0;
let localGroups = 0;
const runDuckdb = async () => {
  const reader = await connection.runAndReadAll(query(`read_csv('${path.replaceAll("'", "''")}')`));
  duckdbGroups = reader.currentRowCount;
};
const runLocal = async () => {
  const stream = await engine.execute(
    { queryId: 'bench', tenant: 'bench', sql: query('traffic'), tables: [binding] },
    { signal: new AbortController().signal },
  );
  // The result as the engine hands it over (batches of engine-api values), as DuckDB's side keeps its chunks.
  let rows = 0;
  for await (const batch of stream) rows += batch.rowCount;
  localGroups = rows;
};

const [local, duckdb] = await timePaired(runLocal, runDuckdb, RUNS, 1);
const l = summarise(local);
// Each run of one engine beside the run of the other next to it: a ratio the machine's drift moves less.
const pairedRatio = summarise(local.map((t, i) => t / (duckdb[i] as number))).median;
const d = summarise(duckdb);
if (localGroups !== duckdbGroups)
  throw new Error(`group counts differ: local-agg ${localGroups}, DuckDB ${duckdbGroups}`);
report(
  `one pass, 8 aggregations by organization x API proxy x 5 minutes (${localGroups} groups, ${threads} threads, ${RUNS} paired runs)`,
  [
    ['local-agg median (min)', `${ms(l.median)} (${ms(l.min)})`],
    ['DuckDB read_csv median (min)', `${ms(d.median)} (${ms(d.min)})`],
    ['local-agg / DuckDB, medians', `${(l.median / d.median).toFixed(2)}x (goal: at most 0.8x)`],
    ['local-agg / DuckDB, median of the paired runs', `${pairedRatio.toFixed(2)}x`],
    ['rows/s local-agg', `${(((ROWS / l.median) * 1000) / 1e6).toFixed(1)}M`],
    ['vs the Spark design (170 s for 6M rows)', `${(170_000 / l.median).toFixed(0)}x faster`],
  ],
);

await engine.close();
connection.closeSync();
instance.closeSync();
