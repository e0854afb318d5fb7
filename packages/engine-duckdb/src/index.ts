export type { DuckDBEngineConfig, TenantOverrides } from './duckdb-engine.js';
export { duckdbEngineFactory } from './duckdb-engine.js';
export { parserOn, SqlAnalyzer } from './sql-analysis.js';
export type { AllowedQuery, PolicyCatalog, PolicyNamespace, SerializedSql, SqlParser } from './sql-policy.js';
export { allowTenantQuery, DENIED_FUNCTIONS } from './sql-policy.js';
