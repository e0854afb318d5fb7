import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { writeParquet } from './duckdb-data.js';

/** Strings only rows acme may not see carry: globex's data, the rows acme's filter hides, and the filter itself. */
export const HOSTILE_SECRETS = ['globex-secret', 'us-only-row', "region = 'eu'"];

export interface HostileTenants {
  readonly root: string;
  readonly gateway: RunningGateway;
  /** Stops the gateway and removes the folder. */
  close(): Promise<void>;
}

/**
 * A gateway with two tenants for attacks: acme (`events`, and `orders` whose row filter keeps the `eu` rows) and
 * globex (`events`, and `invoices`), every secret row marked with a string of {@link HOSTILE_SECRETS}.
 */
export async function startHostileTenants(
  keys: { readonly acme: string; readonly globex: string },
  duckdb: Readonly<Record<string, unknown>> = { threads: 1 },
): Promise<HostileTenants> {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-hostile-'));
  const data = async (tenant: string, dataset: string, select: string) => {
    await mkdir(join(root, 'data', tenant, dataset), { recursive: true });
    await writeParquet(join(root, 'data', tenant, dataset, 'part-0.parquet'), select);
  };
  await data('acme', 'events', "SELECT i AS id, 'acme' AS owner FROM range(3) t(i)");
  await data(
    'acme',
    'orders',
    "SELECT i AS id, CASE WHEN i < 2 THEN 'eu' ELSE 'us' END AS region, CASE WHEN i < 2 THEN 'eu-row' ELSE 'us-only-row' END AS note FROM range(4) t(i)",
  );
  await data('globex', 'events', "SELECT i AS id, 'globex-secret' AS owner FROM range(3) t(i)");
  await data('globex', 'invoices', "SELECT 'globex-secret' AS note");
  const config = parseConfig(
    {
      server: { port: 0 },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      engines: { duckdb },
      tenants: {
        acme: {
          apiKeys: [keys.acme],
          datasets: {
            events: { location: 'file:./data/acme/events/', format: 'parquet' },
            orders: { location: 'file:./data/acme/orders/', format: 'parquet', rowFilter: "region = 'eu'" },
          },
        },
        globex: {
          apiKeys: [keys.globex],
          datasets: {
            events: { location: 'file:./data/globex/events/', format: 'parquet' },
            invoices: { location: 'file:./data/globex/invoices/', format: 'parquet' },
          },
        },
      },
    },
    { baseDir: root },
  );
  const gateway = await startGateway({ config, logger: silentLogger });
  return {
    root,
    gateway,
    async close() {
      await gateway.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
