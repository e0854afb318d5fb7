import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, EVENTS_ROWS, type PostgresGateway, startPostgresGateway } from '../support/postgres-gateway.js';

/** Long enough in DuckDB that a cancel lands while it computes. */
const LONG_SQL = 'SELECT count(*) FROM range(20000000000) a(x) WHERE x % 7 = 3';

/** The Postgres protocol driven by node's `pg` (simple and extended protocol) and `postgres` (pipelined). */
describe('Postgres protocol: node pg and postgres', () => {
  let server: PostgresGateway;
  let client: pg.Client;

  beforeAll(async () => {
    server = await startPostgresGateway();
    client = new pg.Client(server.acme);
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    await client?.end();
    await server?.close();
  });

  it('answers simple-protocol queries with typed columns (RowDescription OIDs)', async () => {
    const result = await client.query(
      'SELECT id, name, score, even, day, amount, pair, maybe, small FROM events ORDER BY id LIMIT 2',
    );
    expect(result.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
      ['id', 20],
      ['name', 25],
      ['score', 1700],
      ['even', 16],
      ['day', 1082],
      ['amount', 1700],
      ['pair', 1016],
      ['maybe', 20],
      ['small', 23],
    ]);
    expect(result.rows[1]).toMatchObject({
      id: '1',
      name: 'name-1',
      even: false,
      amount: '0.25',
      pair: ['1', '2'],
      small: 1,
    });
    expect(result.rows[0]?.maybe).toBeNull();
  });

  it('binds parameters as values through the extended protocol, never into the text', async () => {
    const result = await client.query('SELECT id, name FROM events WHERE id = $1 OR name = $2 ORDER BY id', [
      7,
      "x' OR '1'='1",
    ]);
    expect(result.rows).toEqual([{ id: '7', name: 'name-7' }]);
    const typed = await client.query({
      text: 'SELECT $1::INTEGER + 1 AS n, $2::DATE AS d',
      values: [41, '2024-02-03'],
    });
    expect(typed.rows[0]?.n).toBe(42);
    const named = { name: 'by-id', text: 'SELECT name FROM events WHERE id = $1', values: [3] };
    expect((await client.query(named)).rows).toEqual([{ name: 'name-3' }]);
    expect((await client.query({ ...named, values: [4] })).rows).toEqual([{ name: 'name-4' }]);
  });

  it('streams a large result with backpressure, and reports errors with their SQLSTATE', async () => {
    const result = await client.query('SELECT id, name FROM events');
    expect(result.rowCount).toBe(EVENTS_ROWS);
    await expect(client.query('SELECT * FROM nope')).rejects.toMatchObject({ code: '42P01' });
    await expect(client.query('SELECT * FROM events WHERE id = $1', ['x'])).rejects.toMatchObject({
      severity: 'ERROR',
    });
    // The connection is usable after errors in either protocol.
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('keeps the failed state of a transaction until ROLLBACK, as ReadyForQuery says', async () => {
    await client.query('BEGIN');
    await expect(client.query('SELECT * FROM nope')).rejects.toMatchObject({ code: '42P01' });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('cancels a running query in the engine with a CancelRequest', async () => {
    const other = new pg.Client(server.acme);
    await other.connect();
    try {
      const running = other.query(LONG_SQL).then(
        () => 'finished',
        (error: { code?: string }) => error.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      // pg's cancel: a new connection that sends a CancelRequest with the BackendKeyData of `other`.
      const canceller = new pg.Client(server.acme);
      const active = (other as unknown as { activeQuery: unknown }).activeQuery;
      (canceller as unknown as { cancel(client: pg.Client, query: unknown): void }).cancel(other, active);
      expect(await running).toBe('57014');
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await other.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    } finally {
      await other.end();
    }
  }, 30_000);

  it('honours statement_timeout with 57014', async () => {
    const other = new pg.Client(server.acme);
    await other.connect();
    try {
      await other.query("SET statement_timeout = '200ms'");
      await expect(other.query(LONG_SQL)).rejects.toMatchObject({ code: '57014' });
      await other.query('RESET statement_timeout');
      expect((await other.query('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '0' }]);
    } finally {
      await other.end();
    }
  }, 30_000);

  it('pipelines prepared queries with the postgres package, which describes each statement first', async () => {
    // fetch_types (the default) reads pg_catalog.pg_type at connect.
    const sql = postgres({ ...server.acme, username: 'acme', password: ACME_KEY, max: 1 });
    try {
      const [a, b, c] = await Promise.all([
        sql`SELECT id, name FROM events WHERE id = ${5}`,
        sql`SELECT count(*)::INTEGER AS n FROM events WHERE even = ${true}`,
        sql`SELECT ${'x'}::VARCHAR AS v, day FROM events WHERE id = ${12}`,
      ]);
      expect([...a]).toEqual([{ id: '5', name: 'name-5' }]);
      expect([...b]).toEqual([{ n: EVENTS_ROWS / 2 }]);
      expect(c[0]?.v).toBe('x');
      expect(c[0]?.day).toBeInstanceOf(Date);
      expect((await sql`SELECT pair FROM events WHERE id = ${3}`)[0]?.pair).toEqual(['3', '4']);
      // A cursor reads with Execute row limits (PortalSuspended between pieces).
      let rows = 0;
      let pieces = 0;
      for await (const piece of sql`SELECT id FROM events WHERE id < ${2500}`.cursor(1000)) {
        rows += piece.length;
        pieces++;
      }
      expect([rows, pieces]).toEqual([2500, 3]);
      await expect(sql`SELECT * FROM nope WHERE id = ${1}`).rejects.toMatchObject({ code: '42P01' });
    } finally {
      await sql.end();
    }
  });

  it('serves pg_catalog from the tenant’s own catalog only, as clients read it', async () => {
    const columns = await client.query(
      `SELECT n.nspname, c.relname, a.attname, t.typname
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON a.attrelid = c.oid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       WHERE c.relkind = 'r' AND NOT a.attisdropped AND a.attnum <= 3
       ORDER BY c.relname, a.attnum`,
    );
    expect(columns.rows).toEqual([
      { nspname: 'acme', relname: 'events', attname: 'id', typname: 'int8' },
      { nspname: 'acme', relname: 'events', attname: 'name', typname: 'text' },
      { nspname: 'acme', relname: 'events', attname: 'score', typname: 'numeric' },
    ]);
    const names = await client.query(
      'SELECT nspname AS name FROM pg_catalog.pg_namespace UNION ALL SELECT relname FROM pg_catalog.pg_class UNION ALL SELECT datname FROM pg_catalog.pg_database UNION ALL SELECT rolname FROM pg_catalog.pg_roles',
    );
    expect(names.rows.map((r) => r.name).sort()).toEqual([
      'acme',
      'acme',
      'events',
      'information_schema',
      'lakegate',
      'pg_catalog',
    ]);
    // A tenant has no functions of its own; other sessions' activity is not a relation it can read at all.
    expect((await client.query('SELECT proname FROM pg_catalog.pg_proc')).rows).toEqual([]);
    await expect(client.query('SELECT * FROM pg_catalog.pg_stat_activity')).rejects.toMatchObject({ code: '42P01' });
  });

  it('counts logged-in connections by tenant in /metrics', async () => {
    const gauge = async (): Promise<number> => {
      const text = await (await fetch(`${server.gateway.url}/metrics`)).text();
      return Number(/^lakegate_postgres_connections\{tenant="acme"\} (\d+)$/m.exec(text)?.[1]);
    };
    const before = await gauge();
    expect(before).toBeGreaterThanOrEqual(1);
    const more = [new pg.Client(server.acme), new pg.Client(server.acme)];
    for (const c of more) await c.connect();
    expect(await gauge()).toBe(before + 2);
    for (const c of more) await c.end();
    await expect.poll(gauge).toBe(before);
  });

  it('answers current_setting from the connection’s own settings', async () => {
    await client.query("SET application_name = 'dashboards'");
    const result = await client.query(
      "SELECT current_setting('application_name') AS app, current_setting('no.such', true) AS missing",
    );
    expect(result.rows).toEqual([{ app: 'dashboards', missing: null }]);
    await expect(client.query("SELECT current_setting('no_such_setting')")).rejects.toMatchObject({ code: '42704' });
  });
});
