import type { SqlAnalysis } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { fingerprint } from './fingerprint.js';
import { tokenize } from './sql-lexer.js';
import { prepareTenantQuery, type TenantNamespace } from './tenant-query.js';

const namespace: TenantNamespace = {
  tenant: 'acme',
  catalog: 'lakegate',
  datasets: { events: {}, Users: {}, orders: { rowFilter: "region = 'eu'" } },
  virtualSchemas: { information_schema: ['tables', 'columns'] },
};
const prepare = (sql: string, engine?: (sql: string) => Promise<SqlAnalysis>) =>
  prepareTenantQuery(sql, namespace, engine);

describe('tenant query preparation', () => {
  it('hands the engine the text exactly as written, and lists the datasets to lease', async () => {
    const sql = 'SELECT  e.verb, count(*)  -- per verb\nFROM events e JOIN users u ON u.id = e.user_id GROUP BY 1';
    const prepared = await prepare(sql);
    expect(prepared.sql).toBe(sql);
    expect(prepared.datasets).toEqual(['events', 'Users']);
  });

  it('resolves qualified and quoted names to datasets without rewriting them', async () => {
    const sql = 'SELECT "count" FROM lakegate.acme."EVENTS" x, acme.orders WHERE a = \'acme.events\'';
    const prepared = await prepare(sql);
    expect(prepared.sql).toBe(sql);
    expect(prepared.datasets).toEqual(['events', 'orders']);
  });

  it('lists the virtual tables a query reads, and does not cache it', async () => {
    const prepared = await prepare(
      'SELECT * FROM information_schema.tables t JOIN lakegate.information_schema.columns c USING (table_name)',
    );
    expect(prepared.virtualTables).toEqual([
      { schema: 'information_schema', name: 'tables' },
      { schema: 'information_schema', name: 'columns' },
    ]);
    expect(prepared.cacheable).toBe(false);
  });

  it('does not cache a query whose result changes between runs', async () => {
    // Read by node-sql-parser: calls of such functions, outside strings and quotes, and SQL's current_date.
    expect((await prepare('SELECT count(*) FROM events WHERE ts > now() - INTERVAL 1 DAY')).volatile).toBe(true);
    expect((await prepare('SELECT random() AS r FROM events')).volatile).toBe(true);
    expect((await prepare('SELECT count(*) FROM events WHERE day = current_date')).volatile).toBe(true);
    expect((await prepare("SELECT 'now' AS word, count(*) FROM events")).volatile).toBe(false);
    // A column named like one is not a call.
    expect((await prepare('SELECT uuid, today FROM events')).volatile).toBe(false);
    // Its preparation is reused all the same: only its result is not.
    expect((await prepare('SELECT random() AS r FROM events')).cacheable).toBe(true);
    // Read by the engine's parser: its answer decides.
    const analysis = (volatile: boolean) => async (): Promise<SqlAnalysis> => ({
      statementCount: 1,
      statementType: 'SELECT',
      tables: [{ name: 'events' }],
      tableFunctions: [],
      ctes: [],
      volatile,
    });
    expect((await prepare('SELECT count(*) FROM events', analysis(true))).volatile).toBe(true);
    expect((await prepare('SELECT now() FROM events', analysis(false))).volatile).toBe(false);
  });

  it('resolves CTE names by scope: a CTE may shadow a dataset it reads', async () => {
    const prepared = await prepare('WITH orders AS (SELECT * FROM orders WHERE id > 1) SELECT * FROM orders');
    expect(prepared.datasets).toEqual(['orders']);
  });

  it('allows EXPLAIN of a query and reports it', async () => {
    const prepared = await prepare('EXPLAIN SELECT * FROM orders');
    expect(prepared.statementType).toBe('EXPLAIN');
    expect(prepared.sql).toBe('EXPLAIN SELECT * FROM orders');
  });

  const refusals: [string, string, string][] = [
    ['INSERT INTO events VALUES (1)', 'FORBIDDEN_STATEMENT', 'INSERT statements are not allowed'],
    ['DROP TABLE events', 'FORBIDDEN_STATEMENT', 'DROP statements'],
    ['SELECT 1; SELECT 2', 'FORBIDDEN_STATEMENT', 'exactly one statement'],
    ['SELECT * FROM secrets', 'UNKNOWN_TABLE', 'Your datasets: events, orders, Users'],
    ['SELECT * FROM globex.events', 'UNKNOWN_TABLE', 'does not exist'],
    ['SELECT * FROM lakegate.globex.events', 'UNKNOWN_TABLE', 'does not exist'],
    ["SELECT * FROM read_csv('/etc/passwd')", 'FORBIDDEN_STATEMENT', 'read_csv'],
    ['SELECT * FROM events WHERE', 'INVALID_SQL', 'line 1'],
  ];
  for (const [sql, code, message] of refusals) {
    it(`refuses ${sql} with ${code}`, async () => {
      await expect(prepare(sql)).rejects.toMatchObject({ code, message: expect.stringContaining(message) });
    });
  }

  it('points at the line and column of a syntax error', async () => {
    await expect(prepare('SELECT a,\n  b FROM events WHERE\n')).rejects.toMatchObject({
      code: 'INVALID_SQL',
      details: { line: 2, column: 22 },
    });
  });

  it('takes the engine’s parse when an engine offers one, and refuses what it reports', async () => {
    const sql = 'FROM events SELECT [1, 2] AS l';
    const engine = async (): Promise<SqlAnalysis> => ({
      statementCount: 1,
      statementType: 'SELECT',
      tables: [{ name: 'events', cte: false }],
      tableFunctions: [],
      ctes: [],
    });
    expect(await prepare(sql, engine)).toMatchObject({ sql, parser: 'engine', datasets: ['events'] });
    const hostile = async (): Promise<SqlAnalysis> => ({
      statementCount: 1,
      statementType: 'SELECT',
      tables: [{ name: 'duckdb_settings', cte: false }],
      tableFunctions: [],
      ctes: [],
    });
    await expect(prepare('SELECT * FROM duckdb_settings', hostile)).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
  });

  it('does not hand node-sql-parser long texts, which it parses on the event loop', async () => {
    const sql = `SELECT ${'1+'.repeat(20_000)}1`;
    await expect(prepare(sql)).rejects.toMatchObject({ code: 'UNSUPPORTED_QUERY' });
  });
});

