/**
 * Gateway overhead on the first query path: the demo's aggregate through POST /v1/query (HTTP, auth,
 * snapshot, locked DuckDB, JSON) beside the same SQL on raw @duckdb/node-api over the same Parquet file,
 * in the same run. Prints medians and the ratio.
 *
 *   npm run bench -w @lakegate/bench -- query-overhead      (or: npx tsx bench/query-overhead.ts)
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { DEMO_TENANTS, demoConfig, ensureDemoData, silentLogger, startGateway } from '@lakegate/gateway';
import { ms, report, summarise, timePaired } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const base = join(import.meta.dirname, '.data', 'query-overhead');
const dataDir = join(base, '.lakegate', 'demo');

const QUERIES = {
  'aggregate (GROUP BY over 1M rows)':
    'SELECT api_proxy, count(*) AS requests, avg(total_response_ms) AS avg_ms FROM events GROUP BY api_proxy ORDER BY requests DESC',
  'point lookup (LIMIT 10)': "SELECT * FROM events WHERE client_ip = '10.1.2.3' LIMIT 10",
} as const;

await ensureDemoData(dataDir);
const config = demoConfig(base, { LAKEGATE_PORT: '0' });
const gateway = await startGateway({ config, logger: silentLogger });
const key = DEMO_TENANTS[0]?.apiKey ?? '';
const file = join(dataDir, 'acme', 'events', 'part-0.parquet');

// The same thread count as the engine's default per-tenant instance: this measures the gateway, not the setting.
const engineDefaults = duckdbEngineFactory.parseConfig(undefined);
const threads = engineDefaults.ok ? engineDefaults.config.threads : 1;
const raw = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const connection = await raw.connect();
await connection.run(`CREATE VIEW events AS SELECT * FROM read_parquet('${file}')`);

try {
  for (const [name, sql] of Object.entries(QUERIES)) {
    const viaGateway = async () => {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}` },
        body: JSON.stringify({ sql }),
      });
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      await response.text();
    };
    const direct = async () => {
      const reader = await connection.runAndReadAll(sql);
      reader.getRows();
    };
    const [g, d] = await timePaired(viaGateway, direct, RUNS);
    const gs = summarise(g);
    const ds = summarise(d);
    report(`query-overhead: ${name}, ${RUNS} paired runs, ${threads} DuckDB thread(s) each`, [
      ['gateway (HTTP + DuckDB engine) median', ms(gs.median)],
      ['raw @duckdb/node-api median (baseline)', ms(ds.median)],
      ['ratio gateway/raw', `${(gs.median / ds.median).toFixed(2)}x`],
      ['added latency (median difference)', ms(gs.median - ds.median)],
    ]);
  }
} finally {
  connection.closeSync();
  raw.closeSync();
  await gateway.close();
}
