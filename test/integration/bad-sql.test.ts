import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';

const KEY = 'bad-sql-key-1';

/** Bad SQL of every kind gets a 4xx whose message points at the problem; none gets a 500. */
describe('bad SQL through POST /v1/query', () => {
  let root: string;
  let gateway: RunningGateway;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-bad-sql-'));
    await mkdir(join(root, 'events'));
    await writeParquet(
      join(root, 'events', 'p.parquet'),
      "SELECT i AS id, 'x' || i AS name, i * 1.5 AS amount FROM range(10) t(i)",
    );
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        engines: { duckdb: { threads: 1, memoryLimit: '256MB' } },
        tenants: { acme: { apiKeys: [KEY], datasets: { events: { location: 'file:./events/', format: 'parquet' } } } },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  const cases: [sql: string, code: string, hint: RegExp][] = [
    ['SELEC * FROM events', 'INVALID_SQL', /SELEC/],
    ['SELECT * FROM events WHERE', 'INVALID_SQL', /syntax|end of/i],
    ['SELECT * FRM events', 'INVALID_SQL', /events|FRM|syntax/i],
    ["SELECT 'unterminated FROM events", 'INVALID_SQL', /unterminated|syntax/i],
    ['SELECT (1 + FROM events', 'INVALID_SQL', /syntax|FROM/i],
    ['SELECT nope FROM events', 'INVALID_SQL', /nope/],
    ['SELECT events.nope FROM events', 'INVALID_SQL', /nope/],
    ['SELECT id FROM events GROUP BY name', 'INVALID_SQL', /id/],
    ['SELECT no_such_function(id) FROM events', 'INVALID_SQL', /no_such_function/],
    ["SELECT id + 'abc' FROM events", 'INVALID_SQL', /abc|convert|cast|\+/i],
    ["SELECT CAST('abc' AS INTEGER)", 'INVALID_SQL', /abc/],
    ['SELECT substr(name) FROM events', 'INVALID_SQL', /substr/],
    ['SELECT * FROM events e JOIN events f ON id = id', 'INVALID_SQL', /id|ambiguous/i],
    ['SELECT * FROM nothing_here', 'UNKNOWN_TABLE', /nothing_here/],
    ['SELECT 1 UNION SELECT 1, 2', 'INVALID_SQL', /UNION|column/i],
    ['SELECT sum(name) FROM events', 'INVALID_SQL', /sum/],
    ['SELECT id FROM events ORDER BY 5', 'INVALID_SQL', /ORDER|5/i],
    ['SELECT * FROM events LIMIT -1', 'INVALID_SQL', /LIMIT|negative|-1/i],
    ['WITH x AS (SELECT 1) SELECT * FROM y', 'UNKNOWN_TABLE', /y/],
    ['SELECT [1, 2][5]', 'OK', /./],
    ['SELECT 1 / 0', 'OK', /./],
    ['', 'INVALID_REQUEST', /sql/],
    ['   ;  ', 'INVALID_SQL', /empty/i],
  ];

  for (const [sql, code, hint] of cases) {
    it(`${JSON.stringify(sql)} → ${code}`, async () => {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ sql }),
      });
      const body = (await response.json()) as { error?: { code: string; message: string } };
      if (code === 'OK') {
        expect(response.status, JSON.stringify(body)).toBe(200);
        return;
      }
      expect(response.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(response.status, JSON.stringify(body)).toBeLessThan(500);
      expect(body.error?.code, body.error?.message).toBe(code);
      expect(body.error?.message).toMatch(hint);
    });
  }
});
