export type { LocalAggConfig } from './local-agg-engine.js';
export { LocalAggEngine, localAggEngineFactory } from './local-agg-engine.js';
export type {
  IntervalFile,
  IntervalGroups,
  RollupAnswer,
  RollupComputer,
  RollupDecline,
  RollupIntervalRequest,
  RollupResult,
  StoredInterval,
  TimeSpan,
} from './rollups/rollup-computer.js';
export { isRollupComputer, readRollupInterval } from './rollups/rollup-computer.js';
export type { RollupDefinition } from './rollups/rollup-plan.js';
export { BUCKET_COLUMN, ROWS_COLUMN, rollupProblems, rollupSql, STATE_COLUMN } from './rollups/rollup-plan.js';
export { namingColumns } from './table/copy-format.js';
export type { LocalColumn, LocalType } from './table/local-types.js';
