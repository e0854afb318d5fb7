import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';

/** The per-tenant result cache: hits for repeated queries, invalidated by a refresh, never shared across tenants. */
describe('result cache', () => {
  let root: string;
  let gateway: RunningGateway;
  const write = async (tenant: string, value: number) => {
    const staging = join(root, tenant, '.staging.parquet');
    await writeParquet(staging, `SELECT ${value} AS v, i FROM range(${1000 + value}) t(i)`);
    await rename(staging, join(root, tenant, 'p.parquet'));
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-result-cache-'));
    for (const tenant of ['acme', 'globex']) await mkdir(join(root, tenant));
    await write('acme', 1);
    await write('globex', 7);
    const dataset = (tenant: string) => ({
      data: { location: `file:./${tenant}/`, format: 'parquet', refreshIntervalSeconds: 3600 },
    });
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        tenants: {
          acme: { apiKeys: ['acme-cache-key'], datasets: dataset('acme'), resultCache: { enabled: true } },
          globex: { apiKeys: ['globex-cache-key'], datasets: dataset('globex'), resultCache: { enabled: true } },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  const query = async (key: string, sql = 'SELECT max(v), count(*) FROM data') => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}` },
      body: JSON.stringify({ sql }),
    });
    return (await response.json()) as { rows: unknown[][]; stats: { cache?: string } };
  };

  it('answers a repeated query from the cache, and a refreshed dataset afresh', async () => {
    const first = await query('acme-cache-key');
    expect(first).toMatchObject({ rows: [[1, 1001]], stats: { cache: 'miss' } });
    const second = await query('acme-cache-key');
    expect(second).toMatchObject({ rows: [[1, 1001]], stats: { cache: 'hit' } });

    await write('acme', 2);
    // Not refreshed yet: the cached answer is still the current version's (written from the bytes kept at the
    // first hit, with a trailer of its own).
    expect(await query('acme-cache-key')).toMatchObject({ rows: [[1, 1001]], stats: { cache: 'hit' } });
    await fetch(`${gateway.url}/v1/datasets/data/refresh`, {
      method: 'POST',
      headers: { Authorization: 'Bearer acme-cache-key' },
    });
    expect(await query('acme-cache-key')).toMatchObject({ rows: [[2, 1002]], stats: { cache: 'miss' } });
    expect((await query('acme-cache-key')).stats.cache).toBe('hit');
  });

  it('never caches the catalog tables, whose rows follow the datasets’ columns', async () => {
    const columns = "SELECT column_name FROM information_schema.columns WHERE table_name = 'data' ORDER BY 1";
    const first = await query('globex-cache-key', columns);
    expect(first.rows).toEqual([['i'], ['v']]);
    expect(first.stats.cache).toBeUndefined();
    expect((await query('globex-cache-key', columns)).stats.cache).toBeUndefined();
  });

  it('never caches a query whose result changes between runs', async () => {
    for (const sql of [
      'SELECT count(*) FROM data WHERE random() < 2',
      'SELECT count(*), current_date AS day FROM data',
      "SELECT count(*) FROM data WHERE now() > TIMESTAMP '2000-01-01'",
    ]) {
      expect((await query('globex-cache-key', sql)).stats.cache, sql).toBeUndefined();
      expect((await query('globex-cache-key', sql)).stats.cache, sql).toBeUndefined();
    }
  });

  it('keys the exact text: texts a normalisation would merge are different queries', async () => {
    const pairs: [string, string][] = [
      ['SELECT typeof(1), 1', 'SELECT typeof(1e0), 1e0'],
      ["SELECT 'a\\x41' AS s", "SELECT E'a\\x41' AS s"],
      ['SELECT max(v) FROM data', 'select MAX(v)  -- same meaning, other text\n from data'],
    ];
    for (const [first, second] of pairs) {
      const a = await query('acme-cache-key', first);
      expect((await query('acme-cache-key', first)).stats.cache).toBe('hit');
      const b = await query('acme-cache-key', second);
      expect(b.stats.cache).toBe('miss');
      if (first.includes('typeof')) expect([a.rows, b.rows]).toEqual([[['INTEGER', 1]], [['DOUBLE', 1]]]);
      if (first.includes('x41')) expect([a.rows, b.rows]).toEqual([[['a\\x41']], [['aA']]]);
    }
  });

  it('never shares results across tenants', async () => {
    await query('acme-cache-key');
    expect(await query('globex-cache-key')).toMatchObject({ rows: [[7, 1007]], stats: { cache: 'miss' } });
    expect(await query('globex-cache-key')).toMatchObject({ rows: [[7, 1007]], stats: { cache: 'hit' } });
  });
});
