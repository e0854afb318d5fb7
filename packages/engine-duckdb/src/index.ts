export type { DuckDBEngineConfig } from './duckdb-engine.js';
export { duckdbEngineFactory } from './duckdb-engine.js';
export { intervalToIso } from './type-mapping.js';
