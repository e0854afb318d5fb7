/**
 * The DuckDB engine against raw @duckdb/node-api, in the same run, on the same Parquet files:
 *  1. engine overhead on aggregate queries of the 10 ms and the 1 s class (goal: at most 1.05x raw);
 *  2. result streaming rate for a 1M-row x 5-column result (rows/s, MB/s of NDJSON), beside raw chunk streaming
 *     and the row-object helpers;
 *  3. mixed load: p50/p99 of a short query while N long queries run, beside the short query alone (goal: p99 at
 *     most 3x alone).
 *
 *   npm run bench -w @lakegate/bench -- duckdb-engine
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Engine, QueryRequest, StorageAccess } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { writeResult } from '@lakegate/gateway';
import { writeParquet } from '../test/support/duckdb-data.js';
import { ms, report, summarise, time, timePaired } from './support.js';

const THREADS = 2;
const root = join(import.meta.dirname, '.data', 'duckdb-engine');
const tenants = ['t1', 't2', 't3', 't4', 't5'];
const ROWS = 20_000_000;
const files = [0, 1, 2, 3].map((i) => join(root, 't1', `part-${i}.parquet`));

for (const tenant of tenants) await mkdir(join(root, tenant), { recursive: true });
for (const [i, path] of files.entries()) {
  if (existsSync(path)) continue;
  const n = ROWS / files.length;
  await writeParquet(
    path,
    `SELECT i, (hash(i) % 1000)::INTEGER AS g, (hash(i, 1) % 100000)::BIGINT AS u, (hash(i, 2) % 10000) / 100.0 AS v,
            'name-' || (i % 5000) AS s, DATE '2026-01-01' + (i % 365)::INTEGER AS d
     FROM range(${i * n}, ${(i + 1) * n}) t(i)`,
  );
}
// Every tenant reads the same bytes (its own copies would only cost disk): one folder allowed per tenant.
const storage: StorageAccess = { tenantDirectories: (tenant) => [join(root, tenant === 't1' ? 't1' : 't1')] };
const snapshot = (tenant: string) => ({
  tenant,
  dataset: 'events',
  format: 'parquet' as const,
  version: 'v1',
  files: files.map((path) => ({ path, size: 0, etag: 'v1' })),
});
const request = (sql: string, tenant = 't1', maxRows?: number): QueryRequest => ({
  queryId: 'bench',
  tenant,
  sql,
  tables: [{ name: 'events', snapshot: snapshot(tenant) }],
  ...(maxRows === undefined ? {} : { maxRows }),
});

const parsed = duckdbEngineFactory.parseConfig({ threads: THREADS, memoryLimit: '4GB', connections: 8 });
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const engine: Engine = await duckdbEngineFactory.create(parsed.config, { storage });
const signal = new AbortController().signal;
const viaEngine = async (sql: string, tenant = 't1'): Promise<number> => {
  let rows = 0;
  for await (const batch of await engine.execute(request(sql, tenant), { signal })) rows += batch.rowCount;
  return rows;
};

const raw = await DuckDBInstance.create(':memory:', { threads: String(THREADS), memory_limit: '4GB' });
const rawConnection = await raw.connect();
await rawConnection.run('SET GLOBAL parquet_metadata_cache = true');
await rawConnection.run(
  `CREATE VIEW events AS SELECT * FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}], union_by_name = true)`,
);
const viaRaw = async (sql: string): Promise<number> => {
  const result = await rawConnection.stream(sql);
  let rows = 0;
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    chunk.getColumns();
    rows += chunk.rowCount;
  }
  return rows;
};

try {
  // 1. Overhead on aggregates.
  const classes: [string, string, number][] = [
    ['10 ms class', 'SELECT g, count(*), sum(v) FROM events WHERE i < 300000 GROUP BY g ORDER BY g', 30],
    ['1 s class', 'SELECT g, count(DISTINCT u), sum(v), avg(v), max(s) FROM events GROUP BY g ORDER BY g', 6],
  ];
  for (const [name, sql, runs] of classes) {
    const [e, r] = await timePaired(
      () => viaEngine(sql),
      () => viaRaw(sql),
      runs,
      2,
    );
    const es = summarise(e);
    const rs = summarise(r);
    report(`duckdb-engine overhead, ${name} aggregate, ${runs} paired runs, ${THREADS} threads`, [
      ['engine median', ms(es.median)],
      ['raw @duckdb/node-api median (baseline)', ms(rs.median)],
      ['ratio engine/raw', `${(es.median / rs.median).toFixed(3)}x`],
    ]);
  }

  // 2. Streaming a 1M-row, 5-column result.
  const wide = 'SELECT i, v, s, d, u FROM events WHERE i < 1000000';
  const engineStream = summarise(await time(() => viaEngine(wide), 5, 0));
  const rawStream = summarise(await time(() => viaRaw(wide), 5, 1));
  const objects = summarise(
    await time(
      async () => {
        const reader = await rawConnection.runAndReadAll(wide);
        reader.getRowObjectsJson();
      },
      3,
      1,
    ),
  );
  // The same result as NDJSON, written by the gateway's result writer, for MB/s on the wire.
  let ndjsonBytes = 0;
  const ndjsonStart = performance.now();
  const body = await writeResult(await engine.execute(request(wide, 't1', 1_000_001), { signal }), {
    format: 'ndjson',
    maxRows: 1_000_000,
    requestId: 'bench',
    stats: () => ({ elapsedMs: 0, engine: 'duckdb' }),
  });
  // A result this large streams (a small one would come whole).
  if (body.body instanceof Uint8Array) ndjsonBytes = body.body.byteLength;
  else for await (const chunk of body.body) ndjsonBytes += chunk.byteLength;
  const ndjsonMs = performance.now() - ndjsonStart;
  report('duckdb-engine streaming, 1M rows x 5 columns (BIGINT, DOUBLE, VARCHAR, DATE, BIGINT)', [
    [
      'engine batches, median',
      `${ms(engineStream.median)} = ${(1e6 / (engineStream.median / 1000) / 1e6).toFixed(2)} M rows/s`,
    ],
    ['raw chunk streaming + getColumns (baseline)', ms(rawStream.median)],
    ['raw runAndReadAll + getRowObjectsJson', ms(objects.median)],
    [
      'engine + gateway NDJSON writer',
      `${ms(ndjsonMs)} = ${(1e6 / (ndjsonMs / 1000) / 1e6).toFixed(2)} M rows/s, ${(ndjsonBytes / 1e6 / (ndjsonMs / 1000)).toFixed(1)} MB/s (${(ndjsonBytes / 1e6).toFixed(1)} MB)`,
    ],
  ]);

  // 3. Mixed load, on an engine with its default settings. Long queries are recurring (dashboards repeat
  // theirs): each runs once before measuring, as the engine learns a query's cost from its previous run.
  const defaults = duckdbEngineFactory.parseConfig({ memoryLimit: '4GB' });
  if (!defaults.ok) throw new Error(defaults.problems.join('; '));
  const mixedEngine = await duckdbEngineFactory.create(defaults.config, { storage });
  const viaMixed = async (sql: string, tenant: string): Promise<void> => {
    for await (const batch of await mixedEngine.execute(request(sql, tenant), { signal })) void batch;
  };
  const shortSql = 'SELECT count(*) FROM events WHERE i < 100000';
  const longSql = 'SELECT g, count(DISTINCT u), sum(v) FROM events WHERE i < 8000000 GROUP BY g';
  const alone = summarise(await time(() => viaMixed(shortSql, 't5'), 100, 5));
  const rows: [string, string][] = [['short query alone: p50 / p99', `${ms(alone.median)} / ${ms(alone.p99)}`]];
  const longAlone = summarise(await time(() => viaMixed(longSql, 't1'), 1, 0));
  rows.push(['a long query alone', ms(longAlone.median)]);
  for (const tenant of tenants.slice(0, 4)) await viaMixed(longSql, tenant);
  for (const n of [2, 4, 8]) {
    let stop = false;
    let finished = 0;
    const longs = Array.from({ length: n }, async (_, i) => {
      while (!stop) {
        await viaMixed(longSql, tenants[i % 4] ?? 't1');
        finished++;
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const loaded = summarise(await time(() => viaMixed(shortSql, 't5'), 100, 0));
    stop = true;
    await Promise.all(longs);
    rows.push([
      `short query with ${n} long queries submitted: p50 / p99`,
      `${ms(loaded.median)} / ${ms(loaded.p99)} (p99 ${(loaded.p99 / alone.p99).toFixed(2)}x alone; ${finished} long queries finished)`,
    ]);
  }
  report(
    `duckdb-engine mixed load (long: GROUP BY over 8M rows; defaults: ${defaults.config.threads} thread(s) per tenant, ${defaults.config.longQueryConcurrency} long query at a time; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4'})`,
    rows,
  );
  await mixedEngine.close();
} finally {
  rawConnection.closeSync();
  raw.closeSync();
  await engine.close();
}
