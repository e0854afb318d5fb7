export type { DuckDBEngineConfig, TenantOverrides } from './duckdb-engine.js';
export { duckdbEngineFactory } from './duckdb-engine.js';
export { leadingKeyword, lineAndColumnOf } from './sql-analysis.js';
export { intervalToIso } from './type-mapping.js';
