import type { SqlAnalysis } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { fingerprint } from './fingerprint.js';
import { readQualifiedName, tokenize } from './sql-lexer.js';
import { prepareTenantQuery, type TenantNamespace } from './tenant-query.js';

const namespace: TenantNamespace = {
  tenant: 'acme',
  catalog: 'lakegate',
  datasets: { events: {}, Users: {}, orders: { rowFilter: "region = 'eu'" } },
  physicalName: (d) => (d === 'orders' ? 'orders__source_x' : d),
};
const prepare = (sql: string, engine?: (sql: string) => Promise<SqlAnalysis>) =>
  prepareTenantQuery(sql, namespace, engine);

describe('tenant query preparation', () => {
  it('leaves a query over plain dataset names byte for byte as written', async () => {
    const sql = 'SELECT  e.verb, count(*)  -- per verb\nFROM events e JOIN users u ON u.id = e.user_id GROUP BY 1';
    const prepared = await prepare(sql);
    expect(prepared.sql).toBe(sql);
    expect(prepared.datasets).toEqual([
      { name: 'events', physical: 'events' },
      { name: 'Users', physical: 'Users' },
    ]);
  });

  it('splices qualified and quoted names to the physical name, touching nothing else', async () => {
    const prepared = await prepare(
      'SELECT "count" FROM lakegate.acme."EVENTS" x, acme.events WHERE a = \'acme.events\'',
    );
    expect(prepared.sql).toBe('SELECT "count" FROM "events" x, "events" WHERE a = \'acme.events\'');
  });

  it('applies a row filter as a subquery in place of the reference, keeping or adding the alias', async () => {
    expect((await prepare('SELECT * FROM orders o WHERE o.total > 5')).sql).toBe(
      'SELECT * FROM (SELECT * FROM "orders__source_x" WHERE (region = \'eu\')) o WHERE o.total > 5',
    );
    expect((await prepare('SELECT orders.id FROM orders')).sql).toBe(
      'SELECT orders.id FROM (SELECT * FROM "orders__source_x" WHERE (region = \'eu\')) AS "orders"',
    );
  });

  it('resolves CTE names by scope: a CTE may shadow a dataset it reads', async () => {
    const prepared = await prepare('WITH orders AS (SELECT * FROM orders WHERE id > 1) SELECT * FROM orders');
    expect(prepared.sql).toBe(
      'WITH orders AS (SELECT * FROM (SELECT * FROM "orders__source_x" WHERE (region = \'eu\')) AS "orders" WHERE id > 1) SELECT * FROM orders',
    );
  });

  it('allows EXPLAIN of a query and reports it', async () => {
    const prepared = await prepare('EXPLAIN SELECT * FROM orders');
    expect(prepared.statementType).toBe('EXPLAIN');
    expect(prepared.sql).toContain('EXPLAIN SELECT * FROM (SELECT * FROM "orders__source_x"');
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

  it('falls back on the engine’s parser where node-sql-parser fails, and validates what it reports', async () => {
    const sql = 'FROM events SELECT [1, 2] AS l';
    const engine = async (text: string): Promise<SqlAnalysis> => ({
      statementCount: 1,
      statementType: 'SELECT',
      tables: [{ name: 'events', position: text.indexOf('events') }],
      tableFunctions: [],
      ctes: [],
    });
    const prepared = await prepare(sql, engine);
    expect(prepared).toMatchObject({ sql, parser: 'engine', datasets: [{ name: 'events' }] });
    const hostile = async (): Promise<SqlAnalysis> => ({
      statementCount: 1,
      statementType: 'SELECT',
      tables: [{ name: "'/etc/passwd'", position: 5 }],
      tableFunctions: [],
      ctes: [],
    });
    await expect(prepare("FROM '/etc/passwd' SELECT [1]", hostile)).rejects.toMatchObject({
      code: 'FORBIDDEN_STATEMENT',
    });
  });
});

describe('sql lexer and fingerprints', () => {
  it('reads qualified, quoted names with their span', () => {
    const sql = 'select * from  lakegate . "a""b" .c x';
    const name = readQualifiedName(sql, sql.indexOf('lakegate'));
    expect(name?.parts.map((p) => p.value)).toEqual(['lakegate', 'a"b', 'c']);
    expect(sql.slice(name?.start, name?.end)).toBe('lakegate . "a""b" .c');
  });

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

  it('ignores whitespace, comments, keyword case and literal formatting, but not literal values', () => {
    const base = fingerprint("SELECT a FROM t WHERE b = 'x' AND c = 1000");
    expect(fingerprint("select  a\nfrom T -- note\n where b = E'x' and c = 1_000;").exact).toBe(base.exact);
    expect(fingerprint("SELECT a FROM t WHERE b = 'y' AND c = 1000").exact).not.toBe(base.exact);
    expect(fingerprint("SELECT a FROM t WHERE b = 'y' AND c = 7").shape).toBe(base.shape);
    expect(fingerprint('SELECT "A" FROM t').exact).not.toBe(fingerprint('SELECT "a" FROM t').exact);
  });
});
