export type {
  AuditEngine,
  ComputeEngine,
  IntervalDump,
  IntervalSource,
  PostgresSink,
  RollupLogger,
  RollupSink,
  RollupSources,
  RunLimits,
  SourceLease,
} from './dependencies.js';
export type { IntervalAudit, IntervalRecord, IntervalState } from './interval-record.js';
export { MemoryRollupLedger } from './memory-rollup-ledger.js';
export { CopyOutStream } from './postgres/copy-out.js';
export { intervalFingerprintsSql, PostgresRollups } from './postgres/postgres-rollups.js';
export type { PostgresSinkSpec, PostgresSourceSpec } from './postgres/postgres-specs.js';
export type { RollupLag } from './rollup-admin.js';
export { RollupAdmin } from './rollup-admin.js';
export type { RollupAnswerResult } from './rollup-answerer.js';
export { RollupAnswerer } from './rollup-answerer.js';
export type { RollupSpec } from './rollup-context.js';
export { ROLLUP_CHANGES_KEPT, type RollupChanges, type RollupLedger } from './rollup-ledger.js';
export type { RollupSettings, RollupsOptions } from './rollups.js';
export { Rollups } from './rollups.js';
