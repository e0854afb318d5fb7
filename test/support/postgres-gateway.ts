import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { writeParquet } from './duckdb-data.js';

export const ACME_KEY = 'acme-postgres-key';
export const GLOBEX_KEY = 'globex-postgres-key';

/** Rows of `events`: ids 0..99,999 with one column of each common type. */
export const EVENTS_ROWS = 100_000;

export interface PostgresGateway {
  readonly gateway: RunningGateway;
  readonly port: number;
  /** libpq-style connection settings for tenant `acme`. */
  readonly acme: { host: string; port: number; user: string; password: string; database: string };
  close(): Promise<void>;
}

/**
 * A gateway with the Postgres front end on a free port, and two tenants: `acme` (datasets `events` and `big`)
 * and `globex` (dataset `secrets`), whose rows must never reach `acme`.
 */
export async function startPostgresGateway(
  extra: { postgres?: Record<string, unknown>; limits?: Record<string, unknown> } = {},
): Promise<PostgresGateway> {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-pg-'));
  for (const dir of ['events', 'other']) await mkdir(join(root, dir));
  await writeParquet(
    join(root, 'events', 'p.parquet'),
    `SELECT i AS id, 'name-' || i AS name, i * 1.5 AS score, i % 2 = 0 AS even, DATE '2024-01-01' + (i % 10)::INTEGER AS day,
            TIMESTAMP '2024-01-01 10:00:00.123456' + INTERVAL (i) SECOND AS ts, (i / 4)::DECIMAL(10,2) AS amount,
            [i, i + 1] AS pair, CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS maybe, i::INTEGER AS small
     FROM range(${EVENTS_ROWS}) t(i)`,
  );
  await writeParquet(join(root, 'other', 'p.parquet'), "SELECT 'globex-secret' AS s");
  const config = parseConfig(
    {
      server: { port: 0, postgres: { port: 0, ...extra.postgres } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      engines: { duckdb: { threads: 1 } },
      query: { maxMaxRows: 1_000_000 },
      ...(extra.limits ? { limits: extra.limits } : {}),
      tenants: {
        acme: {
          apiKeys: [ACME_KEY, 'acme-second-key'],
          datasets: { events: { location: 'file:./events/', format: 'parquet' } },
        },
        globex: {
          apiKeys: [GLOBEX_KEY],
          datasets: { secrets: { location: 'file:./other/', format: 'parquet' } },
        },
      },
    },
    { baseDir: root },
  );
  const gateway = await startGateway({ config, logger: silentLogger });
  const port = gateway.postgresPort as number;
  return {
    gateway,
    port,
    acme: { host: '127.0.0.1', port, user: 'acme', password: ACME_KEY, database: 'lakegate' },
    async close() {
      await gateway.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
