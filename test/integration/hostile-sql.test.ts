import { join } from 'node:path';
import type { RunningGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_SECRETS, type HostileTenants, startHostileTenants } from '../support/hostile-tenants.js';

const ACME = 'acme-hostile-key';

/**
 * Hostile SQL through the HTTP API, as an attacker holding acme's key would write it. Each query is refused
 * with the expected status and code, or answered from acme's own data only: never globex's rows, and never the
 * rows acme's row filter hides.
 */
describe('hostile tenant SQL through POST /v1/query', () => {
  let hostile: HostileTenants;
  let root: string;
  let gateway: RunningGateway;

  beforeAll(async () => {
    hostile = await startHostileTenants({ acme: ACME, globex: 'globex-hostile-key' });
    root = hostile.root;
    gateway = hostile.gateway;
    // Load globex's datasets into the cache, so its files exist on disk for the attempts to aim at.
    for (const sql of ['SELECT * FROM events', 'SELECT * FROM invoices']) {
      await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: 'Bearer globex-hostile-key' },
        body: JSON.stringify({ sql }),
      });
    }
  });
  afterAll(() => hostile?.close());

  const globexCache = () => join(root, 'cache', 'globex');
  type Expect = [status: number, code: string] | 'own-data';
  const cases = (): [string, Expect][] => [
    ['SELECT * FROM invoices', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM globex.events', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM lakegate.globex.events', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM "globex"."events"', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM GLOBEX.EVENTS', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM "INVOICES"', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM acme.invoices', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM main.events', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM temp.events', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM memory.main.events', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM system.main.duckdb_settings', [404, 'UNKNOWN_TABLE']],
    // The gateway answers information_schema and pg_catalog itself, with the caller's tables only (checked below).
    ['SELECT * FROM information_schema.tables', 'own-data'],
    ['SELECT * FROM pg_catalog.pg_tables', 'own-data'],
    ['SELECT * FROM pg_catalog.pg_stat_activity', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM duckdb_settings()', [400, 'FORBIDDEN_STATEMENT']],
    ['SELECT * FROM duckdb_tables()', [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT * FROM read_csv('/etc/passwd')", [400, 'FORBIDDEN_STATEMENT']],
    [`SELECT * FROM read_parquet('${globexCache()}/objects/*/*.parquet')`, [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT * FROM '/etc/passwd'", [400, 'FORBIDDEN_STATEMENT']],
    [`SELECT * FROM '${globexCache()}/objects/*/*.parquet'`, [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT * FROM glob('/etc/*')", [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT * FROM read_text('/etc/hostname')", [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT * FROM query('SELECT * FROM invoices')", [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT * FROM query_table('invoices')", [400, 'FORBIDDEN_STATEMENT']],
    ["WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x", [400, 'FORBIDDEN_STATEMENT']],
    ['SELECT (SELECT count(*) FROM invoices)', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM events WHERE id IN (SELECT id FROM globex.events)', [404, 'UNKNOWN_TABLE']],
    ['SELECT owner FROM events UNION ALL SELECT note FROM invoices', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM events e, LATERAL (SELECT * FROM invoices) i', [404, 'UNKNOWN_TABLE']],
    ['EXPLAIN SELECT * FROM invoices', [404, 'UNKNOWN_TABLE']],
    ["EXPLAIN COPY events TO '/tmp/x.csv'", [400, 'FORBIDDEN_STATEMENT']],
    ['SELECT 1; SELECT 2', [400, 'FORBIDDEN_STATEMENT']],
    ['SELECT 1; DROP VIEW events', [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT 1 -- harmless\n; ATTACH ':memory:' AS m", [400, 'FORBIDDEN_STATEMENT']],
    ["/* report */ SELECT 1; /* more */ COPY events TO '/tmp/x.csv'", [400, 'FORBIDDEN_STATEMENT']],
    ['SELECT owner FROM events /* ; DROP TABLE events */', 'own-data'],
    ['INSERT INTO events VALUES (1, 2)', [400, 'FORBIDDEN_STATEMENT']],
    ["UPDATE events SET owner = 'x'", [400, 'FORBIDDEN_STATEMENT']],
    ['DELETE FROM events', [400, 'FORBIDDEN_STATEMENT']],
    ['CREATE TABLE stolen AS SELECT 1', [400, 'FORBIDDEN_STATEMENT']],
    ['CREATE VIEW v AS SELECT * FROM events', [400, 'FORBIDDEN_STATEMENT']],
    ['DROP TABLE events', [400, 'FORBIDDEN_STATEMENT']],
    ['ALTER TABLE events RENAME TO e2', [400, 'FORBIDDEN_STATEMENT']],
    ['SET threads = 1', [400, 'FORBIDDEN_STATEMENT']],
    ['SET enable_external_access = true', [400, 'FORBIDDEN_STATEMENT']],
    ['RESET ALL', [400, 'FORBIDDEN_STATEMENT']],
    ['RESET threads', [400, 'FORBIDDEN_STATEMENT']],
    ['PRAGMA database_list', [400, 'FORBIDDEN_STATEMENT']],
    ["PRAGMA table_info('events')", [400, 'FORBIDDEN_STATEMENT']],
    ["ATTACH '/tmp/lakegate-hostile.duckdb'", [400, 'FORBIDDEN_STATEMENT']],
    ['DETACH somewhere', [400, 'FORBIDDEN_STATEMENT']],
    ["COPY events TO '/tmp/lakegate-hostile.csv'", [400, 'FORBIDDEN_STATEMENT']],
    ["COPY (SELECT 1) TO '/tmp/lakegate-hostile.csv'", [400, 'FORBIDDEN_STATEMENT']],
    ["EXPORT DATABASE '/tmp/lakegate-hostile'", [400, 'FORBIDDEN_STATEMENT']],
    ["IMPORT DATABASE '/tmp/lakegate-hostile'", [400, 'FORBIDDEN_STATEMENT']],
    ['INSTALL httpfs', [400, 'FORBIDDEN_STATEMENT']],
    ['LOAD httpfs', [400, 'FORBIDDEN_STATEMENT']],
    ['CALL pragma_version()', [400, 'FORBIDDEN_STATEMENT']],
    ['CHECKPOINT', [400, 'FORBIDDEN_STATEMENT']],
    ['VACUUM', [400, 'FORBIDDEN_STATEMENT']],
    ['USE globex', [400, 'FORBIDDEN_STATEMENT']],
    ['PREPARE p AS SELECT 1', [400, 'FORBIDDEN_STATEMENT']],
    ['EXECUTE p', [400, 'FORBIDDEN_STATEMENT']],
    ['BEGIN TRANSACTION', [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT current_setting('allowed_directories')", [400, 'FORBIDDEN_STATEMENT']],
    ["SELECT getenv('HOME')", [400, 'FORBIDDEN_STATEMENT']],
    ['SELECT * FROM "events""; DROP TABLE x; --"', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM evеnts', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM orders__source', [404, 'UNKNOWN_TABLE']],
    ['SELECT * FROM "Events"', 'own-data'],
    ['SELECT * FROM events AS invoices', 'own-data'],
    ['WITH invoices AS (SELECT * FROM events) SELECT * FROM invoices', 'own-data'],
    ["SELECT * FROM orders WHERE true OR region <> 'eu'", 'own-data'],
    ['SELECT * FROM acme.orders', 'own-data'],
    ['SELECT * FROM lakegate.acme.orders o', 'own-data'],
    ["SELECT note FROM orders UNION ALL SELECT 'x'", 'own-data'],
    ["SELECT count(*) FILTER (WHERE region = 'us') FROM orders", 'own-data'],
  ];

  it('has at least 60 hostile queries', () => {
    expect(cases().length).toBeGreaterThanOrEqual(60);
  });

  it('refuses each with the right code, or answers from the caller’s own data only', async () => {
    const failures: string[] = [];
    for (const [sql, expected] of cases()) {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ACME}` },
        body: JSON.stringify({ sql }),
      });
      const text = await response.text();
      if (HOSTILE_SECRETS.some((secret) => text.includes(secret)))
        failures.push(`${sql}: LEAKED ${text.slice(0, 200)}`);
      if (response.status >= 500) failures.push(`${sql}: ${response.status} ${text.slice(0, 200)}`);
      if (expected === 'own-data') {
        if (response.status !== 200)
          failures.push(`${sql}: expected an answer, got ${response.status} ${text.slice(0, 200)}`);
        continue;
      }
      const [status, code] = expected;
      const body = JSON.parse(text) as { error?: { code: string; message: string } };
      if (response.status !== status || body.error?.code !== code) {
        failures.push(
          `${sql}: expected ${status} ${code}, got ${response.status} ${body.error?.code} ${body.error?.message}`,
        );
      }
    }
    expect(failures).toEqual([]);
  });

  it('shows only the caller’s tables in information_schema', async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ACME}` },
      body: JSON.stringify({ sql: 'SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2' }),
    });
    const body = (await response.json()) as { rows: string[][] };
    expect(body.rows.filter((r) => r[0] !== 'information_schema')).toEqual([
      ['acme', 'events'],
      ['acme', 'orders'],
    ]);
    expect(JSON.stringify(body)).not.toMatch(/globex|invoices/);
  });

  it('lists the caller’s datasets when a table is unknown', async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ACME}` },
      body: JSON.stringify({ sql: 'SELECT * FROM invoices' }),
    });
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      'Your datasets: events, orders',
    );
  });
});
