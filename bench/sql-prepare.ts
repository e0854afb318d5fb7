/**
 * Cost of checking tenant SQL per query, on the ClickBench and TPC-H queries: the gateway's preparation (DuckDB's
 * parse, read for the datasets to lease) and the DuckDB engine's policy (DuckDB's parse of the exact text, every
 * node, function and table judged), each beside DuckDB's own parse of the same text (json_serialize_sql on a raw
 * connection) in the same run.
 *
 *   npm run bench -w @lakegate/bench -- sql-prepare
 */
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { allowTenantQuery, duckdbEngineFactory, parserOn, SqlAnalyzer } from '@lakegate/engine-duckdb';
import { prepareTenantQuery, type TenantNamespace } from '@lakegate/gateway';
import { readClickBenchQueries } from '../test/support/clickbench.js';
import { TPCH_QUERIES } from '../test/support/tpch.js';
import { ms, report } from './support.js';

const corpus = join(dirname(import.meta.dirname), '..', 'shared', 'corpora', 'clickbench');
const queries = [...(readClickBenchQueries(corpus) ?? []), ...Object.values(TPCH_QUERIES)];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

const namespace: TenantNamespace = {
  tenant: 'acme',
  catalog: 'lakegate',
  datasets: Object.fromEntries(
    ['hits', 'lineitem', 'orders', 'customer', 'part', 'partsupp', 'supplier', 'nation', 'region'].map((n) => [n, {}]),
  ),
  virtualSchemas: {},
};
const policyNamespace = {
  datasets: new Map(Object.keys(namespace.datasets).map((n) => [n, { filtered: false }])),
  qualifiers: [['acme'], ['lakegate', 'acme']],
  virtualTables: new Map<string, string>(),
  listing: Object.keys(namespace.datasets),
};
const parsed = duckdbEngineFactory.parseConfig({ threads: 1 });
if (!parsed.ok) throw new Error(parsed.problems.join('; '));
const engine = await duckdbEngineFactory.create(parsed.config, {
  storage: { tenantDirectories: () => ['/nonexistent'] },
});
const signal = new AbortController().signal;
const analyzer = engine.analyze
  ? (sql: string) => engine.analyze?.(sql, { signal }) ?? Promise.reject(new Error())
  : undefined;

const raw = await DuckDBInstance.create(':memory:', { threads: '1' });
const connection = await raw.connect();
const policyAnalyzer = new SqlAnalyzer();
const policyCatalog = await policyAnalyzer.catalog();
const parse = parserOn(connection);

const parsers = new Map<string, number>();
for (const sql of queries) {
  const prepared = await prepareTenantQuery(sql, namespace, analyzer);
  parsers.set(prepared.parser, (parsers.get(prepared.parser) ?? 0) + 1);
}
let gatewayMs = 0;
let policyMs = 0;
let duckdbMs = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const sql of queries) {
    let start = performance.now();
    await prepareTenantQuery(sql, namespace, analyzer);
    gatewayMs += performance.now() - start;
    start = performance.now();
    await allowTenantQuery(sql, policyNamespace, policyCatalog, parse);
    policyMs += performance.now() - start;
    start = performance.now();
    await connection.runAndReadAll(`SELECT json_serialize_sql('${sql.replaceAll("'", "''")}')`);
    duckdbMs += performance.now() - start;
  }
}
const per = (total: number): number => total / (ROUNDS * queries.length);
report(`sql-prepare: ${queries.length} queries (ClickBench + TPC-H) x ${ROUNDS} rounds`, [
  ['gateway prepare (DuckDB parse, datasets to lease), mean per query', ms(per(gatewayMs))],
  ['engine policy (DuckDB parse of the exact text, judged), mean per query', ms(per(policyMs))],
  ['DuckDB json_serialize_sql alone, mean per query (baseline)', ms(per(duckdbMs))],
  ['ratios', `gateway ${(gatewayMs / duckdbMs).toFixed(2)}x, engine policy ${(policyMs / duckdbMs).toFixed(2)}x`],
  ['parsed by', [...parsers].map(([p, n]) => `${p}: ${n}`).join(', ')],
]);
connection.closeSync();
raw.closeSync();
await policyAnalyzer.close();
await engine.close();
