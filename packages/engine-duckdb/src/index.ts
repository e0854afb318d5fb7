export type { DuckDBEngineConfig, TenantOverrides } from './duckdb-engine.js';
export { duckdbEngineFactory } from './duckdb-engine.js';
