import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DatasetSnapshot, Engine, InMemoryTable, StorageAccess } from '@lakegate/engine-api';
import { duckdbEngineFactory } from './duckdb-engine.js';

/** Runs SQL on a throw-away, unrestricted DuckDB instance (to write test data). */
export async function withDuckDB<T>(fn: (run: (sql: string) => Promise<void>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return await fn(async (sql) => void (await connection.run(sql)));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Writes the result of a SELECT to a Parquet file. */
export function writeParquet(path: string, select: string): Promise<void> {
  return withDuckDB((run) => run(`COPY (${select}) TO '${path.replaceAll("'", "''")}' (FORMAT parquet)`));
}

/** Writes an in-memory table (batch representation) to a Parquet file. */
export async function writeTable(table: InMemoryTable, path: string): Promise<void> {
  await withDuckDB(async (run) => {
    const columns = table.columns.map((c) => `"${c.name}" ${c.type.sqlType}`).join(', ');
    await run(`CREATE TABLE t (${columns})`);
    const literal = (v: unknown, kind: string | undefined): string => {
      if (v === null) return 'NULL';
      if (kind === 'string') return `'${String(v).replaceAll("'", "''")}'`;
      if (kind === 'date') return `DATE '1970-01-01' + ${v}::INTEGER`;
      return String(v);
    };
    const rows = table.rows.map((row) => `(${row.map((v, i) => literal(v, table.columns[i]?.type.kind)).join(', ')})`);
    for (let i = 0; i < rows.length; i += 10_000)
      await run(`INSERT INTO t VALUES ${rows.slice(i, i + 10_000).join(', ')}`);
    await run(`COPY t TO '${path}' (FORMAT parquet)`);
  });
}

export function snapshot(
  tenant: string,
  dataset: string,
  paths: readonly string[],
  version = `${dataset}-v1`,
): DatasetSnapshot {
  return { tenant, dataset, format: 'parquet', version, files: paths.map((path) => ({ path, size: 0, etag: 'x' })) };
}

/** A temporary root with one folder per tenant, as the storage layer's cache would have. */
export async function tenantRoot(tenants: readonly string[]) {
  const root = await mkdtemp(join(tmpdir(), 'lakegate-duckdb-'));
  for (const tenant of tenants) await mkdir(join(root, tenant), { recursive: true });
  const storage: StorageAccess = { tenantDirectories: (tenant) => [join(root, tenant)] };
  return { root, storage, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** A DuckDB engine with small limits for tests; `config` overrides parsed settings. */
export async function testEngine(storage: StorageAccess, config: Record<string, unknown> = {}): Promise<Engine> {
  const parsed = duckdbEngineFactory.parseConfig({ threads: 1, memoryLimit: '256MB', ...config });
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return duckdbEngineFactory.create(parsed.config, { storage });
}
