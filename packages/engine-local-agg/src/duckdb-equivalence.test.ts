import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collectRows, type Engine, type FileTableBinding, type QueryRequest } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAggEngine } from './local-agg-engine.js';
import { bindFiles, seededRandom, tempFolder } from './test-support.js';

const TENANT = 'acme';

const pick = <T>(next: () => number, items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;

/** API-traffic-like rows: timestamps, strings with NULLs, integers with NULLs, decimals, booleans, dates. */
function trafficCsv(seed: number, rows: number): string {
  const next = seededRandom(seed);
  const start = Date.UTC(2026, 0, 1);
  const lines = ['ts,org,proxy,status,latency,size,cached,day'];
  for (let i = 0; i < rows; i++) {
    const ts = new Date(start + Math.floor((i * 6 * 3_600_000) / rows) + Math.floor(next() * 1000));
    const text = ts.toISOString().replace('T', ' ').slice(0, 23);
    const org = next() < 0.05 ? '' : `org-${Math.floor(next() ** 2 * 7)}`;
    const proxy = pick(next, ['orders', 'payments', 'search', 'users', 'cart', 'auth']);
    const status = pick(next, [200, 200, 200, 200, 201, 404, 429, 500, 503]);
    const latency = next() < 0.03 ? '' : String(Math.floor(Math.exp(next() * 7)));
    const size = (Math.floor(next() * 100_000) / 100).toFixed(2);
    const cached = next() < 0.3 ? 'true' : 'false';
    const day = text.slice(0, 10);
    lines.push([text, org, proxy, status, latency, size, cached, day].join(','));
  }
  return `${lines.join('\n')}\n`;
}

const DIMENSIONS = [
  'org',
  'proxy',
  'status',
  'cached',
  'day',
  "time_bucket(INTERVAL '5 minutes', ts)",
  "time_bucket(INTERVAL '15 minutes', ts)",
  "date_trunc('hour', ts)",
];

const AGGREGATES = [
  'count(*)',
  'count(latency)',
  'count(DISTINCT proxy)',
  'count(DISTINCT latency)',
  'sum(latency)',
  'sum(status)',
  'min(latency)',
  'max(latency)',
  'min(ts)',
  'max(org)',
  'min(day)',
  'avg(latency)',
  'quantile_cont(latency, 0.5)',
  'quantile_cont(latency, 0.95)',
  'quantile_cont(latency, 0.99)',
  'median(status)',
  'percentile_cont(0.9) WITHIN GROUP (ORDER BY latency)',
  'quantile_cont(size, 0.25)',
  'max(size)',
  'count(*) FILTER (WHERE status >= 500)',
  'sum(latency) FILTER (WHERE cached)',
  'count(*) FILTER (WHERE latency < 100)',
  'sum(size) FILTER (WHERE latency <> 7)',
];

const PREDICATES = [
  "org = 'org-1'",
  "org <> 'org-0'",
  "org IN ('org-2', 'org-3', 'org-9')",
  'org IS NULL',
  'org IS NOT NULL',
  "proxy LIKE 'p%'",
  "proxy NOT LIKE '%s'",
  'status >= 400',
  'status BETWEEN 200 AND 299',
  'status NOT IN (200, 201)',
  'latency > 50',
  'latency <= 10',
  'size < 250.5',
  'cached',
  'NOT cached',
  "ts >= TIMESTAMP '2026-01-01 02:00:00'",
  "ts < '2026-01-01 04:30:00'",
  "day = DATE '2026-01-01'",
];

function randomPredicate(next: () => number, depth = 0): string {
  const r = next();
  if (depth < 2 && r < 0.2) return `(${randomPredicate(next, depth + 1)} AND ${randomPredicate(next, depth + 1)})`;
  if (depth < 2 && r < 0.35) return `(${randomPredicate(next, depth + 1)} OR ${randomPredicate(next, depth + 1)})`;
  if (depth < 2 && r < 0.42) return `NOT (${randomPredicate(next, depth + 1)})`;
  return pick(next, PREDICATES);
}

/** A random aggregation whose answer is deterministic: ordered by every dimension when LIMIT is used. */
function randomQuery(seed: number): string {
  const next = seededRandom(seed);
  const dims = DIMENSIONS.filter(() => next() < 0.3).slice(0, 3);
  const aggs = AGGREGATES.filter(() => next() < 0.25);
  if (aggs.length === 0) aggs.push(pick(next, AGGREGATES));
  const items = [...dims.map((d, i) => `${d} AS d${i}`), ...aggs.map((a, i) => `${a} AS a${i}`)];
  let sql = `SELECT ${items.join(', ')} FROM traffic`;
  if (next() < 0.6) sql += ` WHERE ${randomPredicate(next)}`;
  if (dims.length > 0) sql += ` GROUP BY ${dims.map((_, i) => `d${i}`).join(', ')}`;
  if (dims.length > 0 && next() < 0.2) sql += ` HAVING count(*) > ${Math.floor(next() * 20)}`;
  if (dims.length > 0 && next() < 0.4) {
    const directions = dims.map((_, i) => `${i + 1} ${next() < 0.5 ? 'DESC' : 'ASC'}`);
    sql += ` ORDER BY ${directions.join(', ')} LIMIT ${1 + Math.floor(next() * 30)}`;
  }
  return sql;
}

const stableKey = (row: readonly unknown[]): string =>
  JSON.stringify(row, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));

