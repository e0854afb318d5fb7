/**
 * Rollup serving: the p50 of two dashboard queries over 24 hours of API traffic by organization and hour (requests,
 * errors and latency sums; then with the exact p95 latency) answered from 5-minute rollups, beside the same queries
 * answered by DuckDB over the raw CSV files, both through the same gateway in the same run. Also reports how long the gateway took to fill the 24-hour backlog
 * of intervals (288 per rollup) from an empty state.
 *
 *   npm run bench -w @lakegate/bench -- rollup-serving
 *   BENCH_ROWS=4000000 npm run bench -w @lakegate/bench -- rollup-serving
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import { trafficRollup } from '../test/support/traffic-csv.js';
import { writeApiTrafficCsv } from './data/api-traffic.js';
import { ms, report, summarise, timePaired } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const HOUR = 3_600_000;
const KEY = 'bench-rollup-key';

const root = await mkdtemp(join(tmpdir(), 'lakegate-rollup-bench-'));
// The last 24 whole hours, one file per hour, so that each interval reads one file.
const start = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
await mkdir(join(root, 'raw'));
for (let hour = 0; hour < 24; hour++) {
  await writeApiTrafficCsv(join(root, 'raw', `hour-${String(hour).padStart(2, '0')}.csv`), {
    rows: Math.round(ROWS / 24),
    seed: hour + 1,
    start: new Date(start + hour * HOUR),
    spanMs: HOUR,
  });
}
const text = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19);

const config = parseConfig(
  {
    server: { port: 0 },
    storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
    rollups: { location: `file:${join(root, 'rollups')}/`, tickSeconds: 0.2, backfillPerTick: 50 },
    tenants: {
      bench: {
        apiKeys: [KEY],
        datasets: { traffic: { location: `file:${join(root, 'raw')}/`, format: 'csv' } },
        rollups: {
          traffic_5m: trafficRollup(start),
        },
      },
    },
  },
  { baseDir: root },
);
const gateway = await startGateway({ config, logger: silentLogger });
const call = async (path: string, body?: unknown) => {
  const response = await fetch(`${gateway.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown> & { rows: unknown[][]; stats: Record<string, unknown> };
};

try {
  const backlogStarted = performance.now();
  for (;;) {
    const { rollups } = (await call('/v1/rollups')) as unknown as {
      rollups: { intervals: Record<string, number>; auditMismatches: number }[];
    };
    const counts = rollups[0]?.intervals ?? {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total > 0 && counts.done === total) break;
    if (performance.now() - backlogStarted > 600_000) throw new Error(`backlog not filled: ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const backlogMs = performance.now() - backlogStarted;

  const range = `ts >= TIMESTAMP '${text(start)}' AND ts < TIMESTAMP '${text(start + 24 * HOUR)}'`;
  const queries: [string, string][] = [
    [
      'requests, errors and mean latency by organization and hour',
      `SELECT organization, date_trunc('hour', ts) AS hour, count(*) AS requests,
         count(*) FILTER (WHERE status_code >= 500) AS errors, sum(total_response_ms) AS total_ms
       FROM traffic WHERE ${range} GROUP BY 1, 2 ORDER BY 1, 2`,
    ],
    [
      'the same with the exact p95 latency',
      `SELECT organization, date_trunc('hour', ts) AS hour, count(*) AS requests,
         quantile_cont(total_response_ms, 0.95) AS p95_ms, count(*) FILTER (WHERE status_code >= 500) AS errors
       FROM traffic WHERE ${range} GROUP BY 1, 2 ORDER BY 1, 2`,
    ],
  ];
  const rows: [string, string][] = [];
  for (const [label, sql] of queries) {
    const fromRollup = await call('/v1/query', { sql, maxRows: 100_000 });
    const fromRaw = await call('/v1/query', { sql, maxRows: 100_000, engine: 'duckdb' });
    if (fromRollup.stats.rollup !== 'traffic_5m')
      throw new Error(`not answered from the rollup: ${JSON.stringify(fromRollup.stats)}`);
    if (JSON.stringify(fromRollup.rows) !== JSON.stringify(fromRaw.rows))
      throw new Error('rollup and raw answers differ');
    const [rollup, raw] = await timePaired(
      () => call('/v1/query', { sql, maxRows: 100_000 }),
      () => call('/v1/query', { sql, maxRows: 100_000, engine: 'duckdb' }),
      RUNS,
    );
    const r = summarise(rollup);
    const d = summarise(raw);
    rows.push(
      [`${label}: from the rollup p50 (p99)`, `${ms(r.median)} (${ms(r.p99)})`],
      [`${label}: DuckDB on the raw files p50 (p99)`, `${ms(d.median)} (${ms(d.p99)})`],
      [`${label}: raw / rollup`, `${(d.median / r.median).toFixed(2)}x`],
    );
  }
  rows.push([
    'backlog: 288 intervals from empty',
    `${ms(backlogMs)} (${(backlogMs / 288).toFixed(0)} ms per interval, audits included)`,
  ]);
  report(`dashboard queries over 24 hours (${ROWS} raw rows in 24 CSV files, ${RUNS} paired runs)`, rows);
} finally {
  await gateway.close();
  await rm(root, { recursive: true, force: true });
}
