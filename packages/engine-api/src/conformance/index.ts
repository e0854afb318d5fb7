export type { ConformanceHarness, ConformanceSetup, ConformanceTestApi } from './kit.js';
export { runEngineConformance } from './kit.js';
export type { KitTables } from './kit-tables.js';
export { KIT_PEOPLE, KIT_SERIES_ROWS, KIT_TENANT, kitTables } from './kit-tables.js';
