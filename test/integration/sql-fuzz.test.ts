import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { isLakegateError, type SqlAnalysis } from '@lakegate/engine-api';
import { allowTenantQuery, type PolicyNamespace, parserOn, SqlAnalyzer } from '@lakegate/engine-duckdb';
import { prepareTenantQuery, type TenantNamespace } from '@lakegate/gateway';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A differential fuzzer: SQL built from a grammar of the constructs where parsers disagree (nested and line
 * comments, comments inside strings, every quoting DuckDB has, unicode, CTEs across set operations, subqueries,
 * dataset, internal and system names). For each text, what the gateway believes (the datasets it leases, the
 * statement it runs) must equal what the engine's policy decides on DuckDB's parse, or the text is refused; and
 * an allowed text, run on an instance where every other name it could reach is a trap table, must return no
 * trap and no row the filter hides, and must leave the catalog as it was.
 *
 * CI runs FUZZ_RUNS cases (default 1500); a longer run: `FUZZ_RUNS=50000 npx vitest run integration/sql-fuzz`
 * in test/.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const TRAP = 'TRAP-ROW';
const HIDDEN = 'HIDDEN-ROW';
const DATASETS = ['orders', 'events'];
/** Names that are not datasets: each exists as a trap table (or is a system relation). */
const TRAPS = ['p', 'q', 'secret_t', 'orders_src', 'x'];

const namespace: TenantNamespace = {
  tenant: 'acme',
  catalog: 'lakegate',
  datasets: { orders: { rowFilter: "region = 'eu'" }, events: {} },
  virtualSchemas: {},
};
const policyNamespace: PolicyNamespace = {
  datasets: new Map([
    ['orders', { filtered: true }],
    ['events', { filtered: false }],
  ]),
  qualifiers: [['acme'], ['lakegate', 'acme']],
  virtualTables: new Map(),
  listing: DATASETS,
};

// ---- the grammar ----
const comment = fc.constantFrom(
  ' ',
  '/* c */',
  '/* /* nested */ */',
  '/* /* */',
  '-- line\n',
  "/* ' */",
  '/* -- */',
  "--'\n",
  '/**/',
);
const literal = fc.constantFrom(
  "'\\'",
  "'it''s'",
  "'--'",
  "'/*'",
  "'*/'",
  '$$a$$',
  '$$$$',
  "$t$ ' $t$",
  "E'\\x41'",
  "E'\\''",
  "U&'\\0041'",
  "'ééé'",
  "'😀'",
  '1e0',
  "'a' -- '",
  '"orders"',
);
const tableName = fc.constantFrom(
  ...DATASETS,
  ...TRAPS,
  'ORDERS',
  '"orders"',
  'acme.orders',
  'lakegate.acme.events',
  '"acme"."orders"',
  'main.orders',
  'temp.main.orders',
  'duckdb_settings',
  'pg_class',
  'information_schema.tables',
  "'/etc/passwd'",
);
const space = fc.oneof({ weight: 3, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: comment });

const { query } = fc.letrec<{ query: string; core: string; source: string }>((tie) => ({
  source: fc.oneof(
    { weight: 4, arbitrary: tableName },
    { weight: 1, arbitrary: tie('query').map((q) => `(${q}) AS s`) },
    { weight: 1, arbitrary: fc.tuple(tableName, tableName).map(([a, b]) => `${a} JOIN ${b} USING (id)`) },
  ),
  core: fc
    .tuple(
      space,
      fc.option(literal, { nil: undefined }),
      space,
      tie('source'),
      space,
      fc.option(literal, { nil: undefined }),
    )
    .map(
      ([s1, lit, s2, source, s3, where]) =>
        `SELECT${s1}${lit ? `${lit} AS l,${s2}` : ' '}* FROM ${source}${s3}${where ? `WHERE ${where} IS NOT NULL` : ''}`,
    ),
  query: fc.oneof(
    { weight: 4, arbitrary: tie('core') },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...TRAPS, 'orders'), tie('core'), space, tie('core'))
        .map(([name, cte, s, body]) => `WITH ${name} AS (${cte})${s}${body}`),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...TRAPS), tie('core'), tie('core'), fc.constantFrom('UNION ALL', 'UNION', 'EXCEPT'))
        .map(([name, cte, other, op]) => `(WITH ${name} AS (${cte}) SELECT * FROM ${name}) ${op} ${other}`),
    },
    { weight: 1, arbitrary: fc.tuple(comment, tie('core')).map(([c, q]) => `${c}${q}`) },
    { weight: 1, arbitrary: fc.tuple(tie('core'), comment).map(([q, c]) => `${q}${c}`) },
  ),
}));
const statement = fc.oneof(
  { weight: 8, arbitrary: query },
  { weight: 1, arbitrary: fc.tuple(comment, query).map(([c, q]) => `${c}EXPLAIN ${q}`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        query,
        comment,
        fc.constantFrom('CREATE TABLE k AS SELECT 1', 'SET VARIABLE v = 1', 'CREATE TEMP MACRO m() AS 1'),
      )
      .map(([q, c, w]) => `${q};${c}${w}`),
  },
  { weight: 1, arbitrary: fc.tuple(literal, query).map(([l, q]) => `/* ${l} */ ${q}`) },
);

