export { MergedGroups } from './exec/merge-groups.js';
export type { FinishPlan, GroupingSetPlan, KeyValue, PartialGroups, PassPlan, PlainGroups } from './exec/plan.js';
export type { PassWork } from './exec/worker-pool.js';
export type { LocalAggConfig } from './local-agg-engine.js';
export { LocalAggEngine, localAggEngineFactory } from './local-agg-engine.js';
export type * from './query/aggregate-query.js';
export { parseLocalQuery } from './query/parse-query.js';
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
export type { RollupDefinition, RollupPass } from './rollups/rollup-plan.js';
export {
  planRollupAnswer,
  readRollupLines,
  rollupLines,
  rollupPass,
  rollupProblems,
  rollupSql,
  timestampText,
} from './rollups/rollup-plan.js';
export type { FileLayout } from './table/file-layout.js';
export type { LocalColumn } from './table/local-types.js';
