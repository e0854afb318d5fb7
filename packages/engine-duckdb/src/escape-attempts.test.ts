import { join } from 'node:path';
import { collectRows, type Engine, isLakegateError, type QueryRequest } from '@lakegate/engine-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot, tenantRoot, testEngine, writeParquet } from './test-support.js';

/**
 * Escape attempts, written as an attacker would, run directly against tenant alpha's engine (no gateway in
 * front). Each must be refused, or answer with alpha's own data only. The secret lives in beta's folder and in
 * a file outside every tenant's folder.
 */
describe('duckdb engine: escape attempts', () => {
  let env: Awaited<ReturnType<typeof tenantRoot>>;
  let engine: Engine;
  const SECRET = 'beta-secret-7f3a';
  const signal = new AbortController().signal;
  const alphaFile = () => join(env.root, 'alpha', 'data.parquet');
  const betaFile = () => join(env.root, 'beta', 'data.parquet');
  const outside = () => join(env.root, 'outside.csv');
  const request = (sql: string): QueryRequest => ({
    queryId: 'attack',
    tenant: 'alpha',
    sql,
    tables: [{ name: 'data', snapshot: snapshot('alpha', 'data', [alphaFile()], 'alpha-v1') }],
  });

  beforeAll(async () => {
    env = await tenantRoot(['alpha', 'beta']);
    await writeParquet(alphaFile(), "SELECT 'alpha' AS owner, 'alpha-row' AS payload");
    await writeParquet(betaFile(), `SELECT 'beta' AS owner, '${SECRET}' AS payload`);
    await writeParquet(`${outside()}.parquet`, `SELECT '${SECRET}' AS payload`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(outside(), `payload\n${SECRET}\n`);
    engine = await testEngine(env.storage);
  });
  afterAll(async () => {
    await engine?.close();
    await env?.cleanup();
  });

  const attacks = (): [string, string][] => {
    const beta = betaFile();
    const alphaDir = join(env.root, 'alpha');
    return [
      ['read_csv of a host file', "SELECT * FROM read_csv('/etc/passwd')"],
      ['read_csv_auto of a host file', "SELECT * FROM read_csv_auto('/etc/hostname')"],
      ['read_text of a host file', "SELECT * FROM read_text('/etc/hostname')"],
      ['read_blob of a host file', "SELECT * FROM read_blob('/etc/hostname')"],
      ['read_json of a host file', "SELECT * FROM read_json('/etc/os-release')"],
      ['read_parquet of another tenant’s file', `SELECT * FROM read_parquet('${beta}')`],
      ['replacement scan of another tenant’s file', `SELECT * FROM '${beta}'`],
      ['replacement scan of a host file', "SELECT * FROM '/etc/passwd'"],
      ['glob over every tenant', `SELECT * FROM glob('${env.root}/*/*')`],
      ['glob over the host', "SELECT * FROM glob('/etc/*')"],
      ['parquet_metadata of another tenant', `SELECT * FROM parquet_metadata('${beta}')`],
      ['parquet_schema of another tenant', `SELECT * FROM parquet_schema('${beta}')`],
      ['sniff_csv of a file outside', `SELECT * FROM sniff_csv('${outside()}')`],
      ['../ traversal from the tenant folder', `SELECT * FROM read_parquet('${alphaDir}/../beta/data.parquet')`],
      ['../ traversal to a file outside', `SELECT * FROM read_csv('${alphaDir}/../outside.csv')`],
      ['a list of files, one of them foreign', `SELECT * FROM read_parquet(['${alphaFile()}', '${beta}'])`],
      ['a table function hidden in a CTE', `WITH x AS (SELECT * FROM read_parquet('${beta}')) SELECT * FROM x`],
      ['a table function hidden in a subquery', `SELECT * FROM (FROM read_parquet('${beta}'))`],
      ['a table function joined to the dataset', `SELECT * FROM data, read_csv('${outside()}')`],
      ['a table function in a scalar subquery', `SELECT (SELECT payload FROM read_parquet('${beta}'))`],
      ['query() running arbitrary SQL', `SELECT * FROM query('SELECT * FROM read_parquet(''${beta}'')')`],
      ['query_table() of a system table', "SELECT * FROM query_table('duckdb_settings')"],
      ['ATTACH a database file', `ATTACH '${alphaDir}/x.duckdb' AS x`],
      ['ATTACH an in-memory database', "ATTACH ':memory:' AS scratch"],
      ['DETACH the temp catalog', 'DETACH temp'],
      ['COPY into the tenant folder', `COPY (SELECT 1) TO '${alphaDir}/out.csv'`],
      ['COPY a dataset to the host', "COPY data TO '/tmp/lakegate-stolen.csv'"],
      ['EXPORT DATABASE', "EXPORT DATABASE '/tmp/lakegate-export'"],
      ['INSTALL an extension', 'INSTALL httpfs'],
      ['LOAD an extension', 'LOAD httpfs'],
      ['SET external access back on', 'SET enable_external_access = true'],
      ['RESET external access', 'RESET enable_external_access'],
      ['SET allowed_directories wider', "SET allowed_directories = ['/']"],
      ['unlock the configuration', 'SET lock_configuration = false'],
      ['PRAGMA to change threads', 'PRAGMA threads = 64'],
      ['CALL a pragma function', 'CALL pragma_database_list()'],
      ['duckdb_settings() system table function', 'SELECT * FROM duckdb_settings()'],
      ['duckdb_databases() system table function', 'SELECT * FROM duckdb_databases()'],
      ['information_schema catalog', 'SELECT * FROM information_schema.tables'],
      ['pg_catalog catalog', 'SELECT * FROM pg_catalog.pg_class'],
      ['current_setting() of allowed_directories', "SELECT current_setting('allowed_directories')"],
      ['getenv() of the host environment', "SELECT getenv('HOME')"],
      ['a second statement after a query', 'SELECT 1; DROP VIEW data'],
      ['a statement hidden after a line comment', "SELECT 1 -- harmless\n; ATTACH ':memory:' AS m"],
      ['a statement hidden after a block comment', `/* report */ SELECT 1; /* more */ COPY data TO '/tmp/x.csv'`],
      ['CREATE TABLE', 'CREATE TABLE stolen AS SELECT * FROM data'],
      ['CREATE MACRO', 'CREATE MACRO evil() AS 1'],
      ['DROP the dataset view', 'DROP VIEW data'],
      ['INSERT into the dataset', "INSERT INTO data VALUES ('x', 'y')"],
      ['DELETE from the dataset', 'DELETE FROM data'],
      ['UPDATE the dataset', "UPDATE data SET payload = 'x'"],
      ['PREPARE a statement', 'PREPARE p AS SELECT 1'],
      ['USE another catalog', 'USE system'],
      ['SET search_path', "SET search_path = 'information_schema'"],
      ['VACUUM', 'VACUUM'],
      ['CHECKPOINT', 'CHECKPOINT'],
      ['a schema-qualified dataset', 'SELECT * FROM temp.data'],
      ['a catalog-qualified system table', 'SELECT * FROM system.main.duckdb_settings'],
      ['EXPLAIN of a file read', `EXPLAIN SELECT * FROM read_parquet('${beta}')`],
      ['EXPLAIN ANALYZE of a COPY', "EXPLAIN ANALYZE COPY data TO '/tmp/x.csv'"],
    ];
  };

  it('has at least 40 attacks', () => {
    expect(attacks().length).toBeGreaterThanOrEqual(40);
  });

  it('refuses every attack with a clear error, or answers with alpha’s data only', async () => {
    const outcomes: string[] = [];
    for (const [name, sql] of attacks()) {
      try {
        const rows = await collectRows(await engine.execute(request(sql), { signal }));
        const text = JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
        expect(text, `${name}: leaked`).not.toContain(SECRET);
        expect(text, `${name}: leaked`).not.toContain('beta');
        outcomes.push(`${name}: answered ${text.slice(0, 60)}`);
      } catch (error) {
        expect(isLakegateError(error), `${name}: ${String(error)}`).toBe(true);
        if (!isLakegateError(error)) continue;
        expect(error.kind, `${name}: ${error.code} ${error.message}`).toBe('user');
        expect(error.message, name).not.toContain(SECRET);
        outcomes.push(`${name}: ${error.code}`);
      }
    }
    // The engine still works, and the dataset is intact, after the whole barrage.
    expect(await collectRows(await engine.execute(request('SELECT owner, payload FROM data'), { signal }))).toEqual([
      ['alpha', 'alpha-row'],
    ]);
    expect(outcomes.filter((o) => o.includes('answered'))).toEqual([]);
  });
});
