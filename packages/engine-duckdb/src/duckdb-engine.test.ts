import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DatasetSnapshot, InMemoryTable, StorageAccess, TableBinding } from '@lakegate/engine-api';
import { collectRows } from '@lakegate/engine-api';
import { KIT_TENANT, runEngineConformance } from '@lakegate/engine-api/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duckdbEngineFactory } from './duckdb-engine.js';

/** Writes an in-memory table to a Parquet file with DuckDB's appender (a separate, unlocked instance). */
async function writeParquet(table: InMemoryTable, path: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const columns = table.columns.map((c) => `"${c.name}" ${c.type.sqlType}`).join(', ');
    await connection.run(`CREATE TABLE t (${columns})`);
    const values = table.rows.map(
      (row) =>
        `(${row
          .map((v, i) => {
            if (v === null) return 'NULL';
            const kind = table.columns[i]?.type.kind;
            if (kind === 'string') return `'${String(v).replaceAll("'", "''")}'`;
            if (kind === 'date') return `DATE '1970-01-01' + ${v}::INTEGER`;
            return String(v);
          })
          .join(', ')})`,
    );
    for (let i = 0; i < values.length; i += 10_000) {
      await connection.run(`INSERT INTO t VALUES ${values.slice(i, i + 10_000).join(', ')}`);
    }
    await connection.run(`COPY t TO '${path}' (FORMAT parquet)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function snapshot(tenant: string, dataset: string, path: string): DatasetSnapshot {
  return { tenant, dataset, format: 'parquet', version: `${dataset}-v1`, files: [{ path, size: 0, etag: 'x' }] };
}

runEngineConformance({ describe, it, beforeAll, afterAll }, 'duckdb', {
  async setup(tables) {
    const root = await mkdtemp(join(tmpdir(), 'lakegate-duckdb-kit-'));
    const dir = join(root, KIT_TENANT);
    await mkdir(dir);
    const bindings: TableBinding[] = [];
    for (const [name, table] of Object.entries(tables)) {
      const path = join(dir, `${name}.parquet`);
      await writeParquet(table, path);
      bindings.push({ name, snapshot: snapshot(KIT_TENANT, name, path) });
    }
    const storage: StorageAccess = { tenantDirectories: (tenant) => [join(root, tenant)] };
    const parsed = duckdbEngineFactory.parseConfig({ threads: 1 });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const engine = await duckdbEngineFactory.create(parsed.config, { storage });
    return {
      engine,
      tables: bindings,
      slowQuery: 'SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3',
      teardown: () => rm(root, { recursive: true, force: true }),
    };
  },
});

describe('duckdb engine', () => {
  let root: string;
  const storage: StorageAccess = { tenantDirectories: (tenant) => [join(root, tenant)] };
  const signal = new AbortController().signal;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-duckdb-'));
    for (const tenant of ['alpha', 'beta']) {
      await mkdir(join(root, tenant));
      await writeParquet(
        {
          columns: [{ name: 'owner', type: { kind: 'string', sqlType: 'VARCHAR' } }],
          rows: [[tenant]],
        },
        join(root, tenant, 'data.parquet'),
      );
    }
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const request = (tenant: string, sql: string) => ({
    queryId: 'q',
    tenant,
    sql,
    tables: [{ name: 'data', snapshot: snapshot(tenant, 'data', join(root, tenant, 'data.parquet')) }],
  });

  it('parses its config and lists every problem', () => {
    expect(duckdbEngineFactory.parseConfig(undefined).ok).toBe(true);
    const bad = duckdbEngineFactory.parseConfig({ threads: 0, memoryLimit: 'lots', colour: 'red' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems).toHaveLength(3);
  });

  it('converts every common DuckDB type to the batch representation', async () => {
    await using engine = await duckdbEngineFactory.create(
      { threads: 1, memoryLimit: '256MB', maxInstances: 2 },
      { storage },
    );
    const stream = await engine.execute(
      request(
        'alpha',
        `SELECT 42::INTEGER i, 9007199254740993::BIGINT b, 1.5::DOUBLE d, 12.30::DECIMAL(10,2) dc, 'x' s,
         DATE '2024-03-01' dt, TIMESTAMP '2024-03-01 12:34:56.789' ts, INTERVAL 90 MINUTE iv,
         [1, NULL, 3] l, {'a': 1, 'b': 'z'} st, NULL::VARCHAR n, true bo`,
      ),
      { signal },
    );
    expect(stream.schema.map((c) => c.type.kind)).toEqual([
      'integer',
      'bigint',
      'float',
      'decimal',
      'string',
      'date',
      'timestamp',
      'interval',
      'list',
      'struct',
      'string',
      'boolean',
    ]);
    const [row] = await collectRows(stream);
    expect(row).toEqual([
      42,
      9007199254740993n,
      1.5,
      '12.30',
      'x',
      19783,
      1709296496789000n,
      'PT5400S',
      [1, null, 3],
      { a: 1, b: 'z' },
      null,
      true,
    ]);
  });

  it('gives each tenant its own instance, which cannot read the other tenant’s files', async () => {
    await using engine = await duckdbEngineFactory.create(
      { threads: 1, memoryLimit: '256MB', maxInstances: 4 },
      { storage },
    );
    expect(await collectRows(await engine.execute(request('alpha', 'SELECT owner FROM data'), { signal }))).toEqual([
      ['alpha'],
    ]);
    expect(await collectRows(await engine.execute(request('beta', 'SELECT owner FROM data'), { signal }))).toEqual([
      ['beta'],
    ]);
    const other = join(root, 'beta', 'data.parquet');
    await expect(
      engine.execute(request('alpha', `SELECT * FROM read_parquet('${other}')`), { signal }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN_STATEMENT',
    });
    await expect(
      engine.execute(request('alpha', "SELECT * FROM read_csv('/etc/passwd')"), { signal }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN_STATEMENT',
    });
    expect(engine.stats().gauges?.instancesOpen).toBe(2);
  });

  it('refuses writes, settings and multiple statements before they run', async () => {
    await using engine = await duckdbEngineFactory.create(
      { threads: 1, memoryLimit: '256MB', maxInstances: 2 },
      { storage },
    );
    for (const sql of [
      `COPY (SELECT 1) TO '${join(root, 'alpha', 'out.csv')}'`,
      `ATTACH '${join(root, 'alpha', 'x.duckdb')}'`,
      'SET threads = 8',
      'CREATE TABLE t AS SELECT 1',
      'DROP VIEW data',
      'SELECT 1; SELECT 2',
      'SELECT 1; -- hidden\nDROP VIEW data',
    ]) {
      await expect(engine.execute(request('alpha', sql), { signal }), sql).rejects.toMatchObject({
        code: 'FORBIDDEN_STATEMENT',
      });
    }
    expect(await collectRows(await engine.execute(request('alpha', 'SELECT count(*) FROM data'), { signal }))).toEqual([
      [1n],
    ]);
  });

  it('closes the least recently used idle instance beyond maxInstances', async () => {
    await using engine = await duckdbEngineFactory.create(
      { threads: 1, memoryLimit: '256MB', maxInstances: 1 },
      { storage },
    );
    await collectRows(await engine.execute(request('alpha', 'SELECT 1'), { signal }));
    await collectRows(await engine.execute(request('beta', 'SELECT 1'), { signal }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(engine.stats().gauges?.instancesOpen).toBe(1);
    expect(await collectRows(await engine.execute(request('alpha', 'SELECT owner FROM data'), { signal }))).toEqual([
      ['alpha'],
    ]);
  });
});
