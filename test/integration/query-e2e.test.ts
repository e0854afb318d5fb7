import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDuckDB, writeParquet } from '../support/duckdb-data.js';

const KEYS = { acme: 'acme-e2e-key-1', globex: 'globex-e2e-key-1' } as const;

/** POST /v1/query end to end: HTTP server, auth, storage snapshots, a real locked-down DuckDB per tenant. */
describe('POST /v1/query on DuckDB, end to end', () => {
  let root: string;
  let gateway: RunningGateway;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-e2e-'));
    for (const [tenant, seed] of [
      ['acme', 1],
      ['globex', 2],
    ] as const) {
      await mkdir(join(root, 'data', tenant, 'orders'), { recursive: true });
      for (const part of [0, 1]) {
        await writeParquet(
          join(root, 'data', tenant, 'orders', `part-${part}.parquet`),
          `SELECT i AS id, '${tenant}' AS tenant, (hash(i, ${seed}) % 1000)::INTEGER AS amount,
                  DATE '2026-01-01' + (i % 30)::INTEGER AS day
           FROM range(${part * 5000}, ${(part + 1) * 5000}) t(i)`,
        );
      }
    }
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache') },
        engines: { duckdb: { threads: 1, memoryLimit: '512MB' } },
        tenants: Object.fromEntries(
          (['acme', 'globex'] as const).map((tenant) => [
            tenant,
            {
              apiKeys: [KEYS[tenant]],
              datasets: { orders: { location: `file:./data/${tenant}/orders/`, format: 'parquet' } },
            },
          ]),
        ),
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });

  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  const query = (sql: string, tenant: keyof typeof KEYS = 'acme', extra: Record<string, unknown> = {}) =>
    fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEYS[tenant]}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ sql, ...extra }),
    });

  it('answers an aggregate exactly as DuckDB does on the same files', async () => {
    const sql = 'SELECT day, count(*) AS n, sum(amount) AS total FROM orders GROUP BY day ORDER BY day';
    const response = await query(sql);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { rows: unknown[][]; columns: { name: string; type: string }[] };
    expect(body.columns).toEqual([
      { name: 'day', type: 'DATE' },
      { name: 'n', type: 'BIGINT' },
      { name: 'total', type: 'HUGEINT' },
    ]);
    const expected = await withDuckDB((run) =>
      run(
        `SELECT strftime(day, '%Y-%m-%d'), count(*)::INTEGER, sum(amount)::INTEGER
         FROM read_parquet('${join(root, 'data', 'acme', 'orders', '*.parquet')}') GROUP BY day ORDER BY day`,
      ),
    );
    expect(body.rows).toEqual(expected);
    expect(body.rows).toHaveLength(30);
  });

  it('reads every file of the dataset folder', async () => {
    const body = (await (await query('SELECT count(*), min(id), max(id) FROM orders')).json()) as { rows: unknown[][] };
    expect(body.rows).toEqual([[10000, 0, 9999]]);
  });

  it('gives each tenant its own data under the same name', async () => {
    const rows = async (tenant: keyof typeof KEYS) =>
      ((await (await query('SELECT DISTINCT tenant FROM orders', tenant)).json()) as { rows: unknown[][] }).rows;
    expect(await rows('acme')).toEqual([['acme']]);
    expect(await rows('globex')).toEqual([['globex']]);
  });

  it('refuses to read another tenant’s files or the host’s', async () => {
    for (const path of [join(root, 'data', 'globex', 'orders', 'part-0.parquet'), '/etc/passwd']) {
      const response = await query(`SELECT * FROM read_csv('${path}')`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN_STATEMENT');
    }
    const traversal = await query(
      `SELECT * FROM read_parquet('${join(root, 'data', 'acme', 'orders', '..', '..', 'globex', 'orders', '*.parquet')}')`,
    );
    expect(traversal.status).toBe(400);
  });

  it('reports SQL errors with a 4xx, a code and the position', async () => {
    const syntax = await query('SELECT count(* FROM orders');
    expect(syntax.status).toBe(400);
    const body = (await syntax.json()) as { error: { code: string; message: string; details: { line: number } } };
    expect(body.error.code).toBe('INVALID_SQL');
    expect(body.error.details.line).toBe(1);
    const unknown = await query('SELECT * FROM invoices');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('UNKNOWN_TABLE');
    const column = await query('SELECT nope FROM orders');
    expect(column.status).toBe(400);
  });

  it('streams a large result as NDJSON and stops at maxRows', async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEYS.acme}`, Accept: 'application/x-ndjson' },
      body: JSON.stringify({ sql: 'SELECT id, day FROM orders ORDER BY id', maxRows: 7000 }),
    });
    const lines = (await response.text()).trim().split('\n');
    expect(lines).toHaveLength(7002);
    expect(JSON.parse(lines[1] ?? '')).toEqual([0, '2026-01-01']);
    expect(JSON.parse(lines.at(-1) ?? '')).toMatchObject({
      stats: { rowCount: 7000, truncated: true, engine: 'duckdb' },
    });
  });

  it('refuses to start when a tenant’s default engine does not exist, naming it', async () => {
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache-bad-engine') },
        tenants: { acme: { apiKeys: ['acme-bad-engine-key'], defaultEngine: 'spark', datasets: {} } },
      },
      { baseDir: root },
    );
    await expect(startGateway({ config, logger: silentLogger })).rejects.toThrow(
      /tenants\.acme\.defaultEngine: "spark"/,
    );
  });
});
