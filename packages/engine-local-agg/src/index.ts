export type { BoundAggregateQuery } from './exec/bind.js';
export { bindAggregateQuery } from './exec/bind.js';
export { MergedGroups } from './exec/merge-groups.js';
export type { FinishPlan, GroupingSetPlan, KeyValue, PartialGroups, PassPlan } from './exec/plan.js';
export type { PassWork } from './exec/worker-pool.js';
export type { LocalAggConfig } from './local-agg-engine.js';
export { LocalAggEngine, localAggEngineFactory } from './local-agg-engine.js';
export type * from './query/aggregate-query.js';
export { parseLocalQuery } from './query/parse-query.js';