describe('differential SQL fuzzer: gateway belief against the engine’s DuckDB parse', () => {
  let analyzer: SqlAnalyzer;
  let instance: DuckDBInstance;
  let connection: DuckDBConnection;
  const signal = new AbortController().signal;

  const catalogState = async (): Promise<string> => {
    const probes = [
      'SELECT database_name, schema_name, table_name FROM duckdb_tables() ORDER BY ALL',
      'SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL',
      'SELECT function_name FROM duckdb_functions() WHERE NOT internal ORDER BY ALL',
      'SELECT name, value::VARCHAR FROM duckdb_variables() ORDER BY ALL',
      'SELECT name, value FROM duckdb_settings() ORDER BY ALL',
    ];
    const out: unknown[] = [];
    for (const probe of probes) out.push((await connection.runAndReadAll(probe)).getRowsJson());
    return JSON.stringify(out);
  };

  beforeAll(async () => {
    analyzer = new SqlAnalyzer();
    // The harness's own instance: datasets as the engine binds them (filtered views under their names), and a
    // trap table under every other name the grammar writes, so that any name bound to something else shows.
    instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    connection = await instance.connect();
    for (const trap of TRAPS) await connection.run(`CREATE TABLE main.${trap} AS SELECT 1 AS id, '${TRAP}' AS note`);
    await connection.run(
      `CREATE TEMP VIEW orders AS SELECT * FROM (VALUES (1, 'eu', 'eu-row'), (2, 'us', '${HIDDEN}')) t(id, region, note) WHERE (region = 'eu')`,
    );
    await connection.run("CREATE TEMP VIEW events AS SELECT * FROM (VALUES (1, 'event')) t(id, note)");
    await connection.run('SET enable_external_access = false');
  });
  afterAll(async () => {
    await analyzer?.close();
    connection?.closeSync();
    instance?.closeSync();
  });

  it(`agrees with DuckDB on ${RUNS} generated texts, or refuses them`, async () => {
    const catalog = await analyzer.catalog();
    const parse = parserOn(connection);
    const before = await catalogState();
    const outcomes = { refused: 0, allowed: 0 };
    await fc.assert(
      fc.asyncProperty(statement, async (sql) => {
        const gateway = await prepareTenantQuery(
          sql,
          namespace,
          (text) => analyzer.analyze(text, signal) as Promise<SqlAnalysis>,
        ).catch((error: unknown) => {
          if (!isLakegateError(error) || error.kind === 'internal') throw error;
          return undefined;
        });
        const engine = await allowTenantQuery(sql, policyNamespace, catalog, parse).catch((error: unknown) => {
          if (!isLakegateError(error) || error.kind === 'internal') throw error;
          return undefined;
        });
        // The gateway never lets through what the engine refuses, and never leases other datasets than it reads.
        if (gateway && engine) {
          expect([...gateway.datasets].sort(), sql).toEqual([...engine.datasets].sort());
          expect(gateway.statementType === 'EXPLAIN', sql).toBe(engine.explain);
        }
        if (!gateway || !engine) {
          outcomes.refused++;
          return;
        }
        let rows: string;
        try {
          const prepared = await connection.prepare(engine.sql);
          expect(prepared.statementType, sql).toBe(engine.explain ? 4 : 1);
          rows = JSON.stringify((await prepared.runAndReadAll()).getRowsJson());
        } catch (error) {
          // DuckDB's binder may still refuse an allowed text (a column missing after a join): nothing was read.
          if (!/^(Binder|Catalog|Conversion) Error/.test(String((error as Error).message))) throw error;
          outcomes.refused++;
          return;
        }
        outcomes.allowed++;
        expect(rows, sql).not.toContain(TRAP);
        expect(rows, sql).not.toContain(HIDDEN);
        expect(await catalogState(), sql).toBe(before);
      }),
      { numRuns: RUNS, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
    );
    // Both kinds of case occur, or the grammar has degenerated.
    expect(outcomes.allowed).toBeGreaterThan(RUNS / 10);
    expect(outcomes.refused).toBeGreaterThan(RUNS / 10);
    console.log(`sql fuzzer: ${RUNS} cases, ${outcomes.allowed} allowed, ${outcomes.refused} refused`);
  }, 300_000);
});