/** Exact integers compare exactly; doubles up to the rounding that summation order brings. */
function expectSameRows(actual: unknown[][], expected: unknown[][], context: string, ordered: boolean): void {
  expect(actual.length, context).toBe(expected.length);
  const sort = (rows: unknown[][]) =>
    ordered ? rows : [...rows].sort((a, b) => (stableKey(a) < stableKey(b) ? -1 : 1));
  const a = sort(actual.map((r) => r.map((v) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v))));
  const e = sort(expected.map((r) => r.map((v) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v))));
  a.forEach((row, i) => {
    const other = e[i] as unknown[];
    row.forEach((value, j) => {
      const wanted = other[j];
      if (typeof value === 'number' && typeof wanted === 'number' && !Number.isInteger(wanted))
        expect(value, `${context} row ${i} column ${j}`).toBeCloseTo(wanted, 6);
      else expect(value, `${context} row ${i} column ${j}`).toEqual(wanted);
    });
  });
}

describe('local-agg gives DuckDB answers', () => {
  let folder: Awaited<ReturnType<typeof tempFolder>>;
  let local: Engine;
  let duckdb: Engine;
  let binding: FileTableBinding;
  const request = (sql: string): QueryRequest => ({
    queryId: `q-${Math.random().toString(36).slice(2)}`,
    tenant: TENANT,
    sql,
    tables: [binding],
  });
  const rows = async (engine: Engine, sql: string) =>
    collectRows(await engine.execute(request(sql), { signal: new AbortController().signal }));
  /** A table `name` of one CSV file holding `text`, and a runner of SQL over it on either engine. */
  const csvTable = async (name: string, text: string) => {
    const path = join(folder.dir, `${name}.csv`);
    await writeFile(path, text);
    const table = await bindFiles(TENANT, name, 'csv', [path]);
    return async (engine: Engine, sql: string) =>
      collectRows(
        await engine.execute(
          { queryId: name, tenant: TENANT, sql, tables: [table] },
          { signal: new AbortController().signal },
        ),
      );
  };

  beforeAll(async () => {
    folder = await tempFolder('local-agg-equivalence-');
    const paths = [1, 2, 3].map((i) => join(folder.dir, `part-${i}.csv`));
    await Promise.all(paths.map((path, i) => writeFile(path, trafficCsv(i + 7, 8000))));
    binding = await bindFiles(TENANT, 'traffic', 'csv', paths);
    const storage = { tenantDirectories: () => [folder.dir] };
    // inlineBytes 1 and small ranges: every query runs on the worker threads over several ranges per file, and
    // shareGroups 1: every grouped result is merged and finished in shares across the workers.
    local = new LocalAggEngine({ threads: 2, inlineBytes: 1, rangeBytes: 100_000, shareGroups: 1 }, { storage });
    const parsed = duckdbEngineFactory.parseConfig({ threads: 1, memoryLimit: '256MB' });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    duckdb = await duckdbEngineFactory.create(parsed.config, { storage });
  });
  afterAll(async () => {
    await local?.close();
    await duckdb?.close();
    await folder?.remove();
  });

  it('sniffs the same column types as DuckDB', async () => {
    const ours = await local.execute(request('SELECT * FROM traffic LIMIT 1'), {
      signal: new AbortController().signal,
    });
    const theirs = await duckdb.execute(request('SELECT * FROM traffic LIMIT 1'), {
      signal: new AbortController().signal,
    });
    expect(ours.schema.map((c) => [c.name, c.type.sqlType])).toEqual(
      theirs.schema.map((c) => [c.name, c.type.sqlType]),
    );
    await ours.close();
    await theirs.close();
  });

  it('scans with a filter and a limit like DuckDB', async () => {
    const sql = "SELECT ts, org, latency, cached FROM traffic WHERE org = 'org-2' AND latency > 100";
    expectSameRows(await rows(local, sql), await rows(duckdb, sql), sql, false);
  });

  it('reads fields of every shape like DuckDB: timestamp lengths, quotes, signs, empty fields', async () => {
    // The decoder's fast path assumes unquoted fields and timestamps as long as the previous one; every other
    // shape must take the general path and still read as DuckDB reads it.
    const stamps = [
      '2026-03-01 10:00:00.123',
      '2026-03-01 10:00:00',
      '2026-03-01T10:00:01.5',
      '2026-03-01 10:00:02.123456',
      '2026-03-01 10:00',
      '2026-03-01 10:00:03.12',
      '"2026-03-01 10:00:04.001"',
      '',
    ];
    const next = seededRandom(99);
    const lines = ['ts,name,n,x'];
    for (let i = 0; i < 400; i++) {
      const ts = pick(next, stamps);
      const name = pick(next, ['a', 'bb', '"q,uoted"', '"say ""hi"""', '', '""', 'ccc']);
      const n = pick(next, ['7', '-12', '5', '0', '', '"42"', '-0', '123456789012']);
      const x = pick(next, ['1.5', '-2.25', '', '3', '"4.5"', '1e3']);
      lines.push([ts, name, n, x].join(','));
    }
    const run = await csvTable('shapes', `${lines.join('\n')}\n`);
    for (const sql of [
      'SELECT ts, name, n, x FROM shapes',
      "SELECT name, time_bucket(INTERVAL '1 second', ts) AS s, count(*), sum(n), min(n), max(x), count(ts) FROM shapes GROUP BY 1, 2",
    ])
      expectSameRows(await run(local, sql), await run(duckdb, sql), sql, false);
  });

  it('reads a quote inside an unquoted field as a character, as DuckDB does, not as the start of a quoted field', async () => {
    const run = await csvTable('inches', 'a,b\n5" screen,1\nplain,2\nx"y,3\n"quoted, with comma",4\n"say ""hi""",5\n');
    for (const sql of ['SELECT count(*), sum(b) FROM inches', 'SELECT a, sum(b) FROM inches GROUP BY a'])
      expectSameRows(await run(local, sql), await run(duckdb, sql), sql, false);
    expect(await run(local, 'SELECT count(*) FROM inches')).toEqual([[5n]]);
  });

  it('leaves to DuckDB a GROUP BY name that is both a column and an alias, which DuckDB takes for the column', async () => {
    // Grouped by the raw timestamp in DuckDB, so one row per distinct ts, each with its hour: not one row per hour.
    const sql = "SELECT time_bucket(INTERVAL '1 hour', ts) AS ts, count(*) AS n FROM traffic GROUP BY ts";
    expect((await local.check(request(sql))).supported, sql).toBe(false);
    // An alias that is no column is grouped by as before, as DuckDB does too.
    const hourly = "SELECT time_bucket(INTERVAL '1 hour', ts) AS hour, count(*) AS n FROM traffic GROUP BY hour";
    expect((await local.check(request(hourly))).supported).toBe(true);
    expectSameRows(await rows(local, hourly), await rows(duckdb, hourly), hourly, false);
  });

  it('groups -0 with 0, as DuckDB does', async () => {
    const run = await csvTable(
      'zeros',
      `x,n\n${['-0.0', '0.0', '-0', '0', '1.5', '-0.0'].map((x, i) => `${x},${i}`).join('\n')}\n`,
    );
    const sql = 'SELECT x, count(*) AS c, sum(n) AS s FROM zeros GROUP BY x ORDER BY c';
    const counts = (rows: unknown[][]) => rows.map((row) => [row[1], row[2]]);
    expect(counts(await run(local, sql))).toEqual(counts(await run(duckdb, sql)));
    expect(counts(await run(local, sql))).toEqual([
      [1n, 4n],
      [5n, 11n],
    ]);
  });

  it('answers 150 random aggregations exactly as DuckDB', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const sql = randomQuery(seed);
      expect((await local.check(request(sql))).supported, `seed ${seed}: ${sql}`).toBe(true);
      const [ours, theirs] = await Promise.all([rows(local, sql), rows(duckdb, sql)]);
      expectSameRows(ours, theirs, `seed ${seed}: ${sql}`, / ORDER BY \d/.test(sql));
    }
  }, 120_000);

  it('keeps approx_quantile within the t-digest bound of the exact quantile', async () => {
    const sql = (fn: string) => `SELECT proxy, ${fn} AS p FROM traffic GROUP BY proxy ORDER BY proxy`;
    const exact = await rows(duckdb, sql('quantile_cont(latency, 0.9)'));
    const approx = await rows(local, sql('approx_quantile(latency, 0.9)'));
    const ranks = await rows(
      duckdb,
      'SELECT proxy, list_sort(list(latency)) FROM traffic WHERE latency IS NOT NULL GROUP BY proxy ORDER BY proxy',
    );
    approx.forEach((row, i) => {
      const sorted = ((ranks[i] as unknown[])[1] as bigint[]).map(Number);
      const estimate = Number(row[1]);
      const rank = sorted.filter((v) => v <= estimate).length / sorted.length;
      expect(Math.abs(rank - 0.9), `proxy ${String(row[0])}: exact ${String(exact[i]?.[1])}`).toBeLessThan(0.02);
    });
  });

  it('declines what it does not run, so the gateway can route elsewhere', async () => {
    for (const sql of [
      'SELECT t1.org FROM traffic t1 JOIN traffic t2 ON t1.org = t2.org',
      'SELECT org, count(*) OVER () FROM traffic',
      'SELECT latency + 1 FROM traffic',
      'SELECT sum(org) FROM traffic',
      'WITH x AS (SELECT * FROM traffic) SELECT count(*) FROM x',
    ]) {
      const check = await local.check(request(sql));
      expect(check.supported, sql).toBe(false);
    }
  });
});