describe('sql lexer and fingerprints', () => {
  it('tokenizes strings, quoted identifiers, numbers and comments', () => {
    expect(tokenize("SELECT 'it''s', \"x\", 1.5e3 -- c\n/* d */ FROM t").map((t) => t.kind)).toEqual([
      'word',
      'string',
      'symbol',
      'quoted',
      'symbol',
      'number',
      'word',
      'word',
    ]);
  });

  it('keys the exact text for caches, and the shape (literals aside) for metrics', () => {
    const base = fingerprint("SELECT a FROM t WHERE b = 'x' AND c = 1000");
    expect(fingerprint("SELECT a FROM t WHERE b = 'x' AND c = 1000").exact).toBe(base.exact);
    // Only the same text is the same query for a cache: these differ in type or value.
    expect(fingerprint('SELECT typeof(1e0), 1e0').exact).not.toBe(fingerprint('SELECT typeof(1), 1').exact);
    expect(fingerprint("SELECT 'a\\x41'").exact).not.toBe(fingerprint("SELECT E'a\\x41'").exact);
    expect(fingerprint("select  a\nfrom T -- note\n where b = 'y' and c = 7;").shape).toBe(base.shape);
    expect(fingerprint("SELECT a FROM t WHERE b = 'y' AND c = 1000").exact).not.toBe(base.exact);
    expect(fingerprint("SELECT a FROM t WHERE b = 'y' AND c = 7").shape).toBe(base.shape);
    expect(fingerprint('SELECT "A" FROM t').exact).not.toBe(fingerprint('SELECT "a" FROM t').exact);
  });
});
