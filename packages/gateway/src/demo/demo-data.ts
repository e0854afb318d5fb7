import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { type GatewayConfig, parseConfig } from '../config/config.js';

export interface DemoTenant {
  readonly tenant: string;
  readonly apiKey: string;
}

/** The demo's tenants and keys: printed at start-up, never used outside the embedded demo. */
export const DEMO_TENANTS: readonly DemoTenant[] = [
  { tenant: 'acme', apiKey: 'acme-demo-key' },
  { tenant: 'globex', apiKey: 'globex-demo-key' },
];

export const DEMO_ROWS = 1_000_000;

/**
 * API-traffic events: one row per API call, like a gateway's access log. Deterministic per tenant (the
 * seed), so every machine generates the same demo.
 */
function eventsSql(seed: number, rows: number, path: string): string {
  const h = (salt: number) => `hash(i, ${seed * 100 + salt})`;
  return `COPY (
    SELECT
      TIMESTAMP '2026-01-01' + to_milliseconds((i * 2592000000 // ${rows})::BIGINT) AS ts,
      'org-' || (${h(1)} % 3)::INTEGER AS organization,
      ['prod', 'test', 'dev'][1 + (${h(2)} % 3)::INTEGER] AS environment,
      ['payments', 'orders', 'catalog', 'search', 'users', 'inventory', 'shipping', 'auth'][1 + (${h(3)} % 8)::INTEGER] AS api_proxy,
      'app-' || (${h(4)} % 40)::INTEGER AS developer_app,
      ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'][1 + (${h(5)} % 6)::INTEGER] AS verb,
      '/v1/' || ['items', 'items/{id}', 'carts', 'checkout', 'profile'][1 + (${h(6)} % 5)::INTEGER] AS uri,
      CASE WHEN ${h(7)} % 100 < 90 THEN 200 WHEN ${h(7)} % 100 < 95 THEN 404 WHEN ${h(7)} % 100 < 98 THEN 429 ELSE 500 END::INTEGER AS status_code,
      (5 + ${h(8)} % 200)::INTEGER AS target_response_ms,
      (8 + ${h(8)} % 200 + ${h(9)} % 40)::INTEGER AS total_response_ms,
      (100 + ${h(10)} % 4000)::BIGINT AS request_size,
      (200 + ${h(11)} % 64000)::BIGINT AS response_size,
      '10.' || (${h(12)} % 256) || '.' || (${h(13)} % 256) || '.' || (${h(14)} % 256) AS client_ip,
      ['curl/8.5', 'okhttp/4.12', 'Mozilla/5.0', 'python-requests/2.32'][1 + (${h(15)} % 4)::INTEGER] AS user_agent
    FROM range(${rows}) t(i)
  ) TO '${path.replaceAll("'", "''")}' (FORMAT parquet, ROW_GROUP_SIZE 122880)`;
}

/**
 * Generates the demo datasets under `dir` once: each tenant's `events` folder holds one Parquet file,
 * written under a temporary name and renamed, so an interrupted run is simply redone.
 */
export async function ensureDemoData(dir: string, rows = DEMO_ROWS): Promise<void> {
  const pending = DEMO_TENANTS.filter((t) => !existsSync(join(dir, t.tenant, 'events', 'part-0.parquet')));
  if (pending.length === 0) return;
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const { tenant } of pending) {
      const folder = join(dir, tenant, 'events');
      await mkdir(folder, { recursive: true });
      const temporary = join(folder, '.part-0.parquet.tmp');
      await rm(temporary, { force: true });
      await connection.run(eventsSql(DEMO_TENANTS.findIndex((t) => t.tenant === tenant) + 1, rows, temporary));
      await rename(temporary, join(folder, 'part-0.parquet'));
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The configuration the demo runs with: two tenants, each with its own `events` dataset. */
export function demoConfig(baseDir: string, env: NodeJS.ProcessEnv): GatewayConfig {
  const dataDir = demoDataDir(baseDir);
  return parseConfig(
    {
      storage: { cacheDir: '.lakegate/cache' },
      tenants: Object.fromEntries(
        DEMO_TENANTS.map(({ tenant, apiKey }) => [
          tenant,
          {
            apiKeys: [apiKey],
            datasets: { events: { location: `file:${join(dataDir, tenant, 'events')}/`, format: 'parquet' } },
          },
        ]),
      ),
    },
    { baseDir, source: 'embedded demo configuration', env },
  );
}

export function demoDataDir(baseDir: string): string {
  return resolve(baseDir, '.lakegate', 'demo');
}
