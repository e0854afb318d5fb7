import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import pg from 'pg';
import { writeParquet } from './duckdb-data.js';

/**
 * Compatibility harness: the same SQL through the gateway (POST /v1/query) and directly on DuckDB over the same
 * Parquet files, each answer reduced to comparable text.
 */
export interface CompatHarness {
  viaGateway(sql: string): Promise<{ status: number; rows: string[][]; error?: string }>;
  /** The same SQL over the Postgres protocol (node `pg`, every value read as the text the server sent). */
  viaPostgres(sql: string): Promise<string[][]>;
  direct(sql: string): Promise<string[][]>;
  close(): Promise<void>;
}

const DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/;

/** One value as canonical text: integers as digits, doubles to 9 significant digits, date-times with a space, midnight as the date. */
export function canonical(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(9);
  // Exact decimals arrive as text with their scale ("12.500"); the DuckDB client may trim it.
  if (typeof value === 'string') {
    if (/^-?\d+$/.test(value)) return BigInt(value).toString();
    if (/^-?\d+\.\d+$/.test(value)) return canonical(Number(value));
    // The DuckDB client renders DATE as midnight timestamps; the gateway as dates. Compare both the same way.
    const dt = DATE_TIME.exec(value);
    if (dt) return dt[2] === '00:00:00' ? `${dt[1]}` : `${dt[1]} ${dt[2]}`;
    return value;
  }
  if (typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Starts a gateway with one tenant whose datasets are the given tables (written to Parquet first), and an
 * unrestricted DuckDB over the same files. Both single-threaded, so ties in ORDER BY ... LIMIT break alike.
 */
export async function startCompatHarness(
  root: string,
  tables: Readonly<Record<string, string>>,
): Promise<CompatHarness> {
  const key = 'compat-tenant-key';
  const datasets: Record<string, { location: string; format: string }> = {};
  for (const [name, select] of Object.entries(tables)) {
    await mkdir(join(root, 'data', name), { recursive: true });
    await writeParquet(join(root, 'data', name, 'part-0.parquet'), select);
    datasets[name] = { location: `file:./data/${name}/`, format: 'parquet' };
  }
  const config = parseConfig(
    {
      server: { port: 0 },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      engines: { duckdb: { threads: 1, memoryLimit: '2GB' } },
      query: { maxMaxRows: 100_000 },
      tenants: { compat: { apiKeys: [key], datasets } },
    },
    { baseDir: root },
  );
  const gateway: RunningGateway = await startGateway({ config, logger: silentLogger });
  const postgres = new pg.Client({
    host: '127.0.0.1',
    port: gateway.postgresPort,
    user: 'compat',
    password: key,
    database: 'lakegate',
    // Values as the server wrote them, so that they reduce to the same canonical text as the other answers.
    types: { getTypeParser: (oid: number) => (text: string) => (oid === 16 ? String(text === 't') : text) },
  });
  await postgres.connect();
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  for (const name of Object.keys(tables)) {
    await connection.run(
      `CREATE VIEW "${name}" AS SELECT * FROM read_parquet('${join(root, 'data', name, 'part-0.parquet')}')`,
    );
  }
  return {
    async viaGateway(sql) {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}` },
        body: JSON.stringify({ sql, maxRows: 100_000 }),
      });
      const body = (await response.json()) as { rows?: unknown[][]; error?: { code: string; message: string } };
      return {
        status: response.status,
        rows: (body.rows ?? []).map((row) => row.map(canonical)),
        ...(body.error ? { error: `${body.error.code}: ${body.error.message}` } : {}),
      };
    },
    async viaPostgres(sql) {
      const result = await postgres.query({ text: sql, rowMode: 'array' });
      return (result.rows as unknown[][]).map((row) => row.map(canonical));
    },
    async direct(sql) {
      const reader = await connection.runAndReadAll(sql);
      return (reader.getRowsJS() as unknown[][]).map((row) =>
        row.map((value) =>
          canonical(
            value instanceof Date
              ? value
                  .toISOString()
                  .replace('Z', '')
                  .replace(/\.000$/, '')
              : value,
          ),
        ),
      );
    },
    async close() {
      connection.closeSync();
      instance.closeSync();
      await postgres.end();
      await gateway.close();
    },
  };
}
